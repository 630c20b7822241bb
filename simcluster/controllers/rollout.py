"""The arithmetic of a Deployment's rollout, as the deployment controller does it (pure
functions, tested without a server).

A rolling update keeps the pods of all the Deployment's ReplicaSets within
``replicas + maxSurge`` and their available pods at ``replicas - maxUnavailable`` or more
(percentages of replicas: the surge rounded up, unavailability down; both 0 means one may be
unavailable). Each step scales the new ReplicaSet up as far as the surge allows, or old ones
down as far as availability allows (unhealthy old pods first), and the next step waits for
pods to become available. The status and the Available and Progressing conditions follow the
controller's ``calculateStatus`` and ``syncRolloutStatus``.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass

__all__ = [
    "HASH_LABEL",
    "Counts",
    "complete",
    "equal_ignoring_hash",
    "fenceposts",
    "new_replicas",
    "old_scale_down",
    "progressing",
    "set_condition",
    "template_hash",
]

HASH_LABEL = "pod-template-hash"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def template_hash(template: dict, collisions: int = 0) -> str:
    """The pod-template-hash of a template: FNV-32a of its canonical JSON (and the collision
    count), written with apimachinery's SafeEncodeString, as ReplicaSet names end in."""
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += collisions.to_bytes(4, "little")
    value = 0x811C9DC5
    for byte in data:
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(digit) % len(_SAFE)] for digit in str(value))


def equal_ignoring_hash(one: dict, other: dict) -> bool:
    """Whether two pod templates are the same but for the pod-template-hash label."""

    def strip(template: dict) -> dict:
        template = copy.deepcopy(template or {})
        meta = template.get("metadata") or {}
        labels = meta.get("labels")
        if labels:
            labels.pop(HASH_LABEL, None)
        if meta.get("creationTimestamp") is None:
            meta.pop("creationTimestamp", None)
        return template

    return strip(one) == strip(other)


def _resolve(value: object, total: int, round_up: bool) -> int:
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


def fenceposts(rolling: dict, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate strategy for ``replicas``."""
    surge = _resolve(rolling.get("maxSurge", "25%"), replicas, True)
    unavailable = _resolve(rolling.get("maxUnavailable", "25%"), replicas, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass(frozen=True)
class Counts:
    """A ReplicaSet as the rollout sees it: desired (spec) and available pods."""

    replicas: int
    available: int


def new_replicas(replicas: int, surge: int, all_sets: list[Counts], new: Counts) -> int:
    """The new ReplicaSet's next size in a rolling update (``NewRSNewReplicas``)."""
    current = sum(s.replicas for s in all_sets)
    allowed = replicas + surge
    if current >= allowed:
        return new.replicas
    step = min(allowed - current, replicas - new.replicas)
    return new.replicas + max(step, 0)


def old_scale_down(
    replicas: int, unavailable: int, old: list[Counts], new: Counts
) -> tuple[list[int], int]:
    """How far each old ReplicaSet (oldest first) may be scaled down now: unhealthy pods
    first, then as many as availability allows. Returns their new sizes and the total."""
    all_pods = sum(s.replicas for s in old) + new.replicas
    minimum = replicas - unavailable
    new_unavailable = new.replicas - new.available
    budget = all_pods - minimum - new_unavailable
    sizes = [s.replicas for s in old]
    if budget <= 0:
        return sizes, 0
    removed = 0
    for index, counts in enumerate(old):
        if removed >= budget:
            break
        unhealthy = sizes[index] - counts.available
        if unhealthy <= 0:
            continue
        step = min(budget - removed, unhealthy)
        sizes[index] -= step
        removed += step
    available = sum(min(c.available, size) for c, size in zip(old, sizes, strict=True))
    available += new.available
    if available > minimum:
        allowed = available - minimum
        taken = 0
        for index in range(len(old)):
            if taken >= allowed:
                break
            if sizes[index] == 0:
                continue
            step = min(sizes[index], allowed - taken)
            sizes[index] -= step
            taken += step
        removed += taken
    return sizes, removed


def complete(replicas: int, status: dict, generation: int) -> bool:
    """``DeploymentComplete``: every replica updated, available, and nothing old left."""
    return (
        status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
        and status.get("observedGeneration", 0) >= generation
    )


def progressing(old: dict, new: dict) -> bool:
    """``DeploymentProgressing``: more updated, ready or available pods, or fewer old ones."""
    old_pods = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_pods = new.get("replicas", 0) - new.get("updatedReplicas", 0)
    return (
        new.get("updatedReplicas", 0) > old.get("updatedReplicas", 0)
        or new_pods < old_pods
        or new.get("readyReplicas", 0) > old.get("readyReplicas", 0)
        or new.get("availableReplicas", 0) > old.get("availableReplicas", 0)
    )


def set_condition(
    conditions: list[dict], condition: dict, now: str, *, force: bool = False
) -> list[dict]:
    """``SetDeploymentCondition``: a condition of the same status and reason changes nothing
    (unless ``force``); otherwise the old one of its type goes and the new one is appended,
    keeping the old transition time when the status is the same."""
    current = next((c for c in conditions if c.get("type") == condition["type"]), None)
    if (
        current is not None
        and not force
        and current.get("status") == condition["status"]
        and current.get("reason") == condition.get("reason")
    ):
        return conditions
    condition = {
        "type": condition["type"],
        "status": condition["status"],
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": condition.get("reason", ""),
        "message": condition.get("message", ""),
    }
    if current is not None and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime", now)
    return [c for c in conditions if c.get("type") != condition["type"]] + [condition]

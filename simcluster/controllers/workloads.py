"""What the workload controllers share: owner references, pods from templates, and the
pod states they count (active, ready, available), as the real controllers define them.

Controllers create pods as the system, but a pod still passes the cluster's built-in admission
(LimitRange defaults and limits, Pod Security, ResourceQuota): a refusal becomes the owner's
``FailedCreate`` event with the API server's message, and the owner tries again later.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from simcluster.controllers.events import Recorder
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.selectors import label_selector_matches
from simcluster.store import Store

__all__ = [
    "Creator",
    "active",
    "available",
    "controlled_by",
    "controller_uid",
    "owner_reference",
    "pod_from_template",
    "ready",
    "selected",
]

PODS = known("", "v1", "pods")
Admit = Callable[[str, Resource, "dict | None", "dict | None"], None]


def owner_reference(owner: dict) -> dict:
    """The controller reference a controller puts on what it creates."""
    meta = owner["metadata"]
    return {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_uid(obj: dict) -> str | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def controlled_by(obj: dict, owner: dict) -> bool:
    return controller_uid(obj) == owner["metadata"]["uid"]


def selected(obj: dict, selector: dict | None) -> bool:
    return label_selector_matches(selector or {}, obj["metadata"].get("labels") or {})


def active(pod: dict) -> bool:
    """Counted by a controller: not finished, not being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp")


def ready(pod: dict) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def available(pod: dict, min_ready_seconds: int, now: datetime | None = None) -> bool:
    """Ready for at least ``min_ready_seconds``."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            if not min_ready_seconds:
                return True
            since = condition.get("lastTransitionTime") or ""
            try:
                when = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                return False
            return ((now or datetime.now(UTC)) - when).total_seconds() >= min_ready_seconds
    return False


def pod_from_template(
    owner: dict, template: dict, *, name: str = "", generate: str = "", labels: dict | None = None
) -> dict:
    """A pod of ``owner``'s template, named or with a generated name, with extra labels."""
    template = copy.deepcopy(template or {})
    meta = template.get("metadata") or {}
    metadata: dict = {"namespace": owner["metadata"]["namespace"]}
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = generate
    metadata["labels"] = {**(meta.get("labels") or {}), **(labels or {})}
    if meta.get("annotations"):
        metadata["annotations"] = meta["annotations"]
    if meta.get("finalizers"):
        metadata["finalizers"] = meta["finalizers"]
    metadata["ownerReferences"] = [owner_reference(owner)]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": template.get("spec") or {}}  # fmt: skip


@dataclass
class Creator:
    """Creates pods for controllers through the built-in admission, and says so in events."""

    store: Store
    recorder: Recorder
    admit: Admit

    def create(self, owner: dict, pod: dict, component: str, message: str = "") -> dict | None:
        """The created pod, or None when the API server refused it (recorded as the owner's
        FailedCreate event). ``message`` is the SuccessfulCreate event's, if not the default."""
        try:
            created = self.store.create(PODS, pod, admit=self.admit)
        except ApiError as refused:
            self.recorder.record(owner, "Warning", "FailedCreate",
                                 f"Error creating: {refused.message}", component)  # fmt: skip
            return None
        name = created["metadata"]["name"]
        self.recorder.record(owner, "Normal", "SuccessfulCreate",
                             message.format(name=name) or f"Created pod: {name}",
                             component)  # fmt: skip
        return created

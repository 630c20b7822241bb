"""The ReplicaSet controller: as many active pods as ``spec.replicas``, by its selector.

Pods are its own when their controller reference names it. A pod without a controller that the
selector matches is adopted (it gets the reference); one of its own whose labels no longer
match is released (the reference goes: ``kubectl label pod ... app=debug`` takes a pod out, and
a replacement is made). Missing pods are created from the template (``<name>-xxxxx``,
``SuccessfulCreate``; a refusal by quota or Pod Security is ``FailedCreate`` and is tried again
after a back-off of 1 s doubling to a minute); surplus pods are deleted gracefully, the least
valuable first as the real controller ranks them (not yet on a node, then Pending, not ready,
most restarts, newest), ``SuccessfulDelete``. The status counts replicas, fully labelled, ready
and available (ready for ``minReadySeconds``) pods, with a ReplicaFailure condition while
creating fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.workloads import (
    Creator,
    active,
    available,
    controlled_by,
    controller_uid,
    owner_reference,
    pod_from_template,
    ready,
    selected,
)
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Event, Store, timestamp

__all__ = ["ReplicaSets", "deletion_rank"]

PODS = known("", "v1", "pods")
REPLICASETS = known("apps", "v1", "replicasets")
COMPONENT = "replicaset-controller"
Delete = Callable[[Resource, str, str, str], None]


def deletion_rank(pod: dict) -> tuple:
    """Sorts the pods a scale-down deletes first to the front, as the controller ranks them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    phase = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", "Pending"), 0)
    restarts = sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or [])
    created = pod["metadata"].get("creationTimestamp", "")
    newest_first = "".join(chr(0x10FFFF - ord(ch)) for ch in created)
    return (bool(spec.get("nodeName")), phase, ready(pod), -restarts, newest_first,
            pod["metadata"]["name"])  # fmt: skip


class ReplicaSets:
    def __init__(
        self, store: Store, clock: Clock, recorder: Recorder, creator: Creator, delete: Delete
    ) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.creator = creator
        self.delete = delete
        self._failures: dict[str, int] = {}
        self._held: set[str] = set()  # ReplicaSets waiting out a back-off after FailedCreate

    def on_event(self, event: Event) -> None:
        obj = event.object
        meta = obj["metadata"]
        if event.resource is REPLICASETS:
            if event.type != "DELETED":
                self._queue(meta["namespace"], meta["name"])
            return
        if event.resource is not PODS:
            return
        namespace = meta.get("namespace", "")
        owners = {controller_uid(obj)}
        if event.previous is not None:
            owners.add(controller_uid(event.previous))
        for rs in self.store.list(REPLICASETS, namespace)[0]:
            uid = rs["metadata"]["uid"]
            if uid in owners or (
                controller_uid(obj) is None
                and selected(obj, (rs.get("spec") or {}).get("selector"))
            ):
                self._queue(namespace, rs["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("replicaset", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        rs = self.store.get(REPLICASETS, namespace, name)
        if rs is None:
            return
        spec = rs.get("spec") or {}
        selector = spec.get("selector")
        pods = self._claim(rs, self.store.list(PODS, namespace)[0], selector)
        mine = [pod for pod in pods if active(pod)]
        wanted = int(spec.get("replicas", 1))
        failure = None
        if not rs["metadata"].get("deletionTimestamp"):
            if len(mine) < wanted and rs["metadata"]["uid"] in self._held:
                failure = ((rs.get("status") or {}).get("conditions") or [{}])[0].get("message")
            elif len(mine) < wanted:
                failure = self._create(rs, wanted - len(mine))
                mine = [p for p in self._owned(rs) if active(p)]
            elif len(mine) > wanted:
                for pod in sorted(mine, key=deletion_rank)[: len(mine) - wanted]:
                    pod_name = pod["metadata"]["name"]
                    try:
                        self.delete(PODS, namespace, pod_name, "Background")
                    except ApiError:
                        continue
                    self.recorder.record(rs, "Normal", "SuccessfulDelete",
                                         f"Deleted pod: {pod_name}", COMPONENT)  # fmt: skip
                mine = [p for p in self._owned(rs) if active(p)]
        self._status(rs, mine, failure)

    def _owned(self, rs: dict) -> list[dict]:
        namespace = rs["metadata"]["namespace"]
        return [pod for pod in self.store.list(PODS, namespace)[0] if controlled_by(pod, rs)]

    def _claim(self, rs: dict, pods: list[dict], selector: dict | None) -> list[dict]:
        """Adopt matching orphans, release own pods that no longer match; the own pods."""
        mine = []
        namespace = rs["metadata"]["namespace"]
        deleting = bool(rs["metadata"].get("deletionTimestamp"))
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            matches = selected(pod, selector)
            if controlled_by(pod, rs):
                if matches or pod["metadata"].get("deletionTimestamp"):
                    mine.append(pod)
                    continue

                def release(current: dict, uid: str = rs["metadata"]["uid"]) -> None:
                    refs = [r for r in current["metadata"].get("ownerReferences") or []
                            if r.get("uid") != uid]  # fmt: skip
                    if refs:
                        current["metadata"]["ownerReferences"] = refs
                    else:
                        current["metadata"].pop("ownerReferences", None)

                self._mutate(namespace, pod_name, release)
            elif controller_uid(pod) is None and matches and not deleting and active(pod):
                ref = owner_reference(rs)

                def adopt(current: dict, ref: dict = ref) -> None:
                    refs = current["metadata"].setdefault("ownerReferences", [])
                    refs.append(ref)

                adopted = self._mutate(namespace, pod_name, adopt)
                if adopted is not None:
                    mine.append(adopted)
        return mine

    def _mutate(self, namespace: str, name: str, change: Callable[[dict], None]) -> dict | None:
        try:
            return self.store.mutate(PODS, namespace, name, change)
        except ApiError:
            return None

    def _create(self, rs: dict, count: int) -> str | None:
        """Create ``count`` pods; the message of the refusal that stopped it, if one did."""
        meta, spec = rs["metadata"], rs.get("spec") or {}
        uid = meta["uid"]
        for _ in range(count):
            pod = pod_from_template(rs, spec.get("template") or {}, generate=f"{meta['name']}-")
            if self.creator.create(rs, pod, COMPONENT) is None:
                failures = self._failures.get(uid, 0) + 1
                self._failures[uid] = failures
                self._held.add(uid)
                wait = min(2.0 ** min(failures - 1, 6), 60.0)
                self.clock.after(wait, self._release, uid, meta["namespace"], meta["name"],
                                 backoff=True)  # fmt: skip
                return self._last_failure(rs)
        self._failures.pop(uid, None)
        return None

    def _release(self, uid: str, namespace: str, name: str) -> None:
        """A back-off after FailedCreate is over: try again."""
        self._held.discard(uid)
        self._queue(namespace, name)

    def _last_failure(self, rs: dict) -> str:
        events = self.store.list(known("", "v1", "events"), rs["metadata"]["namespace"])[0]
        for event in reversed(events):
            involved = event.get("involvedObject") or {}
            if involved.get("uid") == rs["metadata"]["uid"] and event.get("reason") == (
                "FailedCreate"
            ):
                return event.get("message", "")
        return ""

    def _status(self, rs: dict, mine: list[dict], failure: str | None) -> None:
        spec = rs.get("spec") or {}
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        status = {
            "replicas": len(mine),
            "fullyLabeledReplicas": sum(
                all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
                for p in mine
            ),
            "readyReplicas": sum(ready(p) for p in mine),
            "availableReplicas": sum(available(p, min_ready) for p in mine),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        if min_ready and status["readyReplicas"] > status["availableReplicas"]:
            self.clock.after(min_ready, self._queue, rs["metadata"]["namespace"],
                             rs["metadata"]["name"])  # fmt: skip
        previous = rs.get("status") or {}
        if failure:
            old = next((c for c in previous.get("conditions") or []
                        if c.get("type") == "ReplicaFailure"), {})  # fmt: skip
            status["conditions"] = [{
                "type": "ReplicaFailure", "status": "True",
                "lastTransitionTime": old.get("lastTransitionTime") or timestamp(),
                "reason": "FailedCreate", "message": failure,
            }]  # fmt: skip
        for key in ("readyReplicas", "availableReplicas"):
            if not status[key]:
                del status[key]  # zero counts are left out, as the API's omitempty does

        def write(current: dict) -> None:
            current["status"] = status

        if status != previous:
            with contextlib.suppress(ApiError):
                self.store.mutate(REPLICASETS, rs["metadata"]["namespace"], rs["metadata"]["name"],
                                  write)  # fmt: skip

"""The DaemonSet controller: one pod on every node the DaemonSet's pods may run on.

The cluster has one node; it is eligible when the template's nodeSelector and required node
affinity match its labels and its NoSchedule taints are tolerated. The pod (``<name>-xxxxx``)
is pinned to the node by node affinity on its name and tolerates the node conditions a
DaemonSet tolerates (not-ready, unreachable, disk, memory and PID pressure, unschedulable), so
a cordoned or drained node keeps it. A changed template replaces the pod (RollingUpdate, one
unavailable at a time; OnDelete waits for the pod to be deleted). The status counts desired,
current, ready, available, updated and misscheduled pods.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.rollout import template_hash
from simcluster.controllers.scheduler import NODES, _node_term_matches, _tolerates
from simcluster.controllers.workloads import (
    Creator,
    active,
    available,
    controlled_by,
    controller_uid,
    pod_from_template,
    ready,
)
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Event, Store

__all__ = ["DaemonSets"]

PODS = known("", "v1", "pods")
DAEMONSETS = known("apps", "v1", "daemonsets")
COMPONENT = "daemonset-controller"
REVISION = "controller-revision-hash"
_TOLERATED = (
    ("node.kubernetes.io/not-ready", "NoExecute"), ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
)  # fmt: skip
Delete = Callable[[Resource, str, str, str], None]


def _eligible(template: dict, node: dict) -> bool:
    spec = template.get("spec") or {}
    labels = node["metadata"].get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    terms = (affinity or {}).get("nodeSelectorTerms") or []
    if terms and not any(_node_term_matches(term, node) for term in terms):
        return False
    tolerations = spec.get("tolerations") or []
    return all(
        _tolerates(tolerations, taint)
        for taint in (node.get("spec") or {}).get("taints") or []
        if taint.get("effect") in ("NoSchedule", "NoExecute")
    )


class DaemonSets:
    def __init__(
        self, store: Store, clock: Clock, recorder: Recorder, creator: Creator, delete: Delete
    ) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.creator = creator
        self.delete = delete

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        if event.resource is DAEMONSETS:
            if event.type != "DELETED":
                self._queue(meta["namespace"], meta["name"])
        elif event.resource is PODS:
            owner = controller_uid(event.object)
            for ds in self.store.list(DAEMONSETS, meta.get("namespace", ""))[0]:
                if ds["metadata"]["uid"] == owner:
                    self._queue(meta["namespace"], ds["metadata"]["name"])
        elif event.resource is NODES and event.type == "MODIFIED":
            for ds in self.store.list(DAEMONSETS)[0]:
                self._queue(ds["metadata"]["namespace"], ds["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("daemonset", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        ds = self.store.get(DAEMONSETS, namespace, name)
        if ds is None:
            return
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        revision = template_hash(template)
        nodes = [n for n in self.store.list(NODES)[0] if _eligible(template, n)]
        pods = [p for p in self.store.list(PODS, namespace)[0] if controlled_by(p, ds)]
        running = [p for p in pods if active(p)]
        if not ds["metadata"].get("deletionTimestamp"):
            for node in nodes:
                node_name = node["metadata"]["name"]
                mine = [p for p in running if _node_of(p) == node_name]
                if not mine:
                    self._create(ds, node_name, revision)
                    continue
                stale = [
                    p for p in mine if (p["metadata"].get("labels") or {}).get(REVISION) != revision
                ]
                strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
                if stale and strategy == "RollingUpdate" and all(ready(p) for p in mine):
                    self._remove(ds, stale[0])
            eligible = {n["metadata"]["name"] for n in nodes}
            for pod in running:
                if _node_of(pod) not in eligible:
                    self._remove(ds, pod)
        pods = [
            p for p in self.store.list(PODS, namespace)[0] if controlled_by(p, ds) and active(p)
        ]
        self._status(ds, pods, len(nodes), revision)

    def _create(self, ds: dict, node: str, revision: str) -> None:
        spec = ds.get("spec") or {}
        generate = f"{ds['metadata']['name']}-"
        pod = pod_from_template(ds, spec.get("template") or {}, generate=generate,
                                labels={REVISION: revision,
                                        "pod-template-generation": str(
                                            ds["metadata"].get("generation", 1))})  # fmt: skip
        pod_spec = pod["spec"]
        term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        pod_spec.setdefault("affinity", {})["nodeAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
        }
        tolerations = list(pod_spec.get("tolerations") or [])
        for key, effect in _TOLERATED:
            if not any(t.get("key") == key for t in tolerations):
                tolerations.append({"key": key, "operator": "Exists", "effect": effect})
        pod_spec["tolerations"] = tolerations
        self.creator.create(ds, pod, COMPONENT)

    def _remove(self, ds: dict, pod: dict) -> None:
        name = pod["metadata"]["name"]
        try:
            self.delete(PODS, pod["metadata"]["namespace"], name, "Background")
        except ApiError:
            return
        self.recorder.record(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {name}", COMPONENT)

    def _status(self, ds: dict, pods: list[dict], desired: int, revision: str) -> None:
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        ready_count = sum(ready(p) for p in pods)
        available_count = sum(available(p, min_ready) for p in pods)
        status = {
            "currentNumberScheduled": len(pods),
            "desiredNumberScheduled": desired,
            "numberMisscheduled": 0,
            "numberReady": ready_count,
            "numberAvailable": available_count,
            "numberUnavailable": max(desired - available_count, 0),
            "updatedNumberScheduled": sum(
                (p["metadata"].get("labels") or {}).get(REVISION) == revision for p in pods
            ),
            "observedGeneration": ds["metadata"].get("generation", 1),
        }
        for key in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if not status[key]:
                del status[key]
        if status != (ds.get("status") or {}):

            def write(obj: dict) -> None:
                obj["status"] = status

            with contextlib.suppress(ApiError):
                self.store.mutate(DAEMONSETS, ds["metadata"]["namespace"], ds["metadata"]["name"],
                                  write)  # fmt: skip


def _node_of(pod: dict) -> str:
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return spec["nodeName"]
    affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in affinity.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return field["values"][0]
    return ""

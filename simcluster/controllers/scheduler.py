"""The default scheduler, for a cluster of one node: a new pod is bound to the node at once
(``Scheduled``: "Successfully assigned lab/web to standin-node"), unless the node does not fit
it, for the reasons the real scheduler gives: the node is cordoned (unschedulable), the pod's
nodeSelector or required node affinity does not match the node's labels, a taint is not
tolerated, the pod's CPU or memory requests do not fit what the node has left, the node holds
110 pods, or a PersistentVolumeClaim is missing or not bound. The pod then stays Pending with a
``FailedScheduling`` event ("0/1 nodes are available: 1 node(s) were unschedulable. ...") and is
tried again when the node, a pod or a claim changes.
"""

from __future__ import annotations

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.errors import ApiError
from simcluster.quantity import QuantityError, parse
from simcluster.resources import known
from simcluster.selectors import label_selector_matches
from simcluster.store import Event, Store, timestamp

__all__ = ["Scheduler", "pod_requests"]

PODS = known("", "v1", "pods")
NODES = known("", "v1", "nodes")
CLAIMS = known("", "v1", "persistentvolumeclaims")
_UNSCHEDULABLE_TAINT = "node.kubernetes.io/unschedulable"


def pod_requests(pod: dict) -> dict[str, float]:
    """The CPU (cores) and memory (bytes) a pod asks for: its containers' requests summed,
    or its largest init container's when that is more."""
    spec = pod.get("spec") or {}

    def of(container: dict) -> dict[str, float]:
        requests = (container.get("resources") or {}).get("requests") or {}
        found = {}
        for name in ("cpu", "memory"):
            try:
                found[name] = float(parse(requests[name]).value) if name in requests else 0.0
            except QuantityError:
                found[name] = 0.0
        return found

    total = {"cpu": 0.0, "memory": 0.0}
    for container in spec.get("containers") or []:
        for name, value in of(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in of(container).items():
            total[name] = max(total[name], value)
    return total


def _tolerates(tolerations: list[dict], taint: dict) -> bool:
    for toleration in tolerations:
        if toleration.get("effect") and toleration["effect"] != taint.get("effect"):
            continue
        if toleration.get("operator") == "Exists":
            if not toleration.get("key") or toleration["key"] == taint.get("key"):
                return True
        elif toleration.get("key") == taint.get("key") and toleration.get("value", "") == taint.get(
            "value", ""
        ):
            return True
    return False


def _node_term_matches(term: dict, node: dict) -> bool:
    labels = node["metadata"].get("labels") or {}
    for expression in term.get("matchExpressions") or []:
        if not label_selector_matches({"matchExpressions": [expression]}, labels):
            return False
    for expression in term.get("matchFields") or []:
        if expression.get("key") == "metadata.name":
            values = expression.get("values") or []
            inside = node["metadata"]["name"] in values
            if (expression.get("operator") == "In") != inside:
                return False
    return True


class Scheduler:
    """Binds pods to the node of the cluster."""

    def __init__(self, store: Store, clock: Clock, recorder: Recorder, node_name: str) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.node_name = node_name

    def on_event(self, event: Event) -> None:
        obj = event.object
        if event.resource is PODS:
            spec = obj.get("spec") or {}
            meta = obj["metadata"]
            if event.type != "DELETED" and not spec.get("nodeName"):
                if spec.get("schedulerName", "default-scheduler") == "default-scheduler":
                    self.clock.soon(
                        self.schedule,
                        meta["namespace"],
                        meta["name"],
                        False,
                        key=("schedule", meta["namespace"], meta["name"]),
                    )
            elif spec.get("nodeName") and (
                event.type == "DELETED"
                or (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed")
            ):
                self.clock.soon(self.retry, key=("schedule-retry",))
        elif event.resource is NODES and event.type == "MODIFIED":
            previous = event.previous or {"metadata": {}}
            before = (previous.get("spec"), previous["metadata"].get("labels"))
            if before != (obj.get("spec"), obj["metadata"].get("labels")):
                self.clock.soon(self.retry, key=("schedule-retry",))
        elif event.resource is CLAIMS and event.type == "MODIFIED":
            self.clock.soon(self.retry, key=("schedule-retry",))

    def retry(self) -> None:
        """Try every pod still waiting for a node."""
        for pod in self.store.list(PODS)[0]:
            if not (pod.get("spec") or {}).get("nodeName") and not pod["metadata"].get(
                "deletionTimestamp"
            ):
                self.schedule(pod["metadata"]["namespace"], pod["metadata"]["name"], True)

    def _problems(self, pod: dict, node: dict) -> list[str]:
        spec, node_spec = pod.get("spec") or {}, node.get("spec") or {}
        problems = []
        tolerations = spec.get("tolerations") or []
        namespace = pod["metadata"]["namespace"]
        for volume in spec.get("volumes") or []:
            claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
            if claim:
                found = self.store.get(CLAIMS, namespace, claim)
                if found is None:
                    return [f'persistentvolumeclaim "{claim}" not found']
                if (found.get("status") or {}).get("phase") != "Bound":
                    return ["pod has unbound immediate PersistentVolumeClaims"]
        if node_spec.get("unschedulable") and not _tolerates(
            tolerations, {"key": _UNSCHEDULABLE_TAINT, "effect": "NoSchedule"}
        ):
            problems.append("1 node(s) were unschedulable")
        labels = node["metadata"].get("labels") or {}
        selector = spec.get("nodeSelector") or {}
        affinity = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        terms = (affinity or {}).get("nodeSelectorTerms") or []
        if any(labels.get(k) != v for k, v in selector.items()) or (
            terms and not any(_node_term_matches(term, node) for term in terms)
        ):
            problems.append("1 node(s) didn't match Pod's node affinity/selector")
        for taint in node_spec.get("taints") or []:
            if taint.get("effect") in ("NoSchedule", "NoExecute") and not _tolerates(
                tolerations, taint
            ):
                shown = f"{taint.get('key')}: {taint.get('value')}" if taint.get("value") else (
                    taint.get("key"))  # fmt: skip
                problems.append(f"1 node(s) had untolerated taint {{{shown}}}")
        if problems:
            return problems
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        wanted = pod_requests(pod)
        used = {"cpu": 0.0, "memory": 0.0}
        count = 0
        for other in self.store.list(PODS)[0]:
            if (other.get("spec") or {}).get("nodeName") != node["metadata"]["name"]:
                continue
            if (other.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                continue
            count += 1
            for name, value in pod_requests(other).items():
                used[name] += value
        for name in ("cpu", "memory"):
            have = float(parse(allocatable.get(name, "0")).value)
            if wanted[name] and used[name] + wanted[name] > have:
                problems.append(f"1 Insufficient {name}")
        if count >= int(allocatable.get("pods", "110")):
            problems.append("1 Too many pods")
        return problems

    def schedule(self, namespace: str, name: str, retrying: bool) -> None:
        pod = self.store.get(PODS, namespace, name)
        if pod is None or (pod.get("spec") or {}).get("nodeName"):
            return
        if pod["metadata"].get("deletionTimestamp"):
            return
        node = self.store.get(NODES, None, self.node_name)
        if node is None:
            return
        problems = self._problems(pod, node)
        now = timestamp()
        if problems:
            resources = any(p.startswith("1 Insufficient") for p in problems)
            preemption = (
                "1 No preemption victims found for incoming pod."
                if resources
                else "1 Preemption is not helpful for scheduling."
            )
            message = (
                f"0/1 nodes are available: {', '.join(problems)}. preemption: 0/1 nodes are "
                f"available: {preemption}"
            )
            condition = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                         "lastTransitionTime": now, "reason": "Unschedulable",
                         "message": message}  # fmt: skip
            before = next((c for c in (pod.get("status") or {}).get("conditions") or []
                           if c.get("type") == "PodScheduled"), {})  # fmt: skip
            if before.get("message") == message and not retrying:
                return
            if before.get("message") == message:
                condition["lastTransitionTime"] = before.get("lastTransitionTime", now)

            def unschedulable(obj: dict) -> None:
                status = obj.setdefault("status", {})
                others = [c for c in status.get("conditions") or []
                          if c.get("type") != "PodScheduled"]  # fmt: skip
                status["conditions"] = [*others, condition]

            self.store.mutate(PODS, namespace, name, unschedulable)
            self.recorder.record(pod, "Warning", "FailedScheduling", message, "default-scheduler")
            return

        def bind(obj: dict) -> None:
            obj["spec"]["nodeName"] = self.node_name
            status = obj.setdefault("status", {})
            others = [c for c in status.get("conditions") or []
                      if c.get("type") != "PodScheduled"]  # fmt: skip
            status["conditions"] = [
                *others,
                {
                    "type": "PodScheduled",
                    "status": "True",
                    "lastProbeTime": None,
                    "lastTransitionTime": now,
                },
            ]

        try:
            bound = self.store.mutate(PODS, namespace, name, bind)
        except ApiError:
            return
        self.recorder.record(
            bound, "Normal", "Scheduled",
            f"Successfully assigned {namespace}/{name} to {self.node_name}", "default-scheduler",
        )  # fmt: skip

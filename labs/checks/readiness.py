"""When an object counts as ready, and why it is not: the rules behind ``all_ready``.

* A Pod is ready when its ``Ready`` condition is ``True`` (what ``kubectl get pods`` shows as
  READY n/n, and what a Service's endpoints follow).
* A Deployment, ReplicaSet or StatefulSet is ready when ``status.readyReplicas`` equals
  ``spec.replicas`` (1 when not given) and its controller has seen the latest change
  (``status.observedGeneration`` is at least ``metadata.generation``): otherwise the
  replicas counted may be those of the previous spec.
* A DaemonSet is ready when ``status.numberReady`` equals ``status.desiredNumberScheduled``,
  with the same generation rule.
* A Service is ready when it has at least one ready endpoint: an endpoint of its
  EndpointSlices (``kubernetes.io/service-name``) whose ``ready`` condition is not false, or,
  on a cluster without slices for it, an address of its Endpoints.

Objects being deleted (with a ``deletionTimestamp``) are neither ready nor counted. Each
function answers None when the object is ready, else the reason in a few words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labs.checks.selectors import Operator, Requirement, Selector

__all__ = [
    "deleting",
    "labels_of",
    "pod_not_ready",
    "ready_endpoints",
    "selected_by",
    "workload_not_ready",
]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}

Obj = Mapping[str, Any]


def _get(obj: Obj | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def deleting(obj: Obj) -> bool:
    return bool(_get(obj, "metadata", "deletionTimestamp"))


def labels_of(obj: Obj) -> Mapping[str, str]:
    return _get(obj, "metadata", "labels") or {}


def pod_not_ready(pod: Obj) -> str | None:
    """None for a ready Pod, else why not: a container's waiting or terminated reason (what
    ``kubectl get pods`` shows in STATUS), or the phase."""
    if deleting(pod):
        return "being deleted"
    conditions = _get(pod, "status", "conditions") or []
    if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
        return None
    statuses = [
        *(_get(pod, "status", "initContainerStatuses") or []),
        *(_get(pod, "status", "containerStatuses") or []),
    ]
    for status in statuses:
        if status.get("ready"):
            continue
        for state in ("waiting", "terminated"):
            reason = _get(status, "state", state, "reason")
            if reason:
                return f"container {status.get('name')}: {reason}"
    phase = _get(pod, "status", "phase") or "Pending"
    if phase == "Running":
        return "running, but not ready yet"
    return f"phase {phase}"


def _generation_behind(obj: Obj) -> str | None:
    generation = _get(obj, "metadata", "generation")
    observed = _get(obj, "status", "observedGeneration")
    if isinstance(generation, int) and (not isinstance(observed, int) or observed < generation):
        return "its controller has not caught up with the latest change yet"
    return None


def workload_not_ready(obj: Obj) -> str | None:
    """None for a ready Deployment, ReplicaSet, StatefulSet or DaemonSet, else why not:
    "2 of 3 replicas ready"."""
    if deleting(obj):
        return "being deleted"
    behind = _generation_behind(obj)
    if behind:
        return behind
    if obj.get("kind") == "DaemonSet":
        desired = _get(obj, "status", "desiredNumberScheduled") or 0
        ready = _get(obj, "status", "numberReady") or 0
        return None if ready == desired else f"{ready} of {desired} pods ready"
    wanted = _get(obj, "spec", "replicas")
    wanted = 1 if wanted is None else wanted
    ready = _get(obj, "status", "readyReplicas") or 0
    if ready == wanted:
        return None
    if ready > wanted:
        return f"{ready} replicas ready, want {wanted}"
    return f"{ready} of {wanted} replicas ready"


def selected_by(workload: Obj, pods: Sequence[Obj]) -> list[Obj]:
    """The pods ``workload``'s ``spec.selector`` (a LabelSelector) selects; none when it has
    no selector or one that does not parse."""
    selector = _get(workload, "spec", "selector")
    if not isinstance(selector, Mapping):
        return []
    requirements = [
        Requirement(str(key), Operator.EQUALS, (str(value),))
        for key, value in (selector.get("matchLabels") or {}).items()
    ]
    for expression in selector.get("matchExpressions") or []:
        operator = _OPERATORS.get(expression.get("operator"))
        if operator is None:
            return []
        values = tuple(sorted(str(v) for v in expression.get("values") or []))
        requirements.append(Requirement(str(expression.get("key")), operator, values))
    if not requirements:
        return []  # an empty selector selects nothing in a workload
    chosen = Selector(tuple(requirements))
    return [pod for pod in pods if not deleting(pod) and chosen.matches(labels_of(pod))]


def ready_endpoints(service: str, slices: Sequence[Obj], endpoints: Sequence[Obj]) -> int:
    """How many ready endpoints the Service named ``service`` has, from the namespace's
    EndpointSlices, or its Endpoints where it has no slice."""
    own = [s for s in slices if not deleting(s) and labels_of(s).get(SERVICE_NAME_LABEL) == service]
    if own:
        return sum(
            1
            for endpoint_slice in own
            for endpoint in endpoint_slice.get("endpoints") or []
            if _get(endpoint, "conditions", "ready") is not False
        )
    return sum(
        len(subset.get("addresses") or [])
        for obj in endpoints
        if not deleting(obj) and _get(obj, "metadata", "name") == service
        for subset in obj.get("subsets") or []
    )

"""ResourceQuota: what each object counts, a namespace's usage, and the admission check that
refuses a create beyond the quota with the API server's words (pure but for the store reads).

Counted, as kube-apiserver's evaluators count: ``pods`` and ``count/pods`` (pods that have not
finished), their ``requests.*`` and ``limits.*`` for cpu, memory and ephemeral-storage (``cpu``
and ``memory`` alone mean requests; a pod counts the larger of its containers' sum and its
largest init container), ``services``, ``services.nodeports`` (each port with a node port),
``services.loadbalancers``, ``persistentvolumeclaims`` and ``requests.storage`` (also per
storage class), ``configmaps``, ``secrets``, ``resourcequotas``, and ``count/<resource>.<group>``
for any kind. Scopes BestEffort, NotBestEffort, Terminating and NotTerminating select pods.

A create (or an update that adds usage, such as a Service's type) that would take a counted
resource beyond ``hard`` is refused: ``pods "web" is forbidden: exceeded quota: lab, requested:
limits.cpu=250m, used: limits.cpu=2, limited: limits.cpu=2``; a pod that gives no request or
limit for cpu or memory that a quota counts is refused with ``failed quota: lab: must specify
limits.cpu for: web``.
"""

from __future__ import annotations

from decimal import Decimal

from simcluster.errors import ApiError
from simcluster.quantity import Quantity, QuantityError, parse, total
from simcluster.resources import RESOURCES, Resource, known
from simcluster.store import Store

__all__ = ["QUOTAS", "check", "object_usage", "quota_status", "usage"]

QUOTAS = known("", "v1", "resourcequotas")
PODS = known("", "v1", "pods")
SERVICES = known("", "v1", "services")
CLAIMS = known("", "v1", "persistentvolumeclaims")
_COMPUTE = ("cpu", "memory", "ephemeral-storage")
_MUST_SPECIFY = {"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu",
                 "limits.memory"}  # fmt: skip
_LEGACY = {("", "configmaps"): "configmaps", ("", "secrets"): "secrets",
           ("", "resourcequotas"): "resourcequotas"}  # fmt: skip


def _count_key(resource: Resource) -> str:
    return f"count/{resource.plural}" + (f".{resource.group}" if resource.group else "")


def _amount(value: object) -> Quantity | None:
    try:
        return parse(value)  # type: ignore[arg-type]
    except QuantityError:
        return None


def pod_resources(pod: dict) -> dict[str, Quantity]:
    """``requests.cpu``, ``limits.memory``, ... of a pod, as quota counts them."""
    spec = pod.get("spec") or {}
    found: dict[str, Quantity] = {}
    for kind in ("requests", "limits"):
        for name in _COMPUTE:
            amounts = [
                q
                for c in spec.get("containers") or []
                if (q := _amount(((c.get("resources") or {}).get(kind) or {}).get(name)))
            ]
            inits = [
                q
                for c in spec.get("initContainers") or []
                if (q := _amount(((c.get("resources") or {}).get(kind) or {}).get(name)))
            ]
            if not amounts and not inits:
                continue
            summed = total(amounts) if amounts else Quantity(Decimal(0), inits[0].format)
            largest = max(inits, key=lambda q: q.value) if inits else None
            if largest is not None and largest.value > summed.value:
                summed = Quantity(largest.value, summed.format)
            found[f"{kind}.{name}"] = summed
    return found


def _terminal(pod: dict) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def object_usage(resource: Resource, obj: dict) -> dict[str, Quantity]:
    """What one object counts against a quota."""
    one = Quantity(Decimal(1))
    used: dict[str, Quantity] = {_count_key(resource): one}
    if resource.key in _LEGACY:
        used[_LEGACY[resource.key]] = one
    if resource is PODS:
        if _terminal(obj):
            return {}
        used["pods"] = one
        resources = pod_resources(obj)
        used.update(resources)
        for name in ("cpu", "memory", "ephemeral-storage"):
            if f"requests.{name}" in resources:
                used[name] = resources[f"requests.{name}"]
    elif resource is SERVICES:
        spec = obj.get("spec") or {}
        used["services"] = one
        kind = spec.get("type", "ClusterIP")
        if kind == "LoadBalancer":
            used["services.loadbalancers"] = one
        if kind in ("NodePort", "LoadBalancer"):
            used["services.nodeports"] = Quantity(Decimal(len(spec.get("ports") or [])))
    elif resource is CLAIMS:
        spec = obj.get("spec") or {}
        used["persistentvolumeclaims"] = one
        storage = _amount(((spec.get("resources") or {}).get("requests") or {}).get("storage"))
        if storage is not None:
            used["requests.storage"] = storage
        storage_class = spec.get("storageClassName")
        if storage_class:
            prefix = f"{storage_class}.storageclass.storage.k8s.io/"
            used[prefix + "persistentvolumeclaims"] = one
            if storage is not None:
                used[prefix + "requests.storage"] = storage
    return used


def _in_scope(quota: dict, resource: Resource, obj: dict) -> bool:
    scopes = (quota.get("spec") or {}).get("scopes") or []
    if not scopes:
        return True
    if resource is not PODS:
        return False
    best_effort = not pod_resources(obj)
    terminating = (obj.get("spec") or {}).get("activeDeadlineSeconds") is not None
    wanted = {"BestEffort": best_effort, "NotBestEffort": not best_effort,
              "Terminating": terminating, "NotTerminating": not terminating}  # fmt: skip
    return all(wanted.get(scope, True) for scope in scopes)


def _hard(quota: dict) -> dict[str, Quantity]:
    hard = (quota.get("spec") or {}).get("hard") or {}
    return {key: q for key, value in hard.items() if (q := _amount(value)) is not None}


def _counted(hard: dict[str, Quantity]) -> list[Resource]:
    wanted = set()
    for key in hard:
        if key.startswith("count/"):
            wanted.add(key[len("count/") :])
    found = [PODS, SERVICES, CLAIMS]
    for resource in RESOURCES:
        if not resource.namespaced or not resource.stored or resource.is_view:
            continue
        name = resource.plural + (f".{resource.group}" if resource.group else "")
        if (name in wanted or resource.key in _LEGACY) and resource not in found:
            found.append(resource)
    return found


def usage(store: Store, quota: dict) -> dict[str, Quantity]:
    """What the quota's namespace uses of what the quota counts."""
    namespace = quota["metadata"]["namespace"]
    hard = _hard(quota)
    sums: dict[str, list[Quantity]] = {key: [] for key in hard}
    for resource in _counted(hard):
        for obj in store.list(resource, namespace)[0]:
            if not _in_scope(quota, resource, obj):
                continue
            for key, amount in object_usage(resource, obj).items():
                if key in sums:
                    sums[key].append(amount)
    return {key: total(amounts) if amounts else Quantity(Decimal(0), hard[key].format)
            for key, amounts in sums.items()}  # fmt: skip


def quota_status(store: Store, quota: dict) -> dict:
    """The status the quota controller writes: hard and used, as quantities' text."""
    hard = (quota.get("spec") or {}).get("hard") or {}
    used = usage(store, quota)
    return {"hard": dict(hard), "used": {key: str(used[key]) for key in hard if key in used}}


def _shown(values: dict[str, Quantity]) -> str:
    return ",".join(f"{key}={values[key]}" for key in sorted(values))


def _missing(pod: dict, required: set[str]) -> str | None:
    """kube-apiserver's "must specify ..." for containers that name none of a counted
    resource."""
    spec = pod.get("spec") or {}
    missing: dict[str, list[str]] = {}
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        resources = container.get("resources") or {}
        for key in required:
            kind, _, name = key.rpartition(".")
            kind = kind or "requests"
            if name not in (resources.get(kind) or {}):
                missing.setdefault(key, []).append(container.get("name", ""))
    if not missing:
        return None
    parts = [f"{key} for: {','.join(sorted(names))}" for key, names in sorted(missing.items())]
    return "must specify " + "; ".join(parts)


def check(store: Store, resource: Resource, obj: dict, old: dict | None, name: str) -> None:
    """Refuse (403) a write that a ResourceQuota of the namespace does not allow."""
    namespace = obj["metadata"].get("namespace")
    if not namespace or resource is QUOTAS:
        return
    for quota in store.list(QUOTAS, namespace)[0]:
        if not _in_scope(quota, resource, obj):
            continue
        hard = _hard(quota)
        wanted = {k: v for k, v in object_usage(resource, obj).items() if k in hard}
        if old is not None:
            before = object_usage(resource, old)
            wanted = {k: v - before[k] if k in before else v for k, v in wanted.items()}
            wanted = {k: v for k, v in wanted.items() if v.value > 0}
        if not wanted:
            continue
        quota_name = quota["metadata"]["name"]
        if resource is PODS:
            problem = _missing(obj, {k for k in hard if k in _MUST_SPECIFY})
            if problem:
                raise ApiError.forbidden(resource, name, f"failed quota: {quota_name}: {problem}")
        used = usage(store, quota)  # an update's old object is in it already
        exceeded = [k for k, v in wanted.items() if used[k].value + v.value > hard[k].value]
        if exceeded:
            raise ApiError.forbidden(
                resource,
                name,
                f"exceeded quota: {quota_name}, requested: "
                f"{_shown({k: wanted[k] for k in exceeded})}, used: "
                f"{_shown({k: used[k] for k in exceeded})}, limited: "
                f"{_shown({k: hard[k] for k in exceeded})}",
            )

"""LimitRange, as the LimitRanger admission plugin applies it to new pods and claims.

Mutating: a container without a request or limit for a resource gets the Container limit's
``defaultRequest`` and ``default`` (recorded in the pod's ``kubernetes.io/limit-ranger``
annotation, as the plugin writes it). Validating: each Container (and each Pod, summed) must
stay within ``min`` and ``max`` and ``maxLimitRequestRatio``, and each PersistentVolumeClaim
within its storage bounds, refused with the plugin's words: ``pods "web" is forbidden:
maximum cpu usage per Container is 1, but limit is 2``.

The LimitRange object itself is defaulted as the API server does: ``default`` from ``max``,
``defaultRequest`` from ``default`` or ``min``.
"""

from __future__ import annotations

from simcluster.errors import ApiError
from simcluster.quantity import Quantity, QuantityError, parse, total
from simcluster.resources import Resource, known
from simcluster.store import Store

__all__ = ["LIMITRANGES", "apply", "default_limit_range", "validate"]

LIMITRANGES = known("", "v1", "limitranges")
PODS = known("", "v1", "pods")
CLAIMS = known("", "v1", "persistentvolumeclaims")


def default_limit_range(obj: dict) -> None:
    """The API server's defaults of a LimitRange's Container items."""
    for item in (obj.get("spec") or {}).get("limits") or []:
        if item.get("type") != "Container":
            continue
        default = item.setdefault("default", {})
        request = item.setdefault("defaultRequest", {})
        for key, value in (item.get("max") or {}).items():
            default.setdefault(key, value)
        for key, value in default.items():
            request.setdefault(key, value)
        for key, value in (item.get("min") or {}).items():
            request.setdefault(key, value)
        if not default:
            del item["default"]
        if not request:
            del item["defaultRequest"]


def _items(store: Store, namespace: str, kind: str) -> list[dict]:
    return [
        item
        for limit_range in store.list(LIMITRANGES, namespace)[0]
        for item in (limit_range.get("spec") or {}).get("limits") or []
        if item.get("type") == kind
    ]


def apply(store: Store, resource: Resource, obj: dict) -> None:
    """Fill the Container defaults of the namespace's LimitRanges into a new pod."""
    if resource is not PODS:
        return
    items = _items(store, obj["metadata"].get("namespace", ""), "Container")
    if not items:
        return
    notes = []
    spec = obj.get("spec") or {}
    for kind_name, containers in (("init container", spec.get("initContainers") or []),
                                  ("container", spec.get("containers") or [])):  # fmt: skip
        for container in containers:
            resources = container.setdefault("resources", {})
            set_requests, set_limits = [], []
            for item in items:
                for key, value in (item.get("defaultRequest") or {}).items():
                    requests = resources.setdefault("requests", {})
                    if key not in requests:
                        requests[key] = value
                        set_requests.append(key)
                for key, value in (item.get("default") or {}).items():
                    limits = resources.setdefault("limits", {})
                    if key not in limits:
                        limits[key] = value
                        set_limits.append(key)
            name = container.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {kind_name} {name}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {kind_name} {name}")
    if notes:
        annotations = obj["metadata"].setdefault("annotations", {})
        annotations["kubernetes.io/limit-ranger"] = "LimitRanger plugin set: " + "; ".join(notes)


def _q(value: object) -> Quantity | None:
    try:
        return parse(value)  # type: ignore[arg-type]
    except QuantityError:
        return None


def _bounds(item: dict, kind: str, requests: dict, limits: dict) -> list[str]:
    problems = []
    for key, bound in (item.get("min") or {}).items():
        minimum, request = _q(bound), _q(requests.get(key))
        if minimum is None:
            continue
        if request is None:
            problems.append(f"minimum {key} usage per {kind} is {minimum}.  No request is "
                            "specified")  # fmt: skip
        elif request.value < minimum.value:
            problems.append(f"minimum {key} usage per {kind} is {minimum}, but request is "
                            f"{request}")  # fmt: skip
    for key, bound in (item.get("max") or {}).items():
        maximum, limit = _q(bound), _q(limits.get(key))
        if maximum is None:
            continue
        if limit is None:
            problems.append(f"maximum {key} usage per {kind} is {maximum}.  No limit is "
                            "specified")  # fmt: skip
        elif limit.value > maximum.value:
            problems.append(f"maximum {key} usage per {kind} is {maximum}, but limit is {limit}")
    for key, bound in (item.get("maxLimitRequestRatio") or {}).items():
        ratio, limit, request = _q(bound), _q(limits.get(key)), _q(requests.get(key))
        if ratio is None or limit is None or request is None or not request.value:
            continue
        actual = limit.value / request.value
        if actual > ratio.value:
            problems.append(f"{key} max limit to request ratio per {kind} is {ratio}, but "
                            f"provided ratio is {actual:f}".rstrip("0").rstrip("."))  # fmt: skip
    return problems


def validate(store: Store, resource: Resource, obj: dict, name: str) -> None:
    """Refuse (403) a new pod or claim outside the namespace's LimitRanges."""
    namespace = obj["metadata"].get("namespace", "")
    problems: list[str] = []
    if resource is PODS:
        spec = obj.get("spec") or {}
        containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
        for item in _items(store, namespace, "Container"):
            for container in containers:
                resources = container.get("resources") or {}
                problems += _bounds(item, "Container", resources.get("requests") or {},
                                    resources.get("limits") or {})  # fmt: skip
        for item in _items(store, namespace, "Pod"):
            sums: dict[str, dict[str, Quantity]] = {"requests": {}, "limits": {}}
            for kind in sums:
                keys = {k for c in spec.get("containers") or []
                        for k in ((c.get("resources") or {}).get(kind) or {})}  # fmt: skip
                for key in keys:
                    amounts = [
                        q
                        for c in spec.get("containers") or []
                        if (q := _q(((c.get("resources") or {}).get(kind) or {}).get(key)))
                    ]
                    sums[kind][key] = total(amounts)
            problems += _bounds(item, "Pod", sums["requests"], sums["limits"])
    elif resource is CLAIMS:
        requests = ((obj.get("spec") or {}).get("resources") or {}).get("requests") or {}
        for item in _items(store, namespace, "PersistentVolumeClaim"):
            problems += _bounds(item, "PersistentVolumeClaim", requests, requests)
    if problems:
        why = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise ApiError.forbidden(resource, name, why)

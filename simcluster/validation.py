"""What the API server checks and fills in before it stores an object.

Only the rules that lab code and trainees run into are here: object names, a pod's containers,
the fields of a pod spec that may not change, and the defaults a read-back shows (a pod's
restart and DNS policy, its Pending status and QoS class; a Deployment's strategy; a
namespace's name label; a Secret's type; a HorizontalPodAutoscaler's minimum and metric).
A Service's defaults and allocations are in `simcluster.services`.
"""

from __future__ import annotations

import re
import secrets

from simcluster.errors import ApiError
from simcluster.resources import Resource
from simcluster.workloads import default_pod_spec, default_workload, workload_problems

__all__ = ["apply_defaults", "check_pod_update", "generate_name", "qos_class", "validate"]

_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")

# apimachinery's own wording, so messages match a real cluster's.
_RULES = {
    "subdomain": (
        _SUBDOMAIN,
        253,
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
        "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*"
        "[a-z0-9])?)*')",
    ),
    "label": (
        _LABEL,
        63,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
        "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
        "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
    ),
    "label1035": (
        _LABEL_1035,
        63,
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
        "an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or "
        "'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
    ),
}
# Letters that cannot spell words, as the API server uses for generateName.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Pod spec fields that an update may change; everything else in a pod's spec is immutable.
_MUTABLE_POD_FIELDS = ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds")


def generate_name(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(5))


def _name_problem(resource: Resource, name: str) -> str | None:
    if resource.names == "path":
        if name in (".", ".."):
            return f'may not be "{name}"'
        if "/" in name or "%" in name:
            return "may not contain '/' or '%'"
        return None
    pattern, longest, rule = _RULES[resource.names]
    if len(name) > longest:
        return f"must be no more than {longest} characters"
    return None if pattern.fullmatch(name) else rule


def validate(resource: Resource, obj: dict) -> None:
    """Raise the 422 Invalid a real server answers for a malformed object."""
    name = obj["metadata"].get("name") or ""
    causes: list[tuple[str, str, str]] = []
    if not name:
        required = "Required value: name or generateName is required"
        causes.append(("metadata.name", "FieldValueRequired", required))
    elif problem := _name_problem(resource, name):
        causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {problem}'))
    if resource.key == ("", "pods"):
        causes.extend(_pod_problems(obj))
    causes.extend(workload_problems(resource, obj))
    if causes:
        raise ApiError.invalid(resource, name, causes)


def _pod_problems(pod: dict) -> list[tuple[str, str, str]]:
    containers = (pod.get("spec") or {}).get("containers")
    if not containers:
        return [("spec.containers", "FieldValueRequired", "Required value")]
    problems = []
    for i, container in enumerate(containers):
        for field in ("name", "image"):
            if not (container or {}).get(field):
                path = f"spec.containers[{i}].{field}"
                problems.append((path, "FieldValueRequired", "Required value"))
    return problems


def check_pod_update(pods: Resource, old: dict, new: dict) -> None:
    """Raise 422 when an update changes a pod spec field that a real server keeps fixed."""

    def fixed(spec: dict) -> dict:
        spec = {k: v for k, v in spec.items() if k not in _MUTABLE_POD_FIELDS}
        for field in ("containers", "initContainers"):
            spec[field] = [{**c, "image": None} for c in spec.get(field) or []]
        return spec

    if fixed(old.get("spec") or {}) != fixed(new.get("spec") or {}):
        message = (
            "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
            "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
            "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
            "(allow it to be set to 1 if it was previously negative)"
        )
        cause = ("spec", "FieldValueForbidden", message)
        raise ApiError.invalid(pods, old["metadata"]["name"], [cause])


def qos_class(containers: list[dict]) -> str:
    """A pod's QoS class from its containers' requests and limits."""
    resources = [c.get("resources") or {} for c in containers]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    for r in resources:
        limits, requests = r.get("limits") or {}, r.get("requests") or {}
        for kind in ("cpu", "memory"):
            if kind not in limits or requests.get(kind, limits[kind]) != limits[kind]:
                return "Burstable"
    return "Guaranteed"


def apply_defaults(resource: Resource, obj: dict, *, created: bool) -> None:
    """Fill what a real server defaults; ``created`` adds the fields only a create sets."""
    meta = obj["metadata"]
    if resource.key == ("", "namespaces"):
        meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        if created:
            obj["status"] = {"phase": "Active"}
    elif resource.key == ("", "pods"):
        spec = obj.setdefault("spec", {})
        default_pod_spec(spec, template=False)
        if created:
            obj["status"] = {
                "phase": "Pending",
                "qosClass": qos_class(spec.get("containers") or []),
            }
    elif resource.key == ("apps", "deployments"):
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxSurge", "25%")
            rolling.setdefault("maxUnavailable", "25%")
        default_workload(resource, obj, created=created)
    elif resource.key == ("", "secrets"):
        obj.setdefault("type", "Opaque")
    elif resource.key == ("autoscaling", "horizontalpodautoscalers"):
        # autoscaling/v2's defaults (objects are stored as v2): one replica at least, and
        # 80% average CPU utilisation when no metric is named.
        spec = obj.setdefault("spec", {})
        spec.setdefault("minReplicas", 1)
        if not spec.get("metrics"):
            target = {"type": "Utilization", "averageUtilization": 80}
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    else:
        default_workload(resource, obj, created=created)

"""Kinds served in more than one version: stored in one, converted for the others.

Events are stored as core/v1 Events and served as events.k8s.io/v1 too: ``regarding`` is the
``involvedObject``, ``note`` the message, ``reportingController`` the reporting component,
``deprecatedSource``, ``deprecatedFirstTimestamp``, ``deprecatedLastTimestamp`` and
``deprecatedCount`` the old fields, and ``series`` the count of a repeated event.

HorizontalPodAutoscaler is stored as autoscaling/v2 and also served as autoscaling/v1 (which
``kubectl autoscale`` writes): v1's ``targetCPUUtilizationPercentage`` is a v2 Resource metric
for cpu with an Utilization target, and v1's ``currentCPUUtilizationPercentage`` the matching
current metric. What v1 cannot say (other metrics, behavior, conditions) is left out of its
view; the real server keeps it in annotations, the simulated cluster does not.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["present", "stored"]

_HPA = "HorizontalPodAutoscaler"
_V1, _V2 = "autoscaling/v1", "autoscaling/v2"


def _is_hpa_v1(resource: Resource) -> bool:
    return resource.kind == _HPA and resource.api_version == _V1


def _cpu_metric(utilization: int) -> dict:
    target = {"type": "Utilization", "averageUtilization": utilization}
    return {"type": "Resource", "resource": {"name": "cpu", "target": target}}


def _v1_to_v2(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["apiVersion"] = _V2
    spec = obj.get("spec")
    if isinstance(spec, dict) and "targetCPUUtilizationPercentage" in spec:
        percent = spec.pop("targetCPUUtilizationPercentage")
        if percent is not None:
            spec["metrics"] = [_cpu_metric(percent)]
    status = obj.get("status")
    if isinstance(status, dict) and "currentCPUUtilizationPercentage" in status:
        percent = status.pop("currentCPUUtilizationPercentage")
        if percent is not None:
            current = {"averageUtilization": percent}
            status["currentMetrics"] = [
                {"type": "Resource", "resource": {"name": "cpu", "current": current}}
            ]
    return obj


def _cpu(metrics: list[dict], side: str) -> int | None:
    for metric in metrics or []:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            value = (resource.get(side) or {}).get("averageUtilization")
            if value is not None:
                return value
    return None


def _v2_to_v1(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["apiVersion"] = _V1
    spec = obj.get("spec") or {}
    metrics = spec.pop("metrics", None)
    spec.pop("behavior", None)
    if (target := _cpu(metrics or [], "target")) is not None:
        spec["targetCPUUtilizationPercentage"] = target
    if "status" in obj:
        status = obj["status"] or {}
        current_metrics = status.pop("currentMetrics", None)
        status.pop("conditions", None)
        if (current := _cpu(current_metrics or [], "current")) is not None:
            status["currentCPUUtilizationPercentage"] = current
    return obj


_EVENTS = "events.k8s.io/v1"
_RENAMED = (("regarding", "involvedObject"), ("note", "message"),
            ("reportingController", "reportingComponent"), ("deprecatedSource", "source"),
            ("deprecatedFirstTimestamp", "firstTimestamp"),
            ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"))  # fmt: skip


def _is_events_view(resource: Resource) -> bool:
    return resource.kind == "Event" and resource.api_version == _EVENTS


def _core_to_events(event: dict) -> dict:
    event = copy.deepcopy(event)
    converted: dict = {"kind": "Event", "apiVersion": _EVENTS, "metadata": event.pop("metadata")}
    for new, old in _RENAMED:
        if old in event:
            converted[new] = event.pop(old)
    event.pop("kind", None)
    event.pop("apiVersion", None)
    converted.update(event)
    converted["eventTime"] = event.get("eventTime") or converted.get("deprecatedFirstTimestamp")
    count = converted.get("deprecatedCount") or 0
    if count > 1:
        converted["series"] = {
            "count": count,
            "lastObservedTime": converted.get("deprecatedLastTimestamp"),
        }
    return converted


def _events_to_core(event: dict) -> dict:
    event = copy.deepcopy(event)
    event.pop("series", None)
    converted: dict = {"kind": "Event", "apiVersion": "v1", "metadata": event.pop("metadata", {})}
    for new, old in _RENAMED:
        if new in event:
            converted[old] = event.pop(new)
    event.pop("kind", None)
    event.pop("apiVersion", None)
    converted.update(event)
    return converted


def stored(resource: Resource, obj: dict) -> dict:
    """A request's object of ``resource``'s version in the version it is stored in."""
    if _is_events_view(resource):
        return _events_to_core(obj)
    return _v1_to_v2(obj) if _is_hpa_v1(resource) else obj


def present(resource: Resource, document: dict) -> dict:
    """A stored object or list as ``resource``'s version shows it."""
    if _is_events_view(resource):
        if document.get("kind") == "EventList":
            items = [_core_to_events(item) for item in document.get("items") or []]
            return {**document, "apiVersion": _EVENTS, "items": items}
        if document.get("kind") == "Event" and document.get("apiVersion") == "v1":
            return _core_to_events(document)
        return document
    if not _is_hpa_v1(resource):
        return document
    if document.get("kind") == f"{_HPA}List":
        items = [present(resource, item) for item in document.get("items") or []]
        return {**document, "apiVersion": _V1, "items": items}
    if document.get("kind") == _HPA and document.get("apiVersion") == _V2:
        return _v2_to_v1(document)
    return document

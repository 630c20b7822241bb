"""The HorizontalPodAutoscaler controller, without a metrics source.

The simulated cluster has no metrics-server, so no metric can be read: like a real controller
in that situation, it keeps the target's replicas as they are, except that it brings them
within ``minReplicas`` and ``maxReplicas`` (``SuccessfulRescale``: "New size: 2; reason:
Current number of replicas below Spec.MinReplicas"). The status has the target's current
replicas and the desired count; the conditions say AbleToScale True (SucceededGetScale) and
ScalingActive False with reason FailedGetResourceMetric: "the HPA was unable to compute the
replica count: failed to get cpu utilization: no metrics source in the simulated cluster", and
a ``FailedGetResourceMetric`` warning event says the same. ``kubectl get hpa`` shows the
targets as ``<unknown>``, as on a cluster without metrics-server.
"""

from __future__ import annotations

import contextlib

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.errors import ApiError
from simcluster.resources import by_kind, known
from simcluster.store import Event, Store, timestamp

__all__ = ["NO_METRICS", "Autoscalers"]

HPAS = known("autoscaling", "v2", "horizontalpodautoscalers")
COMPONENT = "horizontal-pod-autoscaler"
NO_METRICS = "no metrics source in the simulated cluster"
_SCALABLE = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets")}


class Autoscalers:
    def __init__(self, store: Store, clock: Clock, recorder: Recorder) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace", "")
        if event.resource.key == HPAS.key:
            if event.type != "DELETED":
                self._queue(namespace, meta["name"])
        elif event.resource.key in _SCALABLE:
            for hpa in self.store.list(HPAS, namespace)[0]:
                ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
                if ref.get("name") == meta["name"] and ref.get("kind") == event.object.get("kind"):
                    self._queue(namespace, hpa["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("hpa", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        hpa = self.store.get(HPAS, namespace, name)
        if hpa is None:
            return
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        resource = by_kind(ref.get("apiVersion", ""), ref.get("kind", ""))
        target = None
        if resource is not None and resource.key in _SCALABLE:
            target = self.store.get(resource, namespace, ref.get("name", ""))
        now = timestamp()
        status = dict(hpa.get("status") or {})
        previous = {c.get("type"): c for c in status.get("conditions") or []}

        def condition(kind: str, ok: bool, reason: str, message: str) -> dict:
            value = "True" if ok else "False"
            before = previous.get(kind) or {}
            since = before.get("lastTransitionTime") if before.get("status") == value else now
            return {"type": kind, "status": value, "lastTransitionTime": since or now,
                    "reason": reason, "message": message}  # fmt: skip

        if target is None:
            shown = f"{ref.get('kind', '').lower()}s.{(resource.group if resource else '')}"
            message = (f"the HPA controller was unable to get the target's current scale: "
                       f'{shown.rstrip(".")} "{ref.get("name", "")}" not found')  # fmt: skip
            status["conditions"] = [condition("AbleToScale", False, "FailedGetScale", message)]
            self.recorder.record(hpa, "Warning", "FailedGetScale", message, COMPONENT)
            self._write(hpa, status)
            return
        current = int((target.get("status") or {}).get("replicas", 0) or 0)
        wanted = int((target.get("spec") or {}).get("replicas", 1))
        minimum = int(spec.get("minReplicas", 1))
        maximum = int(spec.get("maxReplicas", minimum))
        desired = wanted
        reason = ""
        if wanted > maximum:
            desired, reason = maximum, "Current number of replicas above Spec.MaxReplicas"
        elif wanted < minimum and wanted != 0:
            desired, reason = minimum, "Current number of replicas below Spec.MinReplicas"
        if desired != wanted:
            assert resource is not None

            def rescale(obj: dict) -> None:
                obj["spec"]["replicas"] = desired

            try:
                self.store.mutate(resource, namespace, ref["name"], rescale)
            except ApiError:
                return
            status["lastScaleTime"] = now
            self.recorder.record(hpa, "Normal", "SuccessfulRescale",
                                 f"New size: {desired}; reason: {reason}", COMPONENT)  # fmt: skip
        metric = next((m for m in spec.get("metrics") or []), {})
        what = ((metric.get("resource") or {}).get("name") or metric.get("type", "")).lower()
        message = f"the HPA was unable to compute the replica count: failed to get {what} " + (
            f"utilization: {NO_METRICS}"
        )
        status.update(currentReplicas=current, desiredReplicas=desired)
        status["conditions"] = [
            condition("AbleToScale", True, "SucceededGetScale",
                      "the HPA controller was able to get the target's current scale"),
            condition("ScalingActive", False, "FailedGetResourceMetric", message),
        ]  # fmt: skip
        status.pop("currentMetrics", None)
        if status != (hpa.get("status") or {}):
            self.recorder.record(hpa, "Warning", "FailedGetResourceMetric",
                                 f"failed to get {what} utilization: {NO_METRICS}",
                                 COMPONENT)  # fmt: skip
            self._write(hpa, status)

    def _write(self, hpa: dict, status: dict) -> None:
        def write(obj: dict) -> None:
            obj["status"] = status

        with contextlib.suppress(ApiError):
            self.store.mutate(HPAS, hpa["metadata"]["namespace"], hpa["metadata"]["name"], write)

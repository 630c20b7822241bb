"""The StatefulSet controller: pods with stable names and identities, in order.

Pod ``<name>-<ordinal>`` has hostname ``<name>-<ordinal>`` under the Service ``serviceName``
(``web-0.web`` resolves in the namespace), the labels ``statefulset.kubernetes.io/pod-name``,
``apps.kubernetes.io/pod-index`` and ``controller-revision-hash``, and a
PersistentVolumeClaim ``<template>-<name>-<ordinal>`` per volumeClaimTemplate, which outlives
it. With ``podManagementPolicy: OrderedReady`` (the default) a pod is created only once every
lower ordinal runs and is ready, and scaling down removes the highest ordinal first, one at a
time; ``Parallel`` does all at once. A changed template rolls out from the highest ordinal
down to the ``partition``, one pod at a time, each replaced pod ready before the next. Events
say "create Pod web-0 in StatefulSet web successful".
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.rollout import template_hash
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

__all__ = ["StatefulSets"]

PODS = known("", "v1", "pods")
CLAIMS = known("", "v1", "persistentvolumeclaims")
STATEFULSETS = known("apps", "v1", "statefulsets")
COMPONENT = "statefulset-controller"
REVISION = "controller-revision-hash"
Delete = Callable[[Resource, str, str, str], None]


class StatefulSets:
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
        namespace = meta.get("namespace", "")
        if event.resource is STATEFULSETS:
            if event.type != "DELETED":
                self._queue(namespace, meta["name"])
        elif event.resource is PODS:
            owner = controller_uid(event.object)
            for sts in self.store.list(STATEFULSETS, namespace)[0]:
                if sts["metadata"]["uid"] == owner:
                    self._queue(namespace, sts["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("statefulset", namespace, name))

    def _claims(self, sts: dict, ordinal: int) -> list[dict]:
        """Create the pod's claims that do not exist; the pod's volumes for them."""
        meta, spec = sts["metadata"], sts.get("spec") or {}
        volumes = []
        for template in spec.get("volumeClaimTemplates") or []:
            base = (template.get("metadata") or {}).get("name", "")
            name = f"{base}-{meta['name']}-{ordinal}"
            volumes.append({"name": base, "persistentVolumeClaim": {"claimName": name}})
            if self.store.get(CLAIMS, meta["namespace"], name) is not None:
                continue
            claim = {
                "metadata": {"name": name, "namespace": meta["namespace"],
                             "labels": dict(((spec.get("selector") or {}).get("matchLabels"))
                                            or {})},
                "spec": copy.deepcopy(template.get("spec") or {}),
            }  # fmt: skip
            try:
                self.store.create(CLAIMS, claim, admit=self.creator.admit)
            except ApiError as refused:
                self.recorder.record(sts, "Warning", "FailedCreate",
                                     f"create Claim {name} for Pod {meta['name']}-{ordinal} in "
                                     f"StatefulSet {meta['name']} failed error: "
                                     f"{refused.message}", COMPONENT)  # fmt: skip
                continue
            self.recorder.record(sts, "Normal", "SuccessfulCreate",
                                 f"create Claim {name} Pod {meta['name']}-{ordinal} in "
                                 f"StatefulSet {meta['name']} success", COMPONENT)  # fmt: skip
        return volumes

    def _create(self, sts: dict, ordinal: int, revision: str) -> dict | None:
        meta, spec = sts["metadata"], sts.get("spec") or {}
        name = f"{meta['name']}-{ordinal}"
        volumes = self._claims(sts, ordinal)
        labels = {"statefulset.kubernetes.io/pod-name": name,
                  "apps.kubernetes.io/pod-index": str(ordinal), REVISION: revision}  # fmt: skip
        pod = pod_from_template(sts, spec.get("template") or {}, name=name, labels=labels)
        pod_spec = pod["spec"]
        pod_spec["hostname"] = name
        if spec.get("serviceName"):
            pod_spec["subdomain"] = spec["serviceName"]
        if volumes:
            names = {v["name"] for v in volumes}
            pod_spec["volumes"] = [
                v for v in pod_spec.get("volumes") or [] if v.get("name") not in names
            ] + volumes
        return self.creator.create(
            sts, pod, COMPONENT, f"create Pod {name} in StatefulSet {meta['name']} successful"
        )

    def _remove(self, sts: dict, pod: dict) -> None:
        name = pod["metadata"]["name"]
        try:
            self.delete(PODS, pod["metadata"]["namespace"], name, "Background")
        except ApiError:
            return
        self.recorder.record(sts, "Normal", "SuccessfulDelete",
                             f"delete Pod {name} in StatefulSet {sts['metadata']['name']} "
                             "successful", COMPONENT)  # fmt: skip

    def sync(self, namespace: str, name: str) -> None:
        sts = self.store.get(STATEFULSETS, namespace, name)
        if sts is None:
            return
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        ordered = spec.get("podManagementPolicy", "OrderedReady") == "OrderedReady"
        update = f"{name}-{template_hash(spec.get('template') or {})}"
        status = sts.get("status") or {}
        current = status.get("currentRevision") or update
        pods: dict[int, dict] = {}
        for pod in self.store.list(PODS, namespace)[0]:
            if not controlled_by(pod, sts):
                continue
            suffix = pod["metadata"]["name"].rsplit("-", 1)[-1]
            if suffix.isdigit():
                pods[int(suffix)] = pod
        if not sts["metadata"].get("deletionTimestamp"):
            self._reconcile(sts, pods, replicas, ordered, update, current)
        pods = {
            int(p["metadata"]["name"].rsplit("-", 1)[-1]): p
            for p in self.store.list(PODS, namespace)[0]
            if controlled_by(p, sts) and p["metadata"]["name"].rsplit("-", 1)[-1].isdigit()
        }
        self._status(sts, pods, update, current)

    def _reconcile(
        self, sts: dict, pods: dict[int, dict], replicas: int, ordered: bool, update: str,
        current: str,
    ) -> None:  # fmt: skip
        spec = sts.get("spec") or {}
        strategy = spec.get("updateStrategy") or {}
        partition = int(((strategy.get("rollingUpdate") or {}).get("partition")) or 0)
        for ordinal in range(replicas):
            pod = pods.get(ordinal)
            if pod is None:
                revision = current if current != update and ordinal < partition else update
                self._create(sts, ordinal, revision)
                if ordered:
                    return
                continue
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
                self._remove(sts, pod)
                if ordered:
                    return
                continue
            if ordered and not (active(pod) and ready(pod)):
                return
        condemned = sorted((o for o in pods if o >= replicas), reverse=True)
        for ordinal in condemned:
            pod = pods[ordinal]
            if not pod["metadata"].get("deletionTimestamp"):
                self._remove(sts, pod)
            if ordered:
                return
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return
        if any(not (active(pods[o]) and ready(pods[o])) for o in range(replicas) if o in pods):
            return
        for ordinal in sorted((o for o in pods if partition <= o < replicas), reverse=True):
            pod = pods[ordinal]
            if (pod["metadata"].get("labels") or {}).get(REVISION) != update:
                self._remove(sts, pod)
                return

    def _status(self, sts: dict, pods: dict[int, dict], update: str, current: str) -> None:
        spec = sts.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        revisions = [(p["metadata"].get("labels") or {}).get(REVISION) for p in pods.values()]
        updated = sum(r == update for r in revisions)
        if updated == len(pods) == replicas:
            current = update
        min_ready = int(spec.get("minReadySeconds") or 0)
        counted = [p for p in pods.values() if active(p)]
        status = {
            "observedGeneration": sts["metadata"].get("generation", 1),
            "replicas": len(counted),
            "readyReplicas": sum(ready(p) for p in counted),
            "currentReplicas": sum(r == current for r in revisions),
            "updatedReplicas": updated,
            "availableReplicas": sum(available(p, min_ready) for p in counted),
            "currentRevision": current,
            "updateRevision": update,
            "collisionCount": 0,
        }
        for key in ("readyReplicas", "currentReplicas", "updatedReplicas"):
            if not status[key]:
                del status[key]
        if status != (sts.get("status") or {}):

            def write(obj: dict) -> None:
                obj["status"] = status

            with contextlib.suppress(ApiError):
                self.store.mutate(STATEFULSETS, sts["metadata"]["namespace"],
                                  sts["metadata"]["name"], write)  # fmt: skip

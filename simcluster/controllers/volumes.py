"""Storage: the cluster's default StorageClass ``standard`` and its provisioner.

A PersistentVolumeClaim of the class ``standard`` (every claim without a class gets it, as the
DefaultStorageClass admission plugin gives it) is bound at once to a new PersistentVolume
``pvc-<claim uid>`` of the size and access modes asked for (``ProvisioningSucceeded``). When
the claim is deleted, the volume goes too (reclaim policy Delete). Claims of other classes,
and claims naming a volume, stay Pending. What pods write into a bound claim stays with it
(`simcluster.containers.node`): a StatefulSet's pod finds its files again.
"""

from __future__ import annotations

import contextlib

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.errors import ApiError
from simcluster.resources import known
from simcluster.store import Event, Store

__all__ = ["DEFAULT_CLASS", "PROVISIONER", "Volumes", "storage_class"]

CLAIMS = known("", "v1", "persistentvolumeclaims")
VOLUMES = known("", "v1", "persistentvolumes")
CLASSES = known("storage.k8s.io", "v1", "storageclasses")
DEFAULT_CLASS = "standard"
PROVISIONER = "simcluster.lotse.io/in-memory"


def storage_class() -> dict:
    return {
        "metadata": {
            "name": DEFAULT_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


class Volumes:
    def __init__(self, store: Store, clock: Clock, recorder: Recorder) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder

    def on_event(self, event: Event) -> None:
        if event.resource is not CLAIMS:
            return
        meta = event.object["metadata"]
        if event.type == "DELETED":
            volume = (event.object.get("spec") or {}).get("volumeName")
            if volume and meta.get("uid") and volume == f"pvc-{meta['uid']}":
                self.clock.soon(self._reclaim, volume)
            return
        self.clock.soon(self.bind, meta["namespace"], meta["name"],
                        key=("claim", meta["namespace"], meta["name"]))  # fmt: skip

    def _reclaim(self, name: str) -> None:
        with contextlib.suppress(ApiError):
            self.store.delete(VOLUMES, None, name)

    def bind(self, namespace: str, name: str) -> None:
        claim = self.store.get(CLAIMS, namespace, name)
        if claim is None or claim["metadata"].get("deletionTimestamp"):
            return
        spec = claim.get("spec") or {}
        if (claim.get("status") or {}).get("phase") == "Bound" or spec.get("volumeName"):
            return
        storage_name = spec.get("storageClassName")
        found = self.store.get(CLASSES, None, storage_name) if storage_name else None
        if found is None or found.get("provisioner") != PROVISIONER:
            if (claim.get("status") or {}).get("phase") != "Pending":
                self._status(claim, {"phase": "Pending"})
            return
        uid = claim["metadata"]["uid"]
        size = ((spec.get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
        modes = spec.get("accessModes") or ["ReadWriteOnce"]
        volume_name = f"pvc-{uid}"
        if self.store.get(VOLUMES, None, volume_name) is None:
            volume = {
                "metadata": {"name": volume_name,
                             "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER}},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": modes,
                    "persistentVolumeReclaimPolicy": found.get("reclaimPolicy", "Delete"),
                    "storageClassName": storage_name,
                    "volumeMode": spec.get("volumeMode", "Filesystem"),
                    "hostPath": {"path": f"/var/lib/simulated-volumes/{volume_name}"},
                    "claimRef": {"kind": "PersistentVolumeClaim", "namespace": namespace,
                                 "name": name, "uid": uid, "apiVersion": "v1"},
                },
                "status": {"phase": "Bound"},
            }  # fmt: skip
            self.store.create(VOLUMES, volume, keep_status=True)
        self.recorder.record(claim, "Normal", "ProvisioningSucceeded",
                             f"Successfully provisioned volume {volume_name}",
                             PROVISIONER)  # fmt: skip

        def bound(obj: dict) -> None:
            obj["spec"]["volumeName"] = volume_name
            obj["spec"].setdefault("volumeMode", "Filesystem")
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations["pv.kubernetes.io/bind-completed"] = "yes"
            annotations["pv.kubernetes.io/bound-by-controller"] = "yes"
            annotations["volume.kubernetes.io/storage-provisioner"] = PROVISIONER
            obj["status"] = {"phase": "Bound", "accessModes": modes, "capacity": {"storage": size}}

        with contextlib.suppress(ApiError):
            self.store.mutate(CLAIMS, namespace, name, bound)

    def _status(self, claim: dict, status: dict) -> None:
        def write(obj: dict) -> None:
            obj["status"] = status

        with contextlib.suppress(ApiError):
            self.store.mutate(CLAIMS, claim["metadata"]["namespace"], claim["metadata"]["name"],
                              write)  # fmt: skip

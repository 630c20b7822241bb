"""The built-in admission plugins every write passes, the cluster's own included (a
controller creating a pod): DefaultStorageClass and LimitRanger mutate a new object;
LimitRanger, PodSecurity and ResourceQuota validate it (`simcluster.limitranger`,
`simcluster.podsecurity`, `simcluster.quota`). API requests pass them inside `Gate`, with RBAC's
escalation checks and the ValidatingAdmissionPolicies, in kube-apiserver's order (ResourceQuota
last); what controllers write passes them through `SystemAdmission`.
"""

from __future__ import annotations

from collections.abc import Callable

from simcluster import limitranger, podsecurity, quota
from simcluster.resources import Resource, known
from simcluster.store import Store

__all__ = ["BuiltIns", "SystemAdmission"]

CLAIMS = known("", "v1", "persistentvolumeclaims")
CLASSES = known("storage.k8s.io", "v1", "storageclasses")
NAMESPACES = known("", "v1", "namespaces")
Warn = Callable[[str], None]


def _name(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    return meta.get("name") or meta.get("generateName") or ""


class BuiltIns:
    def __init__(self, store: Store) -> None:
        self.store = store

    def mutate(self, operation: str, resource: Resource, obj: dict) -> None:
        if operation != "CREATE":
            return
        limitranger.apply(self.store, resource, obj)
        if resource is CLAIMS:
            spec = obj.setdefault("spec", {})
            if spec.get("storageClassName") is None:
                for storage_class in self.store.list(CLASSES)[0]:
                    annotations = storage_class["metadata"].get("annotations") or {}
                    if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                        spec["storageClassName"] = storage_class["metadata"]["name"]
                        break
        if resource is limitranger.LIMITRANGES:
            limitranger.default_limit_range(obj)

    def validate_early(
        self, operation: str, resource: Resource, obj: dict | None, old: dict | None, warn: Warn
    ) -> None:
        """LimitRanger and PodSecurity, which come before the admission policies."""
        if obj is None:
            return
        if operation == "CREATE":
            limitranger.validate(self.store, resource, obj, _name(obj))
        podsecurity.admit(self.store, resource, obj, old, _name(obj), warn)
        if resource is NAMESPACES:
            for text in podsecurity.namespace_warnings(self.store, obj, old):
                warn(text)

    def validate_late(
        self, operation: str, resource: Resource, obj: dict | None, old: dict | None
    ) -> None:
        """ResourceQuota, the last of all."""
        if obj is not None and operation in ("CREATE", "UPDATE"):
            quota.check(self.store, resource, obj, old, _name(obj))


class SystemAdmission:
    """The built-in plugins for what the cluster's controllers write (warnings go nowhere)."""

    def __init__(self, store: Store) -> None:
        self.builtins = BuiltIns(store)

    def mutate(self, operation: str, resource: Resource, obj: dict) -> None:
        self.builtins.mutate(operation, resource, obj)

    def __call__(
        self, operation: str, resource: Resource, obj: dict | None, old: dict | None
    ) -> None:
        self.builtins.validate_early(operation, resource, obj, old, lambda text: None)
        self.builtins.validate_late(operation, resource, obj, old)

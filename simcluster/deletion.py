"""Deleting an object through the API, as kube-apiserver does it.

- **Finalizers** hold an object: a delete sets ``deletionTimestamp`` and answers the object;
  it goes when an update leaves its ``finalizers`` empty (`Store` does that part).
- **Propagation** (DeleteOptions ``propagationPolicy``, or ``orphanDependents``): Background
  (the default; a Job's default is Orphan, as batch/v1 declares it) removes the object and lets
  the garbage collector remove its dependents; Foreground adds the ``foregroundDeletion``
  finalizer, so the object stays until its dependents are gone; Orphan adds ``orphan``, so the
  collector first frees the dependents of their owner reference.
- **Pods** are deleted gracefully: ``deletionTimestamp`` is set ``gracePeriodSeconds`` ahead
  (the request's, else the pod's ``terminationGracePeriodSeconds``), the pod shows Terminating,
  and the kubelet removes it once its containers have stopped. A pod that is not on a node, has
  finished (Succeeded, Failed), has a grace period of 0, or lives in a cluster without a kubelet
  (pace None) goes at once.
- A namespace goes Terminating and is emptied by the namespace controller.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Admit, timestamp

if TYPE_CHECKING:
    from simcluster.controllers import Controllers
    from simcluster.store import Store

__all__ = ["delete"]

NAMESPACES = known("", "v1", "namespaces")
PODS = known("", "v1", "pods")
_POLICIES = ("Orphan", "Background", "Foreground")
_FINALIZER = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


def _policy(resource: Resource, options: dict) -> str:
    policy = options.get("propagationPolicy")
    if policy is None and options.get("orphanDependents") is not None:
        policy = "Orphan" if options["orphanDependents"] else "Background"
    if policy is None:
        policy = "Orphan" if resource.key == ("batch", "jobs") else "Background"
    if policy not in _POLICIES:
        supported = ", ".join(f'"{p}"' for p in _POLICIES)
        raise ApiError(
            422,
            f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: '
            f'"{policy}": supported values: {supported}',
        )
    return policy


def _grace(controllers: Controllers, pod: dict, options: dict) -> int:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    if controllers.pace is None or not spec.get("nodeName"):
        return 0
    if status.get("phase") in ("Succeeded", "Failed"):
        return 0
    grace = options.get("gracePeriodSeconds")
    if grace is None:
        grace = spec.get("terminationGracePeriodSeconds", 30)
    return max(int(grace), 0)


def delete(
    store: Store,
    controllers: Controllers,
    resource: Resource,
    namespace: str | None,
    name: str,
    options: dict,
    admit: Admit | None = None,
) -> dict:
    """Delete (or start deleting) an object; the answer: the object as it is now, or as it
    was when it went."""
    dry = "All" in (options.get("dryRun") or [])
    if resource is NAMESPACES and not dry:
        with store.lock:
            current = store.deletable(resource, "", name, options.get("preconditions"))
            if admit is not None:
                admit("DELETE", resource, None, current)
            return controllers.delete_namespace(name)
    with store.lock:
        current = store.deletable(resource, namespace, name, options.get("preconditions"))
        if admit is not None:
            admit("DELETE", resource, None, current)
        policy = _policy(resource, options)
        meta = current["metadata"]
        grace = _grace(controllers, current, options) if resource is PODS else 0
        finalizers = list(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp"):
            # Already going: only a shorter grace period for a pod changes anything.
            if resource is PODS and grace < int(meta.get("deletionGracePeriodSeconds") or 0):
                return _mark(store, resource, current, grace, finalizers, dry)
            return copy.deepcopy(current)
        wanted = _FINALIZER.get(policy)
        if wanted and wanted not in finalizers:
            finalizers.append(wanted)
        if grace == 0 and not finalizers:
            stamp = None
            if resource is PODS:
                stamp = {"deletionTimestamp": timestamp(), "deletionGracePeriodSeconds": 0}
            return store.delete(resource, namespace, name, dry_run=dry, stamp=stamp)
        return _mark(store, resource, current, grace, finalizers, dry)


def _mark(
    store: Store, resource: Resource, current: dict, grace: int, finalizers: list[str], dry: bool
) -> dict:
    when = datetime.now(UTC) + timedelta(seconds=grace)

    def going(obj: dict) -> None:
        meta = obj["metadata"]
        first = not meta.get("deletionTimestamp")
        if first or grace < int(meta.get("deletionGracePeriodSeconds") or 0):
            meta["deletionTimestamp"] = timestamp(when)
        if first:
            meta["generation"] = meta.get("generation", 1) + 1
        meta["deletionGracePeriodSeconds"] = grace
        if finalizers:
            meta["finalizers"] = finalizers

    if dry:
        marked = copy.deepcopy(current)
        going(marked)
        return marked
    meta = current["metadata"]
    return store.mutate(resource, meta.get("namespace"), meta["name"], going)

"""The garbage collector: dependents follow their owners (``metadata.ownerReferences``).

- An object whose owners are all gone is deleted (in the background: its own dependents
  follow in turn, pods gracefully); one that still has an owner loses the references to the
  owners that went. This also removes an object created with an owner that does not exist.
- An owner deleted with ``propagationPolicy: Foreground`` (finalizer ``foregroundDeletion``)
  has its dependents deleted, in the foreground too, and goes when the last one has gone.
- An owner deleted with ``propagationPolicy: Orphan`` (finalizer ``orphan``) first has its
  reference removed from every dependent, which stay.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from simcluster.controllers.clock import Clock
from simcluster.errors import ApiError
from simcluster.resources import Resource
from simcluster.store import Event, Store

__all__ = ["GarbageCollector"]

Key = tuple[Resource, str, str]
Delete = Callable[[Resource, str, str, str], None]


class GarbageCollector:
    """``delete(resource, namespace, name, policy)`` deletes as the API server does."""

    def __init__(self, store: Store, clock: Clock, delete: Delete) -> None:
        self.store = store
        self.clock = clock
        self.delete = delete
        self._where: dict[str, Key] = {}
        self._owners: dict[str, set[str]] = {}  # object uid -> its owners' uids
        self._dependents: dict[str, set[str]] = {}  # owner uid -> dependents' uids

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        uid = meta.get("uid", "")
        if not uid:
            return
        previous = self._owners.pop(uid, set())
        for owner in previous:
            self._dependents.get(owner, set()).discard(uid)
        if event.type == "DELETED":
            self._where.pop(uid, None)
            for dependent in list(self._dependents.get(uid, ())):
                self.clock.soon(self._check, dependent, key=("gc", dependent))
            for owner in previous:
                self.clock.soon(self._foreground, owner, key=("gc-foreground", owner))
            return
        self._where[uid] = (event.resource, meta.get("namespace", ""), meta["name"])
        owners = {ref.get("uid", "") for ref in meta.get("ownerReferences") or []}
        if owners:
            self._owners[uid] = owners
            for owner in owners:
                self._dependents.setdefault(owner, set()).add(uid)
            if any(owner not in self._where for owner in owners):
                self.clock.soon(self._check, uid, key=("gc", uid))
        finalizers = meta.get("finalizers") or []
        if meta.get("deletionTimestamp"):
            if "orphan" in finalizers:
                self.clock.soon(self._orphan, uid, key=("gc-orphan", uid))
            if "foregroundDeletion" in finalizers:
                self.clock.soon(self._foreground, uid, key=("gc-foreground", uid))

    def _get(self, uid: str) -> dict | None:
        where = self._where.get(uid)
        if where is None:
            return None
        resource, namespace, name = where
        found = self.store.get(resource, namespace or None, name)
        return found if found is not None and found["metadata"].get("uid") == uid else None

    def _check(self, uid: str) -> None:
        """Delete a dependent whose owners are all gone; forget the gone ones otherwise."""
        obj = self._get(uid)
        if obj is None:
            return
        refs = obj["metadata"].get("ownerReferences") or []
        alive = [ref for ref in refs if ref.get("uid") in self._where]
        if len(alive) == len(refs):
            return
        resource, namespace, name = self._where[uid]
        if alive:

            def forget(current: dict) -> None:
                current["metadata"]["ownerReferences"] = alive

            self.store.mutate(resource, namespace or None, name, forget)
            return
        if not obj["metadata"].get("deletionTimestamp"):
            self._remove(resource, namespace, name, "Background")

    def _remove(self, resource: Resource, namespace: str, name: str, policy: str) -> None:
        with contextlib.suppress(ApiError):  # gone already (its namespace went, say)
            self.delete(resource, namespace, name, policy)

    def _orphan(self, uid: str) -> None:
        owner = self._get(uid)
        if owner is None:
            return
        for dependent in list(self._dependents.get(uid, ())):
            where = self._where.get(dependent)
            if where is None:
                continue
            resource, namespace, name = where

            def free(current: dict) -> None:
                refs = current["metadata"].get("ownerReferences") or []
                kept = [ref for ref in refs if ref.get("uid") != uid]
                if kept:
                    current["metadata"]["ownerReferences"] = kept
                else:
                    current["metadata"].pop("ownerReferences", None)

            with contextlib.suppress(ApiError):
                self.store.mutate(resource, namespace or None, name, free)
        self._release(uid, "orphan")

    def _foreground(self, uid: str) -> None:
        owner = self._get(uid)
        if owner is None:
            return
        meta = owner["metadata"]
        if not meta.get("deletionTimestamp") or "foregroundDeletion" not in (
            meta.get("finalizers") or []
        ):
            return
        remaining = [d for d in self._dependents.get(uid, ()) if self._get(d) is not None]
        if not remaining:
            self._release(uid, "foregroundDeletion")
            return
        for dependent in remaining:
            obj = self._get(dependent)
            if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                resource, namespace, name = self._where[dependent]
                self._remove(resource, namespace, name, "Foreground")

    def _release(self, uid: str, finalizer: str) -> None:
        where = self._where.get(uid)
        if where is None:
            return
        resource, namespace, name = where

        def drop(current: dict) -> None:
            finalizers = [f for f in current["metadata"].get("finalizers") or [] if f != finalizer]
            if finalizers:
                current["metadata"]["finalizers"] = finalizers
            else:
                current["metadata"].pop("finalizers", None)

        with contextlib.suppress(ApiError):
            self.store.mutate(resource, namespace or None, name, drop)

"""The objects of the simulated cluster, their resourceVersions and the watch history.

Stored objects are never changed in place: every write stores a new dict, so readers may
serialise what they got without copying and without the lock. One global counter gives every
write its resourceVersion, as etcd's revision does. The history of events is capped; a watch
that asks for a revision older than the history gets 410 Expired, as from a compacted etcd.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.services import allocate
from simcluster.validation import (
    apply_defaults,
    check_pod_update,
    generate_name,
    qos_class,
    validate,
)

__all__ = ["Admit", "Event", "Store", "timestamp"]

NAMESPACES = known("", "v1", "namespaces")
SERVICES = known("", "v1", "services")
SERVICE_ACCOUNTS = known("", "v1", "serviceaccounts")
# Metadata that only the server sets; an update keeps the stored values.
_SERVER_FIELDS = (
    "uid", "creationTimestamp", "generation", "deletionTimestamp", "deletionGracePeriodSeconds",
    "namespace",
)  # fmt: skip


def timestamp(when: datetime | None = None) -> str:
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One change, as a watch reports it. ``previous`` lets a filtered watch turn a change that
    moves an object into or out of its selection into ADDED or DELETED, as the server does."""

    revision: int
    type: str
    resource: Resource
    object: dict
    previous: dict | None = None

    @property
    def namespace(self) -> str:
        return self.object["metadata"].get("namespace", "")


Listener = Callable[[Event], None]
# Admission of a write through the API: (operation, resource, new object or None for a delete,
# stored object or None for a create); raises ApiError to refuse. It may also have a
# ``mutate(operation, resource, obj)`` that changes a new object first. See simcluster.admission.
Admit = Callable[[str, Resource, "dict | None", "dict | None"], None]


def _shape(resource: Resource, obj: dict) -> dict:
    # kind, apiVersion and metadata first, as the server writes them.
    rest = {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata")}
    head = {"kind": resource.kind, "apiVersion": resource.stored_api_version}
    return {**head, "metadata": obj["metadata"], **rest}


def _released(resource: Resource, obj: dict) -> bool:
    """A deleted object that nothing holds any more: no finalizers, no grace period left (a
    namespace has its own controller)."""
    meta = obj["metadata"]
    return (
        bool(meta.get("deletionTimestamp"))
        and not meta.get("finalizers")
        and not meta.get("deletionGracePeriodSeconds")
        and resource is not NAMESPACES
    )


def _content(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion", "metadata", "status")}


def _same(a: dict, b: dict) -> bool:
    def strip(obj: dict) -> dict:
        meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
        return {**obj, "metadata": meta}

    return strip(a) == strip(b)


class Store:
    """All objects, keyed by resource, namespace ("" when cluster-scoped) and name.

    Thread-safe: the HTTP server's loop and the tests' thread both write. Listeners (watches)
    and hooks (controllers) are called under the lock and must not block.
    """

    def __init__(self, history: int = 1000) -> None:
        self.lock = threading.RLock()
        self._objects: dict[tuple[str, str], dict[str, dict[str, dict]]] = {}
        self._revision = 0
        self._history: deque[Event] = deque(maxlen=max(1, history))
        self._compacted = 0
        self._listeners: dict[tuple[str, str], list[Listener]] = {}
        self.hooks: list[Listener] = []

    @property
    def revision(self) -> int:
        return self._revision

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict | None:
        return self._objects.get(resource.key, {}).get(namespace or "", {}).get(name)

    def list(self, resource: Resource, namespace: str | None = None) -> tuple[list[dict], int]:
        """Objects sorted by namespace and name (as etcd keys sort), and the revision."""
        with self.lock:
            buckets = self._objects.get(resource.key, {})
            chosen = [namespace] if namespace is not None else sorted(buckets)
            items = [obj for ns in chosen for _, obj in sorted(buckets.get(ns, {}).items())]
            return items, self._revision

    def create(
        self,
        resource: Resource,
        obj: dict,
        *,
        dry_run: bool = False,
        keep_status: bool = False,
        admit: Admit | None = None,
    ) -> dict:
        """POST semantics: validate, check the namespace, fill the server's fields and defaults,
        then ``admit`` the result. ``keep_status`` stores the given status too (tests' `put`);
        a server would drop it."""
        with self.lock:
            obj = copy.deepcopy(obj)
            meta = obj["metadata"] = dict(obj.get("metadata") or {})
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = generate_name(meta["generateName"])
            namespace = meta.pop("namespace", None) or ""
            if not resource.namespaced:
                namespace = ""
            validate(resource, obj)
            name = meta["name"]
            if resource.namespaced:
                self._check_namespace(resource, name, namespace)
                meta["namespace"] = namespace
            if self.get(resource, namespace, name) is not None:
                raise ApiError.already_exists(resource, name)
            for field in (*_SERVER_FIELDS, "resourceVersion"):
                if field != "namespace":
                    meta.pop(field, None)
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=timestamp(), generation=1)
            status = obj.pop("status", None)
            if not resource.status and status is not None:
                obj["status"] = status
            apply_defaults(resource, obj, created=True)
            mutate = getattr(admit, "mutate", None)
            if mutate is not None:
                # Mutating admission (LimitRange defaults, the default StorageClass) comes
                # after the defaults and before validation, as on a real server.
                mutate("CREATE", resource, obj)
                if resource.key == ("", "pods"):
                    containers = (obj.get("spec") or {}).get("containers") or []
                    obj["status"]["qosClass"] = qos_class(containers)
            if resource is SERVICES:
                allocate(resource, obj, self.list(resource)[0], None)
            if keep_status and status is not None:
                obj["status"] = status
            if resource.key == ("", "pods"):
                self._check_service_account(resource, obj)
            obj = _shape(resource, obj)
            if admit is not None:
                admit("CREATE", resource, obj, None)
            return obj if dry_run else self._commit("ADDED", resource, obj, None)

    def _check_namespace(self, resource: Resource, name: str, namespace: str) -> None:
        found = self.get(NAMESPACES, "", namespace) if namespace else None
        if found is None:
            raise ApiError.not_found(NAMESPACES, namespace)
        if found["metadata"].get("deletionTimestamp"):
            why = (
                f"unable to create new content in namespace {namespace} "
                "because it is being terminated"
            )
            cause = {
                "reason": "NamespaceTerminating",
                "message": f"namespace {namespace} is being terminated",
                "field": "metadata.namespace",
            }
            raise ApiError.forbidden(resource, name, why, causes=[cause])

    def _check_service_account(self, pods: Resource, pod: dict) -> None:
        meta, account = pod["metadata"], pod["spec"]["serviceAccountName"]
        if self.get(SERVICE_ACCOUNTS, meta["namespace"], account) is None:
            why = (
                f"error looking up service account {meta['namespace']}/{account}: "
                f'serviceaccount "{account}" not found'
            )
            raise ApiError.forbidden(pods, meta["name"], why)

    def replace(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        obj: dict,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        admit: Admit | None = None,
    ) -> dict:
        """PUT semantics: a stale ``metadata.resourceVersion`` is a 409 Conflict; the result is
        ``admit``-ted; an update that changes nothing stores nothing and keeps the
        resourceVersion."""
        with self.lock:
            current = self.get(resource, namespace, name)
            if current is None:
                raise ApiError.not_found(resource, name)
            new = copy.deepcopy(obj)
            meta = new["metadata"] = dict(new.get("metadata") or {})
            if meta.setdefault("name", name) != name:
                raise ApiError.bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the URL "
                    f"({name})"
                )
            version = meta.get("resourceVersion")
            if version and version != current["metadata"]["resourceVersion"]:
                raise ApiError.conflict(resource, name)
            if subresource == "status":
                new = {k: v for k, v in current.items() if k != "status"}
                if obj.get("status") is not None:
                    new["status"] = copy.deepcopy(obj["status"])
            else:
                kept = {
                    f: current["metadata"][f] for f in _SERVER_FIELDS if f in current["metadata"]
                }
                meta.update(kept)
                if resource.status:
                    new.pop("status", None)
                    if "status" in current:
                        new["status"] = current["status"]
                validate(resource, new)
                apply_defaults(resource, new, created=False)
                if resource is SERVICES:
                    others = [o for o in self.list(resource)[0] if o is not current]
                    allocate(resource, new, others, current)
                if resource.key == ("", "pods"):
                    check_pod_update(resource, current, new)
                if _content(new) != _content(current):
                    meta["generation"] = current["metadata"].get("generation", 1) + 1
            new = _shape(resource, new)
            if admit is not None:
                admit("UPDATE", resource, new, current)
            if _same(new, current):
                return current
            if dry_run:
                return new
            if _released(resource, new):
                return self._commit("DELETED", resource, new, current)
            return self._commit("MODIFIED", resource, new, current)

    def mutate(
        self, resource: Resource, namespace: str | None, name: str, change: Callable[[dict], None]
    ) -> dict:
        """An update from inside the cluster (a controller, a test): no validation, no checks."""
        with self.lock:
            current = self.get(resource, namespace, name)
            if current is None:
                raise ApiError.not_found(resource, name)
            new = copy.deepcopy(current)
            change(new)
            if new == current:
                return current
            if _released(resource, new):
                return self._commit("DELETED", resource, new, current)
            return self._commit("MODIFIED", resource, new, current)

    def delete(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        *,
        dry_run: bool = False,
        preconditions: dict | None = None,
        stamp: dict | None = None,
        admit: Admit | None = None,
    ) -> dict:
        """Remove the object; ``stamp`` adds metadata to what the DELETED event and the answer
        show (a pod's deletionTimestamp)."""
        with self.lock:
            current = self.deletable(resource, namespace, name, preconditions)
            if admit is not None:
                admit("DELETE", resource, None, current)
            meta = current["metadata"]
            gone = {**current, "metadata": {**meta, **(stamp or {})}}
            return gone if dry_run else self._commit("DELETED", resource, gone, current)

    def deletable(
        self, resource: Resource, namespace: str | None, name: str, preconditions: dict | None
    ) -> dict:
        """The object a delete with these DeleteOptions preconditions may remove: 404 when
        there is none, 409 Conflict when it is not the uid or resourceVersion named."""
        with self.lock:
            current = self.get(resource, namespace, name)
            if current is None:
                raise ApiError.not_found(resource, name)
            meta = current["metadata"]
            # kube-apiserver's wording (storage.Preconditions.Check).
            for field, said in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                wanted = (preconditions or {}).get(field)
                if wanted and wanted != meta.get(field):
                    why = (
                        f"Precondition failed: {said} in precondition: {wanted}, "
                        f"{said} in object meta: {meta.get(field)}"
                    )
                    raise ApiError.conflict(resource, name, why)
            return current

    def _commit(self, kind: str, resource: Resource, obj: dict, previous: dict | None) -> dict:
        self._revision += 1
        meta = obj["metadata"]
        meta["resourceVersion"] = str(self._revision)
        buckets = self._objects.setdefault(resource.key, {})
        bucket = buckets.setdefault(meta.get("namespace", ""), {})
        if kind == "DELETED":
            del bucket[meta["name"]]
            if not bucket:
                del buckets[meta.get("namespace", "")]
        else:
            bucket[meta["name"]] = obj
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].revision
        event = Event(self._revision, kind, resource, obj, previous)
        self._history.append(event)
        for listener in list(self._listeners.get(resource.key, ())):
            listener(event)
        for hook in list(self.hooks):
            hook(event)
        return obj

    def watch(
        self, resource: Resource, namespace: str | None, since: int | None, listener: Listener
    ) -> list[Event]:
        """Register ``listener`` for later events and return the ones it missed: every object as
        ADDED when ``since`` is None, else the kept events after revision ``since``."""
        with self.lock:
            if since is None:
                items, _ = self.list(resource, namespace)
                backlog = [
                    Event(int(obj["metadata"]["resourceVersion"]), "ADDED", resource, obj)
                    for obj in items
                ]
            elif since < self._compacted:
                message = f"too old resource version: {since} ({self._compacted + 1})"
                raise ApiError.expired(message)
            else:
                backlog = []
                # Newest first, stopping at ``since``: a watch reads only what it missed.
                for event in reversed(self._history):
                    if event.revision <= since:
                        break
                    if event.resource.key == resource.key and namespace in (None, event.namespace):
                        backlog.append(event)
                backlog.reverse()
            self._listeners.setdefault(resource.key, []).append(listener)
            return backlog

    def unwatch(self, resource: Resource, listener: Listener) -> None:
        with self.lock:
            listeners = self._listeners.get(resource.key, [])
            if listener in listeners:
                listeners.remove(listener)

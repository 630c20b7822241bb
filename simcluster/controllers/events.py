"""core/v1 Events, as the cluster's components record them for ``kubectl describe`` and
``kubectl get events``.

An event names the object it is about (``involvedObject``, with a ``fieldPath`` such as
``spec.containers{web}`` for one container), its reason, message and type (Normal or Warning),
and the component that saw it (``source.component``: kubelet with the node as host,
default-scheduler, replicaset-controller, ...). The same event again (same object, reason,
message and source) is counted rather than repeated, as client-go's event correlator does:
``count`` goes up and ``lastTimestamp`` moves. Events live in the namespace of their object
(cluster-scoped objects: ``default``) and are removed after an hour, as the API server's
event TTL does.
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta

from simcluster.errors import ApiError
from simcluster.resources import known
from simcluster.store import Store, timestamp

__all__ = ["EVENTS", "Recorder"]

EVENTS = known("", "v1", "events")
_TTL = timedelta(hours=1)


class Recorder:
    """Writes events into ``store`` as the system."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # (namespace, uid, fieldPath, reason, message, component, type) -> the event's name
        self._seen: dict[tuple[str, ...], str] = {}
        self._last_sweep = 0.0
        self._stamp = 0

    def record(
        self,
        obj: dict,
        kind: str,
        reason: str,
        message: str,
        component: str,
        *,
        field_path: str = "",
        host: str = "",
    ) -> None:
        """Record that ``component`` saw ``reason`` happen to ``obj`` (``kind``: Normal or
        Warning). A namespace that is going away takes no new events."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        involved = {
            "kind": obj.get("kind", ""),
            "namespace": meta.get("namespace", ""),
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
            "apiVersion": obj.get("apiVersion", ""),
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if field_path:
            involved["fieldPath"] = field_path
        if not involved["namespace"]:
            del involved["namespace"]
        key = (namespace, involved["uid"], field_path, reason, message, component, kind)
        now = timestamp()
        with self.store.lock:
            self._sweep()
            name = self._seen.get(key)
            if name is not None and self.store.get(EVENTS, namespace, name) is not None:

                def again(event: dict) -> None:
                    event["count"] = (event.get("count") or 1) + 1
                    event["lastTimestamp"] = now

                self.store.mutate(EVENTS, namespace, name, again)
                return
            # The object's name and the time in nanoseconds, as client-go names events.
            self._stamp = max(time.time_ns(), self._stamp + 1)
            name = f"{involved['name']}.{self._stamp:x}"
            source = {"component": component, **({"host": host} if host else {})}
            event = {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": source,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "count": 1,
                "type": kind,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host,
            }
            try:
                self.store.create(EVENTS, copy.deepcopy(event))
            except ApiError:
                return  # the namespace is gone or going: nobody will read it
            self._seen[key] = name

    def _sweep(self) -> None:
        """Drop the namespace's events older than the TTL (at most once a minute)."""
        now = time.monotonic()
        if now - self._last_sweep < 60:
            return
        self._last_sweep = now
        cutoff = datetime.now(UTC) - _TTL
        items, _ = self.store.list(EVENTS)
        for event in items:
            last = event.get("lastTimestamp") or event["metadata"].get("creationTimestamp")
            try:
                when = datetime.fromisoformat(str(last).replace("Z", "+00:00"))
            except ValueError:
                continue
            if when < cutoff:
                meta = event["metadata"]
                self.store.delete(EVENTS, meta["namespace"], meta["name"])
        self._seen = {
            key: name
            for key, name in self._seen.items()
            if self.store.get(EVENTS, key[0], name) is not None
        }

"""Watching a cluster: an in-memory copy of the objects of some kinds in some namespaces,
kept current by watches, with a callback on every change.

An `Informer` holds one kind, watched cluster-wide (filtered to the namespaces it is told
about) or in one namespace. It lists the kind, then watches from the list's
resourceVersion, so that no change falls between the two; when a watch ends (the server's
timeout) or its connection drops, it watches again from the last resourceVersion it saw
(an event's, or a bookmark's); when that version has expired (410 Gone) it lists again and
tells which namespaces changed meanwhile. Every change calls ``on_change(namespace, kind)``.

A `ClusterWatch` holds the informers of one cluster: one per kind (cluster-wide) or, in
per-namespace mode, one per kind and namespace. docs/checks.md has the measurements that
chose cluster-wide watches. When the namespaces grow, cluster-wide informers list again
(one request per kind; a namespace's own list could race with the watch stream and leave
an older copy behind).

Nothing here knows about checks or courses; the course domain's watcher decides the kinds
and namespaces, and what to do on a change.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from labs.kube import ClusterError, Kube, WatchStream

__all__ = ["ClusterWatch", "Informer", "KindKey", "NotReady"]

log = logging.getLogger(__name__)

KindKey = tuple[str, str]  # (apiVersion, kind)
OnChange = Callable[[str, str], None]  # (namespace, kind)

# After this long failing, a kind's cached copy is reported as an error rather than served.
STALE_AFTER_SECONDS = 60.0
_BACKOFF_BASE, _BACKOFF_CAP = 0.2, 10.0
_QUICK_SECONDS = 1.0


class NotReady(Exception):
    """The objects of a kind cannot be served: not listed yet (``message`` empty), or the
    cluster answered with an error (``message``)."""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class Informer:
    """One kind, in all namespaces (``namespace`` None) or in one; see the module's text.

    ``namespaces()`` says which namespaces to keep: only their objects are cached and only
    their changes call ``on_change``. Counters (``lists``, ``watches``, ``events``,
    ``expired``, ``failures``) are for tests and benchmarks."""

    def __init__(
        self,
        kube: Kube,
        key: KindKey,
        *,
        namespaces: Callable[[], Collection[str]],
        on_change: OnChange,
        namespace: str | None = None,
        timeout_seconds: int = 300,
    ) -> None:
        self.kube = kube
        self.api_version, self.kind = key
        self.namespace = namespace
        self.timeout_seconds = timeout_seconds
        self._namespaces = namespaces
        self._on_change = on_change
        self._lock = threading.Lock()
        self._objects: dict[str, dict[str, dict[str, Any]]] = {}
        self._listed: set[str] = set()  # the namespaces the last list covered
        self._version: str | None = None
        self._relist = False
        self._stream: WatchStream | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._error = ""
        self._failing_since: float | None = None
        self._reported_stale = False
        self.synced = threading.Event()
        self.lists = self.watches = self.events = self.expired = self.failures = 0

    # -- the outside --------------------------------------------------------------------

    def start(self) -> Informer:
        where = self.namespace or "all namespaces"
        self._thread = threading.Thread(
            target=self._run, name=f"watch {self.kind} in {where}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, *, wait: bool = True) -> None:
        self._stopping.set()
        stream = self._stream
        if stream is not None:
            stream.close()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(10)

    def relist(self) -> None:
        """List again soon (the namespaces grew): the open watch is ended to get there."""
        self._relist = True
        stream = self._stream
        if stream is not None:
            stream.close()

    @property
    def streaming(self) -> bool:
        """Whether a watch connection is open now."""
        return self._stream is not None

    def objects(self, namespace: str) -> list[dict[str, Any]]:
        """The cached objects in ``namespace``; raises `NotReady` when there is no copy to
        trust (never listed, or failing for longer than ``STALE_AFTER_SECONDS``)."""
        with self._lock:
            if not self.synced.is_set():
                raise NotReady(self._error)
            if self._stale():
                raise NotReady(self._stale_message())
            if namespace not in self._listed:
                raise NotReady()  # a namespace added since the last list: listed soon
            return list(self._objects.get(namespace, {}).values())

    def forget(self, namespaces: Iterable[str]) -> None:
        with self._lock:
            for namespace in namespaces:
                self._objects.pop(namespace, None)
                self._listed.discard(namespace)

    # -- the loop -----------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                if self._version is None or self._relist:
                    self._list()
                started = time.monotonic()
                had_events = self._watch()
                if self._failing_since is not None:
                    self._recovered()
                # A watch the server ends at once, again and again, must not spin.
                quick = not had_events and time.monotonic() - started < _QUICK_SECONDS
                attempt = attempt + 1 if quick and not self._relist else 0
            except ClusterError as exc:
                if self._stopping.is_set():
                    break
                if exc.status == 410:
                    # The version is older than the server's history: list afresh.
                    self.expired += 1
                    self._version = None
                    continue
                self.failures += 1
                attempt += 1
                self._failed(exc.message)
            except Exception:
                # A bug must not end the watch for good: log it and start over with a list.
                log.exception("watch of %s failed", self.kind)
                self.failures += 1
                attempt += 1
                self._version = None
            if attempt:
                delay = random.uniform(0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
                self._stopping.wait(delay)

    def _list(self) -> None:
        self._relist = False
        items, version = self.kube.list_objects(self.api_version, self.kind, self.namespace)
        self.lists += 1
        wanted = set(self._namespaces())
        fresh: dict[str, dict[str, dict[str, Any]]] = {namespace: {} for namespace in wanted}
        for obj in items:
            namespace = obj.get("metadata", {}).get("namespace", "")
            if namespace in wanted:
                fresh[namespace][obj["metadata"]["name"]] = obj
        with self._lock:
            old, covered = self._objects, self._listed
            self._objects, self._listed = fresh, wanted
            self._version = version
            first = not self.synced.is_set()
            self.synced.set()
            self._error = ""
        changed = [
            namespace
            for namespace in sorted(wanted)
            if first
            or namespace not in covered
            or _versions(old.get(namespace)) != _versions(fresh[namespace])
        ]
        for namespace in changed:
            self._notify(namespace)

    def _watch(self) -> bool:
        """Watch until the stream ends; whether any event came."""
        assert self._version is not None
        stream = self.kube.watch(
            self.api_version,
            self.kind,
            self.namespace,
            resource_version=self._version,
            timeout_seconds=self.timeout_seconds,
        )
        self.watches += 1
        self._stream = stream
        had_events = False
        try:
            if self._stopping.is_set() or self._relist:
                return False
            for kind, obj in stream:
                had_events = True
                self._apply(kind, obj)
                if self._stopping.is_set() or self._relist:
                    break
        finally:
            self._stream = None
            stream.close()
        return had_events

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        version = metadata.get("resourceVersion")
        if kind == "BOOKMARK":
            if version:
                self._version = version
            return
        self.events += 1
        namespace, name = metadata.get("namespace", ""), metadata.get("name", "")
        with self._lock:
            if version:
                self._version = version
            if namespace not in self._listed:
                return
            objects = self._objects.setdefault(namespace, {})
            if kind == "DELETED":
                objects.pop(name, None)
            else:
                objects[name] = obj
        self._notify(namespace)

    def _notify(self, namespace: str) -> None:
        try:
            self._on_change(namespace, self.kind)
        except Exception:
            log.exception("the change callback failed for %s in %s", self.kind, namespace)

    # -- failing and recovering ---------------------------------------------------------

    def _failed(self, message: str) -> None:
        log.warning("%s; watching again soon", message)
        with self._lock:
            changed = message != self._error
            self._error = message
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            synced = self.synced.is_set()
            stale = self._stale() and not self._reported_stale
            if stale:
                self._reported_stale = True
        # Without a copy, the checks that need this kind show the error; with one, they do
        # once it is too old to trust.
        if (not synced and changed) or stale:
            for namespace in sorted(self._namespaces()):
                self._notify(namespace)

    def _recovered(self) -> None:
        with self._lock:
            reported = self._reported_stale
            self._failing_since, self._error, self._reported_stale = None, "", False
        if reported:
            for namespace in sorted(self._namespaces()):
                self._notify(namespace)

    def _stale(self) -> bool:
        since = self._failing_since
        return since is not None and time.monotonic() - since > STALE_AFTER_SECONDS

    def _stale_message(self) -> str:
        assert self._failing_since is not None
        seconds = time.monotonic() - self._failing_since
        return f"no answer from the cluster for {seconds:.0f} s: {self._error}"


def _versions(objects: dict[str, dict[str, Any]] | None) -> dict[str, str]:
    return {
        name: obj.get("metadata", {}).get("resourceVersion", "")
        for name, obj in (objects or {}).items()
    }


class ClusterWatch:
    """The informers of one cluster, for the kinds and namespaces `update` names.

    ``per_namespace`` runs one watch per kind and namespace instead of one per kind: the
    alternative docs/checks.md measured against."""

    def __init__(
        self,
        kube: Kube,
        on_change: OnChange,
        *,
        per_namespace: bool = False,
        timeout_seconds: int = 300,
    ) -> None:
        self.kube = kube
        self.per_namespace = per_namespace
        self.timeout_seconds = timeout_seconds
        self._on_change = on_change
        self._lock = threading.Lock()
        self._namespaces: frozenset[str] = frozenset()
        self._informers: dict[tuple[KindKey, str | None], Informer] = {}

    def namespaces(self) -> frozenset[str]:
        return self._namespaces

    def update(self, kinds: Iterable[KindKey], namespaces: Iterable[str]) -> None:
        """Watch ``kinds`` in ``namespaces`` from now on: new kinds and namespaces are
        listed and watched, namespaces no longer named are dropped."""
        kinds, wanted = set(kinds), frozenset(namespaces)
        with self._lock:
            added, removed = wanted - self._namespaces, self._namespaces - wanted
            self._namespaces = wanted
            if self.per_namespace:
                self._update_per_namespace(kinds, wanted, removed)
                return
            for key in sorted(kinds):
                informer = self._informers.get((key, None))
                if informer is None:
                    self._start(key, None)
                elif added:
                    informer.relist()
                if removed and informer is not None:
                    informer.forget(removed)

    def _update_per_namespace(
        self, kinds: set[KindKey], wanted: frozenset[str], removed: frozenset[str]
    ) -> None:
        for (key, namespace), informer in list(self._informers.items()):
            if namespace in removed:
                informer.stop()
                del self._informers[(key, namespace)]
        for key in sorted(kinds):
            for namespace in sorted(wanted):
                if (key, namespace) not in self._informers:
                    self._start(key, namespace)

    def _start(self, key: KindKey, namespace: str | None) -> None:
        scope: Callable[[], Collection[str]] = (
            self.namespaces if namespace is None else (lambda: (namespace,))
        )
        self._informers[(key, namespace)] = Informer(
            self.kube,
            key,
            namespaces=scope,
            on_change=self._on_change,
            namespace=namespace,
            timeout_seconds=self.timeout_seconds,
        ).start()

    def objects(self, namespace: str, key: KindKey) -> list[dict[str, Any]]:
        """The cached objects of a kind in a namespace; raises `NotReady`."""
        informer = self._informers.get((key, namespace if self.per_namespace else None))
        if informer is None or namespace not in self._namespaces:
            raise NotReady()
        return informer.objects(namespace)

    def informers(self) -> list[Informer]:
        with self._lock:
            return list(self._informers.values())

    def streams_open(self) -> int:
        """How many watch connections are open now."""
        return sum(1 for informer in self.informers() if informer.streaming)

    def stop(self) -> None:
        with self._lock:
            informers, self._informers = list(self._informers.values()), {}
        for informer in informers:
            informer.stop(wait=False)
        for informer in informers:
            informer.stop()

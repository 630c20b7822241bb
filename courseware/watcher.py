"""The check watcher: judges a lab's opened tasks as soon as something in the lab changes.

Every ``CHECK_WATCHER_POLL_SECONDS`` it reads from the database which labs to judge
(``courseware.progress.labs_to_watch``: ready labs of running cohorts, with the tasks their
trainees opened) and, per cluster, keeps a ``labs.watch.ClusterWatch`` on the kinds those
tasks' checks read (plus Pods, which explain a workload that is not ready) in those labs'
namespaces. A change in a namespace touches its lab; ``CHECK_DEBOUNCE_MS`` after the last
touch the lab's tasks are judged from the watch cache (no request to the API) and the
results that changed are recorded and published. A lab that is new to the watcher, or
whose tasks or checks changed, is judged once its kinds are listed.

It runs as its own process (``manage.py watch_checks``; docker-compose's ``watcher``), one
per installation, or in development inside the ASGI process (``start_in_process``), where
the in-memory channel layer reaches the browsers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from courseware import progress
from labs.checks import KINDS, Snapshot
from labs.debounce import Debouncer
from labs.kube import ClusterError, Kube
from labs.models import Cluster
from labs.watch import ClusterWatch, KindKey, NotReady

log = logging.getLogger(__name__)

LabKey = tuple[int, str]  # (cluster id, namespace)
# Pods explain why a workload is not ready, and most checks read them anyway.
ALWAYS_WATCHED = frozenset({"Pod"})
# Connections per cluster client: one per watched kind (at most every kind checks know)
# and a few for the lists.
_CONNECTIONS = len(KINDS) + 8
# A lab whose results could not be recorded (the database away) is judged again after this.
_RETRY_SECONDS = 1.0


@dataclass
class _Cluster:
    watch: ClusterWatch
    fingerprint: str


class CheckWatcher:
    """See the module's text. ``run`` polls until ``stop``; ``refresh`` polls once."""

    def __init__(
        self,
        *,
        poll_seconds: float | None = None,
        debounce_seconds: float | None = None,
        per_namespace: bool = False,
        timeout_seconds: int = 300,
        kube_for: Callable[[Cluster], Kube] | None = None,
    ) -> None:
        self.poll_seconds = (
            settings.CHECK_WATCHER_POLL_SECONDS if poll_seconds is None else poll_seconds
        )
        quiet = settings.CHECK_DEBOUNCE_MS / 1000 if debounce_seconds is None else debounce_seconds
        self.per_namespace = per_namespace
        self.timeout_seconds = timeout_seconds
        self._kube_for = kube_for or (
            lambda cluster: Kube.for_cluster(cluster, connections=_CONNECTIONS)
        )
        self._clusters: dict[int, _Cluster] = {}
        self._labs: dict[LabKey, progress.LabWork] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._debouncer = Debouncer(self._evaluate, quiet=quiet, longest=max(1.0, 10 * quiet))
        self.evaluations = 0

    # -- polling the database -----------------------------------------------------------

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except DatabaseError:
                log.exception("the check watcher cannot read the database; trying again")
                connection.close()
            except Exception:
                log.exception("the check watcher failed to refresh; trying again")
            finally:
                # As after a request: DATABASE_CONN_MAX_AGE decides whether it stays open.
                close_old_connections()
            self._stopping.wait(self.poll_seconds)

    def refresh(self) -> None:
        """Bring the watches in line with the database: clusters, kinds, namespaces, and
        the labs to judge; labs that are new or changed are judged (once listed)."""
        works = progress.labs_to_watch()
        by_cluster: dict[int, list[progress.LabWork]] = {}
        for work in works:
            by_cluster.setdefault(work.cluster_id, []).append(work)
        labs = {(work.cluster_id, work.namespace): work for work in works}
        with self._lock:
            before, self._labs = self._labs, labs
        for cluster in Cluster.objects.filter(pk__in=by_cluster):
            watched = self._cluster(cluster)
            if watched is None:
                continue
            kinds = set(ALWAYS_WATCHED).union(*(work.kinds for work in by_cluster[cluster.pk]))
            watched.watch.update(
                [_key(kind) for kind in sorted(kinds)],
                [work.namespace for work in by_cluster[cluster.pk]],
            )
        for cluster_id in set(self._clusters) - set(by_cluster):
            self._clusters.pop(cluster_id).watch.stop()
        for key, work in labs.items():
            if before.get(key) != work:
                self._debouncer.touch(key)

    def _cluster(self, cluster: Cluster) -> _Cluster | None:
        known = self._clusters.get(cluster.pk)
        if known is not None and known.fingerprint == cluster.kubeconfig_fingerprint:
            return known
        if known is not None:  # its credentials changed: watch with the new ones
            known.watch.stop()
            del self._clusters[cluster.pk]
        try:
            kube = self._kube_for(cluster)
        except ClusterError as exc:
            log.warning("cannot watch cluster %s: %s", cluster.name, exc.message)
            return None
        cluster_id = cluster.pk
        watch = ClusterWatch(
            kube,
            lambda namespace, kind: self._changed(cluster_id, namespace, kind),
            per_namespace=self.per_namespace,
            timeout_seconds=self.timeout_seconds,
        )
        self._clusters[cluster.pk] = _Cluster(watch, cluster.kubeconfig_fingerprint)
        return self._clusters[cluster.pk]

    # -- changes and judging --------------------------------------------------------------

    def _changed(self, cluster_id: int, namespace: str, kind: str) -> None:
        key = (cluster_id, namespace)
        with self._lock:
            work = self._labs.get(key)
        if work is not None and (kind in work.kinds or kind in ALWAYS_WATCHED):
            self._debouncer.touch(key)

    def _evaluate(self, key: Hashable) -> None:
        cluster_id, namespace = key  # type: ignore[misc]
        with self._lock:
            work = self._labs.get((cluster_id, namespace))
            watched = self._clusters.get(cluster_id)
        if work is None or watched is None:
            return
        snapshot = self._snapshot(watched.watch, namespace, work.kinds)
        if snapshot is None:
            return  # not listed yet: the list's own notice brings it back
        close_old_connections()
        try:
            progress.evaluate_lab(work, snapshot)
            self.evaluations += 1
        except DatabaseError:
            log.exception("cannot record the results of %s; trying again soon", namespace)
            connection.close()
            retry = threading.Timer(_RETRY_SECONDS, self._debouncer.touch, args=(key,))
            retry.daemon = True
            retry.start()
        finally:
            close_old_connections()

    @staticmethod
    def _snapshot(watch: ClusterWatch, namespace: str, kinds: frozenset[str]) -> Snapshot | None:
        objects: dict[str, list[dict[str, Any]]] = {}
        errors: dict[str, str] = {}
        for kind in kinds:
            try:
                objects[kind] = watch.objects(namespace, _key(kind))
            except NotReady as exc:
                if not exc.message:
                    return None
                errors[kind] = exc.message
        return Snapshot(objects, errors)

    # -- the outside ----------------------------------------------------------------------

    def idle(self) -> bool:
        """No lab waits to be judged or is being judged."""
        return self._debouncer.idle()

    def streams_open(self) -> int:
        return sum(cluster.watch.streams_open() for cluster in list(self._clusters.values()))

    def stop(self) -> None:
        self._stopping.set()
        self._debouncer.stop()
        for cluster in list(self._clusters.values()):
            cluster.watch.stop()
        self._clusters.clear()


def _key(kind: str) -> KindKey:
    return (KINDS[kind].api_version, kind)


# -- development: inside the ASGI process ---------------------------------------------------

_started = threading.Lock()
_in_process: CheckWatcher | None = None


def start_in_process() -> CheckWatcher:
    """Start the watcher in a thread of this process, once (later calls return it). The
    ASGI application calls this when it first serves, so the autoreloader's parent process,
    which never serves, never starts one."""
    global _in_process
    with _started:
        if _in_process is None:
            watcher = CheckWatcher()
            threading.Thread(target=watcher.run, name="check watcher", daemon=True).start()
            _in_process = watcher
            log.info("the check watcher runs inside this process (CHECK_WATCHER_IN_PROCESS)")
        return _in_process


def stop_in_process() -> None:
    global _in_process
    with _started:
        if _in_process is not None:
            _in_process.stop()
            _in_process = None

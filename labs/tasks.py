"""Celery tasks for labs: thin wrappers over ``labs.provisioning`` that take ids.

``acks_late`` everywhere: a worker killed mid-task leaves the message unacknowledged, so
the broker hands it to another worker, and provisioning's create-or-patch makes the rerun
safe. Errors that retrying can fix are retried with exponential backoff and jitter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from celery import shared_task

from labs import ownership, provisioning
from labs.kube import ClusterError, Kube
from labs.models import Cluster, Lab, installation_key

log = logging.getLogger(__name__)


class RetryableClusterError(Exception):
    """A cluster failure worth another try later (the task's autoretry catches it)."""


RETRY = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (RetryableClusterError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 6,
}


def _run(work: Callable[[int], Lab], lab_id: int) -> str:
    try:
        lab = work(lab_id)
    except ClusterError as exc:
        if exc.retryable:
            raise RetryableClusterError(exc.message) from None
        return f"failed: {exc.message}"
    return lab.state


@shared_task(**RETRY)
def provision_lab(lab_id: int) -> str:
    return _run(provisioning.provision, lab_id)


@shared_task(**RETRY)
def teardown_lab(lab_id: int) -> str:
    return _run(provisioning.teardown, lab_id)


@shared_task(**RETRY)
def reset_lab(lab_id: int) -> str:
    return _run(provisioning.reset, lab_id)


@shared_task(**RETRY)
def remove_lab_namespace(cluster_id: int, namespace: str, uid: str = "") -> str:
    """The namespace (and cluster role) of a lab whose row was deleted: the one with ``uid``
    (the lab's recorded namespace), or without a recorded uid the namespace of that name if
    its labels say this installation made it on this cluster."""
    cluster = Cluster.objects.filter(pk=cluster_id).first()
    if cluster is None:
        return "failed: the cluster is gone"
    try:
        if not uid:
            found = Kube.for_cluster(cluster).get("v1", "Namespace", namespace)
            if found is None or not ownership.made_here(found, installation_key(), cluster.pk):
                return "nothing to delete: no namespace of this lab"
            uid = found["metadata"]["uid"]
        provisioning.remove_orphan(cluster, namespace, uid)
    except ClusterError as exc:
        if exc.retryable:
            raise RetryableClusterError(exc.message) from None
        return f"failed: {exc.message}"
    return "deleted"


def _batch(work: Callable[[int, Kube], Lab], lab_ids: list[int]) -> dict:
    run = provisioning.run_each(lab_ids, work)
    return {"done": len(run.done), "failed": run.failed}


# Many labs in one task: one client (and one API discovery) per cluster, and the concurrency
# bounded by LAB_PROVISION_CONCURRENCY rather than by the number of workers.
@shared_task(acks_late=True, reject_on_worker_lost=True)
def provision_labs(lab_ids: list[int]) -> dict:
    return _batch(provisioning.provision, lab_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def reset_labs(lab_ids: list[int]) -> dict:
    return _batch(provisioning.reset, lab_ids)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def teardown_labs(lab_ids: list[int]) -> dict:
    return _batch(provisioning.teardown, lab_ids)


@shared_task
def sweep_orphans(remove: bool = False) -> dict[str, list[str]]:
    """Beat: namespaces this installation made for a Cluster row that no live lab owns;
    reported, or removed (each only if it is still the very namespace that was found)."""
    found: dict[str, list[str]] = {}
    for cluster in Cluster.objects.all():
        try:
            orphans = provisioning.orphans(cluster)
        except ClusterError as exc:
            log.warning("orphan sweep of %s failed: %s", cluster.name, exc.message)
            continue
        for namespace, uid in orphans.items():
            log.warning("orphaned lab namespace %s on %s", namespace, cluster.name)
            if not remove:
                continue
            try:
                provisioning.remove_orphan(cluster, namespace, uid)
            except ClusterError as exc:
                log.warning("orphan %s on %s not removed: %s", namespace, cluster.name, exc.message)
        found[cluster.name] = list(orphans)
    return found

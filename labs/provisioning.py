"""Provisioning and teardown of labs: plain functions that the Celery tasks wrap.

This module (like all of ``labs``) knows nothing of courses or cohorts beyond what a lab
reaches through its enrolment: which labs to work on is decided by the caller
(``courseware.cohort_labs`` for a cohort's labs), which passes their ids.

A lab moves pending → provisioning → ready | failed → deleting → deleted, and its row
records the step it reached and the last error. Every step is create-or-patch of one
object of ``labs.manifests.lab_objects``, so running a provisioning again — twice, or
after a crash half-way — ends in the same complete lab without duplicates. A lab is ready
only when every object exists and the toolbox pod reports Ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from labs import manifests
from labs.kube import ClusterError, Kube, pod_ready
from labs.models import Cluster, Lab
from labs.profiles import PROFILES

log = logging.getLogger(__name__)
KubeFactory = Callable[[Cluster], Kube]
READY_STEP = "toolbox pod ready"


class LabUnavailable(Exception):
    """A lab that cannot be provisioned at all: no cluster for its cohort, say."""


def lab_spec(lab: Lab) -> manifests.LabSpec:
    cohort = lab.enrolment.cohort
    return manifests.LabSpec(
        namespace=lab.namespace,
        cohort=cohort.slug,
        enrolment_id=lab.enrolment_id,
        profile=PROFILES[cohort.lab_profile],
        pod_security=cohort.pod_security_level,
        toolbox_image=lab.cluster.toolbox_image,
        ingress_namespaces=tuple(lab.cluster.ingress_namespace_list),
    )


def ensure_lab(enrolment: Any) -> Lab:
    """The lab row of ``enrolment`` (a ``courseware.Enrolment``), created (pending) on first
    use, on its cohort's cluster."""
    cohort = enrolment.cohort
    if cohort.cluster_id is None:
        raise LabUnavailable(f"cohort {cohort.name!r} has no cluster to put labs on")
    lab, _ = Lab.objects.get_or_create(
        enrolment=enrolment,
        defaults={
            "cluster_id": cohort.cluster_id,
            "namespace": manifests.namespace_name(
                cohort.slug, enrolment.trainee.email or enrolment.trainee.username, enrolment.pk
            ),
        },
    )
    return lab


def _load(lab_id: int) -> Lab:
    return Lab.objects.select_related("enrolment__cohort", "enrolment__trainee", "cluster").get(
        pk=lab_id
    )


def _record(lab: Lab, **changes: object) -> None:
    for name, value in changes.items():
        setattr(lab, name, value)
    lab.updated_at = timezone.now()
    lab.save(update_fields=[*changes, "updated_at"])


def provision(lab_id: int, kube: Kube | None = None) -> Lab:
    """Bring the lab to ready. Raises ``ClusterError`` (after recording it) on failure."""
    lab = _load(lab_id)
    kube = kube or Kube.for_cluster(lab.cluster)
    objects = manifests.lab_objects(lab_spec(lab))
    _record(
        lab,
        state=Lab.State.PROVISIONING,
        attempts=lab.attempts + 1,
        steps_total=len(objects) + 1,
        steps_done=0,
        last_error="",
        ready_at=None,
    )
    try:
        for done, obj in enumerate(objects, start=1):
            step = f"{obj['kind']} {obj['metadata']['name']}"
            _record(lab, step=step)
            kube.apply(obj)
            _record(lab, steps_done=done)
        _record(lab, step=READY_STEP)
        kube.wait_until(
            lambda: pod_ready(kube.get("v1", "Pod", manifests.TOOLBOX, lab.namespace)),
            timeout=settings.LAB_READY_TIMEOUT_SECONDS,
            what=f"toolbox pod in {lab.namespace}",
        )
    except ClusterError as exc:
        _record(lab, state=Lab.State.FAILED, last_error=exc.message)
        log.warning("lab %s failed at %s: %s", lab.namespace, lab.step, exc.message)
        raise
    _record(lab, state=Lab.State.READY, steps_done=lab.steps_total, ready_at=timezone.now())
    log.info("lab %s ready", lab.namespace)
    return lab


def teardown(lab_id: int, kube: Kube | None = None) -> Lab:
    """Remove everything of the lab from the cluster; done when the namespace is gone."""
    lab = _load(lab_id)
    if lab.state == Lab.State.DELETED:
        return lab
    kube = kube or Kube.for_cluster(lab.cluster)
    spec = lab_spec(lab)
    steps = [
        ("v1", "Namespace", lab.namespace, None),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", spec.cluster_role, None),
        ("rbac.authorization.k8s.io/v1", "ClusterRole", spec.cluster_role, None),
    ]
    _record(lab, state=Lab.State.DELETING, steps_total=len(steps) + 1, steps_done=0, last_error="")
    try:
        for done, (api_version, kind, name, namespace) in enumerate(steps, start=1):
            _record(lab, step=f"delete {kind} {name}")
            kube.delete(api_version, kind, name, namespace)
            _record(lab, steps_done=done)
        _record(lab, step="namespace gone")
        # The namespace's contents go with it; it is gone when the API says 404.
        kube.wait_until(
            lambda: kube.get("v1", "Namespace", lab.namespace) is None,
            timeout=settings.LAB_READY_TIMEOUT_SECONDS,
            what=f"deletion of namespace {lab.namespace}",
        )
    except ClusterError as exc:
        _record(lab, last_error=exc.message)
        raise
    _record(lab, state=Lab.State.DELETED, steps_done=lab.steps_total, ready_at=None)
    return lab


def trainee_kubeconfig(lab: Lab) -> dict[str, Any]:
    """A kubeconfig for the trainee's own laptop: a fresh short-lived token of the lab's
    ServiceAccount, the lab's namespace as default. Raises ``ClusterError``."""
    kube = Kube.for_cluster(lab.cluster)
    token = kube.create_token(
        lab.namespace, manifests.TRAINEE, settings.LAB_KUBECONFIG_TOKEN_SECONDS
    )
    server, ca_data = kube.server_address()
    return manifests.trainee_kubeconfig(
        lab_spec(lab), server=lab.cluster.public_server or server, ca_data=ca_data, token=token
    )


def reset(lab_id: int, kube: Kube | None = None) -> Lab:
    """Delete the lab and provision it anew: a clean slate for the trainee."""
    teardown(lab_id, kube)
    return provision(lab_id, kube)


@dataclass
class BatchRun:
    """What a run over several labs did: the namespaces done, and the failed ones' errors."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def run_each(
    lab_ids: Iterable[int],
    work: Callable[[int, Kube], Lab],
    kube_for: KubeFactory = Kube.for_cluster,
) -> BatchRun:
    """Run ``work`` (``provision``, ``teardown`` or ``reset``) over labs with bounded
    concurrency (``LAB_PROVISION_CONCURRENCY``), one client per cluster."""
    labs = list(Lab.objects.filter(pk__in=list(lab_ids)).select_related("cluster"))
    clients: dict[int, Kube] = {}
    for lab in labs:
        if lab.cluster_id not in clients:
            clients[lab.cluster_id] = kube_for(lab.cluster)
    run = BatchRun()

    def one(lab: Lab) -> None:
        try:
            work(lab.pk, clients[lab.cluster_id])
            run.done.append(lab.namespace)
        except ClusterError as exc:
            run.failed[lab.namespace] = exc.message
        finally:
            if settings.LAB_PROVISION_CONCURRENCY > 1:
                close_old_connections()  # the pool thread's own database connection

    if settings.LAB_PROVISION_CONCURRENCY <= 1:
        for lab in labs:
            one(lab)
        return run
    with ThreadPoolExecutor(max_workers=settings.LAB_PROVISION_CONCURRENCY) as pool:
        list(pool.map(one, labs))
    return run


def orphans(cluster: Cluster, kube: Kube | None = None) -> list[str]:
    """Namespaces that Lotse labelled on ``cluster`` but that no live lab owns."""
    kube = kube or Kube.for_cluster(cluster)
    labelled = kube.list("v1", "Namespace", label_selector=f"{manifests.MANAGED_BY}=lotse")
    names = {ns["metadata"]["name"] for ns in labelled}
    live = set(
        Lab.objects.filter(cluster=cluster, namespace__in=names)
        .exclude(state=Lab.State.DELETED)
        .values_list("namespace", flat=True)
    )
    return sorted(names - live)


def remove_orphan(cluster: Cluster, namespace: str, kube: Kube | None = None) -> None:
    kube = kube or Kube.for_cluster(cluster)
    cluster_role = manifests.cluster_role_name(namespace)
    kube.delete("v1", "Namespace", namespace)
    kube.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", cluster_role)
    kube.delete("rbac.authorization.k8s.io/v1", "ClusterRole", cluster_role)

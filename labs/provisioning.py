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
import threading
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from labs import admission, manifests
from labs.kube import ClusterError, Kube, pod_ready
from labs.models import Cluster, Lab, installation_key
from labs.networks import BadDestination, Destination, host_destination
from labs.profiles import PROFILES

log = logging.getLogger(__name__)
T = TypeVar("T")
KubeFactory = Callable[[Cluster], Kube]
READY_STEP = "toolbox pod ready"
GUARD_STEP = "admission policy"
API_SERVER_STEP = "API server addresses"
# The Service every cluster has for its API server, and the label of its EndpointSlices.
API_SERVICE = ("default", "kubernetes")
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class LabUnavailable(Exception):
    """A lab that cannot be provisioned at all: no cluster for its cohort, say."""


def lab_spec(lab: Lab, api_server: tuple[Destination, ...] = ()) -> manifests.LabSpec:
    """What decides the lab's objects. ``api_server`` comes from the cluster
    (``api_server_of``); without it the lab's pods could not reach the API server."""
    cohort = lab.enrolment.cohort
    cluster = lab.cluster
    try:
        egress_allow = tuple(cluster.egress_allow_destinations)
    except BadDestination as exc:
        raise ClusterError(f"cluster {cluster.name!r}: egress allow-list: {exc}") from None
    return manifests.LabSpec(
        namespace=lab.namespace,
        cohort=cohort.slug,
        enrolment_id=lab.enrolment_id,
        profile=PROFILES[cohort.lab_profile],
        pod_security=cohort.pod_security,
        toolbox_image=cluster.toolbox_image,
        installation=installation_key(),
        ingress_namespaces=tuple(cluster.ingress_namespace_list),
        api_server=api_server,
        egress_allow=egress_allow,
        trainees_see_nodes=cluster.trainees_see_nodes,
    )


# What one client learns once about its cluster and shares across the labs of a batch
# (labs provisioned in parallel threads ask at the same time; the first one asks the API).
_learned: weakref.WeakKeyDictionary[Kube, dict[str, Any]] = weakref.WeakKeyDictionary()
_learning = threading.Lock()


def _once(kube: Kube, key: str, learn: Callable[[], T]) -> T:
    with _learning:
        known = _learned.setdefault(kube, {})
        if key not in known:
            known[key] = learn()  # not stored when it raises: the next lab asks again
        return known[key]


def api_server_of(cluster: Cluster, kube: Kube) -> tuple[Destination, ...]:
    """Where pods reach the API server: the cluster's ``api_server_cidrs`` when set, else
    every address (as a /32 or /128) and the port of the ``kubernetes`` Service's
    EndpointSlices in ``default`` (its Endpoints where a cluster has no slices). Traffic to
    the Service's virtual IP is rewritten to these before network policies see it."""
    if cluster.api_server_cidrs.strip():
        try:
            return tuple(cluster.api_server_destinations)
        except BadDestination as exc:
            raise ClusterError(f"cluster {cluster.name!r}: API server CIDRs: {exc}") from None
    namespace, service = API_SERVICE
    found: set[Destination] = set()
    slices = kube.list(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        namespace,
        label_selector=f"{SERVICE_NAME_LABEL}={service}",
    )
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType") not in ("IPv4", "IPv6"):
            continue
        port = _https_port(endpoint_slice.get("ports"))
        for endpoint in endpoint_slice.get("endpoints") or []:
            found.update(host_destination(a, port) for a in endpoint.get("addresses") or [])
    if not found:
        endpoints = kube.get("v1", "Endpoints", service, namespace) or {}
        for subset in endpoints.get("subsets") or []:
            port = _https_port(subset.get("ports"))
            found.update(host_destination(a["ip"], port) for a in subset.get("addresses") or [])
    if not found:
        raise ClusterError(
            f"cluster {cluster.name!r}: cannot tell where the API server is: the "
            f"{service!r} EndpointSlices and Endpoints in namespace {namespace!r} list no "
            "address; set the cluster's API server CIDRs in the admin"
        )
    return tuple(sorted(found, key=lambda d: (d.network.version, d.network, d.port or 0)))


def _https_port(ports: list[dict[str, Any]] | None) -> int | None:
    numbered = [p for p in ports or [] if p.get("port")]
    for port in numbered:
        if port.get("name") == "https":
            return int(port["port"])
    return int(numbered[0]["port"]) if numbered else None


def ensure_guard(kube: Kube) -> None:
    """Install (create or bring up to date) this installation's admission policy and its
    binding on the cluster; once per client, as they are cluster-wide."""

    def install() -> bool:
        for obj in admission.guard_objects(installation_key()):
            kube.apply(obj)
        return True

    _once(kube, "guard", install)


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
    """Bring the lab to ready. Raises ``ClusterError`` (after recording it) on failure.

    The admission policy comes first, so no lab namespace exists unguarded."""
    lab = _load(lab_id)
    kube = kube or Kube.for_cluster(lab.cluster)
    _record(
        lab,
        state=Lab.State.PROVISIONING,
        attempts=lab.attempts + 1,
        steps_total=0,
        steps_done=0,
        last_error="",
        ready_at=None,
    )
    try:
        _record(lab, step=GUARD_STEP)
        ensure_guard(kube)
        _record(lab, step=API_SERVER_STEP)
        cluster = lab.cluster
        api_server = _once(
            kube,
            f"api-server {cluster.pk} {cluster.api_server_cidrs}",
            lambda: api_server_of(cluster, kube),
        )
        objects = manifests.lab_objects(lab_spec(lab, api_server))
        # The guard, each object, and the toolbox's readiness.
        _record(lab, steps_total=len(objects) + 2, steps_done=1)
        for done, obj in enumerate(objects, start=2):
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

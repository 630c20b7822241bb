"""Provisioning and teardown of labs: plain functions that the Celery tasks wrap.

This module (like all of ``labs``) knows nothing of courses or cohorts beyond what a lab
reaches through its enrolment: which labs to work on is decided by the caller
(``courseware.cohort_labs`` for a cohort's labs), which passes their ids.

A lab moves pending → provisioning → ready | failed → deleting → deleted, and its row
records the step it reached and the last error. Every step is create-or-patch of one
object of ``labs.manifests.lab_objects``, so running a provisioning again — twice, or
after a crash half-way — ends in the same complete lab without duplicates. A lab is ready
only when every object exists and the toolbox pod reports Ready.

Lotse touches only what it owns (``labs.ownership``): an existing namespace or
cluster-scoped object is adopted only when its labels say it is this lab's, the lab row
records the uid of its namespace, and deletes name the uid of what they mean to delete.
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

from labs import admission, manifests, ownership
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
        installation=installation_key(),
        cluster_id=lab.cluster_id,
        profile=PROFILES[cohort.lab_profile],
        pod_security=cohort.pod_security_level,
        toolbox_image=cluster.toolbox_image,
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


def _apply(kube: Kube, obj: dict[str, Any], spec: manifests.LabSpec) -> dict[str, Any]:
    # The namespace and cluster-scoped objects are found by name alone, and another
    # installation or a person may hold that name: they are adopted only when they are this
    # lab's. Objects inside the lab's own namespace are the lab's.
    if obj["metadata"].get("namespace"):
        return kube.apply(obj)[0]
    return kube.apply(obj, adopt=lambda existing: ownership.claim(existing, spec))[0]


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
        spec = lab_spec(lab, api_server)
        objects = manifests.lab_objects(spec)
        # The guard, each object, and the toolbox's readiness.
        _record(lab, steps_total=len(objects) + 2, steps_done=1)
        for done, obj in enumerate(objects, start=2):
            step = f"{obj['kind']} {obj['metadata']['name']}"
            _record(lab, step=step)
            applied = _apply(kube, obj, spec)
            if obj["kind"] == "Namespace":
                _record(lab, steps_done=done, namespace_uid=applied["metadata"]["uid"])
            else:
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


def _not_the_labs(lab: Lab, spec: manifests.LabSpec, namespace: dict[str, Any]) -> str | None:
    """Why the namespace of the lab's name is not the lab's; None when it is: the very one
    the lab recorded, or (none recorded yet) one whose labels say it is this lab's."""
    uid = namespace["metadata"]["uid"]
    if lab.namespace_uid:
        if uid == lab.namespace_uid:
            return None
        return f"another namespace took its name: uid {uid}, the lab's was {lab.namespace_uid}"
    return ownership.foreign(namespace, spec)


def teardown(lab_id: int, kube: Kube | None = None) -> Lab:
    """Remove everything of the lab from the cluster; done when its namespace is gone.

    The kubeconfig anchor goes first, so that downloaded tokens stop working at once and not
    only when the namespace has finished terminating. Only the lab's own objects are
    deleted, each with its uid as a precondition: a namespace, ClusterRole or binding of the
    lab's name that is not the lab's is left alone and named in ``last_error``. The lab is
    deleted all the same, because its own namespace is gone once another holds the name.
    """
    lab = _load(lab_id)
    if lab.state == Lab.State.DELETED:
        return lab
    kube = kube or Kube.for_cluster(lab.cluster)
    spec = lab_spec(lab)
    _record(lab, state=Lab.State.DELETING, steps_total=5, steps_done=0, last_error="")
    left_alone: list[str] = []
    try:
        _record(lab, step=f"delete Secret {manifests.KUBECONFIG_ANCHOR}")
        namespace = kube.get("v1", "Namespace", lab.namespace)
        uid = None
        if namespace is not None:
            why = _not_the_labs(lab, spec, namespace)
            if why is None:
                uid = namespace["metadata"]["uid"]
                kube.delete("v1", "Secret", manifests.KUBECONFIG_ANCHOR, lab.namespace)
            else:
                left_alone.append(f"namespace {lab.namespace} is not this lab's ({why})")
        _record(lab, steps_done=1, step=f"delete Namespace {lab.namespace}")
        if uid is not None and not _delete_owned(kube, "v1", "Namespace", lab.namespace, uid):
            left_alone.append(f"namespace {lab.namespace} changed hands before it was deleted")
            uid = None
        _record(lab, steps_done=2)
        for done, kind in enumerate(("ClusterRoleBinding", "ClusterRole"), start=3):
            _record(lab, step=f"delete {kind} {spec.cluster_role}")
            problem = _delete_cluster_scoped(kube, kind, spec)
            if problem is not None:
                left_alone.append(problem)
            _record(lab, steps_done=done)
        _record(lab, step="namespace gone")
        if uid is not None:
            # The namespace's contents go with it; it is gone when the API says 404 (or
            # when another namespace has taken the name since).
            kube.wait_until(
                lambda: _uid_of(kube.get("v1", "Namespace", lab.namespace)) != uid,
                timeout=settings.LAB_READY_TIMEOUT_SECONDS,
                what=f"deletion of namespace {lab.namespace}",
            )
    except ClusterError as exc:
        _record(lab, last_error=exc.message)
        raise
    for what in left_alone:
        log.warning("teardown of lab %s left alone: %s", lab.namespace, what)
    _record(
        lab,
        state=Lab.State.DELETED,
        steps_done=lab.steps_total,
        ready_at=None,
        namespace_uid="",
        last_error="; ".join(f"left alone: {what}" for what in left_alone),
    )
    return lab


def _delete_cluster_scoped(kube: Kube, kind: str, spec: manifests.LabSpec) -> str | None:
    """Delete the lab's ClusterRole or ClusterRoleBinding if it is the lab's; what was left
    alone, and why, otherwise."""
    rbac = "rbac.authorization.k8s.io/v1"
    obj = kube.get(rbac, kind, spec.cluster_role)
    if obj is None:
        return None
    why = ownership.foreign(obj, spec)
    if why is not None:
        return f"{kind} {spec.cluster_role} is not this lab's ({why})"
    if not _delete_owned(kube, rbac, kind, spec.cluster_role, obj["metadata"]["uid"]):
        return f"{kind} {spec.cluster_role} changed hands before it was deleted"
    return None


def _uid_of(obj: dict[str, Any] | None) -> str | None:
    return obj["metadata"]["uid"] if obj is not None else None


def _delete_owned(
    kube: Kube, api_version: str, kind: str, name: str, uid: str, namespace: str | None = None
) -> bool:
    """Delete the object of that name only if it is still the one with ``uid``; False when
    another object holds the name now (the API server's precondition check failed)."""
    try:
        kube.delete(api_version, kind, name, namespace, uid=uid)
    except ClusterError as exc:
        if exc.status == 409:
            return False
        raise
    return True


def trainee_kubeconfig(lab: Lab) -> dict[str, Any]:
    """A kubeconfig for the trainee's own laptop: a fresh token of the lab's ServiceAccount,
    the lab's namespace as default. The token is bound to the lab's kubeconfig anchor, so it
    stops working when the anchor is deleted (teardown and reset delete it first) or after
    ``LAB_KUBECONFIG_TOKEN_SECONDS``, whichever comes first. Raises ``ClusterError``."""
    kube = Kube.for_cluster(lab.cluster)
    spec = lab_spec(lab)
    namespace = kube.get("v1", "Namespace", lab.namespace)
    why = "it does not exist" if namespace is None else _not_the_labs(lab, spec, namespace)
    if why is not None:
        raise ClusterError(
            f"namespace {lab.namespace} is not this lab's ({why}); an instructor can reset the lab"
        )
    anchor = kube.get("v1", "Secret", manifests.KUBECONFIG_ANCHOR, lab.namespace)
    if anchor is None:
        # The trainee may delete it (their Role covers Secrets), which revokes only their
        # own tokens; the next download makes a new one.
        anchor, _ = kube.apply(manifests.kubeconfig_anchor(spec))
    token = kube.create_token(
        lab.namespace,
        manifests.TRAINEE,
        settings.LAB_KUBECONFIG_TOKEN_SECONDS,
        bound_to={
            "apiVersion": "v1",
            "kind": "Secret",
            "name": manifests.KUBECONFIG_ANCHOR,
            "uid": anchor["metadata"]["uid"],
        },
    )
    server, ca_data = kube.server_address()
    return manifests.trainee_kubeconfig(
        spec, server=lab.cluster.public_server or server, ca_data=ca_data, token=token
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


def orphans(cluster: Cluster, kube: Kube | None = None) -> dict[str, str]:
    """Namespaces that this installation made for ``cluster`` (this very Cluster row, by
    their labels) and that no live lab owns, by name, with their uids. Namespaces of other
    installations or other Cluster rows on the same API server are never listed."""
    kube = kube or Kube.for_cluster(cluster)
    labelled = kube.list(
        "v1", "Namespace", label_selector=ownership.selector(installation_key(), cluster.pk)
    )
    found = {ns["metadata"]["name"]: ns["metadata"]["uid"] for ns in labelled}
    live = set(
        Lab.objects.filter(cluster=cluster, namespace__in=list(found))
        .exclude(state=Lab.State.DELETED)
        .values_list("namespace", flat=True)
    )
    return {name: found[name] for name in sorted(found) if name not in live}


def remove_orphan(cluster: Cluster, namespace: str, uid: str, kube: Kube | None = None) -> None:
    """Delete the orphaned namespace that ``orphans`` listed (the one with ``uid``, not
    another that took its name since) and its lab's cluster-scoped role and binding, if
    they are this installation's for ``cluster``. Raises ``ClusterError``."""
    kube = kube or Kube.for_cluster(cluster)
    if not _delete_owned(kube, "v1", "Namespace", namespace, uid):
        raise ClusterError(
            f"namespace {namespace} is no longer the one the sweep found (uid {uid}); left alone",
            status=409,
        )
    rbac = "rbac.authorization.k8s.io/v1"
    name = manifests.cluster_role_name(namespace)
    for kind in ("ClusterRoleBinding", "ClusterRole"):
        obj = kube.get(rbac, kind, name)
        if obj is not None and ownership.made_here(obj, installation_key(), cluster.pk):
            _delete_owned(kube, rbac, kind, name, obj["metadata"]["uid"])

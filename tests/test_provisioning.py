"""Provisioning and teardown of labs against the Kubernetes API stand-in, through the real
`kubernetes` client: complete labs, idempotence, retries and faults, teardown that leaves
nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from courseware import cohort_labs
from courseware.models import Cohort, Enrolment
from labs import manifests, provisioning
from labs.kube import ClusterError
from labs.models import Cluster, Lab, installation_key
from simcluster import KubeStandIn
from tests.factories import (
    Sleeps,
    enrol,
    kube_for,
    lotse_labels,
    make_cluster,
    put_namespace,
    wait_for,
)

pytestmark = pytest.mark.django_db

RBAC = "rbac.authorization.k8s.io/v1"


def labs_at_once() -> int:
    """Threads get database connections of their own: they see the test's rows only when
    the test commits them (transactional tests) and the database takes concurrent writers."""
    return 2 if connection.vendor == "postgresql" else 1


@pytest.fixture
def lab(cohort: Cohort, cluster: Cluster) -> Lab:
    cohort.cluster = cluster
    cohort.save()
    (enrolment,) = enrol(cohort, f"tara_{cohort.pk}")
    return provisioning.ensure_lab(enrolment)


def lab_ids(cohort: Cohort) -> list[int]:
    return [lab.pk for lab in cohort_labs.ensure_labs(cohort)]


def objects_of(standin: KubeStandIn, lab: Lab) -> dict[str, dict]:
    """Every object of the lab that the stand-in holds, by kind/name."""
    found = {}
    for obj in manifests.lab_objects(provisioning.lab_spec(lab)):
        meta = obj["metadata"]
        stored = standin.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if stored is not None:
            found[f"{obj['kind']}/{meta['name']}"] = stored
    return found


def object_count(lab: Lab) -> int:
    return len(manifests.lab_objects(provisioning.lab_spec(lab)))


def test_it_provisions_a_complete_ready_lab(standin: KubeStandIn, lab: Lab) -> None:
    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    # The admission policy, the lab's objects, and the toolbox's readiness.
    assert lab.steps_done == lab.steps_total == object_count(lab) + 2
    assert lab.step == provisioning.READY_STEP
    assert lab.ready_at is not None
    assert len(objects_of(standin, lab)) == object_count(lab)
    namespace = standin.get("v1", "Namespace", lab.namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["labels"][manifests.ENROLMENT_LABEL] == str(lab.enrolment_id)


def test_it_can_run_twice_without_duplicates(standin: KubeStandIn, lab: Lab) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    first = {key: obj["metadata"]["uid"] for key, obj in objects_of(standin, lab).items()}

    provisioning.provision(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.attempts == 2
    assert {key: obj["metadata"]["uid"] for key, obj in objects_of(standin, lab).items()} == first
    assert len(standin.list("v1", "Pod", lab.namespace)) == 1


def test_it_completes_a_lab_that_a_crash_left_half_done(standin: KubeStandIn, lab: Lab) -> None:
    standin.fail("POST", r"/resourcequotas$", 500, times=1)
    with pytest.raises(ClusterError) as caught:
        provisioning.provision(lab.pk, kube_for(lab.cluster, attempts=1))
    lab.refresh_from_db()
    assert caught.value.retryable
    assert (lab.state, lab.step) == (Lab.State.FAILED, "ResourceQuota lab")
    assert "ResourceQuota" in lab.last_error
    kinds = [obj["kind"] for obj in manifests.lab_objects(provisioning.lab_spec(lab))]
    assert len(objects_of(standin, lab)) == kinds.index("ResourceQuota")

    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.last_error == ""
    assert len(objects_of(standin, lab)) == object_count(lab)


def test_it_waits_as_told_on_429_and_backs_off_on_500(standin: KubeStandIn, lab: Lab) -> None:
    standin.fail("POST", r"/api/v1/namespaces$", 429, times=2, retry_after=3)
    standin.fail("POST", r"/serviceaccounts$", 503, times=2)
    sleeps = Sleeps()

    provisioning.provision(lab.pk, kube_for(lab.cluster, sleeps))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert sleeps.seconds[:2] == [3.0, 3.0]
    # Full jitter: the n-th wait is drawn from [0, 0.2 * 2**n].
    assert 0 <= sleeps.seconds[2] <= 0.2
    assert 0 <= sleeps.seconds[3] <= 0.4


def test_it_retries_a_dropped_connection(standin: KubeStandIn, lab: Lab) -> None:
    standin.drop("POST", r"/roles$", times=1)

    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY


def test_it_stops_at_once_on_an_error_retrying_cannot_fix(standin: KubeStandIn, lab: Lab) -> None:
    standin.fail("POST", r"/rolebindings$", 403, times=5, message="rolebindings is forbidden")
    standin.reset_requests()

    with pytest.raises(ClusterError) as caught:
        provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert not caught.value.retryable
    assert lab.state == Lab.State.FAILED
    assert lab.step == "RoleBinding trainee"
    assert "rolebindings is forbidden" in lab.last_error
    assert "(HTTP 403)" in lab.last_error
    attempts = [r for r in standin.requests if r[0] == "POST" and r[1].endswith("/rolebindings")]
    assert len(attempts) == 1


def test_it_reports_retries_that_ran_out(standin: KubeStandIn, lab: Lab) -> None:
    standin.fail("POST", r"/limitranges$", 500, times=10, message="etcd is unhappy")
    sleeps = Sleeps()

    with pytest.raises(ClusterError) as caught:
        provisioning.provision(lab.pk, kube_for(lab.cluster, sleeps, attempts=4))

    assert caught.value.retryable
    assert len(sleeps.seconds) == 3
    lab.refresh_from_db()
    assert "etcd is unhappy" in lab.last_error


def test_it_is_ready_only_when_the_toolbox_pod_is(
    lab: Lab, cluster: Cluster, settings: Settings
) -> None:
    settings.LAB_READY_TIMEOUT_SECONDS = 0.3
    with KubeStandIn(pace=None).start() as slow:
        lab.cluster = make_cluster(slow, "slow")
        lab.save()

        with pytest.raises(ClusterError, match=r"toolbox pod in .* not done after 0.3 s"):
            provisioning.provision(lab.pk, kube_for(lab.cluster))

        lab.refresh_from_db()
        assert (lab.state, lab.step) == (Lab.State.FAILED, provisioning.READY_STEP)
        slow.set_status("v1", "Pod", "toolbox", lab.namespace, {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
        })  # fmt: skip
        provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY


def leave_work_in(standin: KubeStandIn, lab: Lab) -> None:
    """What a trainee leaves behind: an object of their own in the lab's namespace."""
    standin.put({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "trainee-work", "namespace": lab.namespace},
    })  # fmt: skip


def test_it_tears_a_lab_down_leaving_nothing(standin: KubeStandIn, lab: Lab) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    leave_work_in(standin, lab)

    provisioning.teardown(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.state == Lab.State.DELETED
    assert objects_of(standin, lab) == {}
    assert standin.list("v1", "ConfigMap", lab.namespace) == []
    assert (
        standin.get(RBAC, "ClusterRoleBinding", manifests.cluster_role_name(lab.namespace)) is None
    )


def test_it_resets_a_lab_to_a_clean_slate(standin: KubeStandIn, lab: Lab) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    leave_work_in(standin, lab)

    provisioning.reset(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert standin.get("v1", "ConfigMap", "trainee-work", lab.namespace) is None
    assert len(objects_of(standin, lab)) == object_count(lab)


@pytest.mark.django_db(transaction=True)
def test_it_provisions_and_tears_down_a_whole_cohort(
    standin: KubeStandIn, cohort: Cohort, cluster: Cluster, settings: Settings
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = labs_at_once()
    cohort.cluster = cluster
    cohort.save()
    enrolments = enrol(cohort, "ann_a", "bob_b", "cy_c", "dee_d", "eve_e")
    Enrolment.objects.filter(pk=enrolments[-1].pk).update(state=Enrolment.State.REMOVED)

    run = provisioning.run_each(lab_ids(cohort), provisioning.provision, kube_for)

    assert len(run.done) == 4
    assert run.failed == {}
    assert Lab.objects.filter(state=Lab.State.READY).count() == 4
    assert not Lab.objects.filter(enrolment=enrolments[-1]).exists()

    run = provisioning.run_each(
        cohort_labs.labs_to_tear_down(cohort), provisioning.teardown, kube_for
    )

    assert len(run.done) == 4
    assert Lab.objects.exclude(state=Lab.State.DELETED).count() == 0
    for lab in Lab.objects.all():
        assert standin.get("v1", "Namespace", lab.namespace) is None


@pytest.mark.django_db(transaction=True)
def test_it_reports_the_labs_that_failed_in_a_cohort_run(
    standin: KubeStandIn, cohort: Cohort, cluster: Cluster, settings: Settings
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = labs_at_once()
    cohort.cluster = cluster
    cohort.save()
    first, second = enrol(cohort, "fay_f", "gus_g")
    bad = provisioning.ensure_lab(second).namespace
    standin.fail("POST", rf"/namespaces/{bad}/networkpolicies$", 422, times=3, message="nope")

    run = provisioning.run_each(lab_ids(cohort), provisioning.provision, kube_for)

    assert run.done == [provisioning.ensure_lab(first).namespace]
    assert list(run.failed) == [bad]
    assert "nope" in run.failed[bad]


def test_it_refuses_a_cohort_without_a_cluster(cohort: Cohort) -> None:
    (enrolment,) = enrol(cohort, "hal_h")

    with pytest.raises(provisioning.LabUnavailable, match="has no cluster"):
        provisioning.ensure_lab(enrolment)


def test_it_finds_and_removes_orphaned_namespaces(
    standin: KubeStandIn, lab: Lab, cluster: Cluster
) -> None:
    kube = kube_for(cluster)
    provisioning.provision(lab.pk, kube)
    # A lab whose row is gone, its namespace and cluster role left behind.
    left_behind = lotse_labels(cluster, 999)
    orphan = put_namespace(standin, "lab-gone-999", left_behind)
    role = manifests.cluster_role_name("lab-gone-999")
    standin.put({"apiVersion": RBAC, "kind": "ClusterRole",
                 "metadata": {"name": role, "labels": left_behind}})  # fmt: skip
    put_namespace(standin, "not-ours", {})
    put_namespace(standin, "payments-prod", {manifests.MANAGED_BY: "lotse"})

    assert provisioning.orphans(cluster, kube) == {"lab-gone-999": orphan["metadata"]["uid"]}

    provisioning.remove_orphan(cluster, "lab-gone-999", orphan["metadata"]["uid"], kube)

    wait_for(lambda: standin.get("v1", "Namespace", "lab-gone-999") is None, "the orphan gone")
    assert provisioning.orphans(cluster, kube) == {}
    assert standin.get(RBAC, "ClusterRole", role) is None
    for name in ("not-ours", "payments-prod", lab.namespace):
        assert standin.get("v1", "Namespace", name)["status"]["phase"] == "Active"


def test_it_removes_an_orphan_only_if_it_is_still_the_one_it_found(
    standin: KubeStandIn, cluster: Cluster
) -> None:
    kube = kube_for(cluster)
    put_namespace(standin, "lab-gone-998", lotse_labels(cluster, 998))
    found = provisioning.orphans(cluster, kube)
    # Made anew under the same name between the sweep's listing and its removal.
    again = put_namespace(standin, "lab-gone-998", lotse_labels(cluster, 998))

    with pytest.raises(ClusterError, match="no longer the one the sweep found"):
        provisioning.remove_orphan(cluster, "lab-gone-998", found["lab-gone-998"], kube)

    assert standin.get("v1", "Namespace", "lab-gone-998") == again


# -- ownership: what Lotse adopts, and what it deletes -----------------------------------------


def test_it_labels_every_object_with_this_installation_and_cluster_row(
    standin: KubeStandIn, lab: Lab
) -> None:
    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    objects = objects_of(standin, lab)
    assert len(objects) == object_count(lab)
    for key, obj in objects.items():
        labels = obj["metadata"]["labels"]
        assert labels[manifests.INSTALLATION_LABEL] == installation_key(), key
        assert labels[manifests.CLUSTER_LABEL] == str(lab.cluster_id), key
    assert lab.namespace_uid == objects[f"Namespace/{lab.namespace}"]["metadata"]["uid"]


@pytest.mark.parametrize(
    ("relabel", "why"),
    [
        pytest.param(lambda labels: {}, "it was not created by Lotse", id="not-lotse"),
        pytest.param(
            lambda labels: {manifests.MANAGED_BY: "lotse"},
            "it is labelled app.kubernetes.io/managed-by=lotse but carries no "
            "lotse.io/installation key, so it may be another Lotse installation's",
            id="managed-by-only",
        ),
        pytest.param(
            lambda labels: {**labels, manifests.INSTALLATION_LABEL: "feedfacecafe"},
            "it belongs to another Lotse installation (lotse.io/installation=feedfacecafe)",
            id="other-installation",
        ),
        pytest.param(
            lambda labels: {**labels, manifests.CLUSTER_LABEL: "999"},
            "it belongs to another cluster entry of this installation (lotse.io/cluster=999)",
            id="other-cluster-row",
        ),
        pytest.param(
            lambda labels: {**labels, manifests.ENROLMENT_LABEL: "999"},
            "it belongs to another lab of this installation (lotse.io/enrolment=999)",
            id="other-enrolment",
        ),
    ],
)
def test_it_never_takes_over_a_namespace_that_is_not_the_labs(
    standin: KubeStandIn, lab: Lab, relabel: Callable[[dict], dict], why: str
) -> None:
    kube = kube_for(lab.cluster)
    theirs = put_namespace(standin, lab.namespace, relabel(provisioning.lab_spec(lab).labels))
    their_data = standin.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "data", "namespace": lab.namespace},
        }
    )
    standin.reset_requests()

    with pytest.raises(ClusterError) as caught:
        provisioning.provision(lab.pk, kube)

    lab.refresh_from_db()
    assert not caught.value.retryable
    assert (lab.state, lab.step) == (Lab.State.FAILED, f"Namespace {lab.namespace}")
    assert lab.last_error == (
        f"Namespace {lab.namespace} already exists and is not this lab's ({why}); nothing was "
        "changed: delete it or rename the cohort"
    )
    assert lab.namespace_uid == ""
    # The cluster's lab guard is installed first (it is not the lab's); then nothing but the
    # refused create of the namespace.
    writes = [
        request
        for request in standin.requests
        if request[0] != "GET" and "/admissionregistration.k8s.io/" not in request[1]
    ]
    assert writes == [("POST", "/api/v1/namespaces", 409)]

    provisioning.teardown(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.state == Lab.State.DELETED
    assert lab.last_error == f"left alone: namespace {lab.namespace} is not this lab's ({why})"
    assert standin.get("v1", "Namespace", lab.namespace) == theirs
    assert standin.get("v1", "ConfigMap", "data", lab.namespace) == their_data


def test_it_adopts_a_namespace_whose_labels_say_it_is_the_labs(
    standin: KubeStandIn, lab: Lab
) -> None:
    # A crash between creating the namespace and recording its uid leaves just this.
    made = put_namespace(standin, lab.namespace, provisioning.lab_spec(lab).labels)

    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.namespace_uid == made["metadata"]["uid"]
    namespace = standin.get("v1", "Namespace", lab.namespace)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_it_waits_for_its_own_namespace_to_finish_terminating(
    standin: KubeStandIn, lab: Lab
) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    standin.namespace_deletion_delay = 60
    standin.delete("v1", "Namespace", lab.namespace)

    with pytest.raises(ClusterError, match="is still being deleted; try again") as caught:
        provisioning.provision(lab.pk, kube)

    assert caught.value.retryable


def test_it_patches_nothing_that_changed_while_it_was_being_adopted(
    standin: KubeStandIn, lab: Lab
) -> None:
    put_namespace(standin, lab.namespace, provisioning.lab_spec(lab).labels)
    # What the API server answers a patch whose resourceVersion is no longer current.
    standin.fail("PATCH", rf"/api/v1/namespaces/{lab.namespace}$", 409, message="modified")

    with pytest.raises(ClusterError, match="changed while being adopted") as caught:
        provisioning.provision(lab.pk, kube_for(lab.cluster))

    assert caught.value.retryable
    patches = [r for r in standin.requests if r[0] == "PATCH"]
    assert len(patches) == 1


def test_it_never_takes_over_a_cluster_role_of_another_installation(
    standin: KubeStandIn, lab: Lab
) -> None:
    kube = kube_for(lab.cluster)
    spec = provisioning.lab_spec(lab)
    theirs = standin.put({
        "apiVersion": RBAC, "kind": "ClusterRole",
        "metadata": {"name": spec.cluster_role,
                     "labels": {**spec.labels, manifests.INSTALLATION_LABEL: "feedfacecafe"}},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
    })  # fmt: skip

    with pytest.raises(ClusterError, match="another Lotse installation"):
        provisioning.provision(lab.pk, kube)
    provisioning.teardown(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.last_error.startswith(f"left alone: ClusterRole {spec.cluster_role} is not")
    assert standin.get(RBAC, "ClusterRole", spec.cluster_role) == theirs
    assert standin.get("v1", "Namespace", lab.namespace) is None  # the lab's own is gone


def test_it_tears_down_nothing_of_a_namespace_that_replaced_the_labs(
    standin: KubeStandIn, lab: Lab
) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    lab.refresh_from_db()
    ours = lab.namespace_uid
    # The lab's namespace deleted behind Lotse's back, and another installation's made
    # under the same name, with an anchor of the same name inside.
    labels = provisioning.lab_spec(lab).labels | {manifests.INSTALLATION_LABEL: "feedfacecafe"}
    theirs = put_namespace(standin, lab.namespace, labels)
    anchor = standin.put({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                          "metadata": {"name": manifests.KUBECONFIG_ANCHOR,
                                       "namespace": lab.namespace}})  # fmt: skip
    standin.reset_requests()

    provisioning.teardown(lab.pk, kube)

    lab.refresh_from_db()
    assert lab.state == Lab.State.DELETED
    assert lab.last_error == (
        f"left alone: namespace {lab.namespace} is not this lab's (another namespace took its "
        f"name: uid {theirs['metadata']['uid']}, the lab's was {ours})"
    )
    assert standin.get("v1", "Namespace", lab.namespace) == theirs
    assert standin.get("v1", "Secret", manifests.KUBECONFIG_ANCHOR, lab.namespace) == anchor
    inside = f"/namespaces/{lab.namespace}"
    touched = [r for r in standin.requests if r[0] != "GET" and inside in r[1]]
    assert touched == []
    # The lab's cluster role is still its own: that one goes.
    assert standin.get(RBAC, "ClusterRole", manifests.cluster_role_name(lab.namespace)) is None


def test_it_deletes_only_the_very_object_it_names(standin: KubeStandIn, cluster: Cluster) -> None:
    kube = kube_for(cluster)
    first = put_namespace(standin, "shared-name", {})
    second = put_namespace(standin, "shared-name", {})

    with pytest.raises(ClusterError) as caught:
        kube.delete("v1", "Namespace", "shared-name", uid=first["metadata"]["uid"])

    assert caught.value.status == 409
    assert "Precondition failed: UID in precondition" in caught.value.message
    assert standin.get("v1", "Namespace", "shared-name") == second
    assert kube.delete("v1", "Namespace", "shared-name", uid=second["metadata"]["uid"])


def test_it_deletes_the_kubeconfig_anchor_before_the_namespace(
    standin: KubeStandIn, lab: Lab
) -> None:
    kube = kube_for(lab.cluster)
    provisioning.provision(lab.pk, kube)
    standin.namespace_deletion_delay = 0.2  # a namespace takes a while to go
    standin.reset_requests()

    provisioning.reset(lab.pk, kube)

    deletes = [path for method, path, _ in standin.requests if method == "DELETE"]
    assert deletes[:2] == [
        f"/api/v1/namespaces/{lab.namespace}/secrets/{manifests.KUBECONFIG_ANCHOR}",
        f"/api/v1/namespaces/{lab.namespace}",
    ]
    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.namespace_uid == standin.get("v1", "Namespace", lab.namespace)["metadata"]["uid"]


def test_it_names_a_cluster_it_cannot_reach(lab: Lab) -> None:
    unreachable = Cluster.objects.create(name="gone")
    unreachable.set_kubeconfig(
        "apiVersion: v1\nkind: Config\n"
        "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n"
    )
    unreachable.save()

    with pytest.raises(ClusterError, match="cannot reach the API server"):
        kube_for(unreachable, attempts=2).server_version()


def test_it_names_a_cluster_without_credentials() -> None:
    with pytest.raises(ClusterError, match="cluster 'empty' has no kubeconfig"):
        kube_for(Cluster.objects.create(name="empty"))

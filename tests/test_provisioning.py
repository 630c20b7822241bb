"""Provisioning and teardown of labs against the Kubernetes API stand-in, through the real
`kubernetes` client: complete labs, idempotence, retries and faults, teardown that leaves
nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from courseware import cohort_labs
from courseware.models import Cohort, Enrolment
from labs import manifests, provisioning
from labs.kube import ClusterError
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import Sleeps, enrol, kube_for, make_cluster

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


def test_it_provisions_a_complete_ready_lab(standin: KubeStandIn, lab: Lab) -> None:
    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.steps_done == lab.steps_total == 12  # the admission policy, 10 objects, ready
    assert lab.step == provisioning.READY_STEP
    assert lab.ready_at is not None
    assert len(objects_of(standin, lab)) == 10
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
    assert len(objects_of(standin, lab)) == 6

    provisioning.provision(lab.pk, kube_for(lab.cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.READY
    assert lab.last_error == ""
    assert len(objects_of(standin, lab)) == 10


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
    with KubeStandIn(auto_ready_after=None).start() as slow:
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
    assert len(objects_of(standin, lab)) == 10


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
    standin.put({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "lab-gone-1", "labels": {manifests.MANAGED_BY: "lotse"}},
    })  # fmt: skip
    standin.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "not-ours"}})

    assert provisioning.orphans(cluster, kube) == ["lab-gone-1"]

    provisioning.remove_orphan(cluster, "lab-gone-1", kube)

    assert provisioning.orphans(cluster, kube) == []
    assert standin.get("v1", "Namespace", "not-ours") is not None
    assert standin.get("v1", "Namespace", lab.namespace) is not None


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

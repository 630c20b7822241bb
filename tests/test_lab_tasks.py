"""The Celery side of labs: the beat job that provisions cohorts before they start and
tears them down after they end, the orphan sweep, and which failures are retried."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import TestCase
from pytest_django.fixtures import Settings

from courseware import tasks as courseware_tasks
from courseware.enrolment import remove
from courseware.models import Cohort, Course
from labs import manifests, provisioning, tasks
from labs.kube import ClusterError
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import (
    enrol,
    lotse_labels,
    make_cluster,
    make_cohort,
    put_namespace,
    wait_for,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_lab_at_a_time(settings: Settings) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1  # threads would not see this test's transaction


def schedule_labs() -> dict[str, list[int]]:
    """Beat's task, with the lab work it queues run at once, as a worker would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return courseware_tasks.schedule_labs()


def cohort_on(cluster: Cluster, course: Course, slug: str, starts_in_hours: float) -> Cohort:
    cohort = make_cohort(course, slug, hours_from_now=starts_in_hours)
    cohort.cluster = cluster
    cohort.save()
    return cohort


def test_it_provisions_cohorts_that_start_soon(
    fixture_course: Course, cluster: Cluster, settings: Settings
) -> None:
    settings.LAB_PROVISION_LEAD_HOURS = 12
    soon = cohort_on(cluster, fixture_course, "soon", starts_in_hours=2)
    later = cohort_on(cluster, fixture_course, "later", starts_in_hours=48)
    enrol(soon, "sue_s")
    enrol(later, "leo_l")

    result = schedule_labs()

    assert result == {"provision": [soon.pk], "teardown": []}
    assert Lab.objects.get(enrolment__cohort=soon).state == Lab.State.READY
    assert not Lab.objects.filter(enrolment__cohort=later).exists()
    assert schedule_labs() == {
        "provision": [],
        "teardown": [],
    }  # nothing left to do


def test_it_tears_down_cohorts_after_the_grace_period(
    fixture_course: Course, cluster: Cluster, standin: KubeStandIn, settings: Settings
) -> None:
    settings.LAB_TEARDOWN_GRACE_HOURS = 24
    past = cohort_on(cluster, fixture_course, "past", starts_in_hours=-24 * 5)
    just_ended = cohort_on(cluster, fixture_course, "just-ended", starts_in_hours=-24 * 3 - 2)
    for cohort, name in ((past, "pat_p"), (just_ended, "jo_j")):
        (enrolment,) = enrol(cohort, name)
        provisioning.provision(provisioning.ensure_lab(enrolment).pk)

    result = schedule_labs()

    assert result == {"provision": [], "teardown": [past.pk]}
    assert Lab.objects.get(enrolment__cohort=past).state == Lab.State.DELETED
    assert Lab.objects.get(enrolment__cohort=just_ended).state == Lab.State.READY
    past_namespace = Lab.objects.get(enrolment__cohort=past).namespace
    assert standin.get("v1", "Namespace", past_namespace) is None


def test_it_sweeps_orphans_and_removes_them_only_when_told(
    cluster: Cluster, standin: KubeStandIn
) -> None:
    put_namespace(standin, "lab-old-9", lotse_labels(cluster, 9))

    assert tasks.sweep_orphans() == {cluster.name: ["lab-old-9"]}
    assert standin.get("v1", "Namespace", "lab-old-9") is not None

    assert tasks.sweep_orphans(remove=True) == {cluster.name: ["lab-old-9"]}
    wait_for(lambda: standin.get("v1", "Namespace", "lab-old-9") is None, "the orphan gone")


def test_it_keeps_removing_orphans_when_one_changed_hands(
    cluster: Cluster, standin: KubeStandIn
) -> None:
    for name, enrolment_id in (("lab-old-7", 7), ("lab-old-8", 8)):
        put_namespace(standin, name, lotse_labels(cluster, enrolment_id))
    # What the API server answers when the namespace is no longer the uid that was listed.
    standin.fail("DELETE", r"/namespaces/lab-old-7$", 409, message="Precondition failed")

    assert tasks.sweep_orphans(remove=True) == {cluster.name: ["lab-old-7", "lab-old-8"]}

    wait_for(lambda: standin.get("v1", "Namespace", "lab-old-8") is None, "lab-old-8 gone")
    assert standin.get("v1", "Namespace", "lab-old-7")["status"]["phase"] == "Active"


def test_it_never_sweeps_what_another_installation_or_cluster_row_made(
    fixture_course: Course, cluster: Cluster, standin: KubeStandIn
) -> None:
    # A second Cluster row on the same API server, with a lab of its own.
    second = make_cluster(standin, "same-server")
    labs = []
    for on, slug in ((cluster, "first"), (second, "second")):
        (enrolment,) = enrol(cohort_on(on, fixture_course, slug, starts_in_hours=-1), f"{slug}_t")
        labs.append(provisioning.ensure_lab(enrolment))
        provisioning.provision(labs[-1].pk)
    # Another installation on the same cluster, whose enrolment ids (and Cluster row ids)
    # restart at 1 just like this one's; and a namespace that only says managed-by=lotse.
    theirs = lotse_labels(cluster, labs[0].enrolment_id, installation="feedfacecafe")
    put_namespace(standin, "lab-theirs-1", theirs)
    put_namespace(standin, "payments-prod", {manifests.MANAGED_BY: "lotse"})
    names = [lab.namespace for lab in labs] + ["lab-theirs-1", "payments-prod"]

    assert tasks.sweep_orphans(remove=True) == {cluster.name: [], second.name: []}

    for name in names:
        assert standin.get("v1", "Namespace", name)["status"]["phase"] == "Active"
    assert [lab.state for lab in Lab.objects.all()] == [Lab.State.READY, Lab.State.READY]


def test_it_keeps_sweeping_when_a_cluster_is_unreachable(cluster: Cluster) -> None:
    Cluster.objects.create(name="no-credentials")

    assert tasks.sweep_orphans() == {cluster.name: []}


def test_it_retries_only_what_retrying_can_fix() -> None:
    def flaky(lab_id: int) -> Lab:
        raise ClusterError("API server overloaded", status=503, retryable=True)

    def forbidden(lab_id: int) -> Lab:
        raise ClusterError("roles is forbidden", status=403)

    with pytest.raises(tasks.RetryableClusterError, match="overloaded"):
        tasks._run(flaky, 1)
    assert tasks._run(forbidden, 1) == "failed: roles is forbidden"
    assert tasks.provision_lab.acks_late
    assert tasks.provision_lab.reject_on_worker_lost


def test_it_tears_down_the_rest_of_a_cohort_with_some_labs_gone(
    fixture_course: Course, cluster: Cluster
) -> None:
    past = cohort_on(cluster, fixture_course, "past", starts_in_hours=-24 * 5)
    labs = [provisioning.ensure_lab(e) for e in enrol(past, "amy_a", "ben_b")]
    for lab in labs:
        provisioning.provision(lab.pk)
    provisioning.teardown(labs[0].pk)

    assert schedule_labs()["teardown"] == [past.pk]
    assert Lab.objects.filter(state=Lab.State.DELETED).count() == 2


def test_it_tears_down_the_lab_of_a_removed_trainee(
    fixture_course: Course,
    cluster: Cluster,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
) -> None:
    cohort = cohort_on(cluster, fixture_course, "now", starts_in_hours=-1)
    (enrolment,) = enrol(cohort, "rae_r")
    lab = provisioning.ensure_lab(enrolment)
    provisioning.provision(lab.pk)

    standin.reset_requests()

    with django_capture_on_commit_callbacks(execute=True):
        remove(enrolment)

    lab.refresh_from_db()
    assert lab.state == Lab.State.DELETED
    assert standin.get("v1", "Namespace", lab.namespace) is None
    # The anchor of downloaded tokens goes first, before the namespace starts terminating.
    deletes = [path for method, path, _ in standin.requests if method == "DELETE"]
    assert deletes[:2] == [
        f"/api/v1/namespaces/{lab.namespace}/secrets/{manifests.KUBECONFIG_ANCHOR}",
        f"/api/v1/namespaces/{lab.namespace}",
    ]

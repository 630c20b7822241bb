"""The lab actions of the admin need ``courseware.manage_labs``: without it they are not
offered, and a POST that names one anyway (a forged form) changes nothing anywhere."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User

from courseware.models import Cohort, Enrolment
from labs import provisioning
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import client_for, enrol, make_user

pytestmark = pytest.mark.django_db

# (changelist, action, what is selected)
LAB_ACTIONS = [
    ("/admin/courseware/cohort/", "provision_labs", "cohort"),
    ("/admin/courseware/cohort/", "teardown_labs", "cohort"),
    ("/admin/courseware/cohort/", "reset_labs", "cohort"),
    ("/admin/courseware/enrolment/", "provision_labs", "enrolment"),
    ("/admin/courseware/enrolment/", "teardown_labs", "enrolment"),
    ("/admin/courseware/enrolment/", "reset_labs", "enrolment"),
    ("/admin/labs/lab/", "provision", "lab"),
    ("/admin/labs/lab/", "teardown", "lab"),
    ("/admin/labs/lab/", "reset", "lab"),
]
EVERYTHING_BUT_LABS = [
    "view_cohort", "change_cohort", "view_enrolment", "change_enrolment", "view_lab",
    "change_lab", "view_cluster", "change_cluster",
]  # fmt: skip


def staff_with(*codenames: str) -> User:
    user = make_user("stan_staff", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def lab_of_two(cohort: Cohort, cluster: Cluster, standin: KubeStandIn) -> Lab:
    """One trainee of the running cohort with a ready lab; the stand-in's log emptied."""
    cohort.cluster = cluster
    cohort.save()
    (enrolment,) = enrol(cohort, "rae_r")
    enrol(cohort, "sid_s")  # a trainee without a lab: provisioning would make one
    lab = provisioning.ensure_lab(enrolment)
    provisioning.provision(lab.pk)
    standin.reset_requests()
    return lab


def selected(what: str, lab: Lab) -> list[int]:
    return [{"cohort": lab.enrolment.cohort_id, "enrolment": lab.enrolment_id, "lab": lab.pk}[what]]


@pytest.mark.parametrize(("url", "action", "what"), LAB_ACTIONS)
def test_it_neither_offers_nor_runs_a_lab_action_without_manage_labs(
    lab_of_two: Lab,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
    url: str,
    action: str,
    what: str,
) -> None:
    client = client_for(staff_with(*EVERYTHING_BUT_LABS))

    listing = client.get(url)
    with django_capture_on_commit_callbacks(execute=True) as queued:
        forged = client.post(
            url,
            {"action": action, "_selected_action": selected(what, lab_of_two), "confirmed": "yes"},
            follow=True,
        )

    assert listing.status_code == 200
    assert f'value="{action}"' not in listing.text
    assert forged.status_code == 200
    assert queued == []
    assert standin.requests == []
    assert not LogEntry.objects.exists()
    assert list(Lab.objects.values_list("pk", "state")) == [(lab_of_two.pk, Lab.State.READY)]
    assert Enrolment.objects.filter(lab__isnull=True).count() == 1


@pytest.mark.parametrize(("url", "action", "what"), LAB_ACTIONS)
def test_it_offers_a_lab_action_with_manage_labs(
    lab_of_two: Lab, url: str, action: str, what: str
) -> None:
    client = client_for(staff_with(*EVERYTHING_BUT_LABS, "manage_labs"))

    listing = client.get(url)
    asked = client.post(url, {"action": action, "_selected_action": selected(what, lab_of_two)})

    assert f'value="{action}"' in listing.text
    assert asked.status_code == 200
    assert 'name="confirmed" value="yes"' in asked.text

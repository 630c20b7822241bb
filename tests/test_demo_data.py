"""The quick start's demo data: a running cohort with an admin, an instructor, trainees
and one open invite, printed with their logins."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from pytest_django.fixtures import Settings

from courseware import access
from courseware.models import Cohort, Course
from labs.models import Lab
from simcluster import KubeStandIn

pytestmark = pytest.mark.django_db


def test_it_creates_a_running_cohort_with_people(
    fixture_course: Course, capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    settings.DEBUG = True  # the command refuses to run otherwise; tests run with DEBUG off
    settings.CHECK_WATCHER_IN_PROCESS = True  # as in ./dev start
    call_command("demo_data", "--url", "http://127.0.0.1:9000/")
    call_command("demo_data", "--url", "http://127.0.0.1:9000/")  # again: nothing doubles

    cohort = Cohort.objects.get(slug="demo-class")
    anna = authenticate(username="anna", password="lotse-demo")
    instructor = authenticate(username="instructor", password="lotse-demo")
    assert cohort.state == Cohort.State.RUNNING
    assert cohort.enrolments.count() == 4
    assert anna is not None
    assert access.can_view_cohort(anna, cohort)
    assert access.can_manage_cohort(instructor, cohort)
    assert access.is_admin(authenticate(username="admin", password="lotse-demo"))
    out = capsys.readouterr().out
    assert "http://127.0.0.1:9000/cohorts/demo-class/" in out
    assert "live checks: the check watcher runs inside the web server" in out
    invite = out.split("an open invite (Dana): ")[-1].split()[0]
    assert Client().get(invite.removeprefix("http://127.0.0.1:9000")).status_code == 200


def test_it_refuses_to_run_in_production(fixture_course: Course, settings: Settings) -> None:
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG only"):
        call_command("demo_data")


def test_it_puts_the_demo_labs_on_a_simulated_cluster(
    real_course: Course, settings: Settings, tmp_path: Path
) -> None:
    settings.DEBUG = True
    settings.LAB_PROVISION_CONCURRENCY = 1
    with KubeStandIn(pace=0).start() as standin:
        kubeconfig = tmp_path / "simulated.kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(standin.kubeconfig()))

        call_command(
            "demo_data", "--cluster-kubeconfig", str(kubeconfig),
            "--cluster-name", "Simulated cluster (development only)", "--provision",
        )  # fmt: skip

        cohort = Cohort.objects.get(slug="demo-class")
        assert cohort.cluster.name == "Simulated cluster (development only)"
        # The course declares baseline for its exercises, and the demo cohort follows it.
        assert cohort.pod_security == ""
        assert cohort.pod_security_level == "baseline"
        namespace = standin.get("v1", "Namespace", cohort.enrolments.first().lab.namespace)
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "baseline"
        assert Lab.objects.filter(state=Lab.State.READY).count() == 4
        assert len(standin.list("v1", "Pod")) == 4

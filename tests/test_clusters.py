"""Clusters in the admin: kubeconfigs stored encrypted and never shown back, a connection
test that reports the version or the exact error, lab actions behind confirmation."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from pytest_django.fixtures import Settings

from courseware import cohort_labs
from courseware.models import Cohort
from labs import provisioning, secrets
from labs.models import Cluster, Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for, enrol, make_cluster, make_user

pytestmark = pytest.mark.django_db


def test_it_stores_the_kubeconfig_encrypted(standin: KubeStandIn) -> None:
    cluster = make_cluster(standin)
    stored = Cluster.objects.values_list("kubeconfig_encrypted", flat=True).get(pk=cluster.pk)

    assert standin.admin_token not in stored
    assert "clusters" not in stored
    assert Cluster.objects.get(pk=cluster.pk).kubeconfig == yaml.safe_dump(standin.kubeconfig())
    assert cluster.kubeconfig_fingerprint.startswith("sha256:")


def test_it_never_shows_the_kubeconfig_back(people: People, standin: KubeStandIn) -> None:
    cluster = make_cluster(standin)

    page = client_for(people.admin).get(f"/admin/labs/cluster/{cluster.pk}/change/")

    assert page.status_code == 200
    assert standin.admin_token not in page.text
    assert standin.url not in page.text
    assert cluster.kubeconfig_fingerprint in page.text


def test_it_takes_a_kubeconfig_from_the_admin_form(people: People, standin: KubeStandIn) -> None:
    text = yaml.safe_dump(standin.kubeconfig())

    response = client_for(people.admin).post(
        "/admin/labs/cluster/add/",
        {
            "name": "training", "access": "kubeconfig", "kubeconfig_text": text,
            "toolbox_image": "bitnami/kubectl:1.34", "ingress_namespaces": "ingress-nginx",
        },
    )  # fmt: skip

    assert response.status_code == 302
    assert Cluster.objects.get(name="training").kubeconfig == text.strip()


@pytest.mark.parametrize(
    ("text", "context", "error"),
    [
        ("clusters: [", "", "Not YAML"),
        ("kind: Config\n", "", "Not a kubeconfig: it has no contexts."),
        (
            "contexts: [{name: a}]\n",
            "b",
            "The kubeconfig has no context &#x27;b&#x27; (it has: a).",
        ),
        ("", "", "A kubeconfig is required."),
    ],
)
def test_it_explains_a_kubeconfig_it_cannot_take(
    people: People, text: str, context: str, error: str
) -> None:
    response = client_for(people.admin).post(
        "/admin/labs/cluster/add/",
        {
            "name": "training", "access": "kubeconfig", "kubeconfig_text": text,
            "context": context, "toolbox_image": "x", "ingress_namespaces": "",
        },
    )  # fmt: skip

    assert response.status_code == 200
    assert error in response.text
    assert not Cluster.objects.filter(name="training").exists()


def test_it_tests_the_connection(people: People, standin: KubeStandIn) -> None:
    good = make_cluster(standin, "good")
    bad = Cluster.objects.create(name="bad")

    response = client_for(people.admin).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [good.pk, bad.pk]},
        follow=True,
    )

    text = response.text
    # The admin shows messages with a capital first letter.
    assert "Good: reachable, Kubernetes v1." in text
    assert "Bad: cluster &#x27;bad&#x27; has no kubeconfig" in text


def test_it_names_a_key_that_does_not_open_the_kubeconfig(
    standin: KubeStandIn, settings: Settings
) -> None:
    cluster = make_cluster(standin)
    settings.KUBECONFIG_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    with pytest.raises(secrets.SecretUnreadable, match="cannot be decrypted"):
        _ = Cluster.objects.get(pk=cluster.pk).kubeconfig


def test_it_decrypts_with_an_older_key_after_rotation(
    standin: KubeStandIn, settings: Settings
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.KUBECONFIG_ENCRYPTION_KEYS = [old]
    cluster = make_cluster(standin)

    settings.KUBECONFIG_ENCRYPTION_KEYS = [new, old]

    assert standin.admin_token in Cluster.objects.get(pk=cluster.pk).kubeconfig


def test_it_refuses_to_run_without_a_key(settings: Settings) -> None:
    settings.KUBECONFIG_ENCRYPTION_KEYS = []

    with pytest.raises(Exception, match="KUBECONFIG_ENCRYPTION_KEYS is not set"):
        secrets.encrypt("x")


def test_it_asks_before_tearing_labs_down(
    people: People, cohort: Cohort, standin: KubeStandIn
) -> None:
    cohort.cluster = make_cluster(standin)
    cohort.save()
    (enrolment,) = enrol(cohort, "lou_l")
    lab = provisioning.ensure_lab(enrolment)
    provisioning.provision(lab.pk)
    client = client_for(people.admin)
    form = {"action": "teardown", "_selected_action": [lab.pk]}

    asked = client.post("/admin/labs/lab/", form)

    assert asked.status_code == 200
    assert "Tear down 1 lab(s)?" in asked.text
    assert lab.namespace in asked.text
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.READY

    done = client.post("/admin/labs/lab/", {**form, "confirmed": "yes"}, follow=True)

    assert "Tear down: 1 lab(s) queued." in done.text
    entry = LogEntry.objects.get(object_id=str(lab.pk), content_type__model="lab")
    assert (entry.user, entry.change_message) == (people.admin, "Tear down queued.")
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.DELETED
    assert standin.get("v1", "Namespace", lab.namespace) is None


def test_it_provisions_a_cohort_from_the_admin(
    people: People,
    cohort: Cohort,
    standin: KubeStandIn,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1  # threads would not see this test's transaction
    cohort.cluster = make_cluster(standin)
    cohort.save()
    enrol(cohort, "max_m", "nia_n")
    client = client_for(people.admin)
    form = {"action": "provision_labs", "_selected_action": [cohort.pk], "confirmed": "yes"}

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/courseware/cohort/", form, follow=True)

    assert "Provision: queued for 1 cohort(s)." in response.text
    entry = LogEntry.objects.get(object_id=str(cohort.pk), content_type__model="cohort")
    assert (
        entry.change_message == "Provision labs (Spring Class: every trainee on stand-in) queued."
    )
    assert Lab.objects.filter(enrolment__cohort=cohort, state=Lab.State.READY).count() == 3
    listing = client.get("/admin/courseware/cohort/")
    assert '<progress max="100" value="100">' in listing.text


def test_it_offers_lab_actions_only_with_the_permission(cohort: Cohort) -> None:
    staff = make_user("sam_staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_lab", "view_cohort"]))
    client = client_for(staff)

    page = client.get("/admin/labs/lab/")

    assert page.status_code == 200
    assert 'value="teardown"' not in page.text


def test_it_gives_a_trainee_the_kubeconfig_of_their_ready_lab(
    people: People, cohort: Cohort, standin: KubeStandIn
) -> None:
    cohort.cluster = make_cluster(standin)
    cohort.save()
    lab = provisioning.ensure_lab(cohort.enrolments.get(trainee=people.trainee))
    client = client_for(people.trainee)
    assert client.get(f"/cohorts/{cohort.slug}/kubeconfig/").status_code == 404

    provisioning.provision(lab.pk)
    response = client.get(f"/cohorts/{cohort.slug}/kubeconfig/")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    config = yaml.safe_load(response.content)
    assert config["contexts"][0]["context"]["namespace"] == lab.namespace
    assert config["clusters"][0]["cluster"]["server"] == standin.url
    assert config["users"][0]["user"]["token"]
    assert standin.admin_token not in response.text  # the trainee's token, not the admin's
    assert "Download a kubeconfig" in client.get(cohort.get_absolute_url()).text


def test_it_does_not_send_a_pasted_kubeconfig_back_with_an_error(
    people: People, standin: KubeStandIn
) -> None:
    text = yaml.safe_dump(standin.kubeconfig(token="s3cret-admin-token"))

    response = client_for(people.admin).post(
        "/admin/labs/cluster/add/",
        {
            "name": "training", "access": "kubeconfig", "kubeconfig_text": text,
            "context": "no-such-context", "toolbox_image": "x", "ingress_namespaces": "",
        },
    )  # fmt: skip

    assert response.status_code == 200
    assert "The kubeconfig has no context" in response.text
    assert "s3cret-admin-token" not in response.text


def test_it_resets_the_labs_of_selected_trainees_only(
    people: People,
    cohort: Cohort,
    standin: KubeStandIn,
    settings: Settings,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1
    cohort.cluster = make_cluster(standin)
    cohort.save()
    chosen, other = enrol(cohort, "ola_o", "pim_p")
    provisioning.run_each(
        [lab.pk for lab in cohort_labs.ensure_labs(cohort)], provisioning.provision
    )
    for enrolment in (chosen, other):
        standin.put({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "work", "namespace": enrolment.lab.namespace},
        })  # fmt: skip
    client = client_for(people.admin)
    form = {"action": "reset_labs", "_selected_action": [chosen.pk]}

    asked = client.post("/admin/courseware/enrolment/", form)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(
            "/admin/courseware/enrolment/", {**form, "confirmed": "yes"}, follow=True
        )

    assert "Spring Class: 1 trainee(s) on stand-in" in asked.text
    assert "Reset: queued for 1 cohort(s)." in done.text
    assert standin.get("v1", "ConfigMap", "work", chosen.lab.namespace) is None
    assert standin.get("v1", "ConfigMap", "work", other.lab.namespace) is not None
    assert Lab.objects.get(enrolment=chosen).attempts == 2
    assert Lab.objects.get(enrolment=other).attempts == 1


def test_it_refuses_to_provision_a_cohort_without_a_cluster(people: People, cohort: Cohort) -> None:
    response = client_for(people.admin).post(
        "/admin/courseware/cohort/",
        {"action": "provision_labs", "_selected_action": [cohort.pk]},
        follow=True,
    )

    assert "No cluster set for: Spring Class." in response.text
    assert not Lab.objects.exists()

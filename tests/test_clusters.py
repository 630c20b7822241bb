"""Clusters in the admin: kubeconfigs stored encrypted and never shown back, a connection
test that reports the version or the exact error, lab actions behind confirmation."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from pytest_django.fixtures import Settings

from courseware import cohort_labs
from courseware.models import Cohort
from labs import admission, provisioning, secrets, tasks
from labs.kube import ClusterError, Kube
from labs.models import Cluster, Lab, installation_key
from simcluster import KubeStandIn
from tests.factories import (
    People,
    client_for,
    enrol,
    kube_for,
    lotse_labels,
    make_cluster,
    make_user,
    put_namespace,
)

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
        ("contexts: a-string\n", "", "“contexts” must be a list of entries"),
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


def connection_report(user: Any, cluster: Cluster) -> str:
    response = client_for(user).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk]},
        follow=True,
    )
    return response.text


def test_it_reports_whether_the_admission_policy_is_installed_and_current(
    people: People, standin: KubeStandIn
) -> None:
    cluster = make_cluster(standin, "training")
    missing = connection_report(people.admin, cluster)

    provisioning.ensure_guard(kube_for(cluster))
    current = connection_report(people.admin, cluster)

    name = admission.policy_name(installation_key())
    stale = standin.get("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", name)
    stale["metadata"]["annotations"][admission.DIGEST_ANNOTATION] = "from-an-older-lotse"
    standin.put(stale)
    outdated = connection_report(people.admin, cluster)

    version = "Kubernetes v1.34.1"
    assert f"Training: reachable, {version}; admission policy not installed" in missing
    assert f"Training: reachable, {version}; admission policy installed and current" in current
    assert f"Training: reachable, {version}; admission policy outdated" in outdated
    # Anything short of current is a warning, not a success.
    assert 'class="warning"' in missing
    assert 'class="warning"' in outdated
    assert 'class="success"' in current


def test_it_reports_a_cluster_too_old_for_the_admission_policy(
    people: People, standin: KubeStandIn
) -> None:
    cluster = make_cluster(standin, "old")
    # Before 1.30 the API group's v1 lists no ValidatingAdmissionPolicy.
    standin.fail("GET", r"^/apis/admissionregistration.k8s.io/v1$", 404, times=10)

    report = connection_report(people.admin, cluster)

    assert (
        "Old: reachable, Kubernetes v1.34.1; admission policy not installed (the cluster does "
        "not serve ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1; it needs "
        "Kubernetes 1.30 or later)"
    ) in report


def cluster_form(**fields: str) -> dict[str, str]:
    return {
        "name": "training", "access": "in-cluster", "toolbox_image": "bitnami/kubectl:1.34",
        "ingress_namespaces": "ingress-nginx", **fields,
    }  # fmt: skip


def test_it_takes_the_egress_settings_from_the_admin_form(people: People) -> None:
    response = client_for(people.admin).post(
        "/admin/labs/cluster/add/",
        cluster_form(
            api_server_cidrs="172.18.0.2/32:6443", egress_allow="169.254.20.10/32:53, 10.0.0.0/8"
        ),
    )

    assert response.status_code == 302
    cluster = Cluster.objects.get(name="training")
    assert cluster.api_server_cidrs == "172.18.0.2/32:6443"
    assert [str(d) for d in cluster.egress_allow_destinations] == [
        "169.254.20.10/32:53",
        "10.0.0.0/8",
    ]
    assert cluster.trainees_see_nodes is False  # the checkbox was not ticked


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (
            "api_server_cidrs",
            "172.18.0.2/24",
            "&#x27;172.18.0.2/24&#x27;: 172.18.0.2/24 has host bits set; the block is written "
            "172.18.0.0/24",
        ),
        (
            "egress_allow",
            "10.0.0.0/8, 169.254.169.254",
            "&#x27;169.254.169.254&#x27; is the cloud metadata service, which labs must never "
            "reach",
        ),
        (
            "egress_allow",
            "internet:443",
            "&#x27;internet:443&#x27; is not an IP address or CIDR block",
        ),
    ],
)
def test_it_explains_an_egress_setting_it_cannot_take(
    people: People, field: str, value: str, error: str
) -> None:
    response = client_for(people.admin).post(
        "/admin/labs/cluster/add/", cluster_form(**{field: value})
    )

    assert response.status_code == 200
    assert error in response.text
    assert not Cluster.objects.filter(name="training").exists()


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
    people: People,
    cohort: Cohort,
    standin: KubeStandIn,
    django_capture_on_commit_callbacks: Any,
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
    assert '<input type="submit" value="Yes, tear down the selected labs">' in asked.text
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.READY

    # The task is queued once the action's transaction commits, not before.
    with django_capture_on_commit_callbacks() as queued:
        done = client.post("/admin/labs/lab/", {**form, "confirmed": "yes"}, follow=True)
    assert Lab.objects.get(pk=lab.pk).state == Lab.State.READY
    for callback in queued:
        callback()

    # Tasks run eagerly here: the work is done, so the report must not say "queued".
    assert "Started tearing down 1 lab(s); the list shows their state." in done.text
    assert "queued" not in done.text
    entry = LogEntry.objects.get(object_id=str(lab.pk), content_type__model="lab")
    assert (entry.user, entry.change_message) == (people.admin, "Started tearing down.")
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
    form = {"action": "provision_labs", "_selected_action": [cohort.pk]}

    asked = client.post("/admin/courseware/cohort/", form)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/courseware/cohort/", {**form, "confirmed": "yes"}, follow=True
        )

    assert '<input type="submit" value="Yes, provision the labs">' in asked.text
    assert 'value="Yes, provision_labs"' not in asked.text
    assert (
        "Started provisioning 3 labs in 1 cohort; the Labs page shows their progress."
        in response.text
    )
    assert "queued" not in response.text
    entry = LogEntry.objects.get(object_id=str(cohort.pk), content_type__model="cohort")
    assert entry.change_message == (
        "Started provisioning 3 labs (Spring Class: every trainee on stand-in)."
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
    assert '<input type="submit" value="Yes, reset the labs">' in asked.text
    assert "Started resetting 1 lab in 1 cohort; the Labs page shows their progress." in done.text
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


def test_it_says_when_a_lab_action_finds_no_labs(
    people: People, cohort: Cohort, standin: KubeStandIn
) -> None:
    cohort.cluster = make_cluster(standin)
    cohort.save()
    cohort.enrolments.all().delete()  # no trainees: nothing to provision

    response = client_for(people.admin).post(
        "/admin/courseware/cohort/",
        {"action": "provision_labs", "_selected_action": [cohort.pk], "confirmed": "yes"},
        follow=True,
    )

    assert "No labs to provision: the selection has none." in response.text
    assert not Lab.objects.exists()


# -- stored kubeconfigs: inline credentials only; the connection test needs change ---------


def with_user(standin: KubeStandIn, user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    """The stand-in's kubeconfig with its user entry (and cluster entry) replaced."""
    config = standin.kubeconfig()
    config["users"][0]["user"] = user
    config["clusters"][0]["cluster"].update(cluster)
    return config


def stored_cluster(name: str, config: dict[str, Any]) -> Cluster:
    """A cluster row holding ``config`` as it is, as a row stored before any check would."""
    cluster = Cluster(name=name)
    cluster.set_kubeconfig(yaml.safe_dump(config))
    cluster.save()
    return cluster


def exec_plugin(marker: Path) -> dict[str, Any]:
    """A user entry whose credential plugin leaves ``marker`` behind when it runs."""
    credential = json.dumps({
        "apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
        "status": {"token": "standin-token"},
    })  # fmt: skip
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "/bin/sh",
            "args": ["-c", f"touch {marker}; echo '{credential}'"],
            "interactiveMode": "Never",
        }
    }


def add_cluster(client: Any, text: str) -> Any:
    return client.post(
        "/admin/labs/cluster/add/",
        {
            "name": "training", "access": "kubeconfig", "kubeconfig_text": text,
            "toolbox_image": "x", "ingress_namespaces": "",
        },
    )  # fmt: skip


@pytest.mark.parametrize(
    ("user", "cluster", "error"),
    [
        (
            {"exec": {"command": "/bin/true"}},
            {},
            "user “lotse-standin”: “exec” runs a program on the Lotse host; use inline "
            "credentials (token, client-certificate-data, client-key-data).",
        ),
        (
            {"auth-provider": {"name": "gcp", "config": {"cmd-path": "/bin/true"}}},
            {},
            "user “lotse-standin”: “auth-provider” runs a program or reads files on the Lotse host",
        ),
        (
            {"tokenFile": "/etc/hostname"},
            {},
            "user “lotse-standin”: “tokenFile” reads a file on the Lotse host; use “token”",
        ),
        (
            {"client-certificate": "/etc/ssl/a.crt", "client-key": "/etc/ssl/a.key"},
            {},
            "user “lotse-standin”: “client-key” names a file on the Lotse host; use "
            "“client-key-data” with the content inline.",
        ),
        (
            {"token": "t"},
            {"certificate-authority": "/etc/ssl/ca.crt"},
            "cluster “lotse-standin”: “certificate-authority” names a file on the Lotse host",
        ),
        (
            {"token": "t", "as-user-extra": {"a": ["b"]}},
            {},
            "user “lotse-standin”: “as-user-extra” is not one of the keys Lotse accepts.",
        ),
    ],
)
def test_it_takes_only_inline_credentials_in_the_admin_form(
    people: People, standin: KubeStandIn, user: dict, cluster: dict, error: str
) -> None:
    text = yaml.safe_dump(with_user(standin, user, **cluster))

    response = add_cluster(client_for(people.admin), text)

    assert response.status_code == 200
    assert error in html.unescape(response.text)
    assert not Cluster.objects.filter(name="training").exists()


def test_it_takes_client_certificates_inline(people: People, standin: KubeStandIn) -> None:
    user = {"client-certificate-data": "Y2VydA==", "client-key-data": "a2V5"}
    text = yaml.safe_dump(with_user(standin, user, **{"certificate-authority-data": "Y2E="}))

    response = add_cluster(client_for(people.admin), text)

    assert response.status_code == 302
    assert Cluster.objects.filter(name="training").exists()


def test_it_names_line_and_column_of_broken_yaml_without_echoing_it(people: People) -> None:
    text = (
        "apiVersion: v1\n"
        "users:\n"
        "- name: admin\n"
        "  user:\n"
        "    token: s3cret-admin-token-0123: x\n"
        "    password: s3cret-password\n"
    )

    response = add_cluster(client_for(people.admin), text)

    assert response.status_code == 200
    assert "Not YAML:" in response.text
    assert "mapping values are not allowed here (line 5, column 35)" in response.text
    assert "s3cret" not in response.text
    assert not Cluster.objects.filter(name="training").exists()


def test_it_never_runs_the_exec_plugin_of_a_stored_kubeconfig(
    people: People, standin: KubeStandIn, tmp_path: Path
) -> None:
    marker = tmp_path / "exec-ran"
    cluster = stored_cluster("plugged", with_user(standin, exec_plugin(marker)))

    with pytest.raises(ClusterError, match="“exec” runs a program on the Lotse host"):
        Kube.for_cluster(cluster)
    response = client_for(people.admin).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk]},
        follow=True,
    )

    assert "Plugged: cluster &#x27;plugged&#x27;: the stored kubeconfig is refused" in response.text
    assert not marker.exists()
    assert standin.requests == []


def test_it_never_sends_a_host_file_as_a_token(
    people: People, standin: KubeStandIn, tmp_path: Path
) -> None:
    token_file = tmp_path / "host-secret"
    token_file.write_text("host-secret-token")
    cluster = stored_cluster("filed", with_user(standin, {"tokenFile": str(token_file)}))

    response = client_for(people.admin).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk]},
        follow=True,
    )

    assert "“tokenFile” reads a file on the Lotse host" in html.unescape(response.text)
    assert standin.requests == []


def test_it_refuses_the_connection_test_without_change_permission(
    standin: KubeStandIn, cohort: Cohort
) -> None:
    cluster = make_cluster(standin)
    viewer = make_user("vic_viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_cluster"))
    client = client_for(viewer)

    listing = client.get("/admin/labs/cluster/")
    forged = client.post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk]},
        follow=True,
    )

    assert listing.status_code == 200
    assert ">stand-in</a>" in listing.text
    assert 'value="test_connection"' not in listing.text
    assert "reachable" not in forged.text
    assert standin.requests == []


def test_it_offers_the_connection_test_with_change_permission(standin: KubeStandIn) -> None:
    cluster = make_cluster(standin)
    editor = make_user("eve_editor", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_cluster", "change_cluster"])
    )

    response = client_for(editor).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [cluster.pk]},
        follow=True,
    )

    assert "Stand-in: reachable, Kubernetes v1." in response.text


# -- a kubeconfig the current keys cannot open: an error of that cluster only -------------


def rekeyed(settings: Settings) -> None:
    """Replace the encryption keys: what was stored before cannot be opened any more."""
    settings.KUBECONFIG_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]


def test_it_names_the_cluster_whose_kubeconfig_cannot_be_decrypted(
    people: People, standin: KubeStandIn, settings: Settings
) -> None:
    locked = make_cluster(standin, "locked")
    rekeyed(settings)
    readable = make_cluster(standin, "readable")

    with pytest.raises(ClusterError, match="cluster 'locked': the stored kubeconfig cannot be"):
        Kube.for_cluster(locked)
    response = client_for(people.admin).post(
        "/admin/labs/cluster/",
        {"action": "test_connection", "_selected_action": [locked.pk, readable.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert (
        "Locked: cluster &#x27;locked&#x27;: the stored kubeconfig cannot be decrypted with "
        "KUBECONFIG_ENCRYPTION_KEYS" in response.text
    )
    assert "Readable: reachable, Kubernetes v1." in response.text


def test_it_answers_503_for_a_kubeconfig_download_it_cannot_decrypt(
    people: People, cohort: Cohort, standin: KubeStandIn, settings: Settings
) -> None:
    cohort.cluster = make_cluster(standin)
    cohort.save()
    lab = provisioning.ensure_lab(cohort.enrolments.get(trainee=people.trainee))
    provisioning.provision(lab.pk)
    rekeyed(settings)

    response = client_for(people.trainee).get(f"/cohorts/{cohort.slug}/kubeconfig/")

    assert response.status_code == 503
    assert "cluster 'stand-in': the stored kubeconfig cannot be decrypted" in response.text


def test_it_sweeps_the_other_clusters_past_one_it_cannot_decrypt(
    standin: KubeStandIn, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    make_cluster(standin, "locked")
    rekeyed(settings)
    readable = make_cluster(standin, "readable")
    put_namespace(standin, "lab-gone", lotse_labels(readable, enrolment_id=99))

    found = tasks.sweep_orphans()

    assert "locked" not in found
    assert "lab-gone" in found["readable"]
    assert "orphan sweep of locked failed: cluster 'locked': the stored kubeconfig" in caplog.text


def test_it_reads_nothing_without_keys_and_says_so(
    standin: KubeStandIn, settings: Settings
) -> None:
    cluster = make_cluster(standin)
    settings.KUBECONFIG_ENCRYPTION_KEYS = []

    with pytest.raises(ClusterError, match="KUBECONFIG_ENCRYPTION_KEYS is not set"):
        Kube.for_cluster(cluster)


def test_it_does_not_store_a_kubeconfig_without_keys(
    people: People, standin: KubeStandIn, settings: Settings
) -> None:
    settings.KUBECONFIG_ENCRYPTION_KEYS = []

    response = add_cluster(client_for(people.admin), yaml.safe_dump(standin.kubeconfig()))

    assert response.status_code == 200
    assert "KUBECONFIG_ENCRYPTION_KEYS is not set" in response.text
    assert not Cluster.objects.filter(name="training").exists()

"""The kubeconfig a trainee downloads from the cohort page, used with the real kubectl against
the simulated cluster: it works in the trainee's own lab and is refused everywhere else, with
the words a real cluster answers."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from courseware.models import Cohort
from labs import provisioning
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import People, client_for, enrol, make_cluster

KUBECTL = shutil.which("kubectl")
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(KUBECTL is None, reason="needs the kubectl binary on PATH"),
]


@dataclass
class Kubectl:
    """kubectl with one kubeconfig and a discovery cache of its own."""

    kubeconfig: Path
    cache: Path

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        return subprocess.run(
            [KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.cache), *args],
            capture_output=True,
            text=True,
            timeout=60,
        )


@dataclass
class Labs:
    mine: Lab
    theirs: Lab
    kubectl: Kubectl

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.mine.namespace}:trainee"


@pytest.fixture
def labs(people: People, cohort: Cohort, standin: KubeStandIn, tmp_path: Path) -> Labs:
    """The trainee's lab and another trainee's, provisioned on the simulated cluster, and
    kubectl with the kubeconfig the trainee downloads. The labs enforce baseline, as the real
    course's do (nginx runs as root; restricted refuses it, as a real cluster would)."""
    cohort.cluster = make_cluster(standin)
    cohort.pod_security = "baseline"
    cohort.save()
    (other,) = enrol(cohort, "ben_trainee")
    provisioned = []
    for enrolment in (cohort.enrolments.get(trainee=people.trainee), other):
        lab = provisioning.ensure_lab(enrolment)
        provisioned.append(provisioning.provision(lab.pk))
    response = client_for(people.trainee).get(f"/cohorts/{cohort.slug}/kubeconfig/")
    assert response.status_code == 200
    kubeconfig = tmp_path / "trainee.kubeconfig"
    kubeconfig.write_bytes(response.content)
    return Labs(*provisioned, kubectl=Kubectl(kubeconfig, tmp_path / "cache"))


def test_it_lets_the_trainee_work_in_their_own_lab(labs: Labs) -> None:
    kubectl = labs.kubectl

    listed = kubectl("get", "pods")
    created = kubectl("run", "web", "--image=nginx")
    labelled = kubectl("label", "pod", "web", "tier=front")
    deleted = kubectl("delete", "pod", "web", "--wait=false")

    assert listed.returncode == 0, listed.stderr
    assert "toolbox" in listed.stdout
    assert created.stdout.strip() == "pod/web created"
    assert labelled.stdout.strip() == "pod/web labeled"
    assert deleted.stdout.strip() == 'pod "web" deleted'


def test_it_refuses_the_trainee_in_another_lab(labs: Labs) -> None:
    theirs = labs.theirs.namespace

    listed = labs.kubectl("get", "pods", "-n", theirs)
    created = labs.kubectl("run", "web", "--image=nginx", "-n", theirs)

    assert listed.returncode == 1
    assert listed.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{labs.user}" cannot list '
        f'resource "pods" in API group "" in the namespace "{theirs}"'
    )
    assert created.stderr.strip() == (
        f'Error from server (Forbidden): pods is forbidden: User "{labs.user}" cannot create '
        f'resource "pods" in API group "" in the namespace "{theirs}"'
    )


def test_it_shows_the_trainee_nodes_and_their_own_namespace_only(labs: Labs) -> None:
    nodes = labs.kubectl("get", "nodes")
    own = labs.kubectl("get", "namespace", labs.mine.namespace)
    every = labs.kubectl("get", "namespaces")

    assert nodes.returncode == 0, nodes.stderr
    assert "standin-node" in nodes.stdout
    assert labs.mine.namespace in own.stdout
    assert every.stderr.strip() == (
        f'Error from server (Forbidden): namespaces is forbidden: User "{labs.user}" cannot '
        'list resource "namespaces" in API group "" at the cluster scope'
    )


def test_it_refuses_a_role_beyond_the_trainees_rights(labs: Labs, tmp_path: Path) -> None:
    manifest = tmp_path / "greedy.yaml"
    manifest.write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: greedy}\n"
        'rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]\n'
    )

    applied = labs.kubectl("apply", "--validate=false", "-f", str(manifest))

    assert applied.returncode == 1
    assert (
        'roles.rbac.authorization.k8s.io "greedy" is forbidden: user '
        f'"{labs.user}" (groups=["system:serviceaccounts" '
        f'"system:serviceaccounts:{labs.mine.namespace}" "system:authenticated"]) is attempting '
        "to grant RBAC permissions not currently held:\n"
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'
    ) in applied.stderr


def test_it_refuses_a_token_the_cluster_did_not_issue(labs: Labs) -> None:
    refused = labs.kubectl("--token=garbage", "get", "pods")

    # kubectl's words for a 401 to its first (discovery) request, as against a real cluster.
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "error: You must be logged in to the server (the server has asked for the client to "
        "provide credentials)"
    )

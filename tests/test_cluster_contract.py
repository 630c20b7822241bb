"""The contract with a cluster: a provisioned lab is usable by its trainee and by nobody
else, cannot reach beyond its namespace or its quota, and teardown leaves nothing.
The isolation checks need what docs/labs.md lists under "Cluster prerequisites": a CNI
that enforces NetworkPolicy and Kubernetes 1.30 or later for the admission policy.

Runs against the cluster of ``KUBECONFIG`` when it is set (a throwaway one: kind, minikube, a
test cluster), as someone who may create namespaces and cluster roles:

    KUBECONFIG=~/.kube/config DEBUG=1 .venv/bin/python -m pytest -m cluster -p no:xdist

and otherwise against the simulated cluster (simcluster), whose authentication, RBAC and
admission answer these checks as a real API server does; the checks it cannot answer yet are
marked as expected failures there. ``LOTSE_CONTRACT_CONTEXT`` picks a context of KUBECONFIG;
``LOTSE_CONTRACT_TOOLBOX_IMAGE`` another image.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream
from pytest_django.fixtures import Settings

from courseware.models import Cohort
from labs import admission, manifests, provisioning
from labs.admin import guard_report
from labs.kube import Kube
from labs.models import DEFAULT_TOOLBOX_IMAGE, Cluster, Lab, installation_key
from simcluster import KubeStandIn
from tests.factories import enrol

KUBECONFIG = os.environ.get("KUBECONFIG", "")
SIMULATED = not KUBECONFIG
pytestmark = [pytest.mark.cluster, pytest.mark.django_db]


@pytest.fixture
def contract_kubeconfig(request: pytest.FixtureRequest) -> str:
    """The admin kubeconfig of the cluster under contract: KUBECONFIG's when it is set, else
    that of a simulated cluster started for the test."""
    if not SIMULATED:
        return Path(KUBECONFIG.split(os.pathsep)[0]).expanduser().read_text()
    standin: KubeStandIn = request.getfixturevalue("standin")
    return yaml.safe_dump(standin.kubeconfig())


@pytest.fixture
def contract_lab(cohort: Cohort, settings: Settings, contract_kubeconfig: str) -> Iterator[Lab]:
    """A lab provisioned on the cluster under contract, torn down afterwards."""
    settings.LAB_READY_TIMEOUT_SECONDS = 300
    cluster = Cluster(
        name="contract",
        context="" if SIMULATED else os.environ.get("LOTSE_CONTRACT_CONTEXT", ""),
        toolbox_image=os.environ.get("LOTSE_CONTRACT_TOOLBOX_IMAGE", DEFAULT_TOOLBOX_IMAGE),
        ingress_namespaces="",
    )
    cluster.set_kubeconfig(contract_kubeconfig)
    cluster.save()
    cohort.cluster = cluster
    cohort.lab_profile = "small"
    cohort.save()
    (enrolment,) = enrol(cohort, "casey_contract")
    lab = provisioning.ensure_lab(enrolment)
    provisioning.provision(lab.pk)
    yield Lab.objects.get(pk=lab.pk)
    provisioning.teardown(lab.pk)


def as_trainee(lab: Lab) -> k8s.ApiClient:
    """A client that holds what the trainee holds: the lab ServiceAccount's token."""
    admin = Kube.for_cluster(lab.cluster)
    token = admin.create_token(lab.namespace, manifests.TRAINEE, 600)
    configuration = k8s.Configuration()
    admin_configuration = admin.api_client.configuration
    configuration.host = admin_configuration.host
    configuration.ssl_ca_cert = admin_configuration.ssl_ca_cert
    configuration.verify_ssl = admin_configuration.verify_ssl
    configuration.api_key = {"authorization": f"Bearer {token}"}
    return k8s.ApiClient(configuration)


def allowed(
    api: k8s.ApiClient, verb: str, resource: str, namespace: str = "", **extra: str
) -> bool:
    review = k8s.V1SelfSubjectAccessReview(
        spec=k8s.V1SelfSubjectAccessReviewSpec(
            resource_attributes=k8s.V1ResourceAttributes(
                verb=verb, resource=resource, namespace=namespace or None, **extra
            )
        )
    )
    answer = k8s.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


def test_it_gives_the_trainee_a_working_lab_and_nothing_more(contract_lab: Lab) -> None:
    assert contract_lab.state == Lab.State.READY
    trainee = as_trainee(contract_lab)
    ns = contract_lab.namespace

    for verb, resource, group in [
        ("create", "pods", ""), ("create", "deployments", "apps"), ("delete", "services", ""),
        ("create", "pods/exec", ""), ("create", "roles", "rbac.authorization.k8s.io"),
        ("list", "events", ""),
    ]:  # fmt: skip
        assert allowed(trainee, verb, resource, ns, group=group), (verb, resource)
    assert allowed(trainee, "list", "nodes")
    assert not allowed(trainee, "list", "pods", "kube-system")
    assert not allowed(trainee, "list", "namespaces")
    assert not allowed(trainee, "create", "clusterrolebindings", group="rbac.authorization.k8s.io")
    assert not allowed(trainee, "escalate", "roles", ns, group="rbac.authorization.k8s.io")
    assert not allowed(trainee, "bind", "clusterroles", ns, group="rbac.authorization.k8s.io")


def test_it_grants_what_the_course_commands_need_and_endpoints_read_only(
    contract_lab: Lab,
) -> None:
    trainee = as_trainee(contract_lab)
    ns = contract_lab.namespace

    # kubectl run --rm -it / attach, port-forward, debug.
    assert allowed(trainee, "create", "pods", ns, subresource="attach")
    assert allowed(trainee, "create", "pods", ns, subresource="portforward")
    assert allowed(trainee, "patch", "pods", ns, subresource="ephemeralcontainers")
    assert allowed(trainee, "list", "endpoints", ns)
    for verb in ("create", "update", "patch", "delete"):
        assert not allowed(trainee, verb, "endpoints", ns), verb
    assert not allowed(trainee, "create", "endpointslices", ns, group="discovery.k8s.io")
    assert not allowed(trainee, "create", "pods", ns, subresource="binding")


def test_it_installs_a_current_admission_policy(contract_lab: Lab) -> None:
    assert guard_report(Kube.for_cluster(contract_lab.cluster)) == admission.CURRENT


def refused_by_guard(create: Callable[[], Any], message: str) -> None:
    """The call fails with the lab guard's denial, naming the rule's message."""
    with pytest.raises(ApiException) as caught:
        create()
    assert caught.value.status == 403, caught.value.body
    assert admission.policy_name(installation_key()) in caught.value.body
    assert message in caught.value.body


def restricted_pod(name: str, **spec: Any) -> dict[str, Any]:
    """A pod Pod Security admits at every level, so only the guard can refuse it."""
    return {
        "metadata": {"name": name},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True, "runAsUser": 65535,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [{
                "name": "pause", "image": "registry.k8s.io/pause:3.10",
                "securityContext": {
                    "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                },
            }],
            **spec,
        },
    }  # fmt: skip


def test_it_refuses_what_rbac_cannot_say(contract_lab: Lab) -> None:
    api = as_trainee(contract_lab)
    core, rbac = k8s.CoreV1Api(api), k8s.RbacAuthorizationV1Api(api)
    net = k8s.NetworkingV1Api(api)
    ns = contract_lab.namespace
    dry = {"dry_run": "All"}
    svc = {
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
    }

    refused_by_guard(
        lambda: core.create_namespaced_service(
            ns, {**svc, "spec": {**svc["spec"], "externalIPs": ["203.0.113.7"]}}, **dry
        ),
        "may not set spec.externalIPs",
    )
    refused_by_guard(
        lambda: core.create_namespaced_service(
            ns, {"metadata": {"name": "alias"},
                 "spec": {"type": "ExternalName", "externalName": "example.com"}}, **dry
        ),
        "ExternalName are not allowed",
    )  # fmt: skip
    refused_by_guard(
        lambda: core.create_namespaced_secret(
            ns, {"metadata": {"name": "forever", "annotations": {
                "kubernetes.io/service-account.name": manifests.TRAINEE}},
                "type": "kubernetes.io/service-account-token"}, **dry
        ),
        "service-account-token are not allowed",
    )  # fmt: skip
    refused_by_guard(
        lambda: rbac.create_namespaced_role_binding(
            ns, {"metadata": {"name": "everyone"},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": manifests.TRAINEE},
                 "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                               "name": "system:authenticated"}]}, **dry
        ),
        "may only bind ServiceAccounts of this namespace",
    )  # fmt: skip
    refused_by_guard(
        lambda: core.create_namespaced_pod(ns, restricted_pod("pinned", nodeName="x"), **dry),
        "may not pick their node",
    )
    refused_by_guard(
        lambda: core.create_namespaced_pod(
            ns,
            restricted_pod("cp", tolerations=[
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]),
            **dry,
        ),
        "may only tolerate a taint by its key",
    )  # fmt: skip
    refused_by_guard(
        lambda: net.create_namespaced_network_policy(
            ns, {"metadata": {"name": "out"},
                 "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                          "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]}}, **dry
        ),
        "may only allow egress to pods of this namespace",
    )  # fmt: skip
    refused_by_guard(
        lambda: net.delete_namespaced_network_policy("lab-isolation", ns, **dry),
        "cannot be changed or deleted from inside the lab",
    )
    # What stays allowed: a Service with a selector, a policy within the lab.
    core.create_namespaced_service(ns, svc, **dry)
    net.create_namespaced_network_policy(
        ns, {"metadata": {"name": "inside"},
             "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                      "egress": [{"to": [{"podSelector": {}}]}]}}, **dry
    )  # fmt: skip


def in_toolbox(lab: Lab, script: str) -> int:
    """Run ``script`` with bash in the lab's toolbox pod; its exit code."""
    core = k8s.CoreV1Api(Kube.for_cluster(lab.cluster).api_client)
    session = stream(
        core.connect_get_namespaced_pod_exec, manifests.TOOLBOX, lab.namespace,
        command=["bash", "-c", script], stdout=True, stderr=True, stdin=False, tty=False,
        _preload_content=False,
    )  # fmt: skip
    session.run_forever(timeout=60)
    return int(session.returncode)


@pytest.mark.skipif(
    SIMULATED, reason="the simulated cluster runs no containers: no pod network, no DNS"
)
def test_it_lets_lab_pods_reach_the_api_server_and_dns_and_nothing_else(
    contract_lab: Lab,
) -> None:
    admin = k8s.CoreV1Api(Kube.for_cluster(contract_lab.cluster).api_client)
    dns_pods = admin.list_namespaced_pod("kube-system", label_selector="k8s-app=kube-dns")
    ip = next(p.status.pod_ip for p in dns_pods.items if p.status.pod_ip)

    # kubectl in the toolbox talks to the API server through the egress policy.
    assert in_toolbox(contract_lab, "kubectl get pods >/dev/null") == 0
    # The same DNS pod answers a lab on 53 and not on its metrics port, 9153 (where the
    # Corefile of kubeadm, kind and the managed clouds serves Prometheus metrics).
    assert in_toolbox(contract_lab, f"timeout 5 bash -c '</dev/tcp/{ip}/53'") == 0
    assert in_toolbox(contract_lab, f"timeout 5 bash -c '</dev/tcp/{ip}/9153'") != 0


def test_it_refuses_a_role_beyond_the_trainees_own_rights(contract_lab: Lab) -> None:
    rbac = k8s.RbacAuthorizationV1Api(as_trainee(contract_lab))
    greedy = {
        "metadata": {"name": "greedy"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }

    with pytest.raises(ApiException) as caught:
        rbac.create_namespaced_role(contract_lab.namespace, greedy)

    assert caught.value.status == 403


def test_it_holds_the_trainee_to_the_quota(contract_lab: Lab) -> None:
    core = k8s.CoreV1Api(as_trainee(contract_lab))
    hungry = {
        "metadata": {"name": "hungry"},
        "spec": {
            "containers": [{
                "name": "c", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "64"}, "limits": {"cpu": "64"}},
            }]
        },
    }  # fmt: skip
    balancer = {
        "metadata": {"name": "public"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "selector": {"app": "x"}},
    }

    with pytest.raises(ApiException) as pod:
        core.create_namespaced_pod(contract_lab.namespace, hungry)
    with pytest.raises(ApiException) as service:
        core.create_namespaced_service(contract_lab.namespace, balancer)

    assert pod.value.status == 403
    assert "quota" in pod.value.body or "maximum" in pod.value.body
    assert service.value.status == 403


def test_it_leaves_nothing_behind(cohort: Cohort, contract_lab: Lab) -> None:
    provisioning.teardown(contract_lab.pk)
    kube = Kube.for_cluster(contract_lab.cluster)

    assert kube.get("v1", "Namespace", contract_lab.namespace) is None
    assert (
        kube.get(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            manifests.cluster_role_name(contract_lab.namespace),
        )
        is None
    )
    assert contract_lab.namespace not in provisioning.orphans(contract_lab.cluster, kube)

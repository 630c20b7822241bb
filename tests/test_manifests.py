"""A lab's objects, built without a cluster and checked against the Kubernetes schema."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest

from labs import manifests
from labs.profiles import PROFILES

SPEC = manifests.LabSpec(
    namespace="lab-spring-class-tina-7",
    cohort="spring-class",
    enrolment_id=7,
    installation="0123456789ab",
    cluster_id=3,
    profile=PROFILES["medium"],
    pod_security="restricted",
    toolbox_image="bitnami/kubectl:1.34",
    ingress_namespaces=("ingress-nginx",),
)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@pytest.mark.parametrize("obj", manifests.lab_objects(SPEC), ids=lambda o: o["kind"])
def test_it_builds_objects_the_kubernetes_schema_accepts(obj: dict) -> None:
    kubernetes_validate.validate(obj, "1.34.0", strict=True)


def test_it_builds_a_complete_lab_in_creation_order() -> None:
    kinds = [obj["kind"] for obj in manifests.lab_objects(SPEC)]

    assert kinds == [
        "Namespace", "ServiceAccount", "Secret", "Role", "RoleBinding", "ClusterRole",
        "ClusterRoleBinding", "ResourceQuota", "LimitRange", "NetworkPolicy", "Pod",
    ]  # fmt: skip


def test_it_labels_every_object_so_lotse_can_find_its_own() -> None:
    for obj in manifests.lab_objects(SPEC):
        labels = obj["metadata"]["labels"]
        assert labels[manifests.MANAGED_BY] == "lotse"
        assert labels[manifests.COHORT_LABEL] == "spring-class"
        assert labels[manifests.ENROLMENT_LABEL] == "7"
        assert labels[manifests.INSTALLATION_LABEL] == "0123456789ab"
        assert labels[manifests.CLUSTER_LABEL] == "3"


@pytest.mark.parametrize(
    ("cohort", "trainee", "enrolment_id", "expected"),
    [
        ("spring-class", "tina@example.com", 7, "lab-spring-class-tina-7"),
        (
            "K8s Spring 2026!",
            "Tina.Müller+k8s@Example.com",
            12,
            "lab-k8s-spring-2026-tina-m-ller-k8s-12",
        ),
        ("x" * 60, "y" * 60 + "@example.com", 123456, None),
        ("--", "@@", 1, "lab-x-x-1"),
    ],
)
def test_it_names_namespaces_as_valid_stable_dns_labels(
    cohort: str, trainee: str, enrolment_id: int, expected: str | None
) -> None:
    name = manifests.namespace_name(cohort, trainee, enrolment_id)

    assert DNS_LABEL.match(name)
    assert len(name) <= 63
    assert name.endswith(f"-{enrolment_id}")
    assert name == manifests.namespace_name(cohort, trainee, enrolment_id)
    if expected:
        assert name == expected


def test_it_sets_pod_security_admission_labels() -> None:
    labels = manifests.namespace(SPEC)["metadata"]["labels"]
    baseline = manifests.namespace(
        manifests.LabSpec(**{**SPEC.__dict__, "pod_security": "baseline"})
    )["metadata"]["labels"]

    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert baseline["pod-security.kubernetes.io/enforce"] == "baseline"
    assert baseline["pod-security.kubernetes.io/warn"] == "restricted"


def test_it_grants_nothing_that_escalates() -> None:
    rules = manifests.role(SPEC)["rules"]
    verbs = {verb for rule in rules for verb in rule["verbs"]}
    resources = {res for rule in rules for res in rule["resources"]}

    assert not {"escalate", "bind", "impersonate", "*"} & verbs
    assert "*" not in resources
    assert {"pods/exec", "pods/log", "roles", "rolebindings", "deployments"} <= resources


def test_it_lets_a_trainee_read_only_nodes_and_its_own_namespace_cluster_wide() -> None:
    rules = manifests.cluster_role(SPEC)["rules"]

    assert rules == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["lab-spring-class-tina-7"],
            "verbs": ["get", "watch"],
        },
    ]
    binding = manifests.cluster_role_binding(SPEC)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "trainee", "namespace": "lab-spring-class-tina-7"}
    ]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_it_forbids_load_balancers_and_limits_node_ports(profile: str) -> None:
    spec = manifests.LabSpec(**{**SPEC.__dict__, "profile": PROFILES[profile]})
    hard = manifests.resource_quota(spec)["spec"]["hard"]

    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == ("2" if profile == "large" else "0")
    assert int(hard["pods"]) >= 10


def test_it_gives_every_container_requests_and_limits_by_default() -> None:
    (limit,) = manifests.limit_range(SPEC)["spec"]["limits"]

    assert limit["type"] == "Container"
    assert set(limit["defaultRequest"]) == set(limit["default"]) == {"cpu", "memory"}


def test_it_shuts_out_other_namespaces_but_the_ingress_controller() -> None:
    policy = manifests.network_policy(SPEC)["spec"]

    assert policy["podSelector"] == {}
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    assert rule["from"][0] == {"podSelector": {}}
    assert rule["from"][1]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "ingress-nginx"
    ]


def test_it_builds_a_toolbox_that_restricted_pod_security_admits() -> None:
    pod = manifests.toolbox_pod(SPEC)["spec"]
    (container,) = pod["containers"]

    assert pod["serviceAccountName"] == "trainee"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == "bitnami/kubectl:1.34"
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_it_writes_a_namespace_scoped_kubeconfig() -> None:
    config = manifests.trainee_kubeconfig(
        SPEC, server="https://k8s.example:6443", ca_data="Q0E=", token="t0ken"
    )

    assert config["contexts"][0]["context"]["namespace"] == "lab-spring-class-tina-7"
    assert config["users"][0]["user"] == {"token": "t0ken"}
    assert config["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="

"""A lab's objects, built without a cluster and checked against the Kubernetes schema."""

from __future__ import annotations

import re
from dataclasses import replace

import kubernetes_validate
import pytest
from kubernetes.utils import parse_quantity

from labs import manifests
from labs.networks import Destination
from labs.profiles import DEFAULT_LIMIT, DEFAULT_REQUEST, PROFILES, TOOLBOX_LIMIT, TOOLBOX_REQUEST

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
    api_server=(Destination("172.18.0.2/32", 6443), Destination("fd00:10::2/128", 6443)),
    egress_allow=(Destination("203.0.113.0/24", 443), Destination("169.254.0.0/16")),
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
        assert labels[manifests.INSTALLATION_LABEL] == "0123456789ab"
        assert labels[manifests.COHORT_LABEL] == "spring-class"
        assert labels[manifests.ENROLMENT_LABEL] == "7"
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


@pytest.mark.parametrize("level", manifests.POD_SECURITY_LEVELS)
def test_it_warns_at_the_enforced_pod_security_level_and_audits_restricted(level: str) -> None:
    labels = manifests.namespace(replace(SPEC, pod_security=level))["metadata"]["labels"]

    assert {k: v for k, v in labels.items() if k.startswith("pod-security.")} == {
        "pod-security.kubernetes.io/enforce": level,
        "pod-security.kubernetes.io/warn": level,
        "pod-security.kubernetes.io/audit": "restricted",
    }


def test_it_grants_exactly_the_reviewed_rules() -> None:
    every = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    read = ["get", "list", "watch"]

    # The whole list, spelled out: a resource or verb added or dropped fails here, and
    # docs/labs.md's table has to follow.
    assert manifests.role(SPEC)["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims"],
            "verbs": every,
        },
        {"apiGroups": [""], "resources": ["endpoints"], "verbs": read},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["create", "get"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create", "get"]},
        {
            "apiGroups": [""],
            "resources": ["pods/ephemeralcontainers"],
            "verbs": ["get", "patch", "update"],
        },
        {
            "apiGroups": [""],
            "resources": ["events", "serviceaccounts", "resourcequotas", "limitranges"],
            "verbs": read,
        },
        {
            "apiGroups": ["apps"],
            "resources": [
                "deployments", "replicasets", "statefulsets", "daemonsets",
                "deployments/scale", "replicasets/scale", "statefulsets/scale",
            ],
            "verbs": every,
        },
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": every},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "networkpolicies"],
            "verbs": every,
        },
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": every},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": every,
        },
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read},
        {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": read},
    ]  # fmt: skip


def test_it_grants_nothing_that_escalates() -> None:
    rules = manifests.role(SPEC)["rules"]
    verbs = {verb for rule in rules for verb in rule["verbs"]}
    resources = {res for rule in rules for res in rule["resources"]}

    assert not {"escalate", "bind", "impersonate", "*"} & verbs
    assert "*" not in resources
    assert {"pods/exec", "pods/log", "roles", "rolebindings", "deployments"} <= resources


OWN_NAMESPACE = {
    "apiGroups": [""],
    "resources": ["namespaces"],
    "resourceNames": ["lab-spring-class-tina-7"],
    "verbs": ["get", "watch"],
}


def test_it_lets_a_trainee_read_only_nodes_and_its_own_namespace_cluster_wide() -> None:
    rules = manifests.cluster_role(SPEC)["rules"]

    assert rules == [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        OWN_NAMESPACE,
    ]
    binding = manifests.cluster_role_binding(SPEC)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "trainee", "namespace": "lab-spring-class-tina-7"}
    ]


def test_it_hides_the_nodes_where_a_cluster_says_so() -> None:
    rules = manifests.cluster_role(replace(SPEC, trainees_see_nodes=False))["rules"]

    assert rules == [OWN_NAMESPACE]


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_it_forbids_load_balancers_and_limits_node_ports(profile: str) -> None:
    hard = manifests.resource_quota(replace(SPEC, profile=PROFILES[profile]))["spec"]["hard"]

    assert hard["services.loadbalancers"] == "0"
    assert hard["services.nodeports"] == ("2" if profile == "large" else "0")
    assert int(hard["pods"]) >= 10


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_it_counts_ephemeral_storage_and_the_objects_that_fill_etcd(profile: str) -> None:
    p = PROFILES[profile]
    hard = manifests.resource_quota(replace(SPEC, profile=p))["spec"]["hard"]

    assert {
        key: hard[key]
        for key in [
            "requests.ephemeral-storage", "limits.ephemeral-storage", "count/secrets",
            "count/configmaps", "count/jobs.batch", "count/cronjobs.batch",
            "count/replicasets.apps", "count/deployments.apps",
        ]
    } == {
        "requests.ephemeral-storage": p.requests_ephemeral_storage,
        "limits.ephemeral-storage": p.limits_ephemeral_storage,
        "count/secrets": str(p.secrets),
        "count/configmaps": str(p.configmaps),
        "count/jobs.batch": str(p.jobs),
        "count/cronjobs.batch": str(p.cronjobs),
        "count/replicasets.apps": str(p.replicasets),
        "count/deployments.apps": str(p.deployments),
    }  # fmt: skip
    assert all(int(hard[key]) > 0 for key in hard if key.startswith("count/"))


def fits(profile: str) -> dict[str, int]:
    """How many containers with the LimitRange's defaults fit beside the toolbox, by each
    quantity the quota counts, and by its pod count (one container per pod)."""
    p = PROFILES[profile]
    quota = {
        ("requests", "cpu"): p.requests_cpu,
        ("requests", "memory"): p.requests_memory,
        ("requests", "ephemeral-storage"): p.requests_ephemeral_storage,
        ("limits", "cpu"): p.limits_cpu,
        ("limits", "memory"): p.limits_memory,
        ("limits", "ephemeral-storage"): p.limits_ephemeral_storage,
    }
    per_container = {"requests": p.default_request, "limits": p.default_limit}
    toolbox = {"requests": TOOLBOX_REQUEST, "limits": TOOLBOX_LIMIT}
    counts = {
        f"{kind}.{resource}": int(
            (parse_quantity(hard) - parse_quantity(toolbox[kind][resource]))
            // parse_quantity(per_container[kind][resource])
        )
        for (kind, resource), hard in quota.items()
    }
    counts["pods"] = p.pods - 1
    return counts


def test_it_fits_a_course_day_with_a_rolling_update_into_the_smallest_profile() -> None:
    # 15 containers of the day's exercises, and the one extra pod a 3-replica Deployment's
    # rolling update surges to (maxSurge 25%, rounded up).
    assert min(fits("small").values()) >= 15 + 1
    assert DEFAULT_REQUEST == {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"}
    assert DEFAULT_LIMIT == {"cpu": "250m", "memory": "256Mi", "ephemeral-storage": "256Mi"}


def test_it_sizes_medium_about_twice_and_large_about_four_times_small() -> None:
    small, medium, large = (min(fits(name).values()) for name in ("small", "medium", "large"))

    assert 1.8 * small <= medium <= 2.5 * small
    assert 3.6 * small <= large <= 5 * small


def test_it_gives_every_container_requests_and_limits_by_default() -> None:
    (limit,) = manifests.limit_range(SPEC)["spec"]["limits"]

    assert limit["type"] == "Container"
    assert limit["defaultRequest"] == DEFAULT_REQUEST
    assert limit["default"] == DEFAULT_LIMIT
    assert set(limit["defaultRequest"]) == {"cpu", "memory", "ephemeral-storage"}


def test_it_shuts_out_other_namespaces_but_the_ingress_controller() -> None:
    policy = manifests.network_policy(SPEC)["spec"]

    assert policy["podSelector"] == {}
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (rule,) = policy["ingress"]
    assert rule["from"][0] == {"podSelector": {}}
    assert rule["from"][1]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "ingress-nginx"
    ]


def test_it_lets_lab_pods_reach_only_their_lab_dns_the_api_server_and_the_allow_list() -> None:
    egress = manifests.network_policy(SPEC)["spec"]["egress"]

    assert egress == [
        {"to": [{"podSelector": {}}]},
        {
            "to": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                    },
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {
            "to": [
                {"ipBlock": {"cidr": "172.18.0.2/32"}},
                {"ipBlock": {"cidr": "fd00:10::2/128"}},
            ],
            "ports": [{"protocol": "TCP", "port": 6443}],
        },
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "UDP", "port": 443}],
        },
        # A block around the cloud metadata service never includes it.
        {"to": [{"ipBlock": {"cidr": "169.254.0.0/16", "except": ["169.254.169.254/32"]}}]},
    ]


def test_it_opens_no_egress_beyond_the_lab_and_dns_without_destinations() -> None:
    bare = replace(SPEC, api_server=(), egress_allow=())
    egress = manifests.network_policy(bare)["spec"]["egress"]

    peers = [peer for rule in egress for peer in rule["to"]]
    assert not [peer for peer in peers if "ipBlock" in peer]
    assert len(egress) == 2


def test_it_builds_a_toolbox_that_restricted_pod_security_admits() -> None:
    pod = manifests.toolbox_pod(SPEC)["spec"]
    (container,) = pod["containers"]

    assert pod["serviceAccountName"] == "trainee"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == "bitnami/kubectl:1.34"
    assert container["resources"] == {"requests": TOOLBOX_REQUEST, "limits": TOOLBOX_LIMIT}
    assert {"cpu", "memory", "ephemeral-storage"} <= set(container["resources"]["limits"])


def test_it_writes_a_namespace_scoped_kubeconfig() -> None:
    config = manifests.trainee_kubeconfig(
        SPEC, server="https://k8s.example:6443", ca_data="Q0E=", token="t0ken"
    )

    assert config["contexts"][0]["context"]["namespace"] == "lab-spring-class-tina-7"
    assert config["users"][0]["user"] == {"token": "t0ken"}
    assert config["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="

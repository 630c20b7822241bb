"""The Kubernetes objects of one lab, built by pure functions that return dicts.

Nothing here talks to a cluster: ``lab_objects`` says what a complete lab is, and the
provisioning code makes the cluster match it. The functions are tested against the
Kubernetes OpenAPI schema without any server.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from labs.networks import Destination, egress_rules
from labs.profiles import TOOLBOX_LIMIT, TOOLBOX_REQUEST, Profile

MANAGED_BY = "app.kubernetes.io/managed-by"
COHORT_LABEL = "lotse.io/cohort"
ENROLMENT_LABEL = "lotse.io/enrolment"
INSTALLATION_LABEL = "lotse.io/installation"  # labs.models.installation_key()
CLUSTER_LABEL = "lotse.io/cluster"  # the pk of the Cluster row the lab is on
KUBECONFIG_ANCHOR = "lotse-kubeconfig-anchor"  # the Secret downloaded tokens are bound to
TRAINEE = "trainee"  # the ServiceAccount, Role and RoleBinding of every lab
TOOLBOX = "toolbox"
TOOLBOX_UID = 1001
POD_SECURITY_LEVELS = ("restricted", "baseline")

# What the exercises need inside the namespace, and nothing cluster-wide: the reviewed,
# complete list (tests/test_manifests.py spells it out; docs/labs.md has it as a table).
# Creating Roles and RoleBindings is safe to grant: the API server refuses any that would
# give more than the trainee already has (no `escalate` or `bind` verbs here), and the
# admission policy (labs.admission) refuses subjects outside the lab.
ALL = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
READ = ["get", "list", "watch"]
ROLE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "configmaps", "secrets", "persistentvolumeclaims"],
        "verbs": ALL,
    },
    # Hand-written Endpoints would let a selector-less Service point anywhere (CVE-2021-25740).
    {"apiGroups": [""], "resources": ["endpoints"], "verbs": READ},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    # kubectl exec; kubectl run --rm -it and attach; kubectl port-forward; kubectl debug.
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
        "verbs": READ,
    },
    {
        "apiGroups": ["apps"],
        "resources": [
            "deployments", "replicasets", "statefulsets", "daemonsets",
            "deployments/scale", "replicasets/scale", "statefulsets/scale",
        ],
        "verbs": ALL,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ALL},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "networkpolicies"],
        "verbs": ALL,
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ALL},
    {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["roles", "rolebindings"],
        "verbs": ALL,
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": READ},
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": READ},
]  # fmt: skip
# Where cluster DNS answers: kube-dns (CoreDNS) pods in kube-system, as kubeadm, kind and
# the managed clouds label them.
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}


@dataclass(frozen=True)
class LabSpec:
    """Everything that decides a lab's objects."""

    namespace: str
    cohort: str  # the cohort's slug
    enrolment_id: int
    installation: str  # labs.models.installation_key(): which Lotse owns the lab
    cluster_id: int
    profile: Profile
    pod_security: str
    toolbox_image: str
    ingress_namespaces: tuple[str, ...] = ()
    # Where the lab's pods may connect beyond their namespace and cluster DNS: the API
    # server (for kubectl in the toolbox) and the cluster's allow-list.
    api_server: tuple[Destination, ...] = ()
    egress_allow: tuple[Destination, ...] = ()
    trainees_see_nodes: bool = True

    @property
    def labels(self) -> dict[str, str]:
        return {
            MANAGED_BY: "lotse",
            INSTALLATION_LABEL: self.installation,
            CLUSTER_LABEL: str(self.cluster_id),
            COHORT_LABEL: self.cohort,
            ENROLMENT_LABEL: str(self.enrolment_id),
        }

    @property
    def cluster_role(self) -> str:
        return cluster_role_name(self.namespace)


def cluster_role_name(namespace: str) -> str:
    """The ClusterRole (and ClusterRoleBinding) of the lab in ``namespace``."""
    return f"lotse:lab:{namespace}"


def _dns_part(text: str, limit: int) -> str:
    part = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return part[:limit].strip("-") or "x"


def namespace_name(cohort_slug: str, trainee: str, enrolment_id: int) -> str:
    """A valid DNS label, unique (it ends in the enrolment's id) and stable: it depends only
    on what never changes for an enrolment."""
    local = trainee.split("@")[0]
    return f"lab-{_dns_part(cohort_slug, 24)}-{_dns_part(local, 20)}-{enrolment_id}"


def _meta(spec: LabSpec, name: str, *, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(spec.labels)}
    if namespaced:
        meta["namespace"] = spec.namespace
    return meta


def namespace(spec: LabSpec) -> dict[str, Any]:
    labels = dict(spec.labels)
    labels["pod-security.kubernetes.io/enforce"] = spec.pod_security
    # Warnings at the level the cohort enforces: a beginner reads a warning on every apply
    # as an error, and the course chose its level on purpose. The cluster's audit log still
    # records what restricted would refuse.
    labels["pod-security.kubernetes.io/warn"] = spec.pod_security
    labels["pod-security.kubernetes.io/audit"] = "restricted"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.namespace, "labels": labels},
    }


def service_account(spec: LabSpec) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(spec, TRAINEE)}


def kubeconfig_anchor(spec: LabSpec) -> dict[str, Any]:
    """An empty Secret that every downloaded kubeconfig token is bound to: the API server
    stops accepting those tokens once it is deleted, which teardown and reset do first."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _meta(spec, KUBECONFIG_ANCHOR),
    }


def role(spec: LabSpec) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta(spec, TRAINEE),
        "rules": ROLE_RULES,
    }


def role_binding(spec: LabSpec) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(spec, TRAINEE),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": TRAINEE},
        "subjects": [{"kind": "ServiceAccount", "name": TRAINEE, "namespace": spec.namespace}],
    }


def cluster_role(spec: LabSpec) -> dict[str, Any]:
    """The lab's own Namespace object and, where the cluster allows it, reading nodes: all
    a trainee sees of the cluster."""
    rules: list[dict[str, Any]] = []
    if spec.trainees_see_nodes:
        rules.append({"apiGroups": [""], "resources": ["nodes"], "verbs": READ})
    rules.append(
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": [spec.namespace],
            "verbs": ["get", "watch"],
        }
    )
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _meta(spec, spec.cluster_role, namespaced=False),
        "rules": rules,
    }


def cluster_role_binding(spec: LabSpec) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": _meta(spec, spec.cluster_role, namespaced=False),
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": spec.cluster_role,
        },
        "subjects": [{"kind": "ServiceAccount", "name": TRAINEE, "namespace": spec.namespace}],
    }


def resource_quota(spec: LabSpec) -> dict[str, Any]:
    p = spec.profile
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(spec, "lab"),
        "spec": {
            "hard": {
                "requests.cpu": p.requests_cpu,
                "requests.memory": p.requests_memory,
                "limits.cpu": p.limits_cpu,
                "limits.memory": p.limits_memory,
                "requests.ephemeral-storage": p.requests_ephemeral_storage,
                "limits.ephemeral-storage": p.limits_ephemeral_storage,
                "pods": str(p.pods),
                "services": str(p.services),
                "services.loadbalancers": "0",
                "services.nodeports": str(p.node_ports),
                "persistentvolumeclaims": str(p.claims),
                "requests.storage": p.storage,
                "count/secrets": str(p.secrets),
                "count/configmaps": str(p.configmaps),
                "count/deployments.apps": str(p.deployments),
                "count/replicasets.apps": str(p.replicasets),
                "count/jobs.batch": str(p.jobs),
                "count/cronjobs.batch": str(p.cronjobs),
            }
        },
    }


def limit_range(spec: LabSpec) -> dict[str, Any]:
    p = spec.profile
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(spec, "lab"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "defaultRequest": dict(p.default_request),
                    "default": dict(p.default_limit),
                    "max": {"cpu": p.container_max_cpu, "memory": p.container_max_memory},
                }
            ]
        },
    }


def network_policy(spec: LabSpec) -> dict[str, Any]:
    """Both directions, for every pod of the lab.

    Ingress only from the lab's own pods and from the named namespaces (the ingress
    controller's); every other namespace, other labs included, is shut out. Egress only to
    the lab's own pods, cluster DNS, the API server and the cluster's allow-list: no cloud
    metadata, no other namespace, nothing on the internet. Policies add up, so the admission
    policy (labs.admission) keeps trainees from adding egress of their own or changing this
    one."""
    sources: list[dict[str, Any]] = [{"podSelector": {}}]
    if spec.ingress_namespaces:
        sources.append(
            {
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": list(spec.ingress_namespaces),
                        }
                    ]
                }
            }
        )
    dns = {
        "to": [
            {
                "namespaceSelector": {
                    "matchLabels": {"kubernetes.io/metadata.name": DNS_NAMESPACE}
                },
                "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }
    egress = [
        {"to": [{"podSelector": {}}]},
        dns,
        *egress_rules(spec.api_server, protocols=("TCP",)),
        *egress_rules(spec.egress_allow),
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(spec, "lab-isolation"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": sources}],
            "egress": egress,
        },
    }


def toolbox_pod(spec: LabSpec) -> dict[str, Any]:
    """The trainee's shell: kubectl as the lab's ServiceAccount, non-root, fit for the
    restricted Pod Security level."""
    meta = _meta(spec, TOOLBOX)
    meta["labels"]["app.kubernetes.io/name"] = "lotse-toolbox"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {
            "serviceAccountName": TRAINEE,
            "automountServiceAccountToken": True,
            "terminationGracePeriodSeconds": 5,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": TOOLBOX_UID,
                "runAsGroup": TOOLBOX_UID,
                "fsGroup": TOOLBOX_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": TOOLBOX,
                    "image": spec.toolbox_image,
                    # Keep the pod alive for exec sessions; exit at once on SIGTERM.
                    "command": ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep infinity & wait"],
                    "env": [{"name": "HOME", "value": "/home/trainee"}],
                    "workingDir": "/home/trainee",
                    "stdin": True,
                    "tty": True,
                    "resources": {
                        "requests": dict(TOOLBOX_REQUEST),
                        "limits": dict(TOOLBOX_LIMIT),
                    },
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "readOnlyRootFilesystem": True,
                    },
                    "volumeMounts": [
                        {"name": "home", "mountPath": "/home/trainee"},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [
                {"name": "home", "emptyDir": {"sizeLimit": "100Mi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "100Mi"}},
            ],
        },
    }


def lab_objects(spec: LabSpec) -> list[dict[str, Any]]:
    """Every object of a complete lab, in the order they are created (the namespace
    first, the toolbox pod last, once quota and limits can admit it)."""
    return [
        namespace(spec),
        service_account(spec),
        kubeconfig_anchor(spec),
        role(spec),
        role_binding(spec),
        cluster_role(spec),
        cluster_role_binding(spec),
        resource_quota(spec),
        limit_range(spec),
        network_policy(spec),
        toolbox_pod(spec),
    ]


def trainee_kubeconfig(spec: LabSpec, *, server: str, ca_data: str | None, token: str) -> dict:
    """A kubeconfig for the trainee's own laptop: their ServiceAccount's short-lived token,
    their namespace as the default."""
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = ca_data
    name = f"lotse-{spec.namespace}"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": name, "namespace": spec.namespace},
            }
        ],
        "current-context": name,
    }

"""The lab guard: a ValidatingAdmissionPolicy and its binding, for what RBAC cannot say.

RBAC grants a verb on a resource; it cannot refuse a Service with ``externalIPs``, a
RoleBinding to ``system:authenticated`` or a pod that tolerates the control plane's taint.
The policy does (admissionregistration.k8s.io/v1, Kubernetes 1.30 and later), for requests
made by ServiceAccounts of a lab's own namespace — the only identities a trainee acts
through (the toolbox, a downloaded kubeconfig, pods they run) — in namespaces that carry
this installation's labels. Lotse's own requests, the cluster's controllers and its admins
are not matched. Everything here is a pure function returning dicts; provisioning installs
them, and the admin's connection test compares their digest with the installed one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from labs.manifests import INSTALLATION_LABEL, MANAGED_BY

API_VERSION = "admissionregistration.k8s.io/v1"
DIGEST_ANNOTATION = "lotse.io/policy-digest"
CONTROL_PLANE_TAINTS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets", "jobs")

CURRENT = "installed and current"
OUTDATED = "outdated"
MISSING = "not installed"


def _lotse_labelled(var: str) -> str:
    return (
        f"has({var}.metadata.labels) && '{MANAGED_BY}' in {var}.metadata.labels"
        f" && {var}.metadata.labels['{MANAGED_BY}'] == 'lotse'"
    )


def _exactly(selector: str, labels: dict[str, str]) -> str:
    """A CEL test that a label selector is exactly ``matchLabels: labels``."""
    literal = "{" + ", ".join(f"'{k}': '{v}'" for k, v in labels.items()) + "}"
    return (
        f"has({selector}.matchLabels) && {selector}.matchLabels == {literal}"
        f" && (!has({selector}.matchExpressions) || size({selector}.matchExpressions) == 0)"
    )


# The pod spec of whatever is admitted, or {} for kinds that have none. Kubernetes
# evaluates ``object`` dynamically, so one expression serves every kind.
POD_SPEC = (
    "request.resource.resource == 'pods' ? object.spec"
    " : request.resource.resource == 'cronjobs' ? object.spec.jobTemplate.spec.template.spec"
    f" : request.resource.resource in {list(WORKLOADS)!r} ? object.spec.template.spec"
    " : {}"
)
# A peer that reaches cluster DNS exactly as Lotse's own policy allows it (so it widens
# nothing): kube-dns pods in kube-system. Tutorials write it after a default deny.
_DNS_PEER = " && ".join(
    [
        _exactly("p.namespaceSelector", {"kubernetes.io/metadata.name": "kube-system"}),
        _exactly("p.podSelector", {"k8s-app": "kube-dns"}),
    ]
)

# (name, expression, message): each message is what the trainee reads after "denied request:".
RULES: list[tuple[str, str, str]] = [
    (
        "service-external-ips",
        "request.resource.resource != 'services' || !has(object.spec.externalIPs)"
        " || size(object.spec.externalIPs) == 0",
        "Services in a lab may not set spec.externalIPs: they would capture traffic meant for "
        "addresses outside the lab.",
    ),
    (
        "service-external-name",
        "request.resource.resource != 'services' || !has(object.spec.type)"
        " || object.spec.type != 'ExternalName'",
        "Services of type ExternalName are not allowed in a lab: give the Service a selector "
        "for your own pods instead.",
    ),
    (
        "secret-token",
        "request.resource.resource != 'secrets' || !has(object.type)"
        " || object.type != 'kubernetes.io/service-account-token'",
        "Secrets of type kubernetes.io/service-account-token are not allowed in a lab: such a "
        "token never expires.",
    ),
    (
        "rolebinding-subjects",
        "request.resource.resource != 'rolebindings' || !has(object.subjects)"
        " || object.subjects.all(s, s.kind == 'ServiceAccount'"
        " && (!has(s.namespace) || s.namespace == '' || s.namespace == request.namespace))",
        "RoleBindings in a lab may only bind ServiceAccounts of this namespace: no users, no "
        "groups, no other namespaces.",
    ),
    (
        "pod-node-name",
        # The scheduler sets nodeName through the binding subresource; a later update of the
        # pod (a label, say) carries it unchanged, and that is not the trainee choosing.
        "!has(variables.podSpec.nodeName) || variables.podSpec.nodeName == ''"
        " || (request.operation == 'UPDATE' && request.resource.resource == 'pods'"
        " && has(oldObject.spec.nodeName) && oldObject.spec.nodeName == object.spec.nodeName)",
        "Pods in a lab may not pick their node with spec.nodeName: the scheduler places them "
        "(a nodeSelector or affinity is fine).",
    ),
    (
        "pod-tolerations",
        "!has(variables.podSpec.tolerations) || variables.podSpec.tolerations.all(t,"
        f" has(t.key) && t.key != '' && !(t.key in {list(CONTROL_PLANE_TAINTS)!r}))",
        "Pods in a lab may only tolerate a taint by its key, and never the control plane's "
        "(node-role.kubernetes.io/control-plane or node-role.kubernetes.io/master).",
    ),
    (
        "networkpolicy-egress",
        "request.resource.resource != 'networkpolicies' || request.operation == 'DELETE'"
        " || !has(object.spec.egress) || object.spec.egress.all(r, has(r.to) && size(r.to) > 0"
        " && r.to.all(p, !has(p.ipBlock) && has(p.podSelector)"
        f" && (!has(p.namespaceSelector) || ({_DNS_PEER}))))",
        "NetworkPolicies in a lab may only allow egress to pods of this namespace (and to "
        "cluster DNS): every egress rule needs a 'to' of podSelectors, without ipBlock or "
        "namespaceSelector.",
    ),
    (
        "networkpolicy-lotse",
        "request.resource.resource != 'networkpolicies'"
        " || ((request.operation == 'CREATE' || !variables.oldIsLotse)"
        " && (request.operation == 'DELETE' || !variables.newIsLotse))",
        "NetworkPolicies labelled app.kubernetes.io/managed-by=lotse keep the lab isolated: "
        "they cannot be changed or deleted from inside the lab, and your own may not carry "
        "that label.",
    ),
]

VARIABLES: list[tuple[str, str]] = [
    ("podSpec", POD_SPEC),
    ("oldIsLotse", f"request.operation != 'CREATE' && {_lotse_labelled('oldObject')}"),
    ("newIsLotse", f"request.operation != 'DELETE' && {_lotse_labelled('object')}"),
]

# Only a lab's own ServiceAccounts: its trainee, and the pods that trainee runs.
MATCH_CONDITIONS: list[tuple[str, str]] = [
    (
        "lab-service-accounts",
        "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace + ':')",
    ),
]

_WRITE = ["CREATE", "UPDATE"]
RESOURCE_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "apiVersions": ["v1"], "operations": _WRITE,
     "resources": ["pods", "services", "secrets"]},
    {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": _WRITE,
     "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"]},
    {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": _WRITE,
     "resources": ["jobs", "cronjobs"]},
    {"apiGroups": ["rbac.authorization.k8s.io"], "apiVersions": ["v1"], "operations": _WRITE,
     "resources": ["rolebindings"]},
    {"apiGroups": ["networking.k8s.io"], "apiVersions": ["v1"],
     "operations": [*_WRITE, "DELETE"], "resources": ["networkpolicies"]},
]  # fmt: skip


def policy_name(installation: str) -> str:
    """The policy's (and its binding's) name: one pair per installation on a cluster."""
    return f"lotse-lab-guard-{installation}"


def digest(spec: dict[str, Any]) -> str:
    """sha256 of the spec's canonical JSON: what "installed and current" compares."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _object(kind: str, installation: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": kind,
        "metadata": {
            "name": policy_name(installation),
            "labels": {MANAGED_BY: "lotse", INSTALLATION_LABEL: installation},
            "annotations": {DIGEST_ANNOTATION: digest(spec)},
        },
        "spec": spec,
    }


def policy(installation: str) -> dict[str, Any]:
    spec = {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": RESOURCE_RULES},
        "matchConditions": [{"name": n, "expression": e} for n, e in MATCH_CONDITIONS],
        "variables": [{"name": n, "expression": e} for n, e in VARIABLES],
        "validations": [
            {"expression": expression, "message": message, "reason": "Forbidden"}
            for _, expression, message in RULES
        ],
    }
    return _object("ValidatingAdmissionPolicy", installation, spec)


def binding(installation: str) -> dict[str, Any]:
    """Binds the policy to the namespaces of this installation's labs, and only those."""
    spec = {
        "policyName": policy_name(installation),
        "validationActions": ["Deny"],
        "matchResources": {
            "namespaceSelector": {
                "matchLabels": {MANAGED_BY: "lotse", INSTALLATION_LABEL: installation}
            }
        },
    }
    return _object("ValidatingAdmissionPolicyBinding", installation, spec)


def guard_objects(installation: str) -> list[dict[str, Any]]:
    """What provisioning installs on a cluster, in order: the policy, then its binding."""
    return [policy(installation), binding(installation)]


def guard_status(installed: list[dict[str, Any] | None], installation: str) -> str:
    """CURRENT, OUTDATED or MISSING, from the objects a cluster holds under the guard's names
    (None where it has none), in ``guard_objects`` order. Without both the policy is not
    enforced at all; with both, their digest annotations must match today's specs."""
    if any(obj is None for obj in installed):
        return MISSING
    for wanted, found in zip(guard_objects(installation), installed, strict=True):
        annotations = ((found or {}).get("metadata") or {}).get("annotations") or {}
        if (
            annotations.get(DIGEST_ANNOTATION)
            != wanted["metadata"]["annotations"][DIGEST_ANNOTATION]
        ):
            return OUTDATED
    return CURRENT

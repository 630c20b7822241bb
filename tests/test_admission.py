"""The lab guard (labs/admission.py): its CEL evaluated with cel-python against allowed and
refused objects, the way the API server evaluates a ValidatingAdmissionPolicy; its objects
against the Kubernetes schema; its installation by provisioning."""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Any

import celpy
import kubernetes_validate
import pytest
from celpy import celtypes

from courseware.models import Cohort
from labs import admission, manifests, provisioning
from labs.kube import ClusterError
from labs.models import Cluster, Lab, installation_key
from labs.profiles import PROFILES
from simcluster import KubeStandIn
from tests.factories import enrol, kube_for

KEY = "0a1b2c3d4e5f"
NAMESPACE = "lab-spring-class-tina-7"
OTHER_LAB = "lab-spring-class-ben-8"
TRAINEE = f"system:serviceaccount:{NAMESPACE}:trainee"
LAB_LABELS = {manifests.MANAGED_BY: "lotse", manifests.INSTALLATION_LABEL: KEY}
GROUPS = {
    "pods": ("", "v1"), "services": ("", "v1"), "secrets": ("", "v1"),
    "configmaps": ("", "v1"), "deployments": ("apps", "v1"), "replicasets": ("apps", "v1"),
    "statefulsets": ("apps", "v1"), "daemonsets": ("apps", "v1"), "jobs": ("batch", "v1"),
    "cronjobs": ("batch", "v1"), "rolebindings": ("rbac.authorization.k8s.io", "v1"),
    "networkpolicies": ("networking.k8s.io", "v1"),
}  # fmt: skip


# -- the harness: a ValidatingAdmissionPolicy as the API server applies it ------------------


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    message: str = ""  # the failed validation's message
    error: str = ""  # an expression that did not evaluate (failurePolicy Fail: denied)


_ENV = celpy.Environment()


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    program = _ENV.program(_ENV.compile(expression))
    return program.evaluate(activation)


def _matches_rules(rules: list[dict[str, Any]], resource: str, operation: str) -> bool:
    group, version = GROUPS[resource]
    return any(
        group in rule["apiGroups"]
        and version in rule["apiVersions"]
        and resource in rule["resources"]
        and operation in rule["operations"]
        for rule in rules
    )


def admit(
    resource: str,
    obj: dict[str, Any] | None,
    *,
    operation: str = "CREATE",
    old: dict[str, Any] | None = None,
    user: str = TRAINEE,
    namespace_labels: dict[str, str] | None = None,
    policy: dict[str, Any] | None = None,
    binding: dict[str, Any] | None = None,
) -> Verdict:
    """What the API server answers to one request in a namespace: the policy applies when its
    resource rules and the binding's namespace selector match and every matchCondition
    holds; then a validation that is false denies with its message, and one that fails to
    evaluate denies too (failurePolicy Fail). Variables are evaluated first; one that fails
    is left out, so only the expressions that use it fail, as with the server's lazy ones."""
    policy = policy or admission.policy(KEY)
    binding = binding or admission.binding(KEY)
    spec, binding_spec = policy["spec"], binding["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert binding_spec["policyName"] == policy["metadata"]["name"]
    assert binding_spec["validationActions"] == ["Deny"]
    labels = LAB_LABELS if namespace_labels is None else namespace_labels
    selector = binding_spec["matchResources"]["namespaceSelector"]
    assert set(selector) == {"matchLabels"}  # the only selector form this harness reads
    if not _matches_rules(spec["matchConstraints"]["resourceRules"], resource, operation):
        return Verdict(True)
    if any(labels.get(k) != v for k, v in selector["matchLabels"].items()):
        return Verdict(True)
    group, version = GROUPS[resource]
    name = ((obj or old or {}).get("metadata") or {}).get("name", "")
    request = {
        "operation": operation,
        "namespace": NAMESPACE,
        "name": name,
        "resource": {"group": group, "version": version, "resource": resource},
        "userInfo": {"username": user, "groups": ["system:authenticated"]},
    }
    namespace_object = {"metadata": {"name": NAMESPACE, "labels": labels}}
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(obj),
        "oldObject": celpy.json_to_cel(old),
        "request": celpy.json_to_cel(request),
        "namespaceObject": celpy.json_to_cel(namespace_object),
        "params": None,
    }
    for condition in spec.get("matchConditions", []):
        try:
            if not evaluate(condition["expression"], activation):
                return Verdict(True)
        except celpy.CELEvalError as exc:
            return Verdict(False, error=f"{condition['name']}: {exc}")
    variables = celtypes.MapType()
    activation["variables"] = variables
    for variable in spec.get("variables", []):
        with contextlib.suppress(celpy.CELEvalError):
            variables[celtypes.StringType(variable["name"])] = evaluate(
                variable["expression"], activation
            )
    for validation in spec["validations"]:
        try:
            result = evaluate(validation["expression"], activation)
        except celpy.CELEvalError as exc:
            return Verdict(False, error=f"{validation['expression']}: {exc}")
        assert isinstance(result, celtypes.BoolType), validation["expression"]
        if not result:
            return Verdict(False, message=validation["message"])
    return Verdict(True)


def refused(message_part: str) -> Verdict:
    """The verdict for a refusal whose message contains ``message_part`` (see ``same``)."""
    return Verdict(False, message=message_part)


def same(verdict: Verdict, expected: Verdict) -> bool:
    if expected.allowed or verdict.allowed:
        return verdict == expected
    return not verdict.error and expected.message in verdict.message


ALLOWED = Verdict(True)


# -- sample objects --------------------------------------------------------------------------


def meta(name: str, **labels: str) -> dict[str, Any]:
    found: dict[str, Any] = {"name": name, "namespace": NAMESPACE}
    if labels:
        found["labels"] = labels
    return found


def pod_spec(**extra: Any) -> dict[str, Any]:
    return {"containers": [{"name": "web", "image": "nginx:1.27"}], **extra}


def service(**spec: Any) -> dict[str, Any]:
    body = {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta("web"), "spec": body}


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta("s"), **fields}


def role_binding(*subjects: dict[str, str]) -> dict[str, Any]:
    binding: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": meta("share"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "trainee"},
    }
    if subjects:
        binding["subjects"] = list(subjects)
    return binding


def workload(resource: str, spec: dict[str, Any]) -> dict[str, Any]:
    """An object of ``resource`` whose pods run ``spec``."""
    template = {"metadata": {"labels": {"app": "web"}}, "spec": spec}
    selector = {"matchLabels": {"app": "web"}}
    kinds = {
        "pods": ("v1", "Pod"), "deployments": ("apps/v1", "Deployment"),
        "replicasets": ("apps/v1", "ReplicaSet"), "statefulsets": ("apps/v1", "StatefulSet"),
        "daemonsets": ("apps/v1", "DaemonSet"), "jobs": ("batch/v1", "Job"),
        "cronjobs": ("batch/v1", "CronJob"),
    }  # fmt: skip
    api_version, kind = kinds[resource]
    if resource == "pods":
        body = spec
    elif resource == "jobs":
        body = {"template": template}
    elif resource == "cronjobs":
        body = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        body = {"selector": selector, "template": template}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta("web"), "spec": body}


def network_policy(*egress: dict[str, Any], **labels: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Ingress", "Egress"] if egress else ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
    }
    if egress:
        spec["egress"] = list(egress)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta("mine", **labels),
        "spec": spec,
    }


DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
WORKLOADS = ["pods", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs"]
LOTSE_SPEC = manifests.LabSpec(
    namespace=NAMESPACE, cohort="spring-class", enrolment_id=7, profile=PROFILES["small"],
    pod_security="baseline", toolbox_image="bitnami/kubectl:1.34", installation=KEY,
    cluster_id=1, ingress_namespaces=("ingress-nginx",),
)  # fmt: skip


# -- the rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (service(), ALLOWED),
        (service(type="NodePort"), ALLOWED),
        (service(externalIPs=[]), ALLOWED),
        (service(externalIPs=["203.0.113.7"]), refused("may not set spec.externalIPs")),
        (
            {**service(type="ExternalName", externalName="db.other-lab.svc.cluster.local")},
            refused("Services of type ExternalName are not allowed"),
        ),
    ],
    ids=["cluster-ip", "node-port", "no-external-ips", "external-ips", "external-name"],
)
def test_it_refuses_services_that_hijack_traffic(obj: dict, expected: Verdict) -> None:
    assert same(admit("services", obj), expected)
    assert same(admit("services", obj, operation="UPDATE", old=service()), expected)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (secret(), ALLOWED),
        (secret(type="Opaque", stringData={"password": "x"}), ALLOWED),
        (secret(type="kubernetes.io/tls"), ALLOWED),
        (
            secret(
                type="kubernetes.io/service-account-token",
                metadata={**meta("forever"), "annotations": {
                    "kubernetes.io/service-account.name": "trainee"}},
            ),
            refused("kubernetes.io/service-account-token are not allowed"),
        ),
    ],
    ids=["untyped", "opaque", "tls", "service-account-token"],
)  # fmt: skip
def test_it_refuses_token_secrets_that_never_expire(obj: dict, expected: Verdict) -> None:
    assert same(admit("secrets", obj), expected)


ONLY_OWN = "may only bind ServiceAccounts of this namespace"


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        ((), ALLOWED),
        (({"kind": "ServiceAccount", "name": "trainee", "namespace": NAMESPACE},), ALLOWED),
        (({"kind": "ServiceAccount", "name": "default"},), ALLOWED),
        (
            (
                {"kind": "ServiceAccount", "name": "trainee", "namespace": NAMESPACE},
                {"kind": "ServiceAccount", "name": "default", "namespace": NAMESPACE},
            ),
            ALLOWED,
        ),
        (
            ({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
              "name": "system:unauthenticated"},),
            refused(ONLY_OWN),
        ),
        (
            ({"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
              "name": "system:authenticated"},),
            refused(ONLY_OWN),
        ),
        (
            ({"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "eve"},),
            refused(ONLY_OWN),
        ),
        (
            (
                {"kind": "ServiceAccount", "name": "trainee", "namespace": NAMESPACE},
                {"kind": "ServiceAccount", "name": "trainee", "namespace": OTHER_LAB},
            ),
            refused(ONLY_OWN),
        ),
    ],
    ids=["none", "own-trainee", "own-default-implicit", "two-own", "unauthenticated",
         "authenticated", "user", "other-lab"],
)  # fmt: skip
def test_it_lets_rolebindings_name_only_the_labs_own_service_accounts(
    subjects: tuple[dict[str, str], ...], expected: Verdict
) -> None:
    assert same(admit("rolebindings", role_binding(*subjects)), expected)


NODE_NAME = "may not pick their node"
TOLERATION = "may only tolerate a taint by its key"


@pytest.mark.parametrize("resource", WORKLOADS)
@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (pod_spec(), ALLOWED),
        (pod_spec(nodeSelector={"kubernetes.io/os": "linux"}), ALLOWED),
        (pod_spec(nodeName="control-plane-1"), refused(NODE_NAME)),
        (pod_spec(nodeName=""), ALLOWED),
        (
            pod_spec(tolerations=[
                {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
            ]),
            ALLOWED,
        ),
        (pod_spec(tolerations=[{"operator": "Exists"}]), refused(TOLERATION)),
        (pod_spec(tolerations=[{"key": "", "operator": "Exists"}]), refused(TOLERATION)),
        (
            pod_spec(tolerations=[{"key": "node-role.kubernetes.io/control-plane",
                                   "operator": "Exists", "effect": "NoSchedule"}]),
            refused(TOLERATION),
        ),
        (
            pod_spec(tolerations=[{"key": "node-role.kubernetes.io/master",
                                   "operator": "Exists", "effect": "NoSchedule"}]),
            refused(TOLERATION),
        ),
    ],
    ids=["plain", "node-selector", "node-name", "empty-node-name", "named-tolerations",
         "tolerate-everything", "tolerate-empty-key", "control-plane", "master"],
)  # fmt: skip
def test_it_keeps_pods_off_nodes_they_may_not_choose(
    resource: str, spec: dict, expected: Verdict
) -> None:
    assert same(admit(resource, workload(resource, spec)), expected)


def test_it_lets_a_trainee_label_a_pod_the_scheduler_placed() -> None:
    scheduled = workload("pods", pod_spec(nodeName="worker-1"))
    labelled = copy.deepcopy(scheduled)
    labelled["metadata"]["labels"] = {"tier": "front"}

    assert admit("pods", labelled, operation="UPDATE", old=scheduled) == ALLOWED


def test_it_refuses_a_control_plane_toleration_added_by_an_update() -> None:
    scheduled = workload("pods", pod_spec(nodeName="worker-1"))
    widened = workload(
        "pods",
        pod_spec(
            nodeName="worker-1",
            tolerations=[{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}],
        ),
    )

    assert same(admit("pods", widened, operation="UPDATE", old=scheduled), refused(TOLERATION))


def test_it_refuses_a_node_name_written_into_a_deployment_by_an_update() -> None:
    before = workload("deployments", pod_spec())
    after = workload("deployments", pod_spec(nodeName="control-plane-1"))

    assert same(admit("deployments", after, operation="UPDATE", old=before), refused(NODE_NAME))


EGRESS = "may only allow egress to pods of this namespace"


@pytest.mark.parametrize(
    ("egress", "expected"),
    [
        ((), ALLOWED),
        (({"to": [{"podSelector": {}}]},), ALLOWED),
        (({"to": [{"podSelector": {"matchLabels": {"app": "db"}}}],
           "ports": [{"port": 5432}]},), ALLOWED),
        (({"to": [DNS_PEER], "ports": [{"protocol": "UDP", "port": 53}]},), ALLOWED),
        (({},), refused(EGRESS)),
        (({"ports": [{"protocol": "UDP", "port": 53}]},), refused(EGRESS)),
        (({"to": []},), refused(EGRESS)),
        (({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},), refused(EGRESS)),
        (({"to": [{"ipBlock": {"cidr": "169.254.169.254/32"}}]},), refused(EGRESS)),
        # Invalid to the API server already (a peer is pods or a block); refused regardless.
        (({"to": [{"podSelector": {}, "ipBlock": {"cidr": "0.0.0.0/0"}}]},), refused(EGRESS)),
        (({"to": [{"namespaceSelector": {}}]},), refused(EGRESS)),
        (({"to": [{"namespaceSelector": {}, "podSelector": {}}]},), refused(EGRESS)),
        (
            ({"to": [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": OTHER_LAB}},
                "podSelector": {}}]},),
            refused(EGRESS),
        ),
        (
            ({"to": [{"namespaceSelector": DNS_PEER["namespaceSelector"],
                      "podSelector": {}}]},),
            refused(EGRESS),
        ),
        (
            ({"to": [{"podSelector": {}}]}, {"to": [{"podSelector": {}},
                                                    {"ipBlock": {"cidr": "10.0.0.0/8"}}]}),
            refused(EGRESS),
        ),
    ],
    ids=["ingress-only", "own-pods", "own-pods-port", "cluster-dns", "allow-all",
         "port-to-anywhere", "empty-to", "internet", "metadata", "pods-and-block",
         "all-namespaces",
         "all-pods-everywhere", "other-lab", "all-of-kube-system", "one-bad-rule"],
)  # fmt: skip
def test_it_keeps_trainees_from_widening_egress(
    egress: tuple[dict, ...], expected: Verdict
) -> None:
    assert same(admit("networkpolicies", network_policy(*egress)), expected)


LOTSE_OWNS = "keep the lab isolated"


def test_it_keeps_lotses_own_network_policy_out_of_trainees_hands() -> None:
    lotse = manifests.network_policy(LOTSE_SPEC)
    loosened = copy.deepcopy(lotse)
    loosened["spec"]["podSelector"] = {"matchLabels": {"nothing": "selected"}}
    unlabelled = copy.deepcopy(lotse)
    del unlabelled["metadata"]["labels"][manifests.MANAGED_BY]

    assert same(admit("networkpolicies", None, operation="DELETE", old=lotse), refused(LOTSE_OWNS))
    assert same(
        admit("networkpolicies", loosened, operation="UPDATE", old=lotse), refused(LOTSE_OWNS)
    )
    assert same(
        admit("networkpolicies", unlabelled, operation="UPDATE", old=lotse), refused(LOTSE_OWNS)
    )
    # Lotse's own policy is beyond a trainee in any case: it opens DNS and the ingress
    # controller's namespace.
    assert not admit("networkpolicies", lotse).allowed


def test_it_lets_trainees_delete_and_change_their_own_policies() -> None:
    mine = network_policy({"to": [{"podSelector": {}}]})
    changed = network_policy({"to": [{"podSelector": {"matchLabels": {"app": "db"}}}]})

    assert admit("networkpolicies", None, operation="DELETE", old=mine) == ALLOWED
    assert admit("networkpolicies", changed, operation="UPDATE", old=mine) == ALLOWED


def test_it_refuses_a_trainees_policy_dressed_as_lotses() -> None:
    disguised = network_policy(**{manifests.MANAGED_BY: "lotse"})

    assert same(admit("networkpolicies", disguised), refused(LOTSE_OWNS))


# -- what the guard applies to ----------------------------------------------------------------

EXTERNAL = service(externalIPs=["203.0.113.7"])


@pytest.mark.parametrize(
    "user",
    [
        TRAINEE,
        f"system:serviceaccount:{NAMESPACE}:default",  # a pod the trainee runs
    ],
)
def test_it_applies_to_every_service_account_of_the_lab(user: str) -> None:
    assert not admit("services", EXTERNAL, user=user).allowed


@pytest.mark.parametrize(
    "user",
    [
        "kubernetes-admin",  # Lotse with an admin kubeconfig
        "system:serviceaccount:lotse:lotse",  # Lotse in the cluster
        "system:serviceaccount:kube-system:replicaset-controller",
        f"system:serviceaccount:{NAMESPACE}x:trainee",  # a lab whose name starts the same
        f"system:serviceaccount:{OTHER_LAB}:trainee",
    ],
)
def test_it_leaves_everyone_else_alone(user: str) -> None:
    assert admit("services", EXTERNAL, user=user) == ALLOWED
    assert admit("networkpolicies", manifests.network_policy(LOTSE_SPEC), user=user) == ALLOWED


@pytest.mark.parametrize(
    "labels",
    [
        {},
        {manifests.MANAGED_BY: "lotse"},
        {manifests.MANAGED_BY: "lotse", manifests.INSTALLATION_LABEL: "another-key"},
    ],
    ids=["unlabelled", "no-installation", "other-installation"],
)
def test_it_applies_only_in_this_installations_labs(labels: dict[str, str]) -> None:
    assert admit("services", EXTERNAL, namespace_labels=labels) == ALLOWED


def test_it_binds_to_the_labels_every_lab_namespace_carries() -> None:
    namespace_labels = manifests.namespace(LOTSE_SPEC)["metadata"]["labels"]
    selector = admission.binding(KEY)["spec"]["matchResources"]["namespaceSelector"]

    assert selector == {"matchLabels": LAB_LABELS}
    assert selector["matchLabels"].items() <= namespace_labels.items()


def test_it_leaves_other_kinds_and_operations_alone() -> None:
    assert admit("configmaps", {"metadata": meta("c"), "data": {}}) == ALLOWED
    assert admit("services", None, operation="DELETE", old=EXTERNAL) == ALLOWED


def test_it_admits_the_toolbox_and_the_binding_lotse_makes_even_from_the_lab() -> None:
    for obj, resource in [
        (manifests.toolbox_pod(LOTSE_SPEC), "pods"),
        (manifests.role_binding(LOTSE_SPEC), "rolebindings"),
    ]:
        assert admit(resource, obj) == ALLOWED


def test_it_evaluates_every_expression_without_error_on_every_kind() -> None:
    # A broken expression shows up as an error somewhere: run every kind through once.
    for resource in WORKLOADS:
        assert not admit(resource, workload(resource, pod_spec())).error
    for obj, resource in [
        (service(), "services"),
        (secret(), "secrets"),
        (role_binding(), "rolebindings"),
        (network_policy(), "networkpolicies"),
    ]:
        assert not admit(resource, obj).error
        assert not admit(resource, obj, operation="UPDATE", old=obj).error


# -- the objects --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.30.0", "1.34.0"])
def test_it_builds_a_policy_and_binding_the_schema_accepts(version: str) -> None:
    for obj in admission.guard_objects(KEY):
        kubernetes_validate.validate(obj, version, strict=True)


def test_it_names_and_labels_the_guard_after_the_installation() -> None:
    policy, binding = admission.guard_objects(KEY)

    assert policy["metadata"]["name"] == binding["metadata"]["name"] == f"lotse-lab-guard-{KEY}"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    for obj in (policy, binding):
        assert obj["metadata"]["labels"] == LAB_LABELS
        annotation = obj["metadata"]["annotations"][admission.DIGEST_ANNOTATION]
        assert annotation == admission.digest(obj["spec"])
        assert len(annotation) == 64


def test_it_gives_every_rule_a_message_a_trainee_can_read() -> None:
    validations = admission.policy(KEY)["spec"]["validations"]

    assert len(validations) == len(admission.RULES) == 8
    for validation in validations:
        assert validation["reason"] == "Forbidden"
        assert validation["message"].endswith(".")
        assert "lab" in validation["message"]


def test_it_tells_current_outdated_and_missing_apart() -> None:
    policy, binding = admission.guard_objects(KEY)
    stale = copy.deepcopy(policy)
    stale["metadata"]["annotations"][admission.DIGEST_ANNOTATION] = "0" * 64
    unannotated = copy.deepcopy(binding)
    del unannotated["metadata"]["annotations"]

    assert admission.guard_status([policy, binding], KEY) == admission.CURRENT
    assert admission.guard_status([stale, binding], KEY) == admission.OUTDATED
    assert admission.guard_status([policy, unannotated], KEY) == admission.OUTDATED
    assert admission.guard_status([policy, None], KEY) == admission.MISSING
    assert admission.guard_status([None, None], KEY) == admission.MISSING
    # Another installation's guard is not this one's.
    assert admission.guard_status(admission.guard_objects("ffffffffffff"), KEY) != "current"


# -- installed by provisioning --------------------------------------------------------------------

VAP = "admissionregistration.k8s.io/v1"


@pytest.mark.django_db
def test_it_installs_the_guard_before_the_first_lab_namespace(
    cohort: Cohort, cluster: Cluster, standin: KubeStandIn
) -> None:
    cohort.cluster = cluster
    cohort.save()
    (enrolment,) = enrol(cohort, "gus_guard")
    lab = provisioning.ensure_lab(enrolment)
    key = installation_key()

    provisioning.provision(lab.pk, kube_for(cluster))

    wanted = admission.guard_objects(key)
    installed = [standin.get(VAP, obj["kind"], obj["metadata"]["name"]) for obj in wanted]
    assert admission.guard_status(installed, key) == admission.CURRENT
    assert installed[1]["spec"]["matchResources"] == wanted[1]["spec"]["matchResources"]
    creates = [path for method, path, status in standin.requests if method == "POST"]
    assert creates.index("/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies") < (
        creates.index("/api/v1/namespaces")
    )
    namespace = standin.get("v1", "Namespace", lab.namespace)
    assert namespace["metadata"]["labels"][manifests.INSTALLATION_LABEL] == key


@pytest.mark.django_db
def test_it_installs_the_guard_once_per_batch_and_brings_it_up_to_date(
    cohort: Cohort, cluster: Cluster, standin: KubeStandIn, settings: Any
) -> None:
    settings.LAB_PROVISION_CONCURRENCY = 1
    cohort.cluster = cluster
    cohort.save()
    labs = [provisioning.ensure_lab(e) for e in enrol(cohort, "ada_a", "bo_b", "cy_c")]
    key = installation_key()
    name = admission.policy_name(key)
    standin.put({**admission.policy(key), "spec": {"validations": []}} | {
        "metadata": {"name": name, "annotations": {admission.DIGEST_ANNOTATION: "old"}}
    })  # fmt: skip

    run = provisioning.run_each([lab.pk for lab in labs], provisioning.provision)

    assert sorted(run.done) == sorted(lab.namespace for lab in labs)
    guard_writes = [
        (method, path)
        for method, path, _ in standin.requests
        if "admissionregistration" in path and method in ("POST", "PATCH", "PUT")
    ]
    assert guard_writes == [
        ("POST", f"/apis/{VAP}/validatingadmissionpolicies"),
        ("PATCH", f"/apis/{VAP}/validatingadmissionpolicies/{name}"),
        ("POST", f"/apis/{VAP}/validatingadmissionpolicybindings"),
    ]
    installed = [standin.get(VAP, o["kind"], name) for o in admission.guard_objects(key)]
    assert admission.guard_status(installed, key) == admission.CURRENT
    assert installed[0]["spec"]["validations"] == admission.policy(key)["spec"]["validations"]


@pytest.mark.django_db
def test_it_creates_no_lab_where_the_guard_cannot_be_installed(
    cohort: Cohort, cluster: Cluster, standin: KubeStandIn
) -> None:
    cohort.cluster = cluster
    cohort.save()
    (enrolment,) = enrol(cohort, "una_unguarded")
    lab = provisioning.ensure_lab(enrolment)
    denied = "validatingadmissionpolicies is forbidden: User cannot create"
    standin.fail("POST", "/validatingadmissionpolicies$", 403, message=denied)

    with pytest.raises(ClusterError, match=denied):
        provisioning.provision(lab.pk, kube_for(cluster))

    lab.refresh_from_db()
    assert lab.state == Lab.State.FAILED
    assert lab.step == provisioning.GUARD_STEP
    assert denied in lab.last_error
    assert standin.get("v1", "Namespace", lab.namespace) is None

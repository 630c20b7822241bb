"""ValidatingAdmissionPolicies on the simulated cluster: bound policies are evaluated in CEL
on every matching write and refuse, warn or stay silent as kube-apiserver's do, with its
answers word for word. Written through the real `kubernetes` client."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from simcluster import KubeStandIn
from tests.factories import account_token, api_as

GUARDED = {"guarded": "yes"}


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def namespace(standin: KubeStandIn, labels: dict[str, str] | None = None) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(standin.api_client()).create_namespace(
        {"metadata": {"name": name, "labels": labels or {}}}
    )
    return name


def install(
    standin: KubeStandIn,
    name: str,
    validations: list[dict],
    *,
    resources: tuple[str, ...] = ("configmaps",),
    operations: tuple[str, ...] = ("CREATE", "UPDATE"),
    actions: tuple[str, ...] = ("Deny",),
    binding: dict | None = None,
    **spec: Any,
) -> None:
    """A policy on ``resources`` and its binding (named ``name``) for namespaces labelled
    GUARDED; ``spec`` adds to the policy's spec, ``binding`` to the binding's."""
    admission = client.AdmissionregistrationV1Api(standin.api_client())
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": list(operations),
            "resources": list(resources)}  # fmt: skip
    admission.create_validating_admission_policy(
        {
            "metadata": {"name": name},
            "spec": {
                "matchConstraints": {"resourceRules": [rule]},
                "validations": validations,
                **spec,
            },
        }
    )
    admission.create_validating_admission_policy_binding(
        {
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": list(actions),
                "matchResources": {"namespaceSelector": {"matchLabels": GUARDED}},
                **(binding or {}),
            },
        }
    )


def config_map(name: str, labels: dict[str, str] | None = None, **data: str) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "data": data}


def refused(call: Any, *args: Any, **kwargs: Any) -> ApiException:
    with pytest.raises(ApiException) as caught:
        call(*args, **kwargs)
    return caught.value


SMALL = [{"expression": "size(object.data) <= 1", "message": "one key at most"}]


def test_it_refuses_what_a_bound_policy_denies_with_the_api_servers_answer(
    standin: KubeStandIn,
) -> None:
    install(standin, "small-maps", SMALL)
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(core.create_namespaced_config_map, guarded, config_map("big", a="1", b="2"))

    message = (
        "ValidatingAdmissionPolicy 'small-maps' with binding 'small-maps' denied request: "
        "one key at most"
    )
    assert error.status == 422
    assert status_of(error) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'configmaps "big" is forbidden: {message}', "reason": "Invalid",
        "details": {"name": "big", "kind": "configmaps", "causes": [{"message": message}]},
        "code": 422,
    }  # fmt: skip
    assert standin.get("v1", "ConfigMap", "big", guarded) is None


def test_it_admits_what_the_policy_allows_and_what_its_binding_does_not_cover(
    standin: KubeStandIn,
) -> None:
    install(standin, "small-maps", SMALL)
    guarded, free = namespace(standin, GUARDED), namespace(standin)
    core = client.CoreV1Api(standin.api_client())

    assert core.create_namespaced_config_map(guarded, config_map("small", a="1")).data == {"a": "1"}
    assert core.create_namespaced_config_map(free, config_map("big", a="1", b="2")).data
    # Other resources than the policy's rules pass too.
    secret = {"metadata": {"name": "s"}, "stringData": {"a": "1", "b": "2"}}
    assert core.create_namespaced_secret(guarded, secret).metadata.name == "s"


def test_it_checks_updates_and_patches_with_the_old_object_at_hand(standin: KubeStandIn) -> None:
    keep_tier = [
        {
            "expression": "oldObject == null || object.metadata.labels.tier == "
            "oldObject.metadata.labels.tier",
            "message": "the tier label is fixed",
        }
    ]
    install(standin, "fixed-tier", keep_tier)
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())
    core.create_namespaced_config_map(guarded, config_map("m", {"tier": "web"}))

    error = refused(
        core.patch_namespaced_config_map, "m", guarded, {"metadata": {"labels": {"tier": "db"}}}
    )

    assert error.status == 422
    assert status_of(error)["message"].endswith("denied request: the tier label is fixed")
    assert core.patch_namespaced_config_map("m", guarded, {"data": {"k": "v"}}).data == {"k": "v"}


def test_it_checks_deletes_when_the_policy_names_delete(standin: KubeStandIn) -> None:
    keep = [
        {
            "expression": "!has(oldObject.metadata.labels) || "
            "!('keep' in oldObject.metadata.labels) || oldObject.metadata.labels.keep != 'true'",
            "message": "kept",
        }
    ]
    install(standin, "keep", keep, operations=("DELETE",))
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())
    core.create_namespaced_config_map(guarded, config_map("kept", {"keep": "true"}))
    core.create_namespaced_config_map(guarded, config_map("gone"))

    assert refused(core.delete_namespaced_config_map, "kept", guarded).status == 422
    core.delete_namespaced_config_map("gone", guarded)
    assert standin.get("v1", "ConfigMap", "kept", guarded) is not None
    assert standin.get("v1", "ConfigMap", "gone", guarded) is None


def test_it_says_which_expression_failed_when_a_validation_has_no_message(
    standin: KubeStandIn,
) -> None:
    install(standin, "small-maps", [{"expression": "size(object.data) <= 1"}])
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(core.create_namespaced_config_map, guarded, config_map("big", a="1", b="2"))

    assert status_of(error)["message"].endswith(
        "denied request: failed expression: size(object.data) <= 1"
    )


def test_it_answers_with_the_validations_reason_and_message_expression(
    standin: KubeStandIn,
) -> None:
    validation = {
        "expression": "size(object.data) <= 1",
        "messageExpression": "'too many keys: ' + string(size(object.data))",
        "reason": "Forbidden",
    }
    install(standin, "small-maps", [validation])
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(core.create_namespaced_config_map, guarded, config_map("big", a="1", b="2"))

    assert error.status == 403
    assert status_of(error)["reason"] == "Forbidden"
    assert status_of(error)["message"].endswith("denied request: too many keys: 2")


def test_it_warns_instead_of_refusing_for_a_warn_binding(standin: KubeStandIn) -> None:
    install(standin, "small-maps", SMALL, actions=("Warn",))
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    _, status, headers = core.create_namespaced_config_map_with_http_info(
        guarded, config_map("big", a="1", b="2")
    )

    assert status == 201
    assert headers["Warning"] == (
        "299 - \"Validation failed for ValidatingAdmissionPolicy 'small-maps' with binding "
        "'small-maps': one key at most\""
    )
    assert standin.get("v1", "ConfigMap", "big", guarded) is not None


def test_it_stays_silent_for_an_audit_binding(standin: KubeStandIn) -> None:
    install(standin, "small-maps", SMALL, actions=("Audit",))
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    _, status, headers = core.create_namespaced_config_map_with_http_info(
        guarded, config_map("big", a="1", b="2")
    )

    assert status == 201
    assert "Warning" not in headers


def test_it_refuses_a_dry_run_as_it_would_the_write(standin: KubeStandIn) -> None:
    install(standin, "small-maps", SMALL)
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(
        core.create_namespaced_config_map, guarded, config_map("big", a="1", b="2"), dry_run="All"
    )

    assert error.status == 422


def test_it_applies_a_policy_only_where_its_match_conditions_hold(standin: KubeStandIn) -> None:
    own_accounts = (
        "request.userInfo.username.startsWith('system:serviceaccount:' + request.namespace)"
    )
    accounts_only = [{"name": "service-accounts-only", "expression": own_accounts}]
    install(standin, "small-maps", SMALL, matchConditions=accounts_only)
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())
    core.create_namespaced_service_account(guarded, {"metadata": {"name": "trainee"}})
    client.RbacAuthorizationV1Api(standin.api_client()).create_namespaced_role_binding(
        guarded,
        {
            "metadata": {"name": "edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": guarded}],
        },
    )  # fmt: skip
    as_trainee = client.CoreV1Api(api_as(standin, account_token(standin, guarded, "trainee")))

    assert core.create_namespaced_config_map(guarded, config_map("admins", a="1", b="2")).data
    error = refused(
        as_trainee.create_namespaced_config_map, guarded, config_map("trainees", a="1", b="2")
    )
    assert error.status == 422


def test_it_evaluates_variables_and_the_namespace_object(standin: KubeStandIn) -> None:
    variables = [
        {"name": "limit", "expression": "int(namespaceObject.metadata.labels['max-keys'])"},
        {"name": "keys", "expression": "size(object.data)"},
    ]
    validation = {"expression": "variables.keys <= variables.limit", "message": "too many"}
    install(standin, "max-keys", [validation], variables=variables)
    guarded = namespace(standin, {**GUARDED, "max-keys": "2"})
    core = client.CoreV1Api(standin.api_client())

    assert core.create_namespaced_config_map(guarded, config_map("two", a="1", b="2")).data
    error = refused(
        core.create_namespaced_config_map, guarded, config_map("three", a="1", b="2", c="3")
    )
    assert status_of(error)["message"].endswith("denied request: too many")


def test_it_matches_objects_by_their_labels_and_leaves_excluded_resources_alone(
    standin: KubeStandIn,
) -> None:
    exclude = [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"],
                "resources": ["configmaps"], "resourceNames": ["exempt"]}]  # fmt: skip
    install(
        standin, "small-maps", SMALL,
        binding={"matchResources": {
            "namespaceSelector": {"matchLabels": GUARDED},
            "objectSelector": {"matchExpressions": [{"key": "small", "operator": "Exists"}]},
            "excludeResourceRules": exclude,
        }},
    )  # fmt: skip
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    assert core.create_namespaced_config_map(guarded, config_map("unlabelled", a="1", b="2")).data
    assert core.create_namespaced_config_map(
        guarded, config_map("exempt", {"small": ""}, a="1", b="2")
    ).data
    error = refused(
        core.create_namespaced_config_map,
        guarded,
        config_map("labelled", {"small": ""}, a="1", b="2"),
    )
    assert error.status == 422


def test_it_follows_the_failure_policy_when_an_expression_fails(standin: KubeStandIn) -> None:
    broken = [{"expression": "object.data.missing == 'x'", "message": "never shown"}]
    install(standin, "strict", broken)
    install(standin, "lenient", broken, failurePolicy="Ignore")
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(core.create_namespaced_config_map, guarded, config_map("m", a="1"))

    assert status_of(error)["message"] == (
        "configmaps \"m\" is forbidden: ValidatingAdmissionPolicy 'strict' with binding "
        "'strict' denied request: expression 'object.data.missing == 'x'' resulted in error: "
        "no such key: missing"
    )
    client.AdmissionregistrationV1Api(standin.api_client()).delete_validating_admission_policy(
        "strict"
    )
    assert core.create_namespaced_config_map(guarded, config_map("m", a="1")).data == {"a": "1"}


def test_it_takes_parameters_from_the_object_a_binding_names(standin: KubeStandIn) -> None:
    prefix = [{"expression": "object.metadata.name.startsWith(params.data.prefix)",
               "messageExpression": "'names start with ' + params.data.prefix"}]  # fmt: skip
    install(
        standin, "prefixed", prefix,
        paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        binding={"paramRef": {"name": "naming", "namespace": "default",
                              "parameterNotFoundAction": "Deny"}},
    )  # fmt: skip
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    error = refused(core.create_namespaced_config_map, guarded, config_map("lab-a"))
    assert "no params found" in status_of(error)["message"]
    core.create_namespaced_config_map("default", config_map("naming", prefix="team-"))
    assert core.create_namespaced_config_map(guarded, config_map("team-a")).metadata.name
    error = refused(core.create_namespaced_config_map, guarded, config_map("lab-a"))
    assert status_of(error)["message"].endswith("denied request: names start with team-")


def test_it_refuses_a_policy_whose_expression_does_not_compile(standin: KubeStandIn) -> None:
    admission = client.AdmissionregistrationV1Api(standin.api_client())
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
            "resources": ["configmaps"]}  # fmt: skip
    policy = {
        "metadata": {"name": "broken"},
        "spec": {
            "matchConstraints": {"resourceRules": [rule]},
            "validations": [{"expression": "object.data.size( <= 1"}],
        },
    }

    error = refused(admission.create_validating_admission_policy, policy)

    body = status_of(error)
    assert error.status == 422
    assert body["message"].startswith(
        'ValidatingAdmissionPolicy.admissionregistration.k8s.io "broken" is invalid: '
        'spec.validations[0].expression: Invalid value: "object.data.size( <= 1": '
        "compilation failed: "
    )
    assert body["details"]["causes"][0]["field"] == "spec.validations[0].expression"


def test_it_refuses_a_binding_that_would_both_deny_and_warn(standin: KubeStandIn) -> None:
    admission = client.AdmissionregistrationV1Api(standin.api_client())
    binding = {
        "metadata": {"name": "confused"},
        "spec": {"policyName": "any", "validationActions": ["Deny", "Warn"]},
    }

    error = refused(admission.create_validating_admission_policy_binding, binding)

    assert error.status == 422
    assert "cannot use both Deny and Warn" in status_of(error)["message"]


def test_it_checks_a_status_update_only_against_rules_for_the_status(
    standin: KubeStandIn,
) -> None:
    only_running = [{"expression": "object.status.phase != 'Failed'", "message": "no failing"}]
    install(standin, "no-failing", only_running, resources=("pods/status",))
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    core.create_namespaced_pod(guarded, pod)

    error = refused(core.patch_namespaced_pod_status, "p", guarded, {"status": {"phase": "Failed"}})
    assert status_of(error)["message"] == (
        "pods \"p\" is forbidden: ValidatingAdmissionPolicy 'no-failing' with binding "
        "'no-failing' denied request: no failing"
    )
    assert core.patch_namespaced_pod_status("p", guarded, {"status": {"phase": "Running"}})


def test_it_leaves_a_request_out_when_any_match_condition_is_false(standin: KubeStandIn) -> None:
    failing = {"name": "fails", "expression": "object.data.missing == 'x'"}
    never = {"name": "never", "expression": "false"}
    install(standin, "left-out", SMALL, matchConditions=[failing, never])
    guarded = namespace(standin, GUARDED)
    core = client.CoreV1Api(standin.api_client())

    assert core.create_namespaced_config_map(guarded, config_map("big", a="1", b="2")).data
    install(standin, "failing", SMALL, matchConditions=[failing])
    error = refused(core.create_namespaced_config_map, guarded, config_map("bigger", a="1", b="2"))
    assert status_of(error)["message"].endswith(
        "denied request: expression 'object.data.missing == 'x'' resulted in error: "
        "no such key: missing"
    )

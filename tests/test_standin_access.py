"""Who may do what on the simulated cluster: authentication, RBAC, escalation prevention and
the self reviews, exercised through the real `kubernetes` client as a trainee's token would.
Messages are kube-apiserver's, word for word."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException
from kubernetes.stream import stream

from simcluster import KubeStandIn
from tests.factories import account_token, api_as, wait_for

RBAC = "rbac.authorization.k8s.io"
READ = ["get", "list", "watch"]


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def refusal(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    """The HTTP status and Status message with which ``call`` is refused."""
    with pytest.raises(ApiException) as refused:
        call(*args, **kwargs)
    return refused.value.status, status_of(refused.value)["message"]


def admin(standin: KubeStandIn) -> client.ApiClient:
    return standin.api_client()


def lab(standin: KubeStandIn, rules: list[dict], account: str = "trainee") -> str:
    """A fresh namespace with a ServiceAccount bound to a Role of ``rules`` (both named after
    ``account``), as provisioning makes a lab."""
    namespace = f"lab-{uuid.uuid4().hex[:8]}"
    core, rbac = client.CoreV1Api(admin(standin)), client.RbacAuthorizationV1Api(admin(standin))
    core.create_namespace({"metadata": {"name": namespace}})
    core.create_namespaced_service_account(namespace, {"metadata": {"name": account}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": account}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": account},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": namespace}],
        },
    )
    return namespace


def trainee(standin: KubeStandIn, namespace: str, account: str = "trainee") -> client.ApiClient:
    return api_as(standin, account_token(standin, namespace, account))


def may(api: client.ApiClient, verb: str, resource: str, namespace: str = "", **extra: str) -> bool:
    attributes = {"verb": verb, "resource": resource, "namespace": namespace, **extra}
    review = {"spec": {"resourceAttributes": attributes}}
    answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    return bool(answer.status.allowed)


def whoami(api: client.ApiClient) -> dict:
    review = client.AuthenticationV1Api(api).create_self_subject_review({})
    return api.sanitize_for_serialization(review.status.user_info)


def raw(standin: KubeStandIn, path: str, token: str | None = None) -> tuple[int, dict | str]:
    """GET ``path`` with the admin's client, sending ``token`` (or none) as the credential."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = admin(standin).rest_client.pool_manager.request(
        "GET", f"{standin.url}{path}", headers=headers
    )
    text = response.data.decode()
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


POD_READER = [{"apiGroups": [""], "resources": ["pods"], "verbs": READ}]


# -- authentication ---------------------------------------------------------------------------


def test_it_serves_https_that_its_own_ca_vouches_for(standin: KubeStandIn) -> None:
    # kubectl sends credentials to https:// servers only: plain HTTP would make it anonymous.
    cluster = standin.kubeconfig()["clusters"][0]["cluster"]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    trusting = ssl.create_default_context(cadata=ca)

    with urllib.request.urlopen(f"{standin.url}/version", context=trusting) as answer:
        assert answer.status == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(f"{standin.url}/version", context=ssl.create_default_context())
    assert cluster["server"].startswith("https://")
    assert standin.get("v1", "ConfigMap", "kube-root-ca.crt", "default")["data"]["ca.crt"] == ca


def test_it_answers_a_token_it_did_not_issue_with_401(standin: KubeStandIn) -> None:
    status, body = raw(standin, "/api/v1/namespaces", token="garbage")

    assert status == 401
    assert body == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "Unauthorized", "reason": "Unauthorized", "code": 401,
    }  # fmt: skip


def test_it_lets_anonymous_requests_read_the_version_and_health_only(
    standin: KubeStandIn,
) -> None:
    assert raw(standin, "/version")[0] == 200
    assert raw(standin, "/healthz") == (200, "ok")
    status, body = raw(standin, "/api")
    assert status == 403
    assert body["message"] == 'forbidden: User "system:anonymous" cannot get path "/api"'
    status, body = raw(standin, "/api/v1/namespaces/default/pods")
    assert status == 403
    assert body["message"] == (
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group ""'
        ' in the namespace "default"'
    )


def test_it_makes_a_new_admin_token_for_every_server(standin: KubeStandIn) -> None:
    with KubeStandIn().start() as other:
        assert other.admin_token != standin.admin_token
        assert raw(other, "/api/v1/namespaces", token=standin.admin_token)[0] == 401
        assert raw(other, "/api/v1/namespaces", token=other.admin_token)[0] == 200


def test_it_tells_the_admin_who_they_are(standin: KubeStandIn) -> None:
    assert whoami(admin(standin)) == {
        "username": "kubernetes-admin",
        "groups": ["system:masters", "system:authenticated"],
    }


def test_it_authenticates_a_service_account_token_as_its_account(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    account = standin.get("v1", "ServiceAccount", "trainee", namespace)

    user = whoami(trainee(standin, namespace))

    assert user["username"] == f"system:serviceaccount:{namespace}:trainee"
    assert user["uid"] == account["metadata"]["uid"]
    assert user["groups"] == [
        "system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"
    ]  # fmt: skip
    assert user["extra"]["authentication.kubernetes.io/credential-id"][0].startswith("JTI=")


def test_it_accepts_a_token_only_while_its_service_account_exists(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    token = account_token(standin, namespace, "trainee")
    core = client.CoreV1Api(admin(standin))

    core.delete_namespaced_service_account("trainee", namespace)
    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 401
    # The same name again is another account: the token names the old one's uid.
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "trainee"}})
    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 401


def test_it_accepts_a_bound_token_only_while_its_pod_exists(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    core = client.CoreV1Api(admin(standin))
    pod = {
        "metadata": {"name": "box"},
        "spec": {
            "serviceAccountName": "trainee",
            "containers": [{"name": "box", "image": "busybox"}],
        },
    }
    created = core.create_namespaced_pod(namespace, pod)
    bound = {"kind": "Pod", "apiVersion": "v1", "name": "box"}
    token = account_token(standin, namespace, "trainee", boundObjectRef=bound)

    extra = whoami(api_as(standin, token))["extra"]
    assert extra["authentication.kubernetes.io/pod-name"] == ["box"]
    assert extra["authentication.kubernetes.io/pod-uid"] == [created.metadata.uid]
    core.delete_namespaced_pod("box", namespace)
    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 401


def test_it_accepts_a_token_bound_to_a_node_only_while_the_node_exists(
    standin: KubeStandIn,
) -> None:
    namespace = lab(standin, POD_READER)
    bound = {"kind": "Node", "apiVersion": "v1", "name": "standin-node"}
    token = account_token(standin, namespace, "trainee", boundObjectRef=bound)

    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 200
    standin.delete("v1", "Node", "standin-node")
    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 401


def test_it_binds_a_token_only_to_an_object_that_is_there(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    core = client.CoreV1Api(admin(standin))
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "other"}})
    pod = {"metadata": {"name": "box"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}
    core.create_namespaced_pod(namespace, pod)  # runs as "default"

    def ask(account: str, ref: dict) -> tuple[int, str]:
        request = {"spec": {"boundObjectRef": {"apiVersion": "v1", **ref}}}
        return refusal(core.create_namespaced_service_account_token, account, namespace, request)

    assert ask("trainee", {"kind": "Pod", "name": "gone"}) == (404, 'pods "gone" not found')
    status, message = ask("default", {"kind": "Pod", "name": "box", "uid": "not-its-uid"})
    assert status == 409
    assert "does not match the UID in record" in message
    assert ask("other", {"kind": "Pod", "name": "box"}) == (
        400,
        'cannot bind token for serviceaccount "other" to pod running with different '
        "serviceaccount name.",
    )
    assert ask("trainee", {"kind": "ConfigMap", "name": "kube-root-ca.crt"}) == (
        400,
        "cannot bind token to object of type /v1, Kind=ConfigMap",
    )


def test_it_refuses_a_token_for_another_audience(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    token = account_token(standin, namespace, "trainee", audiences=["lotse"])

    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", token)[0] == 401


def test_it_refuses_an_expired_token(standin: KubeStandIn) -> None:
    namespace = lab(standin, POD_READER)
    account = standin.get("v1", "ServiceAccount", "trainee", namespace)
    expired, _ = standin.authenticator.issue(
        account, ["https://kubernetes.default.svc.cluster.local"], seconds=-1
    )

    assert raw(standin, f"/api/v1/namespaces/{namespace}/pods", expired)[0] == 401


def test_it_refuses_a_token_whose_claims_were_changed(standin: KubeStandIn) -> None:
    mine, theirs = lab(standin, POD_READER), lab(standin, POD_READER)
    header, claims, signature = account_token(standin, mine, "trainee").split(".")
    decoded = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    other = standin.get("v1", "ServiceAccount", "trainee", theirs)
    decoded["kubernetes.io"] = {
        "namespace": theirs,
        "serviceaccount": {"name": "trainee", "uid": other["metadata"]["uid"]},
    }
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")

    status, _ = raw(standin, f"/api/v1/namespaces/{theirs}/pods", f"{header}.{forged}.{signature}")
    assert status == 401


def test_it_accepts_a_static_token_as_its_user(standin: KubeStandIn) -> None:
    standin.add_token("anna-token", "anna", ("trainers",))

    assert whoami(api_as(standin, "anna-token")) == {
        "username": "anna",
        "groups": ["trainers", "system:authenticated"],
    }


# -- authorisation ----------------------------------------------------------------------------


def test_it_lets_an_account_do_what_its_role_grants_in_its_namespace_only(
    standin: KubeStandIn,
) -> None:
    mine = lab(standin, POD_READER)
    theirs = lab(standin, POD_READER)
    core = client.CoreV1Api(trainee(standin, mine))
    user = f"system:serviceaccount:{mine}:trainee"

    assert core.list_namespaced_pod(mine).items == []
    assert refusal(core.list_namespaced_pod, theirs) == (
        403,
        f'pods is forbidden: User "{user}" cannot list resource "pods" in API group "" in the '
        f'namespace "{theirs}"',
    )
    assert refusal(core.create_namespaced_config_map, mine, {"metadata": {"name": "x"}}) == (
        403,
        f'configmaps is forbidden: User "{user}" cannot create resource "configmaps" in API '
        f'group "" in the namespace "{mine}"',
    )
    assert refusal(core.read_namespace, theirs) == (
        403,
        f'namespaces "{theirs}" is forbidden: User "{user}" cannot get resource "namespaces" '
        f'in API group "" in the namespace "{theirs}"',
    )
    assert refusal(core.list_node) == (
        403,
        f'nodes is forbidden: User "{user}" cannot list resource "nodes" in API group "" at '
        "the cluster scope",
    )


def test_it_names_the_group_and_object_of_a_refused_request(standin: KubeStandIn) -> None:
    mine = lab(standin, POD_READER)
    apps = client.AppsV1Api(trainee(standin, mine))

    with pytest.raises(ApiException) as refused:
        apps.read_namespaced_deployment("web", mine)

    assert status_of(refused.value)["details"] == {
        "name": "web",
        "group": "apps",
        "kind": "deployments",
    }
    assert status_of(refused.value)["message"].startswith('deployments.apps "web" is forbidden:')


@pytest.mark.parametrize(
    ("rule", "asked", "allowed"),
    [
        ({"resources": ["pods"], "verbs": ["get"]}, ("get", "pods", ""), True),
        ({"resources": ["pods"], "verbs": ["get"]}, ("list", "pods", ""), False),
        ({"resources": ["pods"], "verbs": ["*"]}, ("deletecollection", "pods", ""), True),
        ({"resources": ["*"], "verbs": ["get"]}, ("get", "secrets", ""), True),
        ({"resources": ["pods"], "verbs": ["get"]}, ("get", "pods/log", ""), False),
        ({"resources": ["pods/log"], "verbs": ["get"]}, ("get", "pods/log", ""), True),
        ({"resources": ["*/status"], "verbs": ["get"]}, ("get", "pods/status", ""), True),
        ({"resources": ["*/status"], "verbs": ["get"]}, ("get", "pods", ""), False),
        ({"resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]},
         ("get", "configmaps", "a"), True),
        ({"resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get"]},
         ("get", "configmaps", "b"), False),
        ({"resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["list"]},
         ("list", "configmaps", ""), False),
    ],
)  # fmt: skip
def test_it_matches_verbs_resources_subresources_and_names_as_rbac_does(
    standin: KubeStandIn, rule: dict, asked: tuple[str, str, str], allowed: bool
) -> None:
    mine = lab(standin, [{"apiGroups": [""], **rule}])
    verb, resource, name = asked
    resource, _, subresource = resource.partition("/")

    answer = may(trainee(standin, mine), verb, resource, mine, subresource=subresource, name=name)

    assert answer is allowed


def test_it_matches_api_groups(standin: KubeStandIn) -> None:
    mine = lab(standin, [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get"]}])
    api = trainee(standin, mine)

    assert may(api, "get", "deployments", mine, group="apps")
    assert not may(api, "get", "pods", mine)
    assert not may(api, "get", "jobs", mine, group="batch")


def test_it_grants_a_cluster_role_bound_in_a_namespace_in_that_namespace_only(
    standin: KubeStandIn,
) -> None:
    mine, theirs = lab(standin, []), lab(standin, [])
    client.RbacAuthorizationV1Api(admin(standin)).create_namespaced_role_binding(
        mine,
        {
            "metadata": {"name": "viewer"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": mine}],
        },
    )
    api = trainee(standin, mine)

    assert may(api, "list", "deployments", mine, group="apps")
    assert not may(api, "list", "deployments", theirs, group="apps")
    assert not may(api, "list", "nodes")
    assert not may(api, "list", "secrets", mine)  # view does not read secrets


def test_it_grants_through_groups_and_users_cluster_wide(standin: KubeStandIn) -> None:
    mine = lab(standin, [])
    standin.add_token("anna-token", "anna")
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    rbac.create_cluster_role(
        {"metadata": {"name": "node-reader"}, "rules": [
            {"apiGroups": [""], "resources": ["nodes"], "verbs": READ}
        ]}
    )  # fmt: skip
    for name, subject in [
        ("accounts-of-mine", {"kind": "Group", "name": f"system:serviceaccounts:{mine}"}),
        ("anna", {"kind": "User", "name": "anna"}),
    ]:
        rbac.create_cluster_role_binding(
            {
                "metadata": {"name": name},
                "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "node-reader"},
                "subjects": [{"apiGroup": RBAC, **subject}],
            }
        )

    assert client.CoreV1Api(trainee(standin, mine)).list_node().items
    assert client.CoreV1Api(api_as(standin, "anna-token")).list_node().items


def test_it_says_which_binding_points_at_a_missing_role(standin: KubeStandIn) -> None:
    mine = lab(standin, [])
    client.RbacAuthorizationV1Api(admin(standin)).create_namespaced_role_binding(
        mine,
        {
            "metadata": {"name": "dangling"},
            "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "missing"},
            "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": mine}],
        },
    )

    _, message = refusal(client.CoreV1Api(trainee(standin, mine)).list_namespaced_pod, mine)

    assert message.endswith(': RBAC: role.rbac.authorization.k8s.io "missing" not found')


def test_it_narrows_a_list_to_one_name_by_its_field_selector(standin: KubeStandIn) -> None:
    mine, theirs = lab(standin, []), lab(standin, [])
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    rbac.create_cluster_role(
        {"metadata": {"name": f"own-{mine}"}, "rules": [
            {"apiGroups": [""], "resources": ["namespaces"], "resourceNames": [mine],
             "verbs": ["get", "list", "watch"]}
        ]}
    )  # fmt: skip
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": f"own-{mine}"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": f"own-{mine}"},
            "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": mine}],
        }
    )
    core = client.CoreV1Api(trainee(standin, mine))

    assert core.read_namespace(mine).metadata.name == mine
    narrowed = core.list_namespace(field_selector=f"metadata.name={mine}")
    assert [namespace.metadata.name for namespace in narrowed.items] == [mine]
    assert refusal(core.list_namespace)[0] == 403
    assert refusal(core.read_namespace, theirs)[0] == 403


def test_it_authorises_an_exec_over_a_websocket_as_get(standin: KubeStandIn) -> None:
    may_get = lab(standin, [*POD_READER, {"apiGroups": [""], "resources": ["pods/exec"],
                                          "verbs": ["get"]}])  # fmt: skip
    may_create = lab(standin, [*POD_READER, {"apiGroups": [""], "resources": ["pods/exec"],
                                             "verbs": ["create"]}])  # fmt: skip
    pod = {"metadata": {"name": "box"}, "spec": {"containers": [
        {"name": "c", "image": "busybox:1.37", "command": ["sleep", "3600"]}]}}  # fmt: skip
    for namespace in (may_get, may_create):
        client.CoreV1Api(admin(standin)).create_namespaced_pod(namespace, pod)
        wait_for(
            lambda ns=namespace: (
                (standin.get("v1", "Pod", "box", ns) or {}).get("status", {}).get("phase")
                == "Running"
            ),
            "the pod running",
        )

    def run(namespace: str) -> str:
        return stream(
            client.CoreV1Api(trainee(standin, namespace)).connect_get_namespaced_pod_exec,
            "box", namespace, command=["echo", "hi"], stdin=False, stdout=True, stderr=True,
            tty=False,
        )  # fmt: skip

    assert run(may_get) == "hi\n"
    with pytest.raises(ApiException) as refused:
        run(may_create)
    assert "403" in str(refused.value)


def test_it_gives_every_authenticated_user_discovery_and_the_self_reviews(
    standin: KubeStandIn,
) -> None:
    mine = lab(standin, [])
    token = account_token(standin, mine, "trainee")

    for path in ("/api", "/api/v1", "/apis", "/apis/apps/v1", "/version", "/livez"):
        assert raw(standin, path, token)[0] == 200, path
    assert whoami(api_as(standin, token))["username"] == f"system:serviceaccount:{mine}:trainee"


def test_it_fills_the_aggregated_roles_from_the_roles_labelled_to_join_them(
    standin: KubeStandIn,
) -> None:
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    joining = {
        "metadata": {
            "name": "widgets-view",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        },
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": READ}],
    }

    def rules_of(name: str) -> list[dict]:
        return standin.get(f"{RBAC}/v1", "ClusterRole", name)["rules"]

    assert {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]} not in rules_of(
        "edit"
    )
    rbac.create_cluster_role(joining)
    for name in ("view", "edit", "admin"):
        assert joining["rules"][0] in rules_of(name), name
    rbac.delete_cluster_role("widgets-view")
    assert joining["rules"][0] not in rules_of("admin")


# -- escalation prevention --------------------------------------------------------------------


def test_it_refuses_a_role_that_grants_more_than_its_author_holds(standin: KubeStandIn) -> None:
    mine = lab(standin, [
        *POD_READER, {"apiGroups": [RBAC], "resources": ["roles", "rolebindings"],
                      "verbs": ["create", "update", "patch"]},
    ])  # fmt: skip
    rbac = client.RbacAuthorizationV1Api(trainee(standin, mine))
    greedy = {
        "metadata": {"name": "greedy"},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete", "update"]},
        ],
    }

    status, message = refusal(rbac.create_namespaced_role, mine, greedy)

    assert status == 403
    assert message == (
        f'roles.rbac.authorization.k8s.io "greedy" is forbidden: user "system:serviceaccount:'
        f'{mine}:trainee" (groups=["system:serviceaccounts" "system:serviceaccounts:{mine}" '
        '"system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n'
        '{APIGroups:[""], Resources:["pods"], Verbs:["delete" "update"]}\n'
        '{APIGroups:["*"], Resources:["*"], Verbs:["*"]}'
    )
    assert standin.get(f"{RBAC}/v1", "Role", "greedy", mine) is None


def test_it_lets_a_user_grant_what_they_hold_and_no_more_by_update(standin: KubeStandIn) -> None:
    mine = lab(standin, [
        *POD_READER, {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["create", "patch"]},
    ])  # fmt: skip
    rbac = client.RbacAuthorizationV1Api(trainee(standin, mine))
    modest = {"metadata": {"name": "modest"}, "rules": [POD_READER[0] | {"verbs": ["get"]}]}

    rbac.create_namespaced_role(mine, modest)
    widened = {"rules": [POD_READER[0] | {"verbs": ["get", "delete"]}]}
    status, message = refusal(rbac.patch_namespaced_role, "modest", mine, widened)

    assert status == 403
    assert message.endswith('{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}')


def test_it_lets_a_user_who_may_escalate_grant_more(standin: KubeStandIn) -> None:
    mine = lab(standin, [
        {"apiGroups": [RBAC], "resources": ["roles"], "verbs": ["create", "escalate"]},
    ])  # fmt: skip
    rbac = client.RbacAuthorizationV1Api(trainee(standin, mine))
    greedy = {
        "metadata": {"name": "greedy"},
        "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}],
    }

    assert rbac.create_namespaced_role(mine, greedy).metadata.name == "greedy"


def test_it_refuses_a_binding_to_a_role_beyond_the_users_rights_unless_they_may_bind(
    standin: KubeStandIn,
) -> None:
    writes_bindings = {"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": ["create"]}
    mine = lab(standin, [*POD_READER, writes_bindings])
    binding = {
        "metadata": {"name": "admin-for-me"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": mine}],
    }
    rbac = client.RbacAuthorizationV1Api(trainee(standin, mine))

    status, message = refusal(rbac.create_namespaced_role_binding, mine, binding)
    assert status == 403
    assert message.startswith(
        'rolebindings.rbac.authorization.k8s.io "admin-for-me" is forbidden: user '
        f'"system:serviceaccount:{mine}:trainee"'
    )
    assert '{APIGroups:["apps"], Resources:["deployments"], Verbs:' in message

    may_bind = {"apiGroups": [RBAC], "resources": ["clusterroles"], "resourceNames": ["admin"],
                "verbs": ["bind"]}  # fmt: skip
    standin.put(
        {"apiVersion": f"{RBAC}/v1", "kind": "Role", "metadata": {"name": "trainee",
         "namespace": mine}, "rules": [*POD_READER, writes_bindings, may_bind]}
    )  # fmt: skip
    assert rbac.create_namespaced_role_binding(mine, binding).metadata.name == "admin-for-me"


def test_it_refuses_a_binding_to_a_role_that_does_not_exist(standin: KubeStandIn) -> None:
    mine = lab(standin, [{"apiGroups": [RBAC], "resources": ["rolebindings"], "verbs": ["create"]}])
    binding = {
        "metadata": {"name": "nothing"},
        "roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "missing"},
        "subjects": [{"kind": "ServiceAccount", "name": "trainee", "namespace": mine}],
    }
    rbac = client.RbacAuthorizationV1Api(trainee(standin, mine))

    assert refusal(rbac.create_namespaced_role_binding, mine, binding) == (
        403,
        'rolebindings.rbac.authorization.k8s.io "nothing" is forbidden: '
        'roles.rbac.authorization.k8s.io "missing" not found',
    )


def test_it_keeps_aggregation_rules_to_cluster_admins(standin: KubeStandIn) -> None:
    standin.add_token("role-maker", "role-maker")
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    rbac.create_cluster_role(
        {"metadata": {"name": "role-maker"}, "rules": [
            {"apiGroups": [RBAC], "resources": ["clusterroles"], "verbs": ["create"]}
        ]}
    )  # fmt: skip
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": "role-maker"},
            "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "role-maker"},
            "subjects": [{"apiGroup": RBAC, "kind": "User", "name": "role-maker"}],
        }
    )
    collecting = {
        "metadata": {"name": "collector"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"x": "y"}}]},
        "rules": [],
    }

    assert refusal(
        client.RbacAuthorizationV1Api(api_as(standin, "role-maker")).create_cluster_role,
        collecting,
    ) == (
        403,
        'clusterroles.rbac.authorization.k8s.io "collector" is forbidden: must have '
        "cluster-admin privileges to use the aggregationRule",
    )


# -- the reviews ------------------------------------------------------------------------------


def test_it_answers_an_access_review_with_the_binding_that_allows_it(
    standin: KubeStandIn,
) -> None:
    mine = lab(standin, POD_READER)
    review = {"spec": {"resourceAttributes": {"verb": "list", "resource": "pods",
                                              "namespace": mine}}}  # fmt: skip
    authorization = client.AuthorizationV1Api(trainee(standin, mine))

    answer = authorization.create_self_subject_access_review(review)

    assert answer.status.allowed is True
    assert answer.status.reason == (
        f'RBAC: allowed by RoleBinding "trainee/{mine}" of Role "trainee" to ServiceAccount '
        f'"trainee/{mine}"'
    )
    review["spec"]["resourceAttributes"]["namespace"] = "kube-system"
    assert authorization.create_self_subject_access_review(review).status.allowed is False
    assert may(admin(standin), "delete", "nodes")


def test_it_answers_access_reviews_for_paths(standin: KubeStandIn) -> None:
    mine = lab(standin, [])
    api = client.AuthorizationV1Api(trainee(standin, mine))

    def may_get(path: str) -> bool:
        review = {"spec": {"nonResourceAttributes": {"verb": "get", "path": path}}}
        return bool(api.create_self_subject_access_review(review).status.allowed)

    assert may_get("/apis/apps/v1")
    assert not may_get("/metrics")


def test_it_refuses_an_access_review_without_attributes(standin: KubeStandIn) -> None:
    authorization = client.AuthorizationV1Api(admin(standin))

    status, message = refusal(authorization.create_self_subject_access_review, {"spec": {}})

    assert status == 422
    assert "exactly one of nonResourceAttributes or resourceAttributes" in message


def test_it_lists_the_rules_a_user_has_in_a_namespace(standin: KubeStandIn) -> None:
    mine = lab(standin, POD_READER)
    authorization = client.AuthorizationV1Api(trainee(standin, mine))

    status = authorization.create_self_subject_rules_review({"spec": {"namespace": mine}}).status

    resource_rules = [r.to_dict() for r in status.resource_rules]
    assert {"verbs": READ, "api_groups": [""], "resources": ["pods"], "resource_names": None} in (
        resource_rules
    )
    assert any("selfsubjectaccessreviews" in r["resources"] for r in resource_rules)
    assert any("/api/*" in r.non_resource_urls for r in status.non_resource_rules)
    assert status.incomplete is False
    other = authorization.create_self_subject_rules_review({"spec": {"namespace": "default"}})
    assert POD_READER[0]["resources"] not in [r.resources for r in other.status.resource_rules]


def test_it_answers_an_access_review_about_another_user(standin: KubeStandIn) -> None:
    mine = lab(standin, POD_READER)
    review = {
        "spec": {
            "user": f"system:serviceaccount:{mine}:trainee",
            "resourceAttributes": {"verb": "get", "resource": "pods", "namespace": mine},
        }
    }

    answer = client.AuthorizationV1Api(admin(standin)).create_subject_access_review(review)

    assert answer.status.allowed is True


# -- impersonation ----------------------------------------------------------------------------


def impersonating(api: client.ApiClient, **headers: str) -> client.ApiClient:
    for name, value in headers.items():
        api.set_default_header(name.replace("_", "-"), value)
    return api


def test_it_lets_the_admin_act_as_a_trainee(standin: KubeStandIn) -> None:
    mine, theirs = lab(standin, POD_READER), lab(standin, POD_READER)
    user = f"system:serviceaccount:{mine}:trainee"
    api = impersonating(admin(standin), Impersonate_User=user)

    assert whoami(api) == {
        "username": user,
        "groups": [
            "system:serviceaccounts", f"system:serviceaccounts:{mine}", "system:authenticated"
        ],
    }  # fmt: skip
    assert client.CoreV1Api(api).list_namespaced_pod(mine).items == []
    assert refusal(client.CoreV1Api(api).list_namespaced_pod, theirs)[0] == 403


def test_it_refuses_impersonation_to_those_not_allowed_it(standin: KubeStandIn) -> None:
    mine = lab(standin, POD_READER)
    api = impersonating(trainee(standin, mine), Impersonate_User="kubernetes-admin")

    assert refusal(client.CoreV1Api(api).list_namespaced_pod, mine) == (
        403,
        f'users "kubernetes-admin" is forbidden: User "system:serviceaccount:{mine}:trainee" '
        'cannot impersonate resource "users" in API group "" at the cluster scope',
    )


def test_it_impersonates_groups_only_for_a_user(standin: KubeStandIn) -> None:
    api = impersonating(admin(standin), Impersonate_Group="system:masters")

    status, message = refusal(client.CoreV1Api(api).list_namespace)

    assert status == 400
    assert "Impersonate-User is required" in message


# -- what RBAC objects may say ----------------------------------------------------------------


def test_it_keeps_a_bindings_role_reference_fixed(standin: KubeStandIn) -> None:
    mine = lab(standin, [])
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    moved = {"roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"}}

    status, message = refusal(rbac.patch_namespaced_role_binding, "trainee", mine, moved)

    assert status == 422
    assert message == (
        'RoleBinding.rbac.authorization.k8s.io "trainee" is invalid: roleRef: Invalid value: '
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"view"}: '
        "cannot change roleRef"
    )


@pytest.mark.parametrize(
    ("rule", "field", "why"),
    [
        ({"apiGroups": [""], "resources": ["pods"], "verbs": []}, "rules[0].verbs",
         "Required value: verbs must contain at least one value"),
        ({"resources": ["pods"], "verbs": ["get"]}, "rules[0].apiGroups",
         "Required value: resource rules must supply at least one api group"),
        ({"nonResourceURLs": ["/healthz"], "verbs": ["get"]}, "rules[0].nonResourceURLs",
         'Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs'),
    ],
)  # fmt: skip
def test_it_refuses_a_role_with_a_rule_rbac_cannot_read(
    standin: KubeStandIn, rule: dict, field: str, why: str
) -> None:
    rbac = client.RbacAuthorizationV1Api(admin(standin))

    status, message = refusal(
        rbac.create_namespaced_role, "default", {"metadata": {"name": "odd"}, "rules": [rule]}
    )

    assert status == 422
    assert message == f'Role.rbac.authorization.k8s.io "odd" is invalid: {field}: {why}'


def test_it_refuses_a_cluster_binding_of_an_account_without_its_namespace(
    standin: KubeStandIn,
) -> None:
    rbac = client.RbacAuthorizationV1Api(admin(standin))
    binding = {
        "metadata": {"name": "nowhere"},
        "roleRef": {"apiGroup": RBAC, "kind": "ClusterRole", "name": "view"},
        "subjects": [{"kind": "ServiceAccount", "name": "trainee"}],
    }

    status, message = refusal(rbac.create_cluster_role_binding, binding)

    assert status == 422
    assert message.endswith("subjects[0].namespace: Required value")

"""The Kubernetes API stand-in, exercised only through the real `kubernetes` client.

One stand-in serves the module; every test works in a fresh namespace. No database is used.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
import yaml
from kubernetes import client, watch
from kubernetes.client import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.stream import stream

from simcluster import ExecSession, KubeStandIn, echo_shell
from tests.factories import token_claims, wait_for

REPO = Path(__file__).resolve().parent.parent
MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def server() -> Iterator[KubeStandIn]:
    """One stand-in for the module, without a kubelet (pace None): pods stay pending until a
    test sets their status (unlike conftest's ``standin``)."""
    with KubeStandIn().start() as k:
        yield k


@pytest.fixture(scope="module")
def api(server: KubeStandIn) -> client.ApiClient:
    return server.api_client()


@pytest.fixture(scope="module")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="module")
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture(autouse=True)
def _clean_faults(server: KubeStandIn) -> Iterator[None]:
    yield
    server.clear_faults()


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def pod(name: str, labels: dict[str, str] | None = None, image: str = "nginx:1.27") -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    }


def deployment(name: str) -> dict:
    labels = {"app": name}
    template = {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [{"name": "web", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": template},
    }


def as_admin(server: KubeStandIn) -> dict[str, str]:
    """The headers of a raw request made as the admin of ``server``."""
    return {"Authorization": f"Bearer {server.admin_token}"}


def status_of(error: ApiException) -> dict:
    return json.loads(error.body)


def events(
    func: Callable[..., Any], *args: Any, count: int, **kwargs: Any
) -> list[tuple[str, str]]:
    """(type, name) of the first ``count`` events of a watch, or fewer when it times out."""
    seen: list[tuple[str, str]] = []
    w = watch.Watch()
    kwargs.setdefault("timeout_seconds", 5)
    for event in w.stream(func, *args, **kwargs):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == count:
            w.stop()
    return seen


def running(server: KubeStandIn, ns: str, name: str) -> None:
    server.set_status("v1", "Pod", name, ns, {"phase": "Running"})


# -- discovery ------------------------------------------------------------------------------


def test_it_serves_discovery_that_the_dynamic_client_resolves(
    api: client.ApiClient, ns: str, tmp_path: Path
) -> None:
    assert client.VersionApi(api).get_code().git_version.startswith("v1.34.")
    core_resources = {r.name: r for r in client.CoreV1Api(api).get_api_resources().resources}
    assert {"pods/exec", "pods/log", "pods/status", "serviceaccounts/token"} <= set(core_resources)
    assert core_resources["pods"].short_names == ["po"]
    assert core_resources["namespaces"].namespaced is False
    groups = {g.name: g for g in client.ApisApi(api).get_api_versions().groups}
    assert groups["apps"].preferred_version.group_version == "apps/v1"

    dynamic = DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    for api_version, kind, plural in [
        ("v1", "Pod", "pods"),
        ("rbac.authorization.k8s.io/v1", "Role", "roles"),
        ("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        ("apps/v1", "Deployment", "deployments"),
    ]:
        assert dynamic.resources.get(api_version=api_version, kind=kind).name == plural
    roles = dynamic.resources.get(api_version="rbac.authorization.k8s.io/v1", kind="Role")
    rules = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]
    roles.create(body={"metadata": {"name": "reader"}, "rules": rules}, namespace=ns)
    assert roles.get(name="reader", namespace=ns).rules[0].verbs == ["get", "list"]


# -- CRUD -----------------------------------------------------------------------------------


def test_it_creates_reads_lists_replaces_and_deletes(
    api: client.ApiClient, core: client.CoreV1Api, apps: client.AppsV1Api, ns: str
) -> None:
    created = core.create_namespaced_config_map(
        ns, {"metadata": {"name": "cm"}, "data": {"a": "1"}}
    )
    meta = created.metadata
    assert (created.kind, created.api_version, meta.namespace) == ("ConfigMap", "v1", ns)
    assert meta.uid
    assert meta.creation_timestamp
    assert meta.generation == 1
    assert core.read_namespaced_config_map("cm", ns).data == {"a": "1"}

    listed = core.list_namespaced_config_map(ns)
    assert listed.kind == "ConfigMapList"
    assert int(listed.metadata.resource_version) >= int(meta.resource_version)
    assert sorted(item.metadata.name for item in listed.items) == ["cm", "kube-root-ca.crt"]
    everywhere = core.list_config_map_for_all_namespaces(label_selector="")
    assert {(c.metadata.namespace, c.metadata.name) for c in everywhere.items} >= {(ns, "cm")}

    body = core.read_namespaced_config_map("cm", ns)
    body.data = {"a": "2"}
    assert core.replace_namespaced_config_map("cm", ns, body).data == {"a": "2"}

    rbac = client.RbacAuthorizationV1Api(api)
    rbac.create_namespaced_role(ns, {"metadata": {"name": "edit"}, "rules": []})
    subject = {"kind": "ServiceAccount", "name": "default", "namespace": ns}
    ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "edit"}
    rbac.create_namespaced_role_binding(
        ns, {"metadata": {"name": "edit"}, "subjects": [subject], "roleRef": ref}
    )
    rbac.create_cluster_role({"metadata": {"name": f"system:{ns}"}, "rules": []})
    assert rbac.read_cluster_role(f"system:{ns}").metadata.name == f"system:{ns}"
    policy = {"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    client.NetworkingV1Api(api).create_namespaced_network_policy(ns, policy)
    core.create_namespaced_resource_quota(
        ns, {"metadata": {"name": "q"}, "spec": {"hard": {"pods": "5"}}}
    )
    limits = {"limits": [{"type": "Container", "default": {"cpu": "500m"}}]}
    core.create_namespaced_limit_range(ns, {"metadata": {"name": "l"}, "spec": limits})
    apps.create_namespaced_deployment(ns, deployment("web"))
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 1

    status = core.delete_namespaced_config_map("cm", ns, propagation_policy="Background")
    # The client types this answer as a plain dict: a Status for most kinds.
    assert (status["status"], status["details"]["name"]) == ("Success", "cm")
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_config_map("cm", ns)
    assert gone.value.status == 404
    core.create_namespaced_pod(ns, pod("p"))
    deleted = core.delete_namespaced_pod("p", ns)
    assert deleted.kind == "Pod"
    assert deleted.metadata.deletion_timestamp is not None


def test_it_pages_lists_with_limit_and_continue(core: client.CoreV1Api, ns: str) -> None:
    for i in range(5):
        core.create_namespaced_secret(ns, {"metadata": {"name": f"s{i}"}, "type": "Opaque"})
    first = core.list_namespaced_secret(ns, limit=3)
    rest = core.list_namespaced_secret(ns, limit=3, _continue=first.metadata._continue)
    names = [s.metadata.name for s in first.items + rest.items]
    assert names == ["s0", "s1", "s2", "s3", "s4"]
    assert rest.metadata._continue is None


def test_it_patches_with_each_patch_type(
    core: client.CoreV1Api, apps: client.AppsV1Api, ns: str
) -> None:
    apps.create_namespaced_deployment(ns, deployment("web"))
    strategic = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "web", "env": [{"name": "B", "value": "2"}]},
                        {"name": "sidecar", "image": "busybox"},
                    ]
                }
            }
        }
    }
    patched = apps.patch_namespaced_deployment("web", ns, strategic)
    containers = patched.spec.template.spec.containers
    assert [c.name for c in containers] == ["web", "sidecar"]
    assert containers[0].image == "nginx"
    assert [(e.name, e.value) for e in containers[0].env] == [("A", "1"), ("B", "2")]
    assert patched.metadata.generation == 2

    merged = apps.patch_namespaced_deployment(
        "web",
        ns,
        {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "x"}]}}}},
        _content_type=MERGE,
    )
    assert [c.name for c in merged.spec.template.spec.containers] == ["only"]

    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "cm", "labels": {"a": "1"}}, "data": {"k": "v"}}
    )
    operations = [
        {"op": "add", "path": "/metadata/labels/b", "value": "2"},
        {"op": "remove", "path": "/metadata/labels/a"},
        {"op": "replace", "path": "/data/k", "value": "w"},
        {"op": "test", "path": "/data/k", "value": "w"},
    ]
    cm = core.patch_namespaced_config_map("cm", ns, operations)
    assert (cm.metadata.labels, cm.data) == ({"b": "2"}, {"k": "w"})
    with pytest.raises(ApiException) as failed:
        core.patch_namespaced_config_map("cm", ns, [{"op": "remove", "path": "/data/missing"}])
    assert failed.value.status == 422

    scaled = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment("web", ns).spec.replicas == 3


# -- errors ---------------------------------------------------------------------------------


def test_it_answers_failures_with_kubernetes_status_bodies(
    server: KubeStandIn, core: client.CoreV1Api, apps: client.AppsV1Api, ns: str
) -> None:
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("nope", ns)
    body = status_of(missing.value)
    assert (missing.value.status, body["reason"], body["kind"]) == (404, "NotFound", "Status")
    assert body["message"] == 'deployments.apps "nope" not found'
    assert body["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}

    core.create_namespaced_pod(ns, pod("p"))
    with pytest.raises(ApiException) as twice:
        core.create_namespaced_pod(ns, pod("p"))
    assert (twice.value.status, status_of(twice.value)["reason"]) == (409, "AlreadyExists")

    for name, reason in [("Bad_Name", "FieldValueInvalid"), ("", "FieldValueRequired")]:
        with pytest.raises(ApiException) as invalid:
            core.create_namespaced_config_map(ns, {"metadata": {"name": name}})
        body = status_of(invalid.value)
        assert (invalid.value.status, body["reason"]) == (422, "Invalid")
        assert body["details"]["causes"][0]["reason"] == reason
        assert body["details"]["causes"][0]["field"] == "metadata.name"

    # A body of another kind is a 400, as kube-apiserver's decoder answers.
    with pytest.raises(ApiException) as wrong_kind:
        core.create_namespaced_config_map(
            ns, {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "x"}}
        )
    assert (wrong_kind.value.status, status_of(wrong_kind.value)["reason"]) == (400, "BadRequest")

    with pytest.raises(ApiException) as no_namespace:
        core.create_namespaced_config_map("does-not-exist", {"metadata": {"name": "x"}})
    assert status_of(no_namespace.value)["message"] == 'namespaces "does-not-exist" not found'

    unknown = core.api_client.rest_client.request(
        "GET", f"{server.url}/apis/example.com/v1/widgets", headers=as_admin(server)
    )
    unknown.read()
    assert (unknown.status, json.loads(unknown.data)["reason"]) == (404, "NotFound")


def test_it_refuses_new_objects_in_a_terminating_namespace(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    server.namespace_deletion_delay = 0.3
    try:
        terminating = core.delete_namespace(ns)
        assert terminating["status"]["phase"] == "Terminating"
        with pytest.raises(ApiException) as refused:
            core.create_namespaced_config_map(ns, {"metadata": {"name": "late"}})
        body = status_of(refused.value)
        assert (refused.value.status, body["reason"]) == (403, "Forbidden")
        assert body["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    finally:
        server.namespace_deletion_delay = 0.0
    wait_for(lambda: server.get("v1", "Namespace", ns) is None, "the namespace gone")


# -- selectors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=web", {"a", "b"}),
        ("app==web", {"a", "b"}),
        ("app!=web", {"c", "d"}),  # d has no app label at all
        ("tier in (front, back)", {"a", "c"}),
        ("tier notin (front)", {"b", "c", "d"}),
        ("tier", {"a", "c"}),
        ("!tier", {"b", "d"}),
        ("app=web,!tier", {"b"}),
        ("", {"a", "b", "c", "d"}),
    ],
)
def test_it_selects_by_label_with_every_operator(
    server: KubeStandIn, core: client.CoreV1Api, ns: str, selector: str, expected: set[str]
) -> None:
    labels = {
        "a": {"app": "web", "tier": "front"},
        "b": {"app": "web"},
        "c": {"app": "db", "tier": "back"},
        "d": {"other": "x"},
    }
    for name, its_labels in labels.items():
        server.put(
            {
                **pod(name, its_labels),
                "metadata": {"name": name, "namespace": ns, "labels": its_labels},
            }
        )
    found = core.list_namespaced_pod(ns, label_selector=selector).items
    assert {p.metadata.name for p in found} == expected


def test_it_rejects_a_malformed_label_selector(core: client.CoreV1Api, ns: str) -> None:
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(ns, label_selector="app in web")
    assert bad.value.status == 400


def test_it_selects_by_field(server: KubeStandIn, core: client.CoreV1Api, ns: str) -> None:
    for name in ("one", "two", "three"):
        core.create_namespaced_pod(ns, pod(name))
    running(server, ns, "two")
    assert [
        p.metadata.name
        for p in core.list_namespaced_pod(ns, field_selector="metadata.name=one").items
    ] == ["one"]
    assert {
        p.metadata.name
        for p in core.list_namespaced_pod(ns, field_selector="status.phase!=Running").items
    } == {
        "one",
        "three",
    }
    across = core.list_pod_for_all_namespaces(
        field_selector=f"metadata.namespace={ns},status.phase=Running"
    )
    assert [p.metadata.name for p in across.items] == ["two"]
    with pytest.raises(ApiException) as bad:
        core.list_namespaced_pod(ns, field_selector="spec.nothing=x")
    assert bad.value.status == 400


# -- resourceVersion ------------------------------------------------------------------------


def test_it_increases_resource_versions_and_rejects_stale_replaces(
    core: client.CoreV1Api, ns: str
) -> None:
    first = core.create_namespaced_config_map(ns, {"metadata": {"name": "cm"}, "data": {"v": "1"}})
    stale = core.read_namespaced_config_map("cm", ns)
    second = core.patch_namespaced_config_map("cm", ns, {"data": {"v": "2"}})
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    unchanged = core.patch_namespaced_config_map("cm", ns, {"data": {"v": "2"}})
    assert unchanged.metadata.resource_version == second.metadata.resource_version

    stale.data = {"v": "3"}
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("cm", ns, stale)
    assert (conflict.value.status, status_of(conflict.value)["reason"]) == (409, "Conflict")
    stale.metadata.resource_version = None  # an unconditional update is allowed
    assert core.replace_namespaced_config_map("cm", ns, stale).data == {"v": "3"}


# -- watch ----------------------------------------------------------------------------------


def test_it_watches_live_added_modified_deleted_in_order(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    seen: list[tuple[str, str]] = []
    path = f"/api/v1/namespaces/{ns}/pods"
    before = len(server.requests)
    watcher = threading.Thread(
        target=lambda: seen.extend(events(core.list_namespaced_pod, ns, count=4))
    )
    watcher.start()
    wait_for(lambda: ("GET", path, 200) in server.requests[before:], "the watch open")

    core.create_namespaced_pod(ns, pod("w"))
    running(server, ns, "w")
    core.patch_namespaced_pod("w", ns, {"metadata": {"labels": {"x": "y"}}})
    core.delete_namespaced_pod("w", ns)
    watcher.join(10)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


def test_it_replays_from_a_resource_version_and_filters_by_selector(
    core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod("old", {"app": "web"}))
    since = core.list_namespaced_pod(ns).metadata.resource_version
    core.create_namespaced_pod(ns, pod("in", {"app": "web"}))
    core.create_namespaced_pod(ns, pod("out", {"app": "db"}))
    core.patch_namespaced_pod("in", ns, {"metadata": {"labels": {"app": "other"}}})
    core.patch_namespaced_pod("out", ns, {"metadata": {"labels": {"app": "web"}}})

    seen = events(
        core.list_namespaced_pod, ns, count=3, resource_version=since, label_selector="app=web"
    )
    # Leaving the selection reads as DELETED and entering it as ADDED, as on a real server.
    assert seen == [("ADDED", "in"), ("DELETED", "in"), ("ADDED", "out")]
    initial = events(core.list_namespaced_pod, ns, count=2, label_selector="app=web")
    assert sorted(initial) == [("ADDED", "old"), ("ADDED", "out")]


def test_it_ends_a_watch_at_its_timeout(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    started = time.monotonic()
    assert events(core.list_namespaced_service, ns, count=1, timeout_seconds=1) == []
    assert 0.9 < time.monotonic() - started < 3

    # watch=1 as kubectl spells it; the stream opens with the namespace's one ConfigMap.
    url = f"{server.url}/api/v1/namespaces/{ns}/configmaps?watch=1&timeoutSeconds=1"
    raw = core.api_client.rest_client.request("GET", url, headers=as_admin(server))
    raw.read()
    lines = [json.loads(line) for line in raw.data.decode().splitlines()]
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in lines] == [
        ("ADDED", "kube-root-ca.crt")
    ]


def test_it_expires_a_resource_version_older_than_the_history() -> None:
    with KubeStandIn(history=5).start() as small:
        core = client.CoreV1Api(small.api_client())
        since = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(8):
            core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
        with pytest.raises(ApiException) as expired:
            events(core.list_namespaced_config_map, "default", count=1, resource_version=since)
        assert expired.value.status == 410
        assert "Expired" in str(expired.value.reason)


def test_it_cascades_namespace_deletion(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod("a"))
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    since = core.list_namespace().metadata.resource_version
    core.delete_namespace(ns)
    wait_for(lambda: server.get("v1", "Namespace", ns) is None, "the namespace gone")

    assert core.list_namespaced_pod(ns).items == []
    assert core.list_namespaced_config_map(ns).items == []
    pods = events(
        core.list_pod_for_all_namespaces,
        count=1,
        resource_version=since,
        field_selector=f"metadata.namespace={ns}",
    )
    assert pods == [("DELETED", "a")]
    selector = f"metadata.name={ns}"
    assert events(
        core.list_namespace, count=2, resource_version=since, field_selector=selector
    ) == [
        ("MODIFIED", ns),
        ("DELETED", ns),
    ]


def test_it_deletes_a_namespace_only_under_its_preconditions(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    uid = core.read_namespace(ns).metadata.uid

    def delete(uid: str) -> None:
        preconditions = client.V1Preconditions(uid=uid)
        core.delete_namespace(ns, body=client.V1DeleteOptions(preconditions=preconditions))

    with pytest.raises(ApiException) as stale:
        delete(f"not-{uid}")
    assert stale.value.status == 409
    assert json.loads(stale.value.body)["message"] == (
        f'Operation cannot be fulfilled on namespaces "{ns}": Precondition failed: UID in '
        f"precondition: not-{uid}, UID in object meta: {uid}"
    )
    assert core.read_namespace(ns).status.phase == "Active"
    delete(uid)
    wait_for(lambda: server.get("v1", "Namespace", ns) is None, "the namespace gone")


# -- subresources ---------------------------------------------------------------------------


def test_it_issues_service_account_tokens(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "trainee"}})
    request = {"spec": {"audiences": ["lotse"], "expirationSeconds": 3600}}
    issued = core.create_namespaced_service_account_token("trainee", ns, request)
    assert issued.status.token.count(".") == 2
    assert issued.spec.audiences == ["lotse"]
    lifetime = issued.status.expiration_timestamp - issued.metadata.creation_timestamp
    assert lifetime.total_seconds() == 3600
    assert server.tokens[issued.status.token] == (ns, "trainee")
    with pytest.raises(ApiException) as missing:
        core.create_namespaced_service_account_token("nobody", ns, request)
    assert missing.value.status == 404


def test_it_binds_tokens_to_an_object_and_names_it_in_the_claims(
    core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_service_account(ns, {"metadata": {"name": "trainee"}})
    uid = core.create_namespaced_secret(ns, {"metadata": {"name": "anchor"}}).metadata.uid
    ref = {"apiVersion": "v1", "kind": "Secret", "name": "anchor", "uid": uid}

    def request(ref: dict) -> Any:
        body = {"spec": {"expirationSeconds": 3600, "boundObjectRef": ref}}
        return core.create_namespaced_service_account_token("trainee", ns, body)

    issued = request(ref)
    claims = token_claims(issued.status.token)
    assert claims["kubernetes.io"]["secret"] == {"name": "anchor", "uid": uid}
    assert claims["kubernetes.io"]["serviceaccount"]["name"] == "trainee"
    assert claims["exp"] - claims["iat"] == 3600
    assert issued.spec.bound_object_ref.uid == uid
    refusals = [
        ({**ref, "uid": "stale"}, 409, "the UID in the bound object reference (stale) does not"),
        ({**ref, "name": "missing"}, 404, 'secrets "missing" not found'),
        ({"apiVersion": "v1", "kind": "ConfigMap", "name": "anchor"}, 400,
         "cannot bind token to object of type /v1, Kind=ConfigMap"),
    ]  # fmt: skip
    for bad, status, message in refusals:
        with pytest.raises(ApiException) as refused:
            request(bad)
        assert refused.value.status == status
        assert message in json.loads(refused.value.body)["message"]


def test_it_serves_pod_status_and_logs(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod("p"))
    assert core.read_namespaced_pod_status("p", ns).status.phase == "Pending"
    patched = core.patch_namespaced_pod_status("p", ns, {"status": {"phase": "Running"}})
    assert patched.status.phase == "Running"

    server.log_handler = lambda pod, container: (
        f"log of {pod['metadata']['name']}/{container}\nline 2\n"
    )
    try:
        assert core.read_namespaced_pod_log("p", ns) == "log of p/main\nline 2\n"
        assert core.read_namespaced_pod_log("p", ns, tail_lines=1) == "line 2\n"
    finally:
        server.log_handler = None  # the simulated logs again


def test_it_reports_pods_ready_after_auto_ready() -> None:
    with KubeStandIn(pace=0.2).start() as cluster:
        core = client.CoreV1Api(cluster.api_client())
        assert core.create_namespaced_pod("default", pod("p")).status.phase == "Pending"
        wait_for(
            lambda: core.read_namespaced_pod("p", "default").status.phase == "Running",
            "the pod running",
        )
        ready = core.read_namespaced_pod("p", "default")
        assert ready.status.pod_ip
        assert ready.spec.node_name
        assert {c.type: c.status for c in ready.status.conditions}["Ready"] == "True"
        assert ready.status.container_statuses[0].ready is True


def test_it_keeps_pods_pending_until_a_test_sets_their_status(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    core.create_namespaced_pod(ns, pod("p"))
    time.sleep(0.05)
    assert core.read_namespaced_pod("p", ns).status.phase == "Pending"
    updated = server.set_status("v1", "Pod", "p", ns, {"phase": "Running", "podIP": "10.0.0.9"})
    assert updated["status"]["qosClass"] == "BestEffort"
    assert core.read_namespaced_pod("p", ns).status.pod_ip == "10.0.0.9"
    assert [p["metadata"]["name"] for p in server.list("v1", "Pod", ns)] == ["p"]


# -- faults and the request log -------------------------------------------------------------


def test_it_fails_then_succeeds(server: KubeStandIn, core: client.CoreV1Api, ns: str) -> None:
    server.fail("POST", f"/namespaces/{ns}/configmaps$", 500, message="etcd is sad")
    with pytest.raises(ApiException) as failed:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    body = status_of(failed.value)
    assert (failed.value.status, body["reason"], body["message"]) == (
        500,
        "InternalError",
        "etcd is sad",
    )
    assert core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}}).metadata.name == "c"


def test_it_answers_429_with_retry_after(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    # A POST, because urllib3 itself retries a GET that is answered 429 with Retry-After.
    server.fail("POST", "/configmaps$", 429, retry_after=7)
    with pytest.raises(ApiException) as throttled:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    assert throttled.value.status == 429
    assert throttled.value.headers["Retry-After"] == "7"
    assert status_of(throttled.value)["reason"] == "TooManyRequests"


def test_it_drops_connections(server: KubeStandIn, core: client.CoreV1Api, ns: str) -> None:
    server.drop("POST", "/configmaps$")
    with pytest.raises(urllib3.exceptions.HTTPError):
        core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    assert core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}}).metadata.name == "c"


def test_it_adds_measurable_latency(server: KubeStandIn, core: client.CoreV1Api, ns: str) -> None:
    server.delay(0.25, path=f"/namespaces/{ns}/secrets")
    started = time.monotonic()
    core.list_namespaced_secret(ns)
    assert time.monotonic() - started >= 0.25
    server.clear_faults()
    started = time.monotonic()
    core.list_namespaced_secret(ns)
    assert time.monotonic() - started < 0.25


def test_it_logs_every_request(server: KubeStandIn, core: client.CoreV1Api, ns: str) -> None:
    server.reset_requests()
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("missing", ns)
    assert server.requests == [
        ("POST", f"/api/v1/namespaces/{ns}/configmaps", 201),
        ("GET", f"/api/v1/namespaces/{ns}/configmaps/missing", 404),
    ]


def test_it_creates_and_replaces_objects_put_by_tests(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    put = server.put(
        {**pod("p"), "metadata": {"name": "p", "namespace": ns}, "status": {"phase": "Running"}}
    )
    assert put["status"]["phase"] == "Running"
    assert put["metadata"]["uid"]
    assert core.read_namespaced_pod("p", ns).status.phase == "Running"
    server.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": ns},
            "data": {"a": "1"},
        }
    )
    server.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c", "namespace": ns},
            "data": {"a": "2"},
        }
    )
    assert server.get("v1", "ConfigMap", "c", ns)["data"] == {"a": "2"}


# -- exec -----------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
def test_it_execs_into_a_running_pod_with_the_echo_shell(
    server: KubeStandIn, core: client.CoreV1Api, ns: str, protocol: str
) -> None:
    core.create_namespaced_pod(ns, pod("box"))
    running(server, ns, "box")
    simulated = server.exec_handler
    server.exec_handler = echo_shell
    try:
        echoes(core, ns, protocol)
    finally:
        server.exec_handler = simulated


def echoes(core: client.CoreV1Api, ns: str, protocol: str) -> None:
    """The echo shell answers over the exec channel protocol, text and bytes alike."""
    headers = {"sec-websocket-protocol": protocol}
    said = stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        ns,
        command=["echo", "hello", "lab"],
        stdin=False,
        stdout=True,
        stderr=True,
        tty=False,
        _headers=headers,
    )
    assert said == "hello lab\n"

    shell = stream(
        core.connect_get_namespaced_pod_exec,
        "box",
        ns,
        command=["sh"],
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _headers=headers,
        _preload_content=False,
    )
    assert shell.subprotocol == protocol
    shell.write_stdin("as text\n")
    assert shell.readline_stdout(timeout=5) == "as text"
    shell.write_stdin(b"as bytes\n")
    assert shell.readline_stdout(timeout=5) == "as bytes"
    shell.write_stdin("exit 3\n")
    shell.run_forever(timeout=5)
    assert shell.returncode == 3


def test_it_hands_exec_sessions_to_a_pluggable_handler(
    server: KubeStandIn, core: client.CoreV1Api, ns: str
) -> None:
    async def handler(pod: dict, command: list[str], session: ExecSession) -> int:
        width, height = await session.resized()
        await session.write(f"{pod['metadata']['name']} {command} {width}x{height}\n")
        await session.write_stderr("warning\n")
        return 0

    core.create_namespaced_pod(ns, pod("box"))
    running(server, ns, "box")
    simulated = server.exec_handler
    server.exec_handler = handler
    try:
        session = stream(
            core.connect_get_namespaced_pod_exec,
            "box",
            ns,
            command=["bash"],
            stdin=True,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        session.write_channel(4, json.dumps({"Width": 120, "Height": 40}))
        session.run_forever(timeout=5)
        assert session.read_stdout() == "box ['bash'] 120x40\n"
        assert session.read_stderr() == "warning\n"
        assert session.returncode == 0
    finally:
        server.exec_handler = simulated


def test_it_refuses_exec_into_missing_or_pending_pods(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_pod(ns, pod("pending"))
    for name, status in (("missing", 404), ("pending", 400)):
        with pytest.raises(ApiException) as refused:
            stream(
                core.connect_get_namespaced_pod_exec,
                name,
                ns,
                command=["sh"],
                stdin=False,
                stdout=True,
                stderr=True,
                tty=False,
            )
        assert str(status) in str(refused.value)


# -- the simulated cluster for developers ---------------------------------------------------


def test_it_runs_as_a_labelled_simulated_cluster(tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [sys.executable, "-m", "simcluster", "--port", "0", "--kubeconfig", str(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = [process.stdout.readline() for _ in range(3)]
        assert "SIMULATED CLUSTER" in "".join(banner)
        server = yaml.safe_load(config.read_text())["clusters"][0]["cluster"]["server"]
        from kubernetes.config import new_client_from_config

        listed = client.CoreV1Api(new_client_from_config(str(config))).list_namespace()
        assert "default" in {n.metadata.name for n in listed.items}
        assert server.startswith("https://127.0.0.1:")
    finally:
        process.terminate()
        process.wait(10)

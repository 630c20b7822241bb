"""The pure check evaluator: every item of the vocabulary passing and failing, with the
difference a trainee reads; deletion, image spellings and readiness. No server, no database."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from labs.checks import Check, Snapshot, State, evaluate, evaluate_task, kinds_needed, parse_check
from labs.checks.images import familiar, normalize, same_image


def pod(name: str, phase: str = "Running", ready: bool = True, **extra: Any) -> dict:
    labels = extra.pop("labels", {})
    image = extra.pop("image", "nginx:1.27")
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "lab", "labels": labels},
        "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}]},
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
    obj.update(extra)
    return obj


def deployment(name: str, replicas: int = 3, ready: int = 3, **status: Any) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "lab", "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
        },
        "status": {"observedGeneration": 2, "readyReplicas": ready, **status},
    }


def being_deleted(obj: dict) -> dict:
    obj = copy.deepcopy(obj)
    obj["metadata"]["deletionTimestamp"] = "2026-03-02T09:00:00Z"
    return obj


def snapshot(*objects: dict, kinds: tuple[str, ...] = ()) -> Snapshot:
    by_kind: dict[str, list[dict]] = {kind: [] for kind in ("Pod", *kinds)}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return Snapshot(by_kind)


def judge(spec: dict, *objects: dict, kinds: tuple[str, ...] = ()) -> tuple[State, list[str]]:
    check = parse_check(spec)
    outcome = evaluate(check, snapshot(*objects, kinds=(*kinds, *kinds_needed(check))))
    assert outcome.sentence == check.sentence()
    return outcome.state, list(outcome.differences)


PASSED: tuple[State, list[str]] = (State.PASSED, [])


def failing(*differences: str) -> tuple[State, list[str]]:
    return State.FAILING, list(differences)


# -- a named object -------------------------------------------------------------------------


def test_it_passes_a_named_object_that_exists() -> None:
    assert judge({"kind": "Pod", "name": "my-pod"}, pod("my-pod")) == PASSED


def test_it_says_which_named_object_is_missing() -> None:
    assert judge({"kind": "Pod", "name": "my-pod"}, pod("your-pod")) == failing(
        "Pod my-pod does not exist"
    )


def test_it_explains_an_expected_field_as_found_and_wanted() -> None:
    spec = {"kind": "Pod", "name": "my-pod", "expect": {"phase": "Running"}}

    assert judge(spec, pod("my-pod")) == PASSED
    assert judge(spec, pod("my-pod", phase="Pending")) == failing(
        "Pod my-pod: status.phase is Pending, want Running"
    )


def test_it_says_when_an_expected_field_is_not_set() -> None:
    spec = {"kind": "Service", "name": "web", "expect": {"spec.clusterIP": "None"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}

    assert judge(spec, service) == failing("Service web: spec.clusterIP is not set, want None")


@pytest.mark.parametrize(
    ("shorthand", "path", "obj", "wanted", "found"),
    [
        ("replicas", "spec.replicas", deployment("d", replicas=2), 3, "2"),
        ("readyReplicas", "status.readyReplicas", deployment("d", ready=1), 3, "1"),
        (
            "availableReplicas",
            "status.availableReplicas",
            deployment("d", availableReplicas=2),
            3,
            "2",
        ),
        (
            "type",
            "spec.type",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "d"},
                "spec": {"type": "NodePort"},
            },
            "ClusterIP",
            "NodePort",
        ),
    ],
)
def test_it_names_the_field_a_shorthand_stands_for(
    shorthand: str, path: str, obj: dict, wanted: object, found: str
) -> None:
    spec = {"kind": obj["kind"], "name": "d", "expect": {shorthand: wanted}}

    assert judge(spec, obj) == failing(f"{obj['kind']} d: {path} is {found}, want {wanted}")


def test_it_reads_dotted_paths_through_lists_and_flat_maps() -> None:
    web = pod("web", labels={"app.kubernetes.io/name": "shop"})
    spec = {
        "kind": "Pod",
        "name": "web",
        "expect": {
            "metadata.labels.app.kubernetes.io/name": "shop",
            "spec.containers.0.ports.0.containerPort": 80,
        },
    }

    assert judge(spec, web) == PASSED
    spec["expect"] = {"spec.containers.1.name": "sidecar"}
    assert judge(spec, web) == failing("Pod web: spec.containers.1.name is not set, want sidecar")


def test_it_matches_mappings_key_by_key_and_lists_item_by_item() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "test"},
        "spec": {
            "selector": {"app": "that-app"},
            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}],
        },
    }
    spec = {
        "kind": "Service",
        "name": "test",
        "expect": {"spec.selector": {"app": "that-app"}, "spec.ports": [{"port": 80}]},
    }

    assert judge(spec, service) == PASSED
    spec["expect"] = {"spec.selector": {"app": "this-app"}}
    assert judge(spec, service) == failing(
        'Service test: spec.selector is {"app": "that-app"}, want {"app": "this-app"}'
    )


def test_it_compares_numbers_with_their_digits_but_never_with_booleans() -> None:
    web = pod("web")
    web["spec"]["hostNetwork"] = False

    assert (
        judge(
            {
                "kind": "Pod",
                "name": "web",
                "expect": {"spec.containers.0.ports.0.containerPort": "80"},
            },
            web,
        )
        == PASSED
    )
    assert judge({"kind": "Pod", "name": "web", "expect": {"spec.hostNetwork": 0}}, web) == (
        failing("Pod web: spec.hostNetwork is false, want 0")
    )


def test_it_shortens_long_values_in_a_difference() -> None:
    long = "x" * 200
    state, differences = judge(
        {"kind": "Pod", "name": "web", "expect": {"metadata.annotations.note": "short"}},
        pod("web", metadata={"name": "web", "annotations": {"note": long}}),
    )

    assert state == State.FAILING
    assert len(differences[0]) < 140
    assert differences[0].endswith("…, want short")


# -- jsonpath -------------------------------------------------------------------------------


def test_it_checks_a_jsonpath_value_with_equals() -> None:
    spec = {"kind": "Pod", "name": "web", "jsonpath": "{.spec.containers[0].name}", "equals": "web"}

    assert judge(spec, pod("web")) == PASSED
    spec["equals"] = "app"
    assert judge(spec, pod("web")) == failing(
        "Pod web: {.spec.containers[0].name} is web, want app"
    )


def test_it_checks_a_jsonpath_value_with_matches() -> None:
    spec = {
        "kind": "Pod",
        "name": "web",
        "jsonpath": '{.status.conditions[?(@.type=="Ready")].status}',
        "matches": "^True$",
    }

    assert judge(spec, pod("web")) == PASSED
    assert judge(spec, pod("web", ready=False)) == failing(
        'Pod web: {.status.conditions[?(@.type=="Ready")].status} is False, want a match for ^True$'
    )


def test_it_says_when_a_jsonpath_selects_nothing() -> None:
    spec = {"kind": "Pod", "name": "web", "jsonpath": "{.spec.nodeName}", "matches": "."}

    assert judge(spec, pod("web")) == failing(
        "Pod web: {.spec.nodeName} is not set, want a match for ."
    )
    spec = {"kind": "Pod", "name": "web", "jsonpath": "{.spec.nodeName}", "equals": "node-1"}
    assert judge(spec, pod("web")) == failing("Pod web: {.spec.nodeName} is not set, want node-1")


def test_it_compares_several_jsonpath_values_as_kubectl_prints_them() -> None:
    two = pod("two")
    two["spec"]["containers"].append({"name": "sidecar", "image": "busybox:1.37"})
    names = {"kind": "Pod", "name": "two", "jsonpath": "{.spec.containers[*].name}"}

    assert judge({**names, "equals": ["web", "sidecar"]}, two) == PASSED
    assert judge({**names, "matches": "^web sidecar$"}, two) == PASSED
    assert judge({**names, "equals": "web"}, two) == failing(
        'Pod two: {.spec.containers[*].name} is ["web", "sidecar"], want web'
    )


# -- images ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("nginx:1.27", "docker.io/nginx:1.27"),
        ("nginx:1.27", "library/nginx:1.27"),
        ("nginx:1.27", "index.docker.io/library/nginx:1.27"),
        ("nginx", "nginx:latest"),
        ("bitnami/kubectl:1.34", "docker.io/bitnami/kubectl:1.34"),
        ("nginx@sha256:abc", "docker.io/library/nginx@sha256:abc"),
    ],
)
def test_it_treats_spellings_of_one_image_as_equal(a: str, b: str) -> None:
    assert same_image(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("nginx:1.27", "nginx:1.28"),
        ("nginx:1.27", "quay.io/nginx:1.27"),
        ("localhost:5000/nginx:1.27", "nginx:1.27"),
        ("registry.example.com:5000/team/app:1", "registry.example.com/team/app:1"),
        ("bitnami/nginx:1.27", "nginx:1.27"),
    ],
)
def test_it_keeps_different_images_apart(a: str, b: str) -> None:
    assert not same_image(a, b)


def test_it_writes_images_in_full_and_in_short() -> None:
    assert normalize("nginx") == "docker.io/library/nginx:latest"
    assert normalize("localhost:5000/app") == "localhost:5000/app:latest"
    assert familiar("docker.io/library/nginx:1.27") == "nginx:1.27"
    assert familiar("quay.io/team/app:2") == "quay.io/team/app:2"


def test_it_compares_images_whatever_the_registry_prefix() -> None:
    qualified = pod("web", image="docker.io/library/nginx:1.27")

    assert (
        judge(
            {"kind": "Pod", "name": "web", "expect": {"spec.containers.0.image": "nginx:1.27"}},
            qualified,
        )
        == PASSED
    )
    assert (
        judge(
            {
                "kind": "Pod",
                "name": "web",
                "jsonpath": "{.spec.containers[0].image}",
                "equals": "nginx:1.27",
            },
            qualified,
        )
        == PASSED
    )
    assert (
        judge(
            {
                "kind": "Pod",
                "name": "web",
                "jsonpath": "{.spec.containers[0].image}",
                "matches": "^nginx:1\\.27$",
            },
            qualified,
        )
        == PASSED
    )
    assert judge(
        {
            "kind": "Pod",
            "name": "web",
            "jsonpath": "{.spec.containers[0].image}",
            "equals": "nginx:1.28",
        },
        qualified,
    ) == failing(
        "Pod web: {.spec.containers[0].image} is docker.io/library/nginx:1.27, want nginx:1.28"
    )


def test_it_compares_other_fields_exactly() -> None:
    web = pod("web", labels={"app": "nginx"})

    assert judge(
        {
            "kind": "Pod",
            "name": "web",
            "expect": {"metadata.labels.app": "docker.io/library/nginx"},
        },
        web,
    ) == failing("Pod web: metadata.labels.app is nginx, want docker.io/library/nginx")


# -- selections and counts ------------------------------------------------------------------


def test_it_counts_what_a_selector_selects() -> None:
    pods = [
        pod("a", labels={"app": "shop"}),
        pod("b", labels={"app": "shop"}),
        pod("c", labels={"app": "blog"}),
    ]

    assert judge({"kind": "Pod", "selector": "app=shop", "count": 2}, *pods) == PASSED
    assert judge({"kind": "Pod", "selector": "app=shop", "count": 3}, *pods) == failing(
        "Pods with app=shop: 2 found (a, b), want exactly 3"
    )
    assert judge({"kind": "Pod", "selector": "app=shop", "count": {"max": 1}}, *pods) == failing(
        "Pods with app=shop: 2 found (a, b), want at most 1"
    )
    assert (
        judge({"kind": "Pod", "selector": "app=shop", "count": {"min": 1, "max": 2}}, *pods)
        == PASSED
    )


def test_it_wants_at_least_one_when_a_selector_has_no_count() -> None:
    assert judge({"kind": "Pod", "selector": "tier=web"}) == failing(
        "Pods with tier=web: 0 found, want at least 1"
    )


def test_it_lists_a_few_names_and_counts_the_rest() -> None:
    pods = [pod(f"p{i}", labels={"app": "shop"}) for i in range(7)]

    assert judge({"kind": "Pod", "selector": "app=shop", "count": 0}, *pods) == failing(
        "Pods with app=shop: 7 found (p0, p1, p2, p3, p4 and 2 more), want none"
    )


def test_it_judges_every_selected_object() -> None:
    pods = [
        pod("a", labels={"app": "shop"}),
        pod("b", labels={"app": "shop"}, phase="Pending", ready=False),
    ]

    assert judge(
        {
            "kind": "Pod",
            "selector": "app=shop",
            "count": 2,
            "all_ready": True,
            "expect": {"phase": "Running"},
        },
        *pods,
    ) == failing(
        "Pod b: status.phase is Pending, want Running",
        "Pod b: not ready (phase Pending)",
    )


def test_it_names_plural_kinds_as_people_write_them() -> None:
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "labels": {"app": "x"}},
    }

    assert judge({"kind": "NetworkPolicy", "selector": "app=y"}, policy) == failing(
        "NetworkPolicies with app=y: 0 found, want at least 1"
    )


# -- absent ---------------------------------------------------------------------------------


def test_it_wants_an_absent_object_gone() -> None:
    assert judge({"kind": "Pod", "name": "old", "absent": True}) == PASSED
    assert judge({"kind": "Pod", "name": "old", "absent": True}, pod("old")) == failing(
        "Pod old exists, want it gone"
    )
    assert judge(
        {"kind": "Pod", "selector": "app=old", "absent": True}, pod("o1", labels={"app": "old"})
    ) == failing("Pods with app=old: 1 found (o1), want none")


# -- objects being deleted ------------------------------------------------------------------


def test_it_counts_an_object_being_deleted_as_gone() -> None:
    dying = being_deleted(pod("old", labels={"app": "shop"}))

    assert judge({"kind": "Pod", "name": "old", "absent": True}, dying) == PASSED
    assert judge({"kind": "Pod", "name": "old"}, dying) == failing("Pod old is being deleted")
    assert (
        judge(
            {"kind": "Pod", "selector": "app=shop", "count": 1},
            dying,
            pod("new", labels={"app": "shop"}),
        )
        == PASSED
    )
    assert judge({"kind": "Pod", "selector": "app=shop"}, dying) == failing(
        "Pods with app=shop: 0 found, want at least 1"
    )


# -- readiness ------------------------------------------------------------------------------


def test_it_wants_a_ready_pod_and_says_why_one_is_not() -> None:
    waiting = pod("web", phase="Pending", ready=False)
    waiting["status"]["containerStatuses"] = [
        {"name": "web", "ready": False, "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    ]

    assert judge({"kind": "Pod", "name": "web", "all_ready": True}, pod("web")) == PASSED
    assert judge({"kind": "Pod", "name": "web", "all_ready": True}, waiting) == failing(
        "Pod web: not ready (container web: ImagePullBackOff)"
    )
    assert judge(
        {"kind": "Pod", "name": "web", "all_ready": True}, pod("web", ready=False)
    ) == failing("Pod web: not ready (running, but not ready yet)")


def test_it_counts_a_deployments_ready_replicas() -> None:
    spec = {"kind": "Deployment", "name": "nginx", "all_ready": True}

    assert judge(spec, deployment("nginx", replicas=3, ready=3)) == PASSED
    assert judge(spec, deployment("nginx", replicas=3, ready=2)) == failing(
        "Deployment nginx: 2 of 3 replicas ready"
    )
    assert judge(spec, deployment("nginx", replicas=1, ready=2)) == failing(
        "Deployment nginx: 2 replicas ready, want 1"
    )
    assert judge(spec, deployment("nginx", replicas=0, ready=0)) == PASSED


def test_it_names_the_pods_a_workload_waits_for() -> None:
    waiting = pod("nginx-7c9-x2k", ready=False, phase="Pending", labels={"app": "nginx"})
    waiting["status"]["containerStatuses"] = [
        {"name": "web", "ready": False, "state": {"waiting": {"reason": "ErrImagePull"}}}
    ]
    others = [
        pod("nginx-7c9-a1b", labels={"app": "nginx"}),
        pod("other", labels={"app": "x"}, ready=False),
    ]

    assert judge(
        {"kind": "Deployment", "name": "nginx", "all_ready": True},
        deployment("nginx", replicas=2, ready=1),
        waiting,
        *others,
    ) == failing(
        "Deployment nginx: 1 of 2 replicas ready (pod nginx-7c9-x2k: container web: ErrImagePull)"
    )


def test_it_waits_for_the_controller_to_see_the_latest_change() -> None:
    behind = deployment("nginx", replicas=3, ready=3)
    behind["metadata"]["generation"] = 3

    assert judge({"kind": "Deployment", "name": "nginx", "all_ready": True}, behind) == failing(
        "Deployment nginx: its controller has not caught up with the latest change yet"
    )


@pytest.mark.parametrize("kind", ["ReplicaSet", "StatefulSet"])
def test_it_judges_replica_sets_and_stateful_sets_like_deployments(kind: str) -> None:
    obj = {**deployment("web", replicas=2, ready=1), "kind": kind}
    spec = {"kind": kind, "name": "web", "all_ready": True}

    assert judge(spec, obj) == failing(f"{kind} web: 1 of 2 replicas ready")
    obj["status"]["readyReplicas"] = 2
    assert judge(spec, obj) == PASSED


def test_it_judges_a_daemon_set_by_its_scheduled_pods() -> None:
    daemon = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "generation": 1},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 1},
    }
    spec = {"kind": "DaemonSet", "name": "agent", "all_ready": True}

    assert judge(spec, daemon) == failing("DaemonSet agent: 1 of 3 pods ready")
    daemon["status"]["numberReady"] = 3
    assert judge(spec, daemon) == PASSED


def test_it_counts_a_services_ready_endpoints() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}},
    }

    def endpoint_slice(name: str, service: str, *ready: bool | None) -> dict:
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": [f"10.0.0.{i}"], "conditions": {"ready": r}}
                for i, r in enumerate(ready)
            ],
        }

    spec = {"kind": "Service", "name": "web", "all_ready": True}

    assert judge(spec, service, endpoint_slice("web-x", "web", False)) == failing(
        "Service web: 0 ready endpoints, want at least 1"
    )
    assert judge(spec, service, endpoint_slice("other-x", "other", True)) == failing(
        "Service web: 0 ready endpoints, want at least 1"
    )
    assert judge(spec, service, endpoint_slice("web-x", "web", False, None)) == PASSED
    assert judge(spec, service, being_deleted(endpoint_slice("web-x", "web", True))) == failing(
        "Service web: 0 ready endpoints, want at least 1"
    )


def test_it_reads_a_services_endpoints_where_it_has_no_slices() -> None:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"}, "spec": {}}
    endpoints = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {"name": "web"},
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}]}],
    }

    assert (
        judge({"kind": "Service", "name": "web", "all_ready": True}, service, endpoints) == PASSED
    )


def test_it_never_counts_a_pod_being_deleted_as_ready() -> None:
    assert judge(
        {"kind": "Pod", "selector": "app=shop", "all_ready": True},
        being_deleted(pod("a", labels={"app": "shop"})),
    ) == failing("Pods with app=shop: 0 found, want at least 1")


# -- what a check reads, and errors ---------------------------------------------------------


def test_it_names_the_kinds_a_check_reads() -> None:
    assert kinds_needed(parse_check({"kind": "Pod", "name": "p"})) == {"Pod"}
    assert kinds_needed(parse_check({"kind": "Deployment", "name": "d", "all_ready": True})) == {
        "Deployment",
        "Pod",
    }
    assert kinds_needed(parse_check({"kind": "Service", "name": "s", "all_ready": True})) == {
        "Service",
        "EndpointSlice",
        "Endpoints",
    }


def test_it_reports_a_kind_it_could_not_read_as_an_error() -> None:
    check = parse_check({"kind": "Pod", "name": "my-pod"})

    outcome = evaluate(
        check, Snapshot({}, {"Pod": "pods is forbidden: User cannot list (HTTP 403)"})
    )

    assert outcome.state == State.ERROR
    assert outcome.differences == (
        "cannot read Pods: pods is forbidden: User cannot list (HTTP 403)",
    )


def test_it_refuses_a_snapshot_without_the_kinds_a_check_needs() -> None:
    with pytest.raises(ValueError, match="the snapshot holds no Pod objects"):
        evaluate(parse_check({"kind": "Pod", "name": "p"}), Snapshot({}))


def test_it_sums_a_tasks_checks_up() -> None:
    checks = [
        Check.from_json({"kind": "Pod", "name": "a"}),
        Check.from_json({"kind": "Pod", "name": "b"}),
    ]

    assert evaluate_task(checks, snapshot(pod("a"), pod("b"))).state == State.PASSED
    outcome = evaluate_task(checks, snapshot(pod("a")))
    assert outcome.state == State.FAILING
    assert outcome.details() == [
        {"check": "Pod a exists", "state": "passed", "differences": []},
        {"check": "Pod b exists", "state": "failing", "differences": ["Pod b does not exist"]},
    ]
    broken = Snapshot({}, {"Pod": "the server is unreachable"})
    assert evaluate_task(checks, broken).state == State.ERROR

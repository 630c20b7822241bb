"""The check vocabulary: kubectl jsonpath templates, parsing and validating checks, their
canonical JSON form and the sentences trainees read."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import pytest

from labs.checks import (
    KINDS,
    NOT_GIVEN,
    SHORTHANDS,
    Check,
    CheckSpecError,
    KindInfo,
    parse_check,
    split_field_path,
)
from labs.checks.jsonpath import JsonPathError, compile_jsonpath
from labs.checks.selectors import parse_selector

POD = {
    "metadata": {
        "name": "web-1",
        "labels": {"app": "web", "app.kubernetes.io/name": "shop", "where": "here"},
    },
    "spec": {
        "containers": [
            {"name": "nginx", "image": "nginx:1.28", "ports": [{"containerPort": 80}]},
            {"name": "sidecar", "image": "busybox:1.37"},
        ],
    },
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Initialized", "status": "True"},
            {"type": "Ready", "status": "False"},
        ],
    },
}

# --- jsonpath ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ("{.spec.containers[0].image}", ["nginx:1.28"]),
        ("{.metadata.labels.app}", ["web"]),
        ("{.spec.containers[*].image}", ["nginx:1.28", "busybox:1.37"]),
        ('{.status.conditions[?(@.type=="Ready")].status}', ["False"]),
        ("{.status.conditions[?(@.type=='Ready')].status}", ["False"]),
        ('{.status.conditions[?(@.status=="True")].type}', ["Initialized"]),
        ('{.status.conditions[?(@.type!="Ready")].type}', ["Initialized"]),
        ("{.spec.containers[?(@.ports)].name}", ["nginx"]),
        ("{.spec.containers[0].ports[?(@.containerPort==80)].containerPort}", [80]),
        ("{.spec.containers[-1].name}", ["sidecar"]),
        ("{.spec.containers[0:1].name}", ["nginx"]),
        (
            "{.spec.containers[*]['name','image']}",
            ["nginx", "nginx:1.28", "sidecar", "busybox:1.37"],
        ),
        ("{..image}", ["nginx:1.28", "busybox:1.37"]),
        ("{$.metadata.name}", ["web-1"]),
        ("{.status.phase}", ["Running"]),
        ("  { .status.phase }  ", ["Running"]),
        (r"{.metadata.labels.app\.kubernetes\.io/name}", ["shop"]),
        ("{.metadata.labels['app.kubernetes.io/name']}", ["shop"]),
        ("{.metadata.labels.where}", ["here"]),
        ("{.spec.replicas}", []),
        ("{.spec.containers[5].image}", []),
        ('{.status.conditions[?(@.type=="Missing")].status}', []),
    ],
)
def test_it_finds_what_kubectl_jsonpath_finds(template: str, found: list[Any]) -> None:
    assert compile_jsonpath(template).find(POD) == found


def test_it_keeps_the_template_and_shows_the_translation() -> None:
    jsonpath = compile_jsonpath(r" {.metadata.labels.app\.kubernetes\.io/name} ")
    assert jsonpath.template == r"{.metadata.labels.app\.kubernetes\.io/name}"
    assert jsonpath.expression == '$.metadata.labels.["app.kubernetes.io/name"]'


def test_it_compares_compiled_jsonpaths_by_template() -> None:
    assert compile_jsonpath("{.a.b}") == compile_jsonpath("{.a.b}")
    assert compile_jsonpath("{.a.b}") != compile_jsonpath("{.a.c}")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        (".spec.replicas", "must be one {...} expression, like {.spec.replicas}"),
        ("{.spec.replicas", "must be one {...} expression, like {.spec.replicas}"),
        ("replicas: {.spec.replicas}", "must be one {...} expression, like {.spec.replicas}"),
        ("", "must be one {...} expression, like {.spec.replicas}"),
        ("{}", "the expression between { and } is empty"),
        ("{  }", "the expression between { and } is empty"),
        ("{.a}{.b}", "a check takes exactly one {...} expression"),
        ("{.a} {.b}", "a check takes exactly one {...} expression"),
        (
            "{range .items[*]}{.metadata.name}{end}",
            "a check takes exactly one {...} expression",
        ),
        ("{range .items[*]}", "range ... end is not supported; a check takes one expression"),
        (
            "{spec.replicas}",
            'must start with "." (the object), like {.spec.replicas}; found "spec.replicas"',
        ),
        ("{@.spec}", 'must start with "." (the object), like {.spec.replicas}; found "@.spec"'),
        ("{.spec.containers[}", "does not parse: Parse error near the end of string!"),
        ("{.spec.}", "does not parse: Parse error near the end of string!"),
        (
            '{.status.conditions[?(@.type=="Ready"}',
            "does not parse: Parse error near the end of string!",
        ),
        ("{.a.b c}", "does not parse: Parse error at 1:6 near token c (ID)"),
        (
            "{.status.conditions[?(@.type==Ready)].status}",
            "uses syntax jsonpath-ng is dropping: An unquoted word as a comparison operand is "
            "deprecated. Support for unquoted words will be removed in version 2.0.0. "
            "Write `'Ready'` instead.",
        ),
        ("{.spec.containers.`len`}", '"`" is not kubectl jsonpath (named operators)'),
        ("{.spec.containers[/name]}", '"/" is not kubectl jsonpath (sorting)'),
        (
            '{.status.conditions[?(@.type=~"Re")].status}',
            '"~" is not kubectl jsonpath (regular expression matching)',
        ),
    ],
)
def test_it_refuses_a_bad_jsonpath(template: str, reason: str) -> None:
    with pytest.raises(JsonPathError) as error:
        compile_jsonpath(template)
    assert str(error.value) == f'bad jsonpath "{template}": {reason}'


def test_it_allows_braces_and_slashes_inside_string_literals() -> None:
    jsonpath = compile_jsonpath('{.metadata.labels[?(@=="{a/b}")]}')
    assert jsonpath.find({"metadata": {"labels": {"x": "{a/b}", "y": "c"}}}) == ["{a/b}"]


def test_it_raises_value_errors_for_jsonpaths() -> None:
    with pytest.raises(ValueError, match="empty"):
        compile_jsonpath("{}")


# --- the vocabulary ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "api_version", "plural"),
    [
        ("Pod", "v1", "pods"),
        ("Service", "v1", "services"),
        ("Endpoints", "v1", "endpoints"),
        ("ConfigMap", "v1", "configmaps"),
        ("Secret", "v1", "secrets"),
        ("ServiceAccount", "v1", "serviceaccounts"),
        ("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
        ("ResourceQuota", "v1", "resourcequotas"),
        ("LimitRange", "v1", "limitranges"),
        ("Deployment", "apps/v1", "deployments"),
        ("ReplicaSet", "apps/v1", "replicasets"),
        ("StatefulSet", "apps/v1", "statefulsets"),
        ("DaemonSet", "apps/v1", "daemonsets"),
        ("Job", "batch/v1", "jobs"),
        ("CronJob", "batch/v1", "cronjobs"),
        ("Ingress", "networking.k8s.io/v1", "ingresses"),
        ("NetworkPolicy", "networking.k8s.io/v1", "networkpolicies"),
        ("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers"),
        ("Role", "rbac.authorization.k8s.io/v1", "roles"),
        ("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
        ("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets"),
        ("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
    ],
)
def test_it_knows_every_kind_of_the_contract(kind: str, api_version: str, plural: str) -> None:
    assert KINDS[kind] == KindInfo(api_version, plural, namespaced=True)


def test_it_knows_no_other_kinds() -> None:
    assert len(KINDS) == 22


@pytest.mark.parametrize(
    ("api_version", "group", "version"),
    [("v1", "", "v1"), ("apps/v1", "apps", "v1"), ("autoscaling/v2", "autoscaling", "v2")],
)
def test_it_splits_an_api_version(api_version: str, group: str, version: str) -> None:
    info = KindInfo(api_version, "things")
    assert (info.group, info.version) == (group, version)


@pytest.mark.parametrize(
    ("shorthand", "path"),
    [
        ("phase", "status.phase"),
        ("replicas", "spec.replicas"),
        ("readyReplicas", "status.readyReplicas"),
        ("availableReplicas", "status.availableReplicas"),
        ("type", "spec.type"),
    ],
)
def test_it_expands_expect_shorthands(shorthand: str, path: str) -> None:
    check = parse_check({"kind": "Deployment", "name": "web", "expect": {shorthand: 1}})
    assert check.expect == ((path, 1),)
    assert SHORTHANDS[shorthand] == path


def test_it_knows_no_other_shorthands() -> None:
    assert len(SHORTHANDS) == 5


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        ("spec.replicas", ("spec", "replicas")),
        (
            "spec.template.spec.containers.0.image",
            ("spec", "template", "spec", "containers", "0", "image"),
        ),
        (
            "metadata.labels.app.kubernetes.io/name",
            ("metadata", "labels", "app.kubernetes.io/name"),
        ),
        ("metadata.annotations.a.b/c", ("metadata", "annotations", "a.b/c")),
        ("data.nginx.conf", ("data", "nginx.conf")),
        ("metadata.labels", ("metadata", "labels")),
    ],
)
def test_it_splits_a_field_path_into_keys(path: str, keys: tuple[str, ...]) -> None:
    assert split_field_path(path) == keys


# --- parsing -------------------------------------------------------------------------------


def test_it_builds_a_check_for_a_named_object() -> None:
    assert parse_check({"kind": "Pod", "name": "my-pod", "expect": {"phase": "Running"}}) == Check(
        kind="Pod",
        api_version="v1",
        name="my-pod",
        selector=None,
        expect=(("status.phase", "Running"),),
    )


def test_it_fills_in_the_defaults() -> None:
    check = parse_check({"kind": "ConfigMap", "name": "settings"})
    assert check.api_version == "v1"
    assert check.selector is None
    assert check.expect == ()
    assert check.jsonpath is None
    assert check.equals is NOT_GIVEN
    assert check.matches is None
    assert (check.count_min, check.count_max) == (None, None)
    assert check.all_ready is False
    assert check.absent is False
    assert check.description == ""
    assert check.kind_info == KINDS["ConfigMap"]


def test_it_accepts_the_kinds_own_api_version() -> None:
    check = parse_check({"kind": "Deployment", "apiVersion": "apps/v1", "name": "web"})
    assert check.api_version == "apps/v1"


def test_it_builds_a_check_for_a_selected_set() -> None:
    check = parse_check({"kind": "Pod", "selector": "tier!=db, app = web", "all_ready": True})
    assert check.name is None
    assert check.selector == parse_selector("app=web,tier!=db")
    assert check.all_ready is True


@pytest.mark.parametrize(
    ("count", "bounds"),
    [
        (None, (1, None)),
        (0, (0, 0)),
        (3, (3, 3)),
        ({"min": 2}, (2, None)),
        ({"max": 4}, (None, 4)),
        ({"min": 2, "max": 4}, (2, 4)),
        ({"min": 3, "max": 3}, (3, 3)),
        ({"min": 0, "max": 0}, (0, 0)),
    ],
)
def test_it_reads_count_and_asks_for_at_least_one_by_default(
    count: Any, bounds: tuple[int | None, int | None]
) -> None:
    raw: dict[str, Any] = {"kind": "Pod", "selector": "app=web"}
    if count is not None:
        raw["count"] = count
    check = parse_check(raw)
    assert (check.count_min, check.count_max) == bounds


def test_it_asks_for_no_count_when_the_selected_set_must_be_absent() -> None:
    check = parse_check({"kind": "Pod", "selector": "app=old", "absent": True})
    assert (check.count_min, check.count_max, check.absent) == (None, None, True)


def test_it_compiles_jsonpath_and_equals() -> None:
    check = parse_check(
        {"kind": "Deployment", "name": "web", "jsonpath": "{.spec.replicas}", "equals": 3}
    )
    assert check.jsonpath == compile_jsonpath("{.spec.replicas}")
    assert check.equals == 3
    assert check.matches is None


def test_it_keeps_null_as_a_wanted_value() -> None:
    check = parse_check({"kind": "Pod", "name": "p", "jsonpath": "{.spec.x}", "equals": None})
    assert check.equals is None


def test_it_compiles_matches_for_searching() -> None:
    check = parse_check(
        {
            "kind": "Deployment",
            "name": "web",
            "jsonpath": "{.spec.template.spec.containers[0].image}",
            "matches": r"nginx:1\.28",
        }
    )
    assert check.matches == re.compile(r"nginx:1\.28")
    assert check.matches is not None
    assert check.matches.search("docker.io/nginx:1.28.0")
    assert check.equals is NOT_GIVEN


def test_it_keeps_the_order_of_expect_and_copies_its_values() -> None:
    labels = {"app": "web"}
    check = parse_check(
        {
            "kind": "Pod",
            "name": "p",
            "expect": {"spec.nodeName": "n1", "metadata.labels": labels, "phase": "Running"},
        }
    )
    labels["app"] = "changed"
    assert check.expect == (
        ("spec.nodeName", "n1"),
        ("metadata.labels", {"app": "web"}),
        ("status.phase", "Running"),
    )


@pytest.mark.parametrize(
    "path",
    [
        "metadata.labels.app.kubernetes.io/name",
        "metadata.annotations.kubernetes.io/change-cause",
        "data.nginx.conf",
        "data.KEY_1",
        "spec.template.spec.containers.0.image",
        "status.containerStatuses.0.ready",
        "spec.selector.matchLabels.app",
    ],
)
def test_it_accepts_dotted_paths(path: str) -> None:
    assert parse_check({"kind": "Pod", "name": "p", "expect": {path: "x"}}).expect == ((path, "x"),)


def test_it_strips_the_description() -> None:
    check = parse_check({"kind": "Pod", "name": "p", "description": "  Your pod runs.\n"})
    assert check.description == "Your pod runs."


# --- errors --------------------------------------------------------------------------------

ALL_KEYS = (
    "kind, apiVersion, name, selector, expect, jsonpath, equals, matches, count, all_ready, "
    "absent, description"
)
ALL_KINDS = (
    "Pod, Service, Endpoints, ConfigMap, Secret, ServiceAccount, PersistentVolumeClaim, "
    "ResourceQuota, LimitRange, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, "
    "Ingress, NetworkPolicy, HorizontalPodAutoscaler, Role, RoleBinding, PodDisruptionBudget, "
    "EndpointSlice"
)
SHORTHAND_LIST = "phase, replicas, readyReplicas, availableReplicas, type"
NAME_RULE = (
    'lower-case letters, digits, "-" and ".", at most 253 characters, '
    "starting and ending with a letter or digit"
)
COUNT_USAGE = "a non-negative integer, or a mapping with min, max or both"
ABSENT_ONLY = (
    "cannot be combined with absent: true; an absent object has nothing to check, so give only "
    "kind, apiVersion, name or selector, and description"
)
JSON_ONLY = "must be plain YAML (a string, number, boolean, null, list or mapping with string keys)"


def pod(**keys: Any) -> dict[str, Any]:
    return {"kind": "Pod", "name": "p", **keys}


def selected(**keys: Any) -> dict[str, Any]:
    return {"kind": "Pod", "selector": "app=web", **keys}


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        (
            "kind: Pod",
            None,
            'a check must be a mapping with kind and name or selector, not the string "kind: Pod"',
        ),
        (
            [{"kind": "Pod"}],
            None,
            "a check must be a mapping with kind and name or selector, not a list",
        ),
        (None, None, "a check must be a mapping with kind and name or selector, not null"),
        (pod(image="nginx"), "image", f'unknown key "image"; a check takes {ALL_KEYS}'),
        (
            pod(apiversion="v1"),
            "apiversion",
            f'unknown key "apiversion" (did you mean "apiVersion"?); a check takes {ALL_KEYS}',
        ),
        (
            pod(**{"all-ready": True}),
            "all-ready",
            f'unknown key "all-ready" (did you mean "all_ready"?); a check takes {ALL_KEYS}',
        ),
        # A misspelt key is reported before what it leaves missing.
        (
            {"Kind": "Pod", "name": "p"},
            "Kind",
            f'unknown key "Kind" (did you mean "kind"?); a check takes {ALL_KEYS}',
        ),
        ({"name": "p"}, None, "missing kind: every check names the kind of object, like Pod"),
        (
            {"kind": "Deploy", "name": "p"},
            "kind",
            f'unknown kind "Deploy"; known kinds: {ALL_KINDS}',
        ),
        (
            {"kind": "deployment", "name": "p"},
            "kind",
            f'unknown kind "deployment" (did you mean "Deployment"?); known kinds: {ALL_KINDS}',
        ),
        (
            {"kind": "pods", "name": "p"},
            "kind",
            f'unknown kind "pods" (did you mean "Pod"?); known kinds: {ALL_KINDS}',
        ),
        (
            {"kind": "Node", "name": "p"},
            "kind",
            f'unknown kind "Node"; known kinds: {ALL_KINDS}',
        ),
        (
            {"kind": "Deployment", "apiVersion": "extensions/v1beta1", "name": "web"},
            "apiVersion",
            'apiVersion "extensions/v1beta1" does not match kind Deployment: use apps/v1 '
            "(or leave apiVersion out)",
        ),
        (
            {"kind": "HorizontalPodAutoscaler", "apiVersion": "autoscaling/v1", "name": "h"},
            "apiVersion",
            'apiVersion "autoscaling/v1" does not match kind HorizontalPodAutoscaler: '
            "use autoscaling/v2 (or leave apiVersion out)",
        ),
        (
            {"kind": "Pod"},
            None,
            "missing name or selector: a check needs name (one object) or selector "
            "(a set of objects by label)",
        ),
        (
            pod(selector="app=web"),
            "selector",
            "give name or selector, not both: name is one object, selector a set of them",
        ),
        (
            pod(name="My_Pod"),
            "name",
            f'name "My_Pod" is not a valid object name: use {NAME_RULE}',
        ),
        (
            pod(name="p" * 254),
            "name",
            f'name "{"p" * 254}" is not a valid object name: use {NAME_RULE}',
        ),
        (pod(name="web-"), "name", f'name "web-" is not a valid object name: use {NAME_RULE}'),
        (pod(name=""), "name", f'name "" is not a valid object name: use {NAME_RULE}'),
        (pod(name=42), "name", "name must be a string, not the number 42"),
        (
            selected(selector="app in (a"),
            "selector",
            'bad label selector "app in (a": missing ")"',
        ),
        (
            selected(selector=""),
            "selector",
            'bad label selector "": empty; a check must select something, like app=web',
        ),
        (
            selected(selector={"app": "web"}),
            "selector",
            "selector must be a label selector as kubectl takes it, like app=web, not a mapping",
        ),
        (
            pod(expect="Running"),
            "expect",
            "expect must be a mapping of field to wanted value, like {phase: Running}, "
            'not the string "Running"',
        ),
        (pod(expect={}), "expect", "expect is empty: give at least one field and value"),
        (
            pod(expect={"state": "Running"}),
            "expect",
            f'expect: "state" is neither a shorthand ({SHORTHAND_LIST}) nor a dotted path '
            "starting with metadata., spec., status., data.",
        ),
        (
            pod(expect={"spec": {"replicas": 1}}),
            "expect",
            f'expect: "spec" is neither a shorthand ({SHORTHAND_LIST}) nor a dotted path '
            "starting with metadata., spec., status., data.",
        ),
        (
            pod(expect={"kind.x": 1}),
            "expect",
            f'expect: "kind.x" is neither a shorthand ({SHORTHAND_LIST}) nor a dotted path '
            "starting with metadata., spec., status., data.",
        ),
        (
            pod(expect={3: 1}),
            "expect",
            f'expect: "3" is neither a shorthand ({SHORTHAND_LIST}) nor a dotted path '
            "starting with metadata., spec., status., data.",
        ),
        (pod(expect={"spec..replicas": 1}), "expect", 'expect: "spec..replicas" has an empty part'),
        (pod(expect={"spec.": 1}), "expect", 'expect: "spec." has an empty part'),
        (pod(expect={"data.": 1}), "expect", 'expect: "data." has an empty part'),
        (
            pod(expect={"spec.replicas ": 1}),
            "expect",
            'expect: "spec.replicas " has an invalid part "replicas " '
            '(use letters, digits, "_", "-")',
        ),
        (
            pod(expect={"data.a b": 1}),
            "expect",
            'expect: "data.a b" has an invalid part "a b" '
            '(use letters, digits, "_", "-", "." and "/")',
        ),
        (
            pod(expect={"replicas": 1, "spec.replicas": 2}),
            "expect",
            'expect: "replicas" and "spec.replicas" are the same field (spec.replicas)',
        ),
        (
            pod(expect={"status.startTime": datetime.date(2025, 1, 2)}),
            "expect",
            f'expect: the value of "status.startTime" {JSON_ONLY}, not date 2025-01-02; '
            "quote it if you mean text",
        ),
        (
            pod(jsonpath="{.spec.replicas"),
            "jsonpath",
            'bad jsonpath "{.spec.replicas": must be one {...} expression, like {.spec.replicas}',
        ),
        (
            pod(jsonpath="{.spec.containers[}", equals="x"),
            "jsonpath",
            'bad jsonpath "{.spec.containers[}": does not parse: '
            "Parse error near the end of string!",
        ),
        (
            pod(jsonpath=["{.a}"], equals=1),
            "jsonpath",
            "jsonpath must be a kubectl jsonpath like {.spec.replicas}, not a list",
        ),
        (
            pod(jsonpath="{.spec.replicas}"),
            "jsonpath",
            "jsonpath needs equals (a value) or matches (a regular expression) to test what it "
            "selects",
        ),
        (
            pod(jsonpath="{.spec.replicas}", equals=1, matches="1"),
            "jsonpath",
            "jsonpath takes equals or matches, not both",
        ),
        (pod(equals=1), "equals", "equals needs jsonpath: the value it tests"),
        (pod(matches="^a"), "matches", "matches needs jsonpath: the value it tests"),
        (
            pod(jsonpath="{.metadata.name}", matches="web-("),
            "matches",
            'matches: "web-(" is not a regular expression: '
            "missing ), unterminated subpattern at position 4",
        ),
        (
            pod(jsonpath="{.metadata.name}", matches=3),
            "matches",
            "matches must be a regular expression (a string), not the number 3",
        ),
        (
            pod(jsonpath="{.metadata.creationTimestamp}", equals=datetime.date(2025, 1, 2)),
            "equals",
            f"equals {JSON_ONLY}, not date 2025-01-02; quote it if you mean text",
        ),
        (
            pod(count=1),
            "count",
            "count needs selector: a check with name is about exactly one object",
        ),
        (selected(count=-1), "count", f"count must be {COUNT_USAGE}, not the number -1"),
        (selected(count=True), "count", f"count must be {COUNT_USAGE}, not the boolean true"),
        (selected(count="2"), "count", f'count must be {COUNT_USAGE}, not the string "2"'),
        (selected(count=1.5), "count", f"count must be {COUNT_USAGE}, not the number 1.5"),
        (selected(count={}), "count", f"count must be {COUNT_USAGE}, not an empty mapping"),
        (selected(count={"least": 1}), "count", 'count takes min and max, not "least"'),
        (
            selected(count={"min": "1"}),
            "count",
            'count min must be a non-negative integer, not the string "1"',
        ),
        (
            selected(count={"max": -2}),
            "count",
            "count max must be a non-negative integer, not the number -2",
        ),
        (
            selected(count={"min": 3, "max": 2}),
            "count",
            "count min (3) is more than count max (2)",
        ),
        (
            pod(all_ready="yes"),
            "all_ready",
            'all_ready must be true or false, not the string "yes"',
        ),
        (pod(absent=1), "absent", "absent must be true or false, not the number 1"),
        (pod(absent=None), "absent", "absent must be true or false, not null"),
        (pod(absent=True, expect={"phase": "Running"}), "expect", f"expect {ABSENT_ONLY}"),
        (selected(absent=True, count=0), "count", f"count {ABSENT_ONLY}"),
        (pod(absent=True, all_ready=False), "all_ready", f"all_ready {ABSENT_ONLY}"),
        (
            pod(absent=True, jsonpath="{.a}", equals=1),
            "jsonpath",
            f"jsonpath {ABSENT_ONLY}",
        ),
        (
            {"kind": "ConfigMap", "name": "c", "all_ready": True},
            "all_ready",
            "all_ready needs a kind that can be ready "
            "(DaemonSet, Deployment, Pod, ReplicaSet, Service, StatefulSet); a ConfigMap cannot",
        ),
        (
            pod(description=["Your pod runs"]),
            "description",
            "description must be a sentence (a non-empty string), not a list",
        ),
        (
            pod(description=" \n"),
            "description",
            'description must be a sentence (a non-empty string), not the string " \n"',
        ),
    ],
)
def test_it_names_the_problem_and_the_key_it_is_at(raw: Any, key: str | None, message: str) -> None:
    with pytest.raises(CheckSpecError) as error:
        parse_check(raw)
    assert (error.value.key, error.value.message) == (key, message)
    assert str(error.value) == message
    assert isinstance(error.value, ValueError)


# --- canonical form ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        (
            {"kind": "Pod", "name": "my-pod", "expect": {"phase": "Running"}},
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "name": "my-pod",
                "expect": {"status.phase": "Running"},
            },
        ),
        (
            {"kind": "Pod", "selector": "tier!=db,app==web", "all_ready": True},
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "selector": "app=web,tier!=db",
                "count": {"min": 1},
                "all_ready": True,
            },
        ),
        (
            {"kind": "Service", "selector": "app", "count": 2, "description": "Two services\n"},
            {
                "kind": "Service",
                "apiVersion": "v1",
                "selector": "app",
                "count": {"min": 2, "max": 2},
                "description": "Two services",
            },
        ),
        (
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "name": "web",
                "jsonpath": "{.spec.template.spec.containers[0].image}",
                "matches": r"^nginx:1\.28",
                "all_ready": False,
                "absent": False,
            },
            {
                "kind": "Deployment",
                "apiVersion": "apps/v1",
                "name": "web",
                "jsonpath": "{.spec.template.spec.containers[0].image}",
                "matches": r"^nginx:1\.28",
            },
        ),
        (
            {"kind": "Job", "name": "j", "jsonpath": "{.status.x}", "equals": None},
            {
                "kind": "Job",
                "apiVersion": "batch/v1",
                "name": "j",
                "jsonpath": "{.status.x}",
                "equals": None,
            },
        ),
        (
            {"kind": "ConfigMap", "name": "old-config", "absent": True},
            {"kind": "ConfigMap", "apiVersion": "v1", "name": "old-config", "absent": True},
        ),
        (
            {"kind": "Pod", "selector": "app=old", "absent": True},
            {"kind": "Pod", "apiVersion": "v1", "selector": "app=old", "absent": True},
        ),
        (
            {"kind": "Pod", "selector": "env in (b,a)", "count": {"max": 3}},
            {
                "kind": "Pod",
                "apiVersion": "v1",
                "selector": "env in (a,b)",
                "count": {"max": 3},
            },
        ),
    ],
)
def test_it_stores_a_canonical_form(raw: dict[str, Any], canonical: dict[str, Any]) -> None:
    check = parse_check(raw)
    assert check.to_json() == canonical
    assert json.loads(json.dumps(check.to_json())) == canonical


ROUND_TRIPS = [
    {"kind": "Pod", "name": "my-pod", "expect": {"phase": "Running", "metadata.labels.app": "web"}},
    {"kind": "Pod", "selector": "app=web,!canary", "count": {"min": 2}, "all_ready": True},
    {
        "kind": "Deployment",
        "name": "web",
        "expect": {"replicas": 3, "spec.template.metadata.labels": {"app": "web"}},
        "jsonpath": '{.status.conditions[?(@.type=="Available")].status}',
        "equals": "True",
        "all_ready": True,
        "description": "The web deployment is available",
    },
    {
        "kind": "Secret",
        "name": "db",
        "jsonpath": "{.data.password}",
        "matches": "^[A-Za-z0-9+/=]+$",
    },
    {"kind": "Ingress", "selector": "app in (shop,web)", "count": {"min": 1, "max": 2}},
    {"kind": "CronJob", "selector": "old", "absent": True},
    {"kind": "Role", "name": "reader", "jsonpath": "{.rules[*].verbs}", "equals": [["get"]]},
    {"kind": "Pod", "name": "p", "jsonpath": "{.spec.x}", "equals": None},
]


@pytest.mark.parametrize("raw", ROUND_TRIPS)
def test_it_round_trips_through_json(raw: dict[str, Any]) -> None:
    check = parse_check(raw)
    stored = json.loads(json.dumps(check.to_json()))
    assert Check.from_json(stored) == check
    assert Check.from_json(stored).to_json() == check.to_json()


def test_it_does_not_share_mutable_values_with_its_json() -> None:
    check = parse_check({"kind": "Pod", "name": "p", "expect": {"metadata.labels": {"a": "b"}}})
    check.to_json()["expect"]["metadata.labels"]["a"] = "changed"
    assert check.expect == (("metadata.labels", {"a": "b"}),)


def test_it_validates_what_it_loads() -> None:
    with pytest.raises(CheckSpecError) as error:
        Check.from_json({"kind": "Pod", "apiVersion": "v1", "name": "p", "count": {"min": 1}})
    assert error.value.key == "count"


# --- sentences -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        (
            {"kind": "Pod", "name": "my-pod", "expect": {"phase": "Running"}},
            "Pod my-pod exists and its status.phase is Running",
        ),
        ({"kind": "Service", "name": "web"}, "Service web exists"),
        (
            {"kind": "Deployment", "name": "web", "expect": {"replicas": 3, "type": "x"}},
            "Deployment web exists and its spec.replicas is 3 and its spec.type is x",
        ),
        (
            {"kind": "Deployment", "name": "web", "all_ready": True},
            "Deployment web exists and all its replicas are ready",
        ),
        ({"kind": "Pod", "name": "p", "all_ready": True}, "Pod p exists and it is ready"),
        (
            {
                "kind": "StatefulSet",
                "name": "db",
                "expect": {"readyReplicas": 2},
                "jsonpath": "{.spec.serviceName}",
                "equals": "db",
                "all_ready": True,
            },
            "StatefulSet db exists and its status.readyReplicas is 2, all its replicas are ready "
            "and {.spec.serviceName} is db",
        ),
        (
            {
                "kind": "Deployment",
                "name": "web",
                "jsonpath": "{.spec.template.spec.containers[0].image}",
                "matches": r"^nginx:1\.28",
            },
            r"Deployment web: {.spec.template.spec.containers[0].image} matches ^nginx:1\.28",
        ),
        (
            {"kind": "Pod", "name": "p", "jsonpath": "{.spec.hostNetwork}", "equals": True},
            "Pod p: {.spec.hostNetwork} is true",
        ),
        (
            {"kind": "ConfigMap", "name": "c", "expect": {"data.mode": ""}},
            'ConfigMap c exists and its data.mode is ""',
        ),
        (
            {"kind": "Pod", "name": "p", "jsonpath": "{.spec.x}", "equals": None},
            "Pod p: {.spec.x} is null",
        ),
        (
            {"kind": "ConfigMap", "name": "old-config", "absent": True},
            "ConfigMap old-config does not exist",
        ),
        (
            {"kind": "Pod", "selector": "app=web", "count": {"min": 2}, "all_ready": True},
            "Pods with app=web: at least 2, all ready",
        ),
        ({"kind": "Pod", "selector": "app=web"}, "Pods with app=web: at least 1"),
        ({"kind": "Service", "selector": "app", "count": 2}, "Services with app: exactly 2"),
        ({"kind": "Job", "selector": "app", "count": 0}, "Jobs with app: none"),
        ({"kind": "Job", "selector": "app", "count": {"max": 1}}, "Jobs with app: at most 1"),
        (
            {"kind": "Ingress", "selector": "a", "count": {"min": 1, "max": 3}},
            "Ingresses with a: between 1 and 3",
        ),
        ({"kind": "NetworkPolicy", "selector": "a"}, "NetworkPolicies with a: at least 1"),
        ({"kind": "Endpoints", "selector": "a"}, "Endpoints with a: at least 1"),
        (
            {"kind": "Pod", "selector": "app=web,!canary", "absent": True},
            "Pods with app=web,!canary: none",
        ),
        (
            {
                "kind": "Pod",
                "selector": "app=web",
                "expect": {"phase": "Running"},
                "jsonpath": "{.spec.containers[0].image}",
                "matches": "^nginx",
            },
            "Pods with app=web: at least 1, each with status.phase Running, "
            "each with {.spec.containers[0].image} matching ^nginx",
        ),
        (
            {
                "kind": "Pod",
                "selector": "app=web",
                "jsonpath": "{.spec.nodeName}",
                "equals": "n1",
            },
            "Pods with app=web: at least 1, each with {.spec.nodeName} equal to n1",
        ),
        (
            {"kind": "Pod", "name": "p", "absent": True, "description": "Delete the pod."},
            "Delete the pod.",
        ),
    ],
)
def test_it_makes_a_sentence_unless_given_one(raw: dict[str, Any], sentence: str) -> None:
    assert parse_check(raw).sentence() == sentence


def test_it_shows_not_given_plainly() -> None:
    assert repr(NOT_GIVEN) == "NOT_GIVEN"

"""The check vocabulary: what a task's ``checks:`` may say, validated strictly.

A check names one object (``name``) or a set of them (``selector``) in the trainee's namespace
and what must hold of it; docs/content-format.md ("Checks") is the contract. `parse_check`
turns one front-matter mapping into a `Check`, or raises `CheckSpecError` pointing at the key
at fault. `Check.to_json` is the canonical form the database stores: every default filled in,
shorthands expanded, and itself a valid check spec, so `Check.from_json` simply parses it again.

What the fields mean when a check is evaluated:

* ``name``: the object must exist; ``selector``: between ``count_min`` and ``count_max`` objects
  must match (``count_min`` is 1 unless ``count`` says otherwise).
* ``expect`` and ``jsonpath`` hold of the named object, or of every selected one.
* ``expect`` paths are dotted; `split_field_path` splits one into keys.
* ``matches`` is searched for (`re.Pattern.search`), so anchor it when the whole value counts.
* ``absent``: the named object does not exist, or no object matches the selector.
* ``all_ready``: see `labs.checks.readiness` (a Service is ready when it has a ready endpoint).

How a check is judged against a lab's objects is `labs.checks.evaluation`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from labs.checks.jsonpath import JsonPath, JsonPathError, compile_jsonpath
from labs.checks.selectors import Selector, SelectorError, is_dns_subdomain, parse_selector

__all__ = [
    "KINDS",
    "NOT_GIVEN",
    "READY_KINDS",
    "SHORTHANDS",
    "WORKLOAD_KINDS",
    "Check",
    "CheckSpecError",
    "KindInfo",
    "count_phrase",
    "parse_check",
    "plural_title",
    "split_field_path",
]


@dataclass(frozen=True)
class KindInfo:
    """Where the API serves a kind: enough to list or get its objects with a dynamic client."""

    api_version: str
    plural: str
    namespaced: bool = True

    @property
    def group(self) -> str:
        """The API group; empty for the core group (``v1``)."""
        group, _, _ = self.api_version.rpartition("/")
        return group

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


KINDS: Mapping[str, KindInfo] = {
    "Pod": KindInfo("v1", "pods"),
    "Service": KindInfo("v1", "services"),
    "Endpoints": KindInfo("v1", "endpoints"),
    "ConfigMap": KindInfo("v1", "configmaps"),
    "Secret": KindInfo("v1", "secrets"),
    "ServiceAccount": KindInfo("v1", "serviceaccounts"),
    "PersistentVolumeClaim": KindInfo("v1", "persistentvolumeclaims"),
    "ResourceQuota": KindInfo("v1", "resourcequotas"),
    "LimitRange": KindInfo("v1", "limitranges"),
    "Deployment": KindInfo("apps/v1", "deployments"),
    "ReplicaSet": KindInfo("apps/v1", "replicasets"),
    "StatefulSet": KindInfo("apps/v1", "statefulsets"),
    "DaemonSet": KindInfo("apps/v1", "daemonsets"),
    "Job": KindInfo("batch/v1", "jobs"),
    "CronJob": KindInfo("batch/v1", "cronjobs"),
    "Ingress": KindInfo("networking.k8s.io/v1", "ingresses"),
    "NetworkPolicy": KindInfo("networking.k8s.io/v1", "networkpolicies"),
    "HorizontalPodAutoscaler": KindInfo("autoscaling/v2", "horizontalpodautoscalers"),
    "Role": KindInfo("rbac.authorization.k8s.io/v1", "roles"),
    "RoleBinding": KindInfo("rbac.authorization.k8s.io/v1", "rolebindings"),
    "PodDisruptionBudget": KindInfo("policy/v1", "poddisruptionbudgets"),
    "EndpointSlice": KindInfo("discovery.k8s.io/v1", "endpointslices"),
}

# The kinds that have a notion of ready: a Pod's Ready condition, a workload's ready replicas,
# a Service's ready endpoints (labs.checks.readiness says how each is judged).
READY_KINDS = frozenset({"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Service"})
WORKLOAD_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"})

SHORTHANDS: Mapping[str, str] = {
    "phase": "status.phase",
    "replicas": "spec.replicas",
    "readyReplicas": "status.readyReplicas",
    "availableReplicas": "status.availableReplicas",
    "type": "spec.type",
}

_KEYS = (
    "kind",
    "apiVersion",
    "name",
    "selector",
    "expect",
    "jsonpath",
    "equals",
    "matches",
    "count",
    "all_ready",
    "absent",
    "description",
)
_ABSENT_KEYS = frozenset({"kind", "apiVersion", "name", "selector", "description", "absent"})
_PATH_ROOTS = ("metadata", "spec", "status", "data")
# Maps whose keys may themselves hold dots ("app.kubernetes.io/name", "nginx.conf") and whose
# values are never nested, so everything after the prefix is a single key.
_FLAT_MAPS = ("metadata.labels.", "metadata.annotations.", "data.")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_FLAT_KEY = re.compile(r"[A-Za-z0-9_./-]+")
_NAME_RULE = (
    'lower-case letters, digits, "-" and ".", at most 253 characters, '
    "starting and ending with a letter or digit"
)


class _NotGiven(Enum):
    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = _NotGiven.NOT_GIVEN
"""`Check.equals` when the check has no ``equals``; ``None`` is a value one may expect."""


class CheckSpecError(ValueError):
    """A check spec that breaks the contract.

    ``key`` is the check's key the problem is at (so the caller can point at its YAML line), or
    ``None`` when it concerns the check as a whole.
    """

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key


@dataclass(frozen=True)
class Check:
    """One validated check. Build it with `parse_check` (or `from_json`), which guarantees the
    invariants: exactly one of ``name`` and ``selector``; ``equals``/``matches`` only with
    ``jsonpath``; counts only with ``selector``; ``absent`` with nothing else."""

    kind: str
    api_version: str
    name: str | None
    selector: Selector | None
    expect: tuple[tuple[str, Any], ...] = ()
    jsonpath: JsonPath | None = None
    equals: Any = NOT_GIVEN
    matches: re.Pattern[str] | None = None
    count_min: int | None = None
    count_max: int | None = None
    all_ready: bool = False
    absent: bool = False
    description: str = ""

    @property
    def kind_info(self) -> KindInfo:
        return KINDS[self.kind]

    def to_json(self) -> dict[str, Any]:
        """The canonical form: JSON data in the vocabulary of the spec, defaults filled in."""
        data: dict[str, Any] = {"kind": self.kind, "apiVersion": self.api_version}
        if self.name is not None:
            data["name"] = self.name
        if self.selector is not None:
            data["selector"] = str(self.selector)
        if self.expect:
            data["expect"] = {path: _copy(value) for path, value in self.expect}
        if self.jsonpath is not None:
            data["jsonpath"] = self.jsonpath.template
        if self.equals is not NOT_GIVEN:
            data["equals"] = _copy(self.equals)
        if self.matches is not None:
            data["matches"] = self.matches.pattern
        count = {
            bound: value
            for bound, value in (("min", self.count_min), ("max", self.count_max))
            if value is not None
        }
        if count:
            data["count"] = count
        if self.all_ready:
            data["all_ready"] = True
        if self.absent:
            data["absent"] = True
        if self.description:
            data["description"] = self.description
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Check:
        """The check `to_json` stored; it is validated again, as any spec is."""
        return parse_check(data)

    def sentence(self) -> str:
        """What the trainee reads: the description, or a sentence made from the check."""
        if self.description:
            return self.description
        if self.name is not None:
            return self._named_sentence()
        return self._selector_sentence()

    def _named_sentence(self) -> str:
        subject = f"{self.kind} {self.name}"
        if self.absent:
            return f"{subject} does not exist"
        clauses = [f"its {path} is {_show(value)}" for path, value in self.expect]
        if self.all_ready:
            clauses.append(_ready_clause(self.kind))
        if self.jsonpath is None:
            return f"{subject} exists" + (f" and {_join(clauses)}" if clauses else "")
        if self.matches is not None:
            jsonpath = f"{self.jsonpath.template} matches {self.matches.pattern}"
        else:
            jsonpath = f"{self.jsonpath.template} is {_show(self.equals)}"
        if not clauses:
            return f"{subject}: {jsonpath}"
        return f"{subject} exists and {_join([*clauses, jsonpath])}"

    def _selector_sentence(self) -> str:
        subject = f"{plural_title(self.kind)} with {self.selector}"
        if self.absent:
            return f"{subject}: none"
        clauses = []
        count = count_phrase(self.count_min, self.count_max)
        if count:
            clauses.append(count)
        if self.all_ready:
            clauses.append("each with a ready endpoint" if self.kind == "Service" else "all ready")
        clauses += [f"each with {path} {_show(value)}" for path, value in self.expect]
        if self.jsonpath is not None and self.matches is not None:
            clauses.append(f"each with {self.jsonpath.template} matching {self.matches.pattern}")
        elif self.jsonpath is not None:
            clauses.append(f"each with {self.jsonpath.template} equal to {_show(self.equals)}")
        return f"{subject}: {', '.join(clauses)}" if clauses else f"{subject}: any"


def split_field_path(path: str) -> tuple[str, ...]:
    """The keys of a dotted ``expect`` path, from the object down.

    Labels, annotations and ``data`` are flat maps whose keys may contain dots, so the rest of
    the path after ``metadata.labels.``, ``metadata.annotations.`` or ``data.`` is one key:
    ``metadata.labels.app.kubernetes.io/name`` is ``("metadata", "labels",
    "app.kubernetes.io/name")``. A key of digits met on a list indexes it.
    """
    for prefix in _FLAT_MAPS:
        if path.startswith(prefix):
            return (*prefix[:-1].split("."), path[len(prefix) :])
    return tuple(path.split("."))


def parse_check(raw: Mapping[str, Any]) -> Check:
    """Validate one check from the front matter and build it; raise `CheckSpecError`."""
    if not isinstance(raw, Mapping):
        raise CheckSpecError(
            f"a check must be a mapping with kind and name or selector, not {_a(raw)}"
        )
    for key in raw:
        if key not in _KEYS:
            raise CheckSpecError(_unknown_key(key), str(key))

    kind, info = _kind(raw)
    api_version = raw.get("apiVersion", info.api_version)
    if api_version != info.api_version:
        raise CheckSpecError(
            f'apiVersion "{api_version}" does not match kind {kind}: use {info.api_version} '
            "(or leave apiVersion out)",
            "apiVersion",
        )
    name, selector = _target(raw)

    absent = _boolean(raw, "absent")
    if absent:
        extra = [key for key in raw if key not in _ABSENT_KEYS]
        if extra:
            raise CheckSpecError(
                f"{extra[0]} cannot be combined with absent: true; an absent object has "
                "nothing to check, so give only kind, apiVersion, name or selector, "
                "and description",
                extra[0],
            )
    all_ready = _boolean(raw, "all_ready")
    if all_ready and kind not in READY_KINDS:
        ready = ", ".join(sorted(READY_KINDS))
        raise CheckSpecError(
            f"all_ready needs a kind that can be ready ({ready}); a {kind} cannot", "all_ready"
        )

    count_min, count_max = _count(raw, named=name is not None)
    if selector is not None and not absent and "count" not in raw:
        # A selector alone asks for "some": an empty lab must not pass.
        count_min = 1
    jsonpath, equals, matches = _jsonpath(raw)
    return Check(
        kind=kind,
        api_version=info.api_version,
        name=name,
        selector=selector,
        expect=_expect(raw),
        jsonpath=jsonpath,
        equals=equals,
        matches=matches,
        count_min=count_min,
        count_max=count_max,
        all_ready=all_ready,
        absent=absent,
        description=_description(raw),
    )


def _unknown_key(key: object) -> str:
    message = f'unknown key "{key}"'
    fold = str(key).lower().replace("-", "_")
    guess = next((known for known in _KEYS if known.lower() == fold), None)
    if guess:
        message += f' (did you mean "{guess}"?)'
    return f"{message}; a check takes {', '.join(_KEYS)}"


def _kind(raw: Mapping[str, Any]) -> tuple[str, KindInfo]:
    if "kind" not in raw:
        raise CheckSpecError("missing kind: every check names the kind of object, like Pod")
    kind = raw["kind"]
    if isinstance(kind, str) and kind in KINDS:
        return kind, KINDS[kind]
    message = f'unknown kind "{kind}"'
    fold = str(kind).lower()
    guess = next(
        (known for known, info in KINDS.items() if fold in (known.lower(), info.plural)), None
    )
    if guess:
        message += f' (did you mean "{guess}"?)'
    raise CheckSpecError(f"{message}; known kinds: {', '.join(KINDS)}", "kind")


def _target(raw: Mapping[str, Any]) -> tuple[str | None, Selector | None]:
    if "name" in raw and "selector" in raw:
        raise CheckSpecError(
            "give name or selector, not both: name is one object, selector a set of them",
            "selector",
        )
    if "name" not in raw and "selector" not in raw:
        raise CheckSpecError(
            "missing name or selector: a check needs name (one object) or selector "
            "(a set of objects by label)"
        )
    if "name" in raw:
        name = raw["name"]
        if not isinstance(name, str):
            raise CheckSpecError(f"name must be a string, not {_a(name)}", "name")
        if not is_dns_subdomain(name):
            raise CheckSpecError(
                f'name "{name}" is not a valid object name: use {_NAME_RULE}', "name"
            )
        return name, None
    text = raw["selector"]
    if not isinstance(text, str):
        raise CheckSpecError(
            f"selector must be a label selector as kubectl takes it, like app=web, not {_a(text)}",
            "selector",
        )
    try:
        return None, parse_selector(text)
    except SelectorError as error:
        raise CheckSpecError(str(error), "selector") from None


def _boolean(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise CheckSpecError(f"{key} must be true or false, not {_a(value)}", key)
    return value


def _count(raw: Mapping[str, Any], named: bool) -> tuple[int | None, int | None]:
    if "count" not in raw:
        return None, None
    if named:
        raise CheckSpecError(
            "count needs selector: a check with name is about exactly one object", "count"
        )
    count = raw["count"]
    usage = "a non-negative integer, or a mapping with min, max or both"
    if _is_count(count):
        return count, count
    if not isinstance(count, Mapping):
        raise CheckSpecError(f"count must be {usage}, not {_a(count)}", "count")
    if not count:
        raise CheckSpecError(f"count must be {usage}, not an empty mapping", "count")
    for key in count:
        if key not in ("min", "max"):
            raise CheckSpecError(f'count takes min and max, not "{key}"', "count")
    for bound in ("min", "max"):
        if bound in count and not _is_count(count[bound]):
            raise CheckSpecError(
                f"count {bound} must be a non-negative integer, not {_a(count[bound])}", "count"
            )
    low, high = count.get("min"), count.get("max")
    if low is not None and high is not None and low > high:
        raise CheckSpecError(f"count min ({low}) is more than count max ({high})", "count")
    return low, high


def _is_count(value: object) -> bool:
    # bool is an int to Python, but "count: true" is a mistake.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _expect(raw: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    if "expect" not in raw:
        return ()
    expect = raw["expect"]
    if not isinstance(expect, Mapping):
        raise CheckSpecError(
            f"expect must be a mapping of field to wanted value, like {{phase: Running}}, "
            f"not {_a(expect)}",
            "expect",
        )
    if not expect:
        raise CheckSpecError("expect is empty: give at least one field and value", "expect")
    pairs: dict[str, Any] = {}
    given: dict[str, str] = {}
    for field, value in expect.items():
        path = _field_path(field)
        if path in pairs:
            raise CheckSpecError(
                f'expect: "{given[path]}" and "{field}" are the same field ({path})', "expect"
            )
        given[path] = field
        pairs[path] = _json_value(value, f'expect: the value of "{field}"', "expect")
    return tuple(pairs.items())


def _field_path(field: object) -> str:
    if isinstance(field, str) and field in SHORTHANDS:
        return SHORTHANDS[field]
    if not isinstance(field, str) or field.partition(".")[0] not in _PATH_ROOTS or "." not in field:
        roots = ", ".join(f"{root}." for root in _PATH_ROOTS)
        raise CheckSpecError(
            f'expect: "{field}" is neither a shorthand ({", ".join(SHORTHANDS)}) nor a dotted '
            f"path starting with {roots}",
            "expect",
        )
    keys = split_field_path(field)
    for position, key in enumerate(keys):
        flat = position == len(keys) - 1 and any(field.startswith(p) for p in _FLAT_MAPS)
        pattern = _FLAT_KEY if flat else _SEGMENT
        if not key:
            raise CheckSpecError(f'expect: "{field}" has an empty part', "expect")
        if not pattern.fullmatch(key):
            allowed = 'letters, digits, "_", "-"' + (', "." and "/"' if flat else "")
            raise CheckSpecError(
                f'expect: "{field}" has an invalid part "{key}" (use {allowed})', "expect"
            )
    return field


def _jsonpath(raw: Mapping[str, Any]) -> tuple[JsonPath | None, Any, re.Pattern[str] | None]:
    if "jsonpath" not in raw:
        for key in ("equals", "matches"):
            if key in raw:
                raise CheckSpecError(f"{key} needs jsonpath: the value it tests", key)
        return None, NOT_GIVEN, None
    template = raw["jsonpath"]
    if not isinstance(template, str):
        raise CheckSpecError(
            f"jsonpath must be a kubectl jsonpath like {{.spec.replicas}}, not {_a(template)}",
            "jsonpath",
        )
    try:
        jsonpath = compile_jsonpath(template)
    except JsonPathError as error:
        raise CheckSpecError(str(error), "jsonpath") from None
    if "equals" in raw and "matches" in raw:
        raise CheckSpecError("jsonpath takes equals or matches, not both", "jsonpath")
    if "equals" not in raw and "matches" not in raw:
        raise CheckSpecError(
            "jsonpath needs equals (a value) or matches (a regular expression) to test what it "
            "selects",
            "jsonpath",
        )
    if "equals" in raw:
        return jsonpath, _json_value(raw["equals"], "equals", "equals"), None
    pattern = raw["matches"]
    if not isinstance(pattern, str):
        raise CheckSpecError(
            f"matches must be a regular expression (a string), not {_a(pattern)}", "matches"
        )
    try:
        return jsonpath, NOT_GIVEN, re.compile(pattern)
    except re.error as error:
        raise CheckSpecError(
            f'matches: "{pattern}" is not a regular expression: {error}', "matches"
        ) from None


def _description(raw: Mapping[str, Any]) -> str:
    if "description" not in raw:
        return ""
    description = raw["description"]
    if not isinstance(description, str) or not description.strip():
        raise CheckSpecError(
            f"description must be a sentence (a non-empty string), not {_a(description)}",
            "description",
        )
    # A YAML block scalar ends in a newline the trainee should not see.
    return description.strip()


def _json_value(value: Any, where: str, key: str) -> Any:
    """A copy of a wanted value, refusing what JSON cannot hold (the database stores JSON)."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError):
        raise CheckSpecError(
            f"{where} must be plain YAML (a string, number, boolean, null, list or mapping "
            f"with string keys), not {_a(value)}; quote it if you mean text",
            key,
        ) from None


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _a(value: object) -> str:
    """A short description of a YAML value, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"{type(value).__name__} {value}"


def _show(value: Any) -> str:
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value)


def _join(clauses: list[str]) -> str:
    if len(clauses) <= 1:
        return "".join(clauses)
    return f"{', '.join(clauses[:-1])} and {clauses[-1]}"


def plural_title(kind: str) -> str:
    """``Pods``, ``Ingresses``, ``NetworkPolicies``, ``Endpoints``: the kind, in the plural."""
    plural = KINDS[kind].plural
    if plural.startswith(kind.lower()):
        return kind + plural[len(kind) :]
    # A trailing "y" became "ies".
    return kind[:-1] + plural[len(kind) - 1 :]


def _ready_clause(kind: str) -> str:
    if kind == "Pod":
        return "it is ready"
    if kind == "Service":
        return "it has a ready endpoint"
    return "all its replicas are ready"


def count_phrase(low: int | None, high: int | None) -> str:
    """How many a count allows, in words: "exactly 2", "at least 1", "none"."""
    if low is not None and low == high:
        return "none" if low == 0 else f"exactly {low}"
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    if high is not None:
        return f"at most {high}"
    return ""

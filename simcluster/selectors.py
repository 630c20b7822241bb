"""Label and field selectors as the API server evaluates ``labelSelector`` and ``fieldSelector``.

Written apart from `labs.selectors` on purpose: the stand-in is the yardstick for the check
engine, so it must not share that engine's parser (and so its mistakes). The grammar is
apimachinery's: ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``, ``>`` and ``<``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from simcluster.errors import ApiError
from simcluster.resources import Resource

__all__ = ["ObjectFilter", "label_selector_matches"]

_TOKEN = re.compile(r"\s*(!=|==|=|!|,|\(|\)|>|<|[^\s!=,()<>]+)")
_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_KEY_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")

# The fields each kind may be selected by, beyond metadata.name and metadata.namespace.
_FIELDS = {
    "pods": {
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName",
    },
    "events": {
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
    },
    "namespaces": {"status.phase"},
    "secrets": {"type"},
    "nodes": {"spec.unschedulable"},
    "replicasets": {"status.replicas"},
    "jobs": {"status.successful"},
}  # fmt: skip

Test = Callable[[dict], bool]


def _bad(text: str, why: str) -> ApiError:
    return ApiError.bad_request(f"unable to parse requirement: {why} (in {text!r})")


def _check_key(text: str, key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if len(name) > 63 or not _KEY_NAME.fullmatch(name) or len(prefix) > 253:
        raise _bad(text, f"invalid label key {key!r}")
    return key


def _check_value(text: str, value: str) -> str:
    if len(value) > 63 or not _VALUE.fullmatch(value):
        raise _bad(text, f"invalid label value {value!r}")
    return value


def _requirement(text: str, tokens: list[str]) -> Callable[[dict[str, str]], bool]:
    """One requirement, from its tokens (no commas outside parentheses)."""
    if tokens[0] == "!" and len(tokens) == 2:
        key = _check_key(text, tokens[1])
        return lambda labels: key not in labels
    key = _check_key(text, tokens[0])
    rest = tokens[1:]
    if not rest:
        return lambda labels: key in labels
    operator = rest[0]
    if operator in ("=", "==", "!=") and len(rest) <= 2:
        value = _check_value(text, rest[1] if len(rest) == 2 else "")
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if operator in ("in", "notin") and len(rest) >= 3 and rest[1] == "(" and rest[-1] == ")":
        values = {_check_value(text, part) for part in rest[2:-1] if part != ","}
        if not values:
            raise _bad(text, f"{operator} needs at least one value")
        if operator == "notin":
            return lambda labels: labels.get(key) not in values
        return lambda labels: key in labels and labels[key] in values
    if operator in (">", "<") and len(rest) == 2 and rest[1].lstrip("-").isdigit():
        bound = int(rest[1])
        greater = operator == ">"

        def compare(labels: dict[str, str]) -> bool:
            value = labels.get(key, "")
            if not value.lstrip("-").isdigit():
                return False
            return int(value) > bound if greater else int(value) < bound

        return compare
    raise _bad(text, f"cannot understand {' '.join(tokens)!r}")


def parse_labels(text: str) -> Test | None:
    """A test on an object's labels, or None when the selector selects everything."""
    if not text.strip():
        return None
    tokens = _TOKEN.findall(text)
    requirements, current, depth = [], [], 0
    for token in [*tokens, ","]:
        depth += {"(": 1, ")": -1}.get(token, 0)
        if token == "," and depth == 0:
            if not current:
                raise _bad(text, "empty requirement")
            requirements.append(_requirement(text, current))
            current = []
        else:
            current.append(token)
    return lambda obj: all(test(_labels(obj)) for test in requirements)


def _labels(obj: dict) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _field_value(obj: dict, path: str) -> str:
    value: object = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if path == "source" and isinstance(obj.get("source"), dict):
        value = obj["source"].get("component")
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_fields(text: str, resource: Resource) -> Test | None:
    """A test on an object's fields, or None when the selector selects everything."""
    if not text.strip():
        return None
    allowed = {"metadata.name", "metadata.namespace"} | _FIELDS.get(resource.plural, set())
    tests = []
    for part in text.split(","):
        match = re.fullmatch(r"\s*([^!=\s]+)\s*(!=|==|=)\s*(.*?)\s*", part)
        if not match:
            raise ApiError.bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        field, operator, value = match.groups()
        if field not in allowed:
            raise ApiError.bad_request(f"field label not supported: {field}")
        negate = operator == "!="
        tests.append(lambda obj, f=field, v=value, n=negate: (_field_value(obj, f) == v) != n)
    return lambda obj: all(test(obj) for test in tests)


@dataclass(frozen=True)
class ObjectFilter:
    """The selectors of one list or watch request; `matches` holds for every object when empty."""

    labels: Test | None = None
    fields: Test | None = None

    @classmethod
    def parse(cls, label_selector: str, field_selector: str, resource: Resource) -> ObjectFilter:
        return cls(parse_labels(label_selector), parse_fields(field_selector, resource))

    def matches(self, obj: dict) -> bool:
        if self.labels is not None and not self.labels(obj):
            return False
        return self.fields is None or self.fields(obj)


def label_selector_matches(selector: dict | None, labels: dict[str, str] | None) -> bool:
    """Whether ``labels`` match a LabelSelector object (``matchLabels``, ``matchExpressions``),
    as metav1.LabelSelectorAsSelector reads it: no selector matches nothing, ``{}`` everything."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True

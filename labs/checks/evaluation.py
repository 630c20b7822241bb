"""Judging checks against a lab's objects: pure functions, no cluster and no database.

`evaluate` takes one `Check` and a `Snapshot` (the objects of some kinds in one namespace, as
fetched from the API or read from a watch cache) and answers an `Outcome`: passed, failing
with the differences that explain it, or error when a kind it needs could not be read.
`evaluate_task` does the same for a task's checks. `kinds_needed` says which kinds a check
reads, so that the caller fetches (or watches) exactly those.

A difference names the object, the field, what was found and what is wanted, in a sentence
a trainee reads: "Pod my-pod: status.phase is Pending, want Running", "Service web: 0 ready
endpoints, want at least 1", "Deployment nginx: 2 of 3 replicas ready".

Rules beyond the vocabulary's (docs/content-format.md, "How checks are judged"):

* Objects being deleted (with a ``deletionTimestamp``) count as gone: not found by name, not
  counted by a selector, never ready.
* Images compare as the runtime resolves them (`labs.checks.images`): ``nginx:1.27`` equals
  ``docker.io/library/nginx:1.27``; a ``matches`` pattern may match either spelling. A field
  is an image when its last key is ``image``.
* A mapping in ``expect``/``equals`` holds when each key given holds (others may exist, as
  the server adds defaults); a list holds item by item; a number equals the string of its
  digits (``"80"`` and ``80``), never a boolean.
* ``jsonpath`` selects values as kubectl does; several values compare as a list with
  ``equals``, and ``matches`` searches the text kubectl would print (values joined by spaces).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from labs.checks import images, readiness
from labs.checks.vocabulary import (
    NOT_GIVEN,
    WORKLOAD_KINDS,
    Check,
    count_phrase,
    plural_title,
    split_field_path,
)

__all__ = [
    "Outcome",
    "Snapshot",
    "State",
    "TaskOutcome",
    "evaluate",
    "evaluate_task",
    "kinds_needed",
]

Obj = Mapping[str, Any]
# How many names a difference lists before it says "and N more".
_NAMES_SHOWN = 5
_VALUE_SHOWN = 80


class State(StrEnum):
    PASSED = "passed"
    FAILING = "failing"
    ERROR = "error"


@dataclass(frozen=True)
class Snapshot:
    """The objects of some kinds in one namespace (``objects``: kind → objects as plain JSON
    data), and for each kind that could not be read, why (``errors``: kind → message)."""

    objects: Mapping[str, Sequence[Obj]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)

    def of(self, kind: str) -> Sequence[Obj]:
        """The objects of ``kind``, those being deleted included."""
        if kind not in self.objects:
            raise ValueError(f"the snapshot holds no {kind} objects: fetch kinds_needed()")
        return self.objects[kind]

    def live(self, kind: str) -> list[Obj]:
        """The objects of ``kind`` that are not being deleted."""
        return [obj for obj in self.of(kind) if not readiness.deleting(obj)]


@dataclass(frozen=True)
class Outcome:
    """How one check fared: its sentence, its state and, unless it passed, what differs (or
    the error that kept it from being judged)."""

    sentence: str
    state: State
    differences: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.state == State.PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.sentence,
            "state": self.state.value,
            "differences": list(self.differences),
        }


@dataclass(frozen=True)
class TaskOutcome:
    """How a task's checks fared: passed when all passed, error when any could not be
    judged, failing otherwise."""

    outcomes: tuple[Outcome, ...]

    @property
    def state(self) -> State:
        states = {outcome.state for outcome in self.outcomes}
        if State.ERROR in states:
            return State.ERROR
        if State.FAILING in states:
            return State.FAILING
        return State.PASSED

    def details(self) -> list[dict[str, Any]]:
        return [outcome.to_json() for outcome in self.outcomes]


def kinds_needed(check: Check) -> frozenset[str]:
    """The kinds `evaluate` reads for ``check``: its own, plus what readiness looks at
    (the Pods of a workload, to say which are not ready; a Service's endpoints)."""
    kinds = {check.kind}
    if check.all_ready and check.kind == "Service":
        kinds |= {"EndpointSlice", "Endpoints"}
    if check.all_ready and check.kind in WORKLOAD_KINDS:
        kinds.add("Pod")
    return frozenset(kinds)


def evaluate_task(checks: Iterable[Check], snapshot: Snapshot) -> TaskOutcome:
    return TaskOutcome(tuple(evaluate(check, snapshot) for check in checks))


def evaluate(check: Check, snapshot: Snapshot) -> Outcome:
    sentence = check.sentence()
    unreadable = sorted(kind for kind in kinds_needed(check) if kind in snapshot.errors)
    if unreadable:
        return Outcome(
            sentence,
            State.ERROR,
            tuple(
                f"cannot read {plural_title(kind)}: {snapshot.errors[kind]}" for kind in unreadable
            ),
        )
    judge = _named if check.name is not None else _selected
    differences = tuple(judge(check, snapshot))
    return Outcome(sentence, State.FAILING if differences else State.PASSED, differences)


# -- named objects and selections ------------------------------------------------------------


def _named(check: Check, snapshot: Snapshot) -> list[str]:
    subject = f"{check.kind} {check.name}"
    obj = next((o for o in snapshot.of(check.kind) if _name(o) == check.name), None)
    if check.absent:
        if obj is None or readiness.deleting(obj):
            return []
        return [f"{subject} exists, want it gone"]
    if obj is None:
        return [f"{subject} does not exist"]
    if readiness.deleting(obj):
        return [f"{subject} is being deleted"]
    return _judge(check, obj, subject, snapshot)


def _selected(check: Check, snapshot: Snapshot) -> list[str]:
    assert check.selector is not None
    subject = f"{plural_title(check.kind)} with {check.selector}"
    chosen = [
        obj for obj in snapshot.live(check.kind) if check.selector.matches(readiness.labels_of(obj))
    ]
    found = _found(chosen)
    if check.absent:
        return [f"{subject}: {found}, want none"] if chosen else []
    differences = []
    low, high = check.count_min, check.count_max
    if (low is not None and len(chosen) < low) or (high is not None and len(chosen) > high):
        differences.append(f"{subject}: {found}, want {count_phrase(low, high)}")
    for obj in chosen:
        differences += _judge(check, obj, f"{check.kind} {_name(obj)}", snapshot)
    return differences


def _found(objects: list[Obj]) -> str:
    if not objects:
        return "0 found"
    names = sorted(_name(obj) for obj in objects)
    shown = ", ".join(names[:_NAMES_SHOWN])
    if len(names) > _NAMES_SHOWN:
        shown += f" and {len(names) - _NAMES_SHOWN} more"
    return f"{len(names)} found ({shown})"


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


# -- what must hold of one object ------------------------------------------------------------


def _judge(check: Check, obj: Obj, subject: str, snapshot: Snapshot) -> list[str]:
    differences = []
    for path, wanted in check.expect:
        present, actual = _field(obj, split_field_path(path))
        is_image = path.rpartition(".")[2] == "image"
        if not present:
            differences.append(f"{subject}: {path} is not set, want {_show(wanted)}")
        elif not _same(actual, wanted, is_image):
            differences.append(f"{subject}: {path} is {_show(actual)}, want {_show(wanted)}")
    if check.jsonpath is not None:
        difference = _jsonpath(check, obj, subject)
        if difference:
            differences.append(difference)
    if check.all_ready:
        difference = _readiness(check.kind, obj, subject, snapshot)
        if difference:
            differences.append(difference)
    return differences


def _jsonpath(check: Check, obj: Obj, subject: str) -> str | None:
    assert check.jsonpath is not None
    template = check.jsonpath.template
    values = check.jsonpath.find(obj)
    is_image = template[:-1].rstrip().endswith(".image")
    if check.matches is not None:
        want = f"want a match for {check.matches.pattern}"
        if not values:
            return f"{subject}: {template} is not set, {want}"
        text = " ".join(_kubectl_text(value) for value in values)
        candidates = [text]
        if is_image:
            candidates += [
                " ".join(form(str(value)) for value in values)
                for form in (images.familiar, images.normalize)
            ]
        if any(check.matches.search(candidate) for candidate in candidates):
            return None
        return f"{subject}: {template} is {_show(text)}, {want}"
    wanted = check.equals
    assert wanted is not NOT_GIVEN
    if not values:
        return f"{subject}: {template} is not set, want {_show(wanted)}"
    actual = values[0] if len(values) == 1 else values
    if _same(actual, wanted, is_image):
        return None
    return f"{subject}: {template} is {_show(actual)}, want {_show(wanted)}"


def _readiness(kind: str, obj: Obj, subject: str, snapshot: Snapshot) -> str | None:
    if kind == "Pod":
        reason = readiness.pod_not_ready(obj)
        return f"{subject}: not ready ({reason})" if reason else None
    if kind == "Service":
        count = readiness.ready_endpoints(
            _name(obj), snapshot.of("EndpointSlice"), snapshot.of("Endpoints")
        )
        return None if count else f"{subject}: 0 ready endpoints, want at least 1"
    reason = readiness.workload_not_ready(obj)
    if reason is None:
        return None
    waiting = [
        f"pod {_name(pod)}: {why}"
        for pod in readiness.selected_by(obj, snapshot.of("Pod"))
        if (why := readiness.pod_not_ready(pod))
    ]
    shown = "; ".join(sorted(waiting)[:2])
    return f"{subject}: {reason}" + (f" ({shown})" if shown else "")


# -- values ----------------------------------------------------------------------------------


def _field(obj: Any, keys: tuple[str, ...]) -> tuple[bool, Any]:
    """Whether the object has the field, and its value: keys index mappings, and a key of
    digits indexes a list."""
    for key in keys:
        if isinstance(obj, Mapping) and key in obj:
            obj = obj[key]
        elif isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        else:
            return False, None
    return obj is not None, obj


def _same(actual: Any, wanted: Any, is_image: bool = False) -> bool:
    if isinstance(wanted, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and _same(actual[key], value, is_image) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(_same(a, w, is_image) for a, w in zip(actual, wanted, strict=True))
        )
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return isinstance(wanted, bool) and isinstance(actual, bool) and actual == wanted
    if is_image and isinstance(actual, str) and isinstance(wanted, str):
        return images.same_image(actual, wanted)
    if isinstance(actual, int | float) and isinstance(wanted, str):
        return _number_text(actual) == wanted.strip()
    if isinstance(actual, str) and isinstance(wanted, int | float):
        return actual.strip() == _number_text(wanted)
    return actual == wanted


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _kubectl_text(value: Any) -> str:
    """A value as ``kubectl get -o jsonpath`` prints it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number_text(value)
    return json.dumps(value, separators=(",", ":"))


def _show(value: Any) -> str:
    if isinstance(value, str):
        text = value if value else '""'
    else:
        text = json.dumps(value, separators=(", ", ": "))
    if len(text) > _VALUE_SHOWN:
        text = text[: _VALUE_SHOWN - 1] + "…"
    return text

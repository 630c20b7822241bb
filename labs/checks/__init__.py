"""Checks: the vocabulary a task's ``checks:`` are written in, the sentences a trainee reads,
and the pure evaluator that judges them against a lab's objects.

The parts live together so that a check the content loader accepts is one the engine can
judge, and nothing here touches a cluster or the database:

* `labs.checks.vocabulary`: parsing and validating a check (`parse_check`), its canonical
  JSON form and its sentence;
* `labs.checks.selectors`, `labs.checks.jsonpath`: label selectors and kubectl jsonpath;
* `labs.checks.evaluation`: `evaluate` a check against a `Snapshot` of objects;
* `labs.checks.readiness`, `labs.checks.images`: when an object is ready, and when two
  image references name the same image.

Fetching the objects is someone else's job (`labs.snapshots` through the API, `labs.watch`
from a watch cache), and so is storing what the evaluator found (the course domain).
"""

from labs.checks.evaluation import (
    Outcome,
    Snapshot,
    State,
    TaskOutcome,
    evaluate,
    evaluate_task,
    kinds_needed,
)
from labs.checks.vocabulary import (
    KINDS,
    NOT_GIVEN,
    READY_KINDS,
    SHORTHANDS,
    WORKLOAD_KINDS,
    Check,
    CheckSpecError,
    KindInfo,
    parse_check,
    split_field_path,
)

__all__ = [
    "KINDS",
    "NOT_GIVEN",
    "READY_KINDS",
    "SHORTHANDS",
    "WORKLOAD_KINDS",
    "Check",
    "CheckSpecError",
    "KindInfo",
    "Outcome",
    "Snapshot",
    "State",
    "TaskOutcome",
    "evaluate",
    "evaluate_task",
    "kinds_needed",
    "parse_check",
    "split_field_path",
]

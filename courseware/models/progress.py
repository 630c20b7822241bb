"""A trainee's progress: one result per enrolment and task, written by ``courseware.progress``.

A row exists from the moment the trainee first opens the task's exercise (the tasks of
exercises not opened yet are not judged, so they cannot turn green by accident). Its live
``state`` follows the lab; ``passed_at`` records the first pass and is never cleared, so a
task stays done when the trainee cleans up afterwards. Rows are keyed to the Task row, which
a content re-sync keeps (tasks are matched by their ids), so results survive re-syncs.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from courseware.models.cohort import Enrolment
from courseware.models.course import Task


class TaskResult(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Not started"
        FAILING = "failing", "Not yet"
        PASSED = "passed", "Passed"
        ERROR = "error", "Error"

    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="results")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="results")
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    details = models.JSONField(
        default=list,
        blank=True,
        help_text="Per check: its sentence, its state and the differences found.",
    )
    passed_at = models.DateTimeField(
        null=True, blank=True, help_text="When the task first passed; kept ever after."
    )
    changed_at = models.DateTimeField(default=timezone.now, help_text="The last change of state.")
    evaluated_at = models.DateTimeField(null=True, blank=True)
    evaluations = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(
        default=timezone.now, help_text="When the trainee first opened the exercise."
    )
    hint_opened_at = models.DateTimeField(null=True, blank=True)
    solution_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "task"], name="unique_task_result")
        ]

    def __str__(self) -> str:
        return f"{self.task} for {self.enrolment}: {self.state}"

    @property
    def passed(self) -> bool:
        """Whether the task was passed at some point (the record, not the live state)."""
        return self.passed_at is not None

"""Raised hands: a trainee asks for help with an exercise, an instructor marks it handled.

One open request per enrolment and exercise (a partial unique constraint), so pressing
"I need help" twice is one request; once handled, the next press opens a new one. Rows are
kept after they are handled: the trainee's page says that their request was answered, and
the history shows who answered when.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from courseware.models.cohort import Enrolment
from courseware.models.course import Exercise, Task


class HelpRequest(models.Model):
    enrolment = models.ForeignKey(Enrolment, on_delete=models.CASCADE, related_name="help_requests")
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="help_requests")
    task = models.ForeignKey(
        Task,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="help_requests",
        help_text="The exercise's first task not passed when the hand went up, if any.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    handled_at = models.DateTimeField(null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handled_help_requests",
    )

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrolment", "exercise"],
                condition=Q(handled_at__isnull=True),
                name="one_open_help_request",
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrolment} needs help with {self.exercise}"

    @property
    def is_open(self) -> bool:
        return self.handled_at is None

"""The course as the database holds it, loaded from ``slides/`` by ``sync_course``.

Course → days → agenda items and modules → slides and exercises → tasks. Exercises and
tasks are keyed by the stable ids written in the content, so rows that later point at a
task (progress, check results) survive every re-sync. Slides carry no such identity and
are rewritten on each sync.
"""

from __future__ import annotations

from django.db import models
from django.urls import reverse


class PodSecurity(models.TextChoices):
    """Pod Security Admission levels a lab may enforce, from the strictest."""

    RESTRICTED = "restricted", "Restricted"
    BASELINE = "baseline", "Baseline"

    @classmethod
    def stricter(cls, level: str, than: str) -> bool:
        order = [choice.value for choice in cls]
        return order.index(level) < order.index(than)


class Course(models.Model):
    slug = models.SlugField(unique=True)
    title = models.CharField(max_length=200)
    subtitle = models.CharField(max_length=200, blank=True)
    source_digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 over the content files of the last sync."
    )
    synced_at = models.DateTimeField(null=True, blank=True)
    pod_security = models.CharField(
        max_length=16,
        choices=PodSecurity.choices,
        default=PodSecurity.RESTRICTED,
        help_text="The Pod Security level the course's exercises need (course.yaml).",
    )

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("courseware:agenda", args=[self.slug])


class Day(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="days")
    slug = models.SlugField()
    title = models.CharField(max_length=100)
    position = models.PositiveSmallIntegerField()
    is_backup = models.BooleanField(default=False)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="unique_day_slug"),
        ]

    def __str__(self) -> str:
        return self.title


class Module(models.Model):
    """One Markdown file of ``slides/``: a slide deck and/or exercises."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="modules")
    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="modules")
    slug = models.SlugField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField()
    source_path = models.CharField(max_length=300, help_text="Relative to the content folder.")
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["day__position", "position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="unique_module_slug"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("courseware:slides", args=[self.course.slug, self.slug])


class AgendaItem(models.Model):
    """A line of the course agenda, as the deck's agenda table shows it."""

    day = models.ForeignKey(Day, on_delete=models.CASCADE, related_name="agenda_items")
    section = models.CharField(max_length=200)
    title = models.CharField(max_length=200)
    position = models.PositiveSmallIntegerField()
    module = models.ForeignKey(
        Module, null=True, blank=True, on_delete=models.SET_NULL, related_name="agenda_items"
    )

    class Meta:
        ordering = ["day__position", "position"]

    def __str__(self) -> str:
        return self.title


class Slide(models.Model):
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="slides")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=300, blank=True)
    html = models.TextField(help_text="Rendered and sanitised.")
    notes_html = models.TextField(blank=True, help_text="Speaker notes, rendered and sanitised.")
    source_line = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["module", "position"], name="unique_slide_position"),
        ]

    def __str__(self) -> str:
        return self.title or f"Slide {self.position + 1}"


class Exercise(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="exercises")
    module = models.ForeignKey(Module, on_delete=models.CASCADE, related_name="exercises")
    slug = models.SlugField(help_text="The exercise's id in the content; stable across syncs.")
    title = models.CharField(max_length=200)
    minutes = models.PositiveSmallIntegerField(help_text="Expected duration.")
    position = models.PositiveSmallIntegerField()
    is_demo = models.BooleanField(
        default=False,
        help_text="An instructor demonstration: needs more than a namespace, so no checks.",
    )
    intro_html = models.TextField(blank=True)
    cleanup_html = models.TextField(
        blank=True, help_text="What to remove before the next exercise, rendered."
    )
    gated = models.BooleanField(
        default=False, help_text="Each task opens only once the one before it passed."
    )
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["module__day__position", "module__position", "position"]
        constraints = [
            models.UniqueConstraint(fields=["course", "slug"], name="unique_exercise_slug"),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("courseware:exercise", args=[self.course.slug, self.slug])


class Task(models.Model):
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="tasks")
    slug = models.SlugField(help_text="The task's id in the content; stable across syncs.")
    title = models.CharField(max_length=300)
    position = models.PositiveSmallIntegerField()
    instructions_html = models.TextField(blank=True)
    hint_html = models.TextField(blank=True)
    solution_html = models.TextField(blank=True)
    checks = models.JSONField(default=list, help_text="Declarative checks, as validated.")
    # A task removed from the content is retired, not deleted, so that the progress
    # recorded against it stays readable; it returns if its id reappears.
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["exercise", "slug"], name="unique_task_slug"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def key(self) -> str:
        """The task's course-wide id, as websocket events and check results name it."""
        return f"{self.exercise.slug}/{self.slug}"

"""A cohort is one run of a course: dates, instructors, trainees and the cluster their labs
live on. Trainees belong to a cohort through an enrolment, and progress belongs to the
enrolment, so one person can take part in several cohorts over time."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

from courseware.models.course import Course, Day, PodSecurity

INSTRUCTORS_GROUP = "Instructors"


@cache
def timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. Europe/Berlin)")


class LabProfile(models.TextChoices):
    """How much each trainee's namespace may use; the labs issue maps these to quotas."""

    SMALL = "small", "Small"
    MEDIUM = "medium", "Medium"
    LARGE = "large", "Large"


class CohortQuerySet(models.QuerySet["Cohort"]):
    def running(self, now: dt.datetime | None = None) -> CohortQuerySet:
        now = now or timezone.now()
        return self.filter(starts_at__lte=now, ends_at__gt=now)

    def upcoming(self, now: dt.datetime | None = None) -> CohortQuerySet:
        return self.filter(starts_at__gt=now or timezone.now())

    def finished(self, now: dt.datetime | None = None) -> CohortQuerySet:
        return self.filter(ends_at__lte=now or timezone.now())


class Cohort(models.Model):
    class State(models.TextChoices):
        UPCOMING = "upcoming", "Upcoming"
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    course = models.ForeignKey(Course, on_delete=models.PROTECT, related_name="cohorts")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    timezone = models.CharField(
        max_length=64,
        default="Europe/Berlin",
        validators=[validate_timezone],
        help_text="The classroom's time zone: it decides which course day is 'today'.",
    )
    instructors = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="instructed_cohorts",
        limit_choices_to={"groups__name": INSTRUCTORS_GROUP},
    )
    trainees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Enrolment", related_name="cohorts"
    )
    cluster = models.ForeignKey(
        "labs.Cluster",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cohorts",
        help_text="Where the trainees' labs are provisioned.",
    )
    lab_profile = models.CharField(
        max_length=16, choices=LabProfile.choices, default=LabProfile.MEDIUM
    )
    pod_security = models.CharField(
        max_length=16,
        choices=PodSecurity.choices,
        blank=True,
        default="",
        verbose_name="Pod Security level",
        help_text="Enforced in the labs. Empty: the level the course declares for its "
        "exercises. A stricter level refuses some of the course's pods.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CohortQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_at"]
        permissions = [
            ("manage_labs", "Can provision, reset and tear down the labs of a cohort"),
            ("import_trainees", "Can enrol trainees from a CSV file"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="cohort_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("courseware:cohort", args=[self.slug])

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The cohort must end after it starts."})

    @property
    def pod_security_level(self) -> str:
        """The Pod Security level the labs enforce: the cohort's own, or its course's."""
        return self.pod_security or self.course.pod_security

    @property
    def stricter_than_course(self) -> bool:
        return bool(self.pod_security) and PodSecurity.stricter(
            self.pod_security, self.course.pod_security
        )

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def state_at(self, now: dt.datetime) -> Cohort.State:
        if now < self.starts_at:
            return self.State.UPCOMING
        if now < self.ends_at:
            return self.State.RUNNING
        return self.State.FINISHED

    @property
    def state(self) -> Cohort.State:
        return self.state_at(timezone.now())

    def day_number(self, now: dt.datetime | None = None) -> int | None:
        """Which day of the class ``now`` is (1 = the first), in the cohort's time zone;
        None outside the cohort's dates."""
        now = now or timezone.now()
        if self.state_at(now) != self.State.RUNNING:
            return None
        local_start = self.starts_at.astimezone(self.tz).date()
        return (now.astimezone(self.tz).date() - local_start).days + 1

    def today(self, days: list[Day], now: dt.datetime | None = None) -> Day | None:
        """The course day taught today: the n-th regular (non-backup) day of the course."""
        number = self.day_number(now)
        regular = [day for day in days if not day.is_backup]
        if number is None or number > len(regular):
            return None
        return regular[number - 1]


class Enrolment(models.Model):
    class State(models.TextChoices):
        INVITED = "invited", "Invited"
        ACTIVE = "active", "Active"
        REMOVED = "removed", "Removed"

    cohort = models.ForeignKey(Cohort, on_delete=models.CASCADE, related_name="enrolments")
    trainee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolments"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.INVITED)
    created_at = models.DateTimeField(auto_now_add=True)
    invited_at = models.DateTimeField(
        null=True, blank=True, help_text="When the last invite was sent; older links stop working."
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cohort", "trainee__last_name", "trainee__first_name", "trainee__email"]
        constraints = [
            models.UniqueConstraint(fields=["cohort", "trainee"], name="unique_enrolment")
        ]

    def __str__(self) -> str:
        return f"{self.trainee} in {self.cohort}"

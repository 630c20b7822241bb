"""Who may see what: the one place that decides access, for views and websocket consumers.

Roles:
- **Admins** are staff users with the cohort model permissions (superusers have them all).
  They see every course and cohort.
- **Instructors** are members of the Instructors group; they see the cohorts they are
  assigned to, and those cohorts' course.
- **Trainees** are users with an enrolment. They see the cohorts they are enrolled in,
  and those cohorts' course, unless the enrolment was removed.

Timing: an enrolled trainee sees the course from the moment of enrolment, before the start
date too (to prepare, and to check the login works before the first morning), and keeps
it after the end (to revise). Removing the enrolment ends access at once.

The terminal of a lab (``terminal_access``): its own trainee types in it (read-write) while
the enrolment is live; the cohort's instructors and the admins may watch it (read-only:
instructors for the dashboard's shadow view, admins because they manage everything);
nobody else connects at all.

The live checks of a lab (``can_follow_lab``): its own trainee while the enrolment is live,
the cohort's instructors and the admins.

Every function here takes the user as the request (or websocket scope) has it, anonymous
users included, and answers from the database; none of them trusts anything the client
sent beyond the object it asks about.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, Literal, ParamSpec

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Case, F, IntegerField, Q, QuerySet, When
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone

from courseware.models import Cohort, Course, Enrolment
from labs.models import Lab

P = ParamSpec("P")
User = AbstractBaseUser | AnonymousUser


def is_admin(user: User) -> bool:
    return bool(user.is_active and user.is_staff and user.has_perm("courseware.view_cohort"))


def cohorts_for(user: User) -> QuerySet[Cohort]:
    """The cohorts ``user`` may see: all for admins, their own for instructors and trainees."""
    if not user.is_authenticated or not user.is_active:
        return Cohort.objects.none()
    if is_admin(user):
        return Cohort.objects.all()
    return Cohort.objects.filter(
        Q(instructors=user) | Q(enrolments__trainee=user, enrolments__state__in=_ADMITTED)
    ).distinct()


def courses_for(user: User) -> QuerySet[Course]:
    if is_admin(user):
        return Course.objects.all()
    return Course.objects.filter(cohorts__in=cohorts_for(user)).distinct()


def cohorts_managed_by(user: User) -> QuerySet[Cohort]:
    """The cohorts ``user`` may act on (see ``can_manage_cohort``)."""
    if not user.is_authenticated or not user.is_active:
        return Cohort.objects.none()
    if is_admin(user):
        return Cohort.objects.all()
    return Cohort.objects.filter(instructors=user)


def can_view_course(user: User, course: Course) -> bool:
    """Agenda, slides and exercises of ``course``."""
    return courses_for(user).filter(pk=course.pk).exists()


def can_view_cohort(user: User, cohort: Cohort) -> bool:
    return cohorts_for(user).filter(pk=cohort.pk).exists()


def can_reset_labs(user: User, cohort: Cohort) -> bool:
    """Delete and provision anew a trainee's lab from the dashboard: the cohort's
    instructors, and admins who may manage labs (as in the admin's lab actions)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_admin(user):
        return user.has_perm("courseware.manage_labs")
    return cohort.instructors.filter(pk=user.pk).exists()


def can_manage_cohort(user: User, cohort: Cohort) -> bool:
    """Act on a cohort's trainees and labs: its instructors and admins."""
    return cohorts_managed_by(user).filter(pk=cohort.pk).exists()


_ADMITTED = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]

TerminalMode = Literal["write", "read"]


def terminal_access(user: User, lab: Lab) -> TerminalMode | None:
    """How ``user`` may use the terminal of ``lab``: "write" for the lab's own trainee with a
    live enrolment, "read" for the cohort's instructors and admins, None for everyone else
    (anonymous and inactive users included)."""
    if not user.is_authenticated or not user.is_active:
        return None
    enrolment = lab.enrolment
    if enrolment.trainee_id == user.pk and enrolment.state in _ADMITTED:
        return "write"
    if is_admin(user) or enrolment.cohort.instructors.filter(pk=user.pk).exists():
        return "read"
    return None


def own_cohort(user: User, course: Course) -> Cohort | None:
    """The cohort of ``course`` that ``user`` takes part in, where course pages lead back to:
    one they are enrolled in (not removed) or teach. Among several, a running one (the
    latest to start), then the next to start, then the last to have started. None for
    someone in no cohort of the course, such as an admin. One query."""
    if not user.is_authenticated or not user.is_active:
        return None
    now = timezone.now()
    enrolled = Enrolment.objects.filter(trainee=user, state__in=_ADMITTED).values("cohort_id")
    taught = Cohort.instructors.through.objects.filter(user=user).values("cohort_id")
    return (
        Cohort.objects.filter(course=course)
        .filter(Q(pk__in=enrolled) | Q(pk__in=taught))
        .annotate(
            rank=Case(
                When(starts_at__lte=now, ends_at__gt=now, then=0),
                When(starts_at__gt=now, then=1),
                default=2,
                output_field=IntegerField(),
            ),
            upcoming_start=Case(When(starts_at__gt=now, then=F("starts_at"))),
        )
        .order_by("rank", F("upcoming_start").asc(nulls_last=True), "-starts_at", "pk")
        .first()
    )


def can_follow_lab(user: User, lab: Lab) -> bool:
    """See a lab's check results as they change."""
    if not user.is_authenticated or not user.is_active:
        return False
    enrolment = lab.enrolment
    if enrolment.trainee_id == user.pk and enrolment.state in _ADMITTED:
        return True
    return can_manage_cohort(user, enrolment.cohort)


def own_enrolment(user: User, cohort: Cohort | None) -> Enrolment | None:
    """The user's live enrolment in ``cohort`` as a trainee, with its lab; None for
    instructors and admins (and anyone else)."""
    if cohort is None or not user.is_authenticated or not user.is_active:
        return None
    return (
        Enrolment.objects.filter(cohort=cohort, trainee=user, state__in=_ADMITTED)
        .select_related("lab", "cohort")
        .first()
    )


def course_view(
    view: Callable[Concatenate[HttpRequest, Course, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, str, P], HttpResponse]:
    """Resolve the ``course`` URL argument and let only those through who may view it."""

    @wraps(view)
    def wrapper(
        request: HttpRequest, course: str, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        obj = get_object_or_404(Course, slug=course)
        if not can_view_course(request.user, obj):
            raise PermissionDenied("You are not enrolled in a cohort of this course.")
        return view(request, obj, *args, **kwargs)

    return wrapper


def cohort_view(
    view: Callable[Concatenate[HttpRequest, Cohort, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, str, P], HttpResponse]:
    """Resolve the ``cohort`` URL argument and let only its people (and admins) through."""

    @wraps(view)
    def wrapper(
        request: HttpRequest, cohort: str, *args: P.args, **kwargs: P.kwargs
    ) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        obj = get_object_or_404(Cohort.objects.select_related("course"), slug=cohort)
        if not can_view_cohort(request.user, obj):
            raise PermissionDenied("You are not a member of this cohort.")
        return view(request, obj, *args, **kwargs)

    return wrapper


def cohort_manager_view(
    view: Callable[Concatenate[HttpRequest, Cohort, P], HttpResponse],
) -> Callable[Concatenate[HttpRequest, str, P], HttpResponse]:
    """Resolve the ``cohort`` URL argument and let only those through who may act on it
    (``can_manage_cohort``: its instructors and admins); its trainees get 403 as well."""

    @wraps(view)
    def managed(request: HttpRequest, cohort: Cohort, *args: P.args, **kwargs: P.kwargs) -> Any:
        if not can_manage_cohort(request.user, cohort):
            raise PermissionDenied("Only the cohort's instructors may do this.")
        return view(request, cohort, *args, **kwargs)

    return cohort_view(managed)

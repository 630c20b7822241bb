"""Course pages. Views stay thin: access goes through ``courseware.access``, queries are
fixed in number whatever the size of the course."""

from __future__ import annotations

from typing import Any

import yaml
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.views.decorators.clickjacking import xframe_options_sameorigin

from courseware import progress
from courseware.access import (
    can_manage_cohort,
    cohort_view,
    cohorts_for,
    cohorts_managed_by,
    course_view,
    courses_for,
    is_admin,
    own_cohort,
    own_enrolment,
)
from courseware.models import AgendaItem, Cohort, Course, Day, Enrolment, Exercise, Module, Task
from courseware.progress_views import exercise_progress
from labs import provisioning
from labs.kube import ClusterError
from labs.models import Lab

_LIVE = [Enrolment.State.INVITED, Enrolment.State.ACTIVE]


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (Django admin's): send them
    to Lotse's. Resolved per request, so that production gets the hashed static name."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Everyone's start page: their cohorts (as trainee or instructor), and for admins every
    course."""
    user = request.user
    # A fresh queryset: counting over the access filter's joins would count only the rows
    # that matched it (a trainee would see one trainee in every cohort).
    cohorts = list(
        Cohort.objects.filter(pk__in=cohorts_for(user).values("pk"))
        .select_related("course")
        .annotate(
            trainee_count=Count("enrolments", filter=~Q(enrolments__state=Enrolment.State.REMOVED))
        )
        .order_by("-starts_at")
    )
    instructed = set(user.instructed_cohorts.values_list("pk", flat=True))
    enrolled = set(
        user.enrolments.exclude(state=Enrolment.State.REMOVED).values_list("cohort_id", flat=True)
    )
    admin = is_admin(user)
    for cohort in cohorts:
        cohort.role = (
            "Instructor" if cohort.pk in instructed else "Trainee" if cohort.pk in enrolled else ""
        )
        # The class dashboard: the cohort's instructors and every admin (can_manage_cohort).
        cohort.can_manage = admin or cohort.pk in instructed
    courses = courses_for(user).order_by("title") if admin else []
    return render(request, "courseware/home.html", {"cohorts": cohorts, "courses": courses})


@cohort_view
def cohort(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """A cohort's page: its dates, today's day of the agenda, and every exercise."""
    exercises = Exercise.objects.filter(retired=False).annotate(
        task_count=Count("tasks", filter=Q(tasks__retired=False))
    )
    days = list(
        Day.objects.filter(course=cohort.course, retired=False).prefetch_related(
            Prefetch(
                "agenda_items",
                queryset=AgendaItem.objects.select_related("module__course").order_by("position"),
            ),
            Prefetch(
                "modules",
                queryset=Module.objects.filter(retired=False)
                .select_related("course")
                .prefetch_related(
                    Prefetch("exercises", queryset=exercises.select_related("course"))
                ),
            ),
        )
    )
    today = cohort.today(days)
    enrolment = own_enrolment(request.user, cohort)
    _count_passed(days, progress.passed_counts(enrolment))
    context = {
        "cohort": cohort,
        "course": cohort.course,
        "days": days,
        "today": today,
        **_today(today),
        "can_manage": can_manage_cohort(request.user, cohort),
        "lab": Lab.objects.filter(
            enrolment__cohort=cohort, enrolment__trainee=request.user
        ).first(),
        "progress_known": enrolment is not None,
    }
    if context["can_manage"]:
        context["enrolments"] = (
            cohort.enrolments.filter(state__in=_LIVE)
            .select_related("trainee", "lab")
            .order_by("trainee__last_name", "trainee__first_name", "trainee__username")
        )
    return render(request, "courseware/cohort.html", context)


def _count_passed(days: list[Day], passed: dict[int, int]) -> None:
    """Each exercise of the prefetched days gets ``passed_count``: the trainee's passed tasks."""
    for day in days:
        for module in day.modules.all():
            for exercise in module.exercises.all():
                exercise.passed_count = passed.get(exercise.pk, 0)


def _today(day: Day | None) -> dict[str, list]:
    """What the cohort page lists under today's agenda (from the prefetched rows): the day's
    exercises, and its modules that no agenda item links to, so that every deck of the day
    is reachable."""
    if day is None:
        return {"today_exercises": [], "today_other_modules": []}
    modules = list(day.modules.all())
    linked = {item.module_id for item in day.agenda_items.all()}
    return {
        "today_exercises": [exercise for module in modules for exercise in module.exercises.all()],
        "today_other_modules": [module for module in modules if module.pk not in linked],
    }


@cohort_view
def trainee_terminal(request: HttpRequest, cohort: Cohort, enrolment: int) -> HttpResponse:
    """An instructor's read-only view of a trainee's terminal (the dashboard's shadow view)."""
    if not can_manage_cohort(request.user, cohort):
        raise PermissionDenied("Only the cohort's instructors may watch a trainee's terminal.")
    obj = get_object_or_404(
        Enrolment.objects.select_related("trainee"), pk=enrolment, cohort=cohort
    )
    lab = Lab.objects.filter(enrolment=obj).first()
    context = {"cohort": cohort, "course": cohort.course, "enrolment": obj, "lab": lab}
    return render(request, "courseware/trainee_terminal.html", context)


@cohort_view
def kubeconfig(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """A kubeconfig with a short-lived token of the trainee's ServiceAccount, scoped to the
    trainee's namespace. Only the trainee whose lab it is gets it, and only when it is ready."""
    lab = (
        Lab.objects.select_related("cluster", "enrolment__cohort", "enrolment__trainee")
        .filter(enrolment__cohort=cohort, enrolment__trainee=request.user)
        .exclude(enrolment__state=Enrolment.State.REMOVED)
        .first()
    )
    if lab is None or lab.state != Lab.State.READY:
        raise Http404("Your lab is not ready yet.")
    try:
        config = provisioning.trainee_kubeconfig(lab)
    except ClusterError as exc:
        return HttpResponse(
            f"The cluster cannot issue a token right now: {exc.message}",
            status=503,
            content_type="text/plain",
        )
    response = HttpResponse(
        yaml.safe_dump(config, sort_keys=False), content_type="application/yaml"
    )
    response["Content-Disposition"] = f'attachment; filename="{lab.namespace}.kubeconfig"'
    response["Cache-Control"] = "no-store"
    return response


@course_view
def agenda(request: HttpRequest, course: Course) -> HttpResponse:
    days = Day.objects.filter(course=course, retired=False).prefetch_related(
        Prefetch(
            "agenda_items",
            queryset=AgendaItem.objects.select_related("module__course").order_by("position"),
        ),
        Prefetch(
            "modules",
            queryset=Module.objects.filter(retired=False)
            .select_related("course")
            .prefetch_related(
                Prefetch(
                    "exercises",
                    queryset=Exercise.objects.filter(retired=False).select_related("course"),
                )
            ),
        ),
    )
    return render(request, "courseware/agenda.html", {"course": course, "days": days})


def _module(course: Course, slug: str) -> Module:
    return get_object_or_404(
        Module.objects.select_related("day"), course=course, slug=slug, retired=False
    )


# reveal.js's speaker view frames the deck twice (current and upcoming slide) from a popup
# of the same origin; every other page stays unframeable (X_FRAME_OPTIONS = "DENY").
@xframe_options_sameorigin
@course_view
def slides(request: HttpRequest, course: Course, module: str) -> HttpResponse:
    obj = _module(course, module)
    cohort = own_cohort(request.user, course)
    context = {
        "course": course,
        "module": obj,
        "slides": obj.slides.all(),
        "exercises": obj.exercises.filter(retired=False).select_related("course"),
        "own_cohort": cohort,
        "present": _presenting(request, course, cohort),
        "next_module": Module.objects.filter(course=course, retired=False)
        .filter(day__position__gte=obj.day.position)
        .exclude(day=obj.day, position__lte=obj.position)
        .select_related("course")
        .order_by("day__position", "position")
        .first(),
    }
    return render(request, "courseware/deck.html", context)


def _presenting(
    request: HttpRequest, course: Course, cohort: Cohort | None
) -> dict[str, Any] | None:
    """Present mode on a deck: its cohort's instructors lead, its trainees may follow.
    ``?cohort=<slug>`` picks another cohort the user manages (an admin's, say)."""
    slug = request.GET.get("cohort")
    if slug:
        cohort = cohorts_managed_by(request.user).filter(course=course, slug=slug).first()
    if cohort is None:
        return None
    return {
        "cohort": cohort,
        "role": "lead" if can_manage_cohort(request.user, cohort) else "follow",
        "socket": f"/ws/cohorts/{cohort.pk}/present/",
    }


@course_view
def exercise(request: HttpRequest, course: Course, exercise: str) -> HttpResponse:
    obj = get_object_or_404(
        Exercise.objects.select_related("module__day", "module__course"),
        course=course,
        slug=exercise,
        retired=False,
    )
    if obj.module.retired:
        raise Http404("This exercise's module is no longer part of the course.")
    tasks = list(Task.objects.filter(exercise=obj, retired=False).order_by("position"))
    previous, following = _neighbours(obj)
    cohort = own_cohort(request.user, course)
    context = {
        "course": course,
        "exercise": obj,
        "tasks": tasks,
        "previous": previous,
        "next": following,
        "own_cohort": cohort,
        # The user's enrolment in that cohort and its lab (``progress_lab``): the terminal
        # and the live checks of the page are the lab's.
        **exercise_progress(request.user, cohort, obj, tasks),
    }
    context["lab"] = context["progress_lab"]
    if request.headers.get("HX-Request") and request.GET.get("region") == "terminal":
        # The lab region polls itself while the lab is being prepared.
        return render(request, "courseware/_lab_region.html", context)
    return render(request, "courseware/exercise.html", context)


def _neighbours(exercise: Exercise) -> tuple[dict | None, dict | None]:
    """The exercises before and after ``exercise`` in course order (day, module, position),
    as slug and title; retired ones, and those of retired modules or days, are skipped."""
    order = list(
        Exercise.objects.filter(
            course_id=exercise.course_id,
            retired=False,
            module__retired=False,
            module__day__retired=False,
        )
        .order_by("module__day__position", "module__position", "position", "pk")
        .values("slug", "title")
    )
    index = next((i for i, row in enumerate(order) if row["slug"] == exercise.slug), None)
    if index is None:  # on a retired day: outside the course order
        return None, None
    return (
        order[index - 1] if index > 0 else None,
        order[index + 1] if index + 1 < len(order) else None,
    )

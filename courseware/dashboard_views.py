"""The instructor's class dashboard: the page, its CSV export, and the actions on one
trainee. Views stay thin: ``courseware.dashboard`` builds the grid,
``courseware.dashboard_actions`` and ``courseware.hands`` change state, and
``courseware.access.cohort_manager_view`` lets only the cohort's instructors and admins in
(403 for its trainees and everyone else's instructors, the login page for visitors).

Each action is a POST with CSRF. The page's script posts with ``Accept: application/json``
and shows the sentence it gets back without leaving the page (the grid stays live); a plain
form post gets the sentence as a message and is sent back to the dashboard.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from courseware import dashboard, dashboard_actions, hands, progress_export
from courseware.access import can_reset_labs, cohort_manager_view
from courseware.dashboard_actions import Outcome
from courseware.models import Cohort, Enrolment, HelpRequest


def _day(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@cohort_manager_view
def page(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """The grid of today's tasks (``?day=N`` another day, ``?scope=all`` the whole course),
    stuck trainees first (``?sort=``), filtered by ``?q=`` and ``?stuck=1``."""
    whole = "all" in (request.GET.get("scope"), request.GET.get("day"))
    grid = dashboard.build(cohort, day=_day(request.GET.get("day")), whole=whole)
    sort = request.GET.get("sort", "stuck")
    sort = sort if sort in dashboard.SORTS else "stuck"
    query, only_stuck = request.GET.get("q", ""), request.GET.get("stuck") == "1"
    trainees = dashboard.order(grid.trainees, sort)
    shown = {t.enrolment_id for t in dashboard.matching(trainees, query, only_stuck)}
    context = {
        "cohort": cohort,
        "course": cohort.course,
        "grid": grid,
        "rows": [
            (trainee, trainee.enrolment_id in shown, dashboard.cells(grid, trainee))
            for trainee in trainees
        ],
        "task_titles": {
            column.key: {"task": column.title, "exercise": group.title}
            for group in grid.groups
            for column in group.columns
        },
        "sorts": dashboard.SORTS,
        "sort": sort,
        "query": query,
        "only_stuck": only_stuck,
        "scope": "all" if grid.day is None else str(grid.day.number),
        "stuck_minutes": int(grid.stuck_after.total_seconds() // 60),
        "can_reset_labs": can_reset_labs(request.user, cohort),
    }
    # Times as the classroom's clock shows them (the cohort's time zone).
    with timezone.override(cohort.tz):
        return render(request, "courseware/dashboard.html", context)


@cohort_manager_view
def export(request: HttpRequest, cohort: Cohort) -> HttpResponse:
    """The cohort's progress as CSV, one row per trainee per task."""
    # Built whole rather than streamed: under ASGI Django buffers a synchronous stream
    # anyway (with a warning), and the file is read in three queries (100 × 50: ~0.5 MB).
    response = HttpResponse(
        "".join(progress_export.lines(cohort)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{cohort.slug}-progress.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _enrolment(cohort: Cohort, enrolment: int) -> Enrolment:
    return get_object_or_404(
        Enrolment.objects.select_related("trainee", "cohort__cluster"), pk=enrolment, cohort=cohort
    )


def _answer(request: HttpRequest, cohort: Cohort, outcome: Outcome) -> HttpResponse:
    if request.headers.get("Accept", "").startswith("application/json"):
        return JsonResponse({"message": outcome.message, "ok": outcome.ok}, status=outcome.status)
    messages.add_message(
        request, messages.SUCCESS if outcome.ok else messages.WARNING, outcome.message
    )
    return redirect(_back(request, cohort, request.POST.get("next", "")))


def _back(request: HttpRequest, cohort: Cohort, url: str) -> str:
    """Where to return after an action: the dashboard as it was (its day and filters), if
    ``url`` is a page of this site; the dashboard otherwise."""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return url
    return reverse("courseware:dashboard", args=[cohort.slug])


@require_http_methods(["GET", "POST"])
@cohort_manager_view
def reset_lab(request: HttpRequest, cohort: Cohort, enrolment: int) -> HttpResponse:
    """GET: what a reset deletes, and the button that confirms it; POST: reset."""
    if not can_reset_labs(request.user, cohort):
        raise PermissionDenied("Resetting a lab needs the permission to manage labs.")
    obj = _enrolment(cohort, enrolment)
    if request.method == "POST":
        return _answer(request, cohort, dashboard_actions.reset_lab(obj, request.user))
    context = {
        "cohort": cohort,
        "course": cohort.course,
        "enrolment": obj,
        "name": dashboard_actions.name_of(obj),
        "consequences": dashboard_actions.reset_consequence(obj),
        "next": _back(request, cohort, request.GET.get("next", "")),
    }
    return render(request, "courseware/dashboard_reset.html", context)


@require_POST
@cohort_manager_view
def rerun_checks(request: HttpRequest, cohort: Cohort, enrolment: int) -> HttpResponse:
    return _answer(request, cohort, dashboard_actions.rerun_checks(_enrolment(cohort, enrolment)))


@require_POST
@cohort_manager_view
def resend_invite(request: HttpRequest, cohort: Cohort, enrolment: int) -> HttpResponse:
    obj = _enrolment(cohort, enrolment)
    return _answer(request, cohort, dashboard_actions.resend_invite(obj, request.user))


@require_POST
@cohort_manager_view
def help_handled(request: HttpRequest, cohort: Cohort, help_request: int) -> HttpResponse:
    """The instructor has answered a raised hand: it leaves the queue, and the trainee's
    page says so."""
    obj = get_object_or_404(
        HelpRequest.objects.select_related("enrolment__trainee", "exercise"),
        pk=help_request,
        enrolment__cohort=cohort,
    )
    name = dashboard_actions.name_of(obj.enrolment)
    if hands.mark_handled(obj, request.user):
        outcome = Outcome(f"Marked handled: {name}, {obj.exercise.title}.", 200)
    else:
        outcome = Outcome(f"{name}'s request about {obj.exercise.title} was handled already.", 200)
    return _answer(request, cohort, outcome)

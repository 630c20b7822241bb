"""The exercise page's live checks: what it shows of a trainee's results, "Check now", and
recording that a hint or a solution was opened. Views stay thin: ``courseware.progress``
changes state, ``courseware.access`` decides who."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from courseware import hands, progress
from courseware.access import User, course_view, own_cohort, own_enrolment
from courseware.models import Cohort, Course, Exercise, Task
from labs.checks import Check
from labs.models import Lab

OPENABLE = ("hint", "solution")


def exercise_progress(
    user: User, cohort: Cohort | None, exercise: Exercise, tasks: list[Task]
) -> dict:
    """What the exercise page shows of the user's progress in ``cohort`` (theirs, of the
    course), and the opening of the exercise: its tasks are judged from now on. Sets on each
    task: ``result``, ``locked_by``, and ``check_rows`` (each check's sentence with its last
    outcome). A fixed number of queries."""
    enrolment = own_enrolment(user, cohort)
    results = progress.open_exercise(enrolment, exercise, tasks) if enrolment else {}
    for task in tasks:
        task.result = results.get(task.pk)
        task.locked_by = progress.locked_by(exercise, task, tasks, results) if enrolment else None
        details = task.result.details if task.result is not None else []
        task.check_rows = [
            (Check.from_json(data).sentence(), details[i] if i < len(details) else None)
            for i, data in enumerate(task.checks)
        ]
    lab = getattr(enrolment, "lab", None) if enrolment is not None else None
    return {
        "enrolment": enrolment,
        "progress_lab": lab,
        "checks_live": lab is not None and lab.state == Lab.State.READY,
        "can_raise_hand": hands.can_raise(enrolment, exercise),
        "help_request": hands.latest_request(enrolment, exercise),
    }


def _task(course: Course, exercise: str, task: str) -> Task:
    return get_object_or_404(
        Task.objects.select_related("exercise"),
        exercise__course=course,
        exercise__slug=exercise,
        exercise__retired=False,
        exercise__is_demo=False,
        slug=task,
        retired=False,
    )


def _answer(status: int, message: str) -> JsonResponse:
    """What the page's script shows beside the button."""
    return JsonResponse({"message": message}, status=status)


@require_POST
@course_view
def check_task(request: HttpRequest, course: Course, exercise: str, task: str) -> HttpResponse:
    """ "Check now": judge one task in the trainee's lab through the API, now. The result
    arrives on the page's websocket (and is recorded) like any other."""
    obj = _task(course, exercise, task)
    enrolment = own_enrolment(request.user, own_cohort(request.user, course))
    if enrolment is None:
        message = "Checks run in a trainee's own lab, and you have none in this course."
        return _answer(403, message)
    lab: Any = getattr(enrolment, "lab", None)
    if lab is None or lab.state != Lab.State.READY:
        return _answer(409, "Your lab is not ready yet; checks start once it is.")
    wait = progress.wait_before_checking(request.user.pk, obj.pk)
    if wait:
        message = (
            f"You asked a moment ago: try again in {wait} s (or just wait: checks also run "
            "by themselves when your lab changes)."
        )
        return _answer(429, message)
    blocker = progress.request_check(enrolment, lab, obj)
    if blocker is not None:
        return _answer(409, f"This task opens once “{blocker.title}” has passed.")
    return _answer(202, "Checking …")


@require_POST
@course_view
def task_opened(
    request: HttpRequest, course: Course, exercise: str, task: str, what: str
) -> HttpResponse:
    """The page tells that a trainee opened a task's hint or solution; recorded once."""
    if what not in OPENABLE:
        raise Http404(f"A task has a hint and a solution, not a {what}.")
    obj = _task(course, exercise, task)
    enrolment = own_enrolment(request.user, own_cohort(request.user, course))
    if enrolment is not None:
        progress.record_opened(enrolment, obj, what)
    return HttpResponse(status=204)


@require_POST
@course_view
def raise_hand(request: HttpRequest, course: Course, exercise: str) -> HttpResponse:
    """ "I need help": the trainee's hand goes up for this exercise (once: pressing again
    while it is up changes nothing), in the instructors' queue on the dashboard."""
    obj = get_object_or_404(
        Exercise, course=course, slug=exercise, retired=False, module__retired=False
    )
    enrolment = own_enrolment(request.user, own_cohort(request.user, course))
    if enrolment is None:
        return _answer(403, "Only trainees raise a hand; you are not one in this course.")
    if not hands.can_raise(enrolment, obj):
        return _answer(409, "Hands go up on exercises while your cohort runs.")
    _, new = hands.raise_hand(enrolment, obj)
    if request.headers.get("Accept", "").startswith("application/json"):
        message = (
            "Your hand is up: an instructor comes to you." if new else "Your hand is up already."
        )
        return _answer(201 if new else 200, message)
    return redirect(obj.get_absolute_url() + "#help")

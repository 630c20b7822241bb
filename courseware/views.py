"""Course pages. Views stay thin: access goes through ``courseware.access``, queries are
fixed in number whatever the size of the course."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from courseware.access import can_view_course, course_view
from courseware.models import AgendaItem, Course, Day, Exercise, Module, Task
from labs.checks import Check


def home(request: HttpRequest) -> HttpResponse:
    courses = [c for c in Course.objects.order_by("title") if can_view_course(request.user, c)]
    if len(courses) == 1:
        return redirect(courses[0])
    return render(request, "courseware/home.html", {"courses": courses})


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


@course_view
def slides(request: HttpRequest, course: Course, module: str) -> HttpResponse:
    obj = _module(course, module)
    context = {
        "course": course,
        "module": obj,
        "slides": obj.slides.all(),
        "exercises": obj.exercises.filter(retired=False).select_related("course"),
        "next_module": Module.objects.filter(course=course, retired=False)
        .filter(day__position__gte=obj.day.position)
        .exclude(day=obj.day, position__lte=obj.position)
        .select_related("course")
        .order_by("day__position", "position")
        .first(),
    }
    return render(request, "courseware/deck.html", context)


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
    for task in tasks:
        task.check_sentences = [Check.from_json(data).sentence() for data in task.checks]
    return render(
        request, "courseware/exercise.html", {"course": course, "exercise": obj, "tasks": tasks}
    )

"""Writes a validated ``CourseSource`` to the database, in one transaction.

Days, modules, exercises and tasks are matched by their ids, so a re-sync updates them in
place and everything keyed to them (progress, check results) survives. What the content
no longer has is retired, not deleted. Slides and agenda items have no identity of their
own and are replaced. A task whose checks change has its results judged again
(``courseware.progress.checks_changed``): a result found under the old checks is stale.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from courseware import progress
from courseware.content.rendering import render
from courseware.content.source import CourseSource, read_course
from courseware.models import AgendaItem, Course, Day, Exercise, Module, Slide, Task


@dataclass
class SyncReport:
    course: Course
    changes: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"{count} {what}" for what, count in sorted(self.changes.items()) if count]
        return ", ".join(parts) or "no changes"


def _upsert(
    report: SyncReport, model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]
) -> Any:
    obj, created = model.objects.update_or_create(**lookup, defaults={**values, "retired": False})
    report.changes[f"{model._meta.verbose_name_plural} {'created' if created else 'kept'}"] += 1
    return obj


def _retire(report: SyncReport, queryset: models.QuerySet[Any]) -> None:
    count = queryset.filter(retired=False).update(retired=True)
    report.changes[f"{queryset.model._meta.verbose_name_plural} retired"] += count


@transaction.atomic
def write_course(source: CourseSource) -> SyncReport:
    course, _ = Course.objects.update_or_create(
        slug=source.id,
        defaults={
            "title": source.title,
            "subtitle": source.subtitle,
            "pod_security": source.pod_security,
            "source_digest": source.digest,
            "synced_at": timezone.now(),
        },
    )
    report = SyncReport(course)
    day_ids, module_ids, exercise_ids = [], [], []
    changed_checks: list[int] = []
    checks_before = dict(Task.objects.filter(exercise__course=course).values_list("pk", "checks"))
    AgendaItem.objects.filter(day__course=course).delete()
    for day_position, day_source in enumerate(source.days):
        day = _upsert(
            report,
            Day,
            {"course": course, "slug": day_source.id},
            {"title": day_source.title, "position": day_position, "is_backup": day_source.backup},
        )
        day_ids.append(day.pk)
        modules: dict[str, Module] = {}
        for module_source in day_source.modules:
            module = _upsert(
                report,
                Module,
                {"course": course, "slug": module_source.id},
                {
                    "day": day,
                    "title": module_source.title,
                    "summary": module_source.summary,
                    "position": module_source.position,
                    "source_path": module_source.path,
                },
            )
            modules[module.slug] = module
            module_ids.append(module.pk)
            Slide.objects.filter(module=module).delete()
            Slide.objects.bulk_create(
                Slide(
                    module=module,
                    position=i,
                    title=s.title,
                    html=render(s.body),
                    notes_html=render(s.notes),
                    source_line=s.line,
                )
                for i, s in enumerate(module_source.slides)
            )
            report.changes["slides written"] += len(module_source.slides)
            for position, exercise_source in enumerate(module_source.exercises):
                exercise = _upsert(
                    report,
                    Exercise,
                    {"course": course, "slug": exercise_source.id},
                    {
                        "module": module,
                        "title": exercise_source.title,
                        "minutes": exercise_source.minutes,
                        "position": position,
                        "is_demo": exercise_source.demo,
                        "gated": exercise_source.gated,
                        "intro_html": render(exercise_source.intro),
                        "cleanup_html": render(exercise_source.cleanup),
                    },
                )
                exercise_ids.append(exercise.pk)
                task_ids = []
                for task_position, task_source in enumerate(exercise_source.tasks):
                    task = _upsert(
                        report,
                        Task,
                        {"exercise": exercise, "slug": task_source.id},
                        {
                            "title": task_source.title,
                            "position": task_position,
                            "instructions_html": render(task_source.instructions),
                            "hint_html": render(task_source.hint),
                            "solution_html": render(task_source.solution),
                            "checks": task_source.checks,
                        },
                    )
                    task_ids.append(task.pk)
                    if task.pk in checks_before and checks_before[task.pk] != task.checks:
                        changed_checks.append(task.pk)
                _retire(report, Task.objects.filter(exercise=exercise).exclude(pk__in=task_ids))
        AgendaItem.objects.bulk_create(
            AgendaItem(
                day=day,
                section=item.section,
                title=item.title,
                position=i,
                module=modules.get(item.module_id) if item.module_id else None,
            )
            for i, item in enumerate(day_source.agenda)
        )
    _retire(report, Day.objects.filter(course=course).exclude(pk__in=day_ids))
    _retire(report, Module.objects.filter(course=course).exclude(pk__in=module_ids))
    retired_exercises = Exercise.objects.filter(course=course).exclude(pk__in=exercise_ids)
    _retire(report, Task.objects.filter(exercise__in=retired_exercises))
    _retire(report, retired_exercises)
    report.changes["task results to judge again"] += progress.checks_changed(changed_checks)
    return report


def sync_course(folder: Path, *, write: bool = True) -> tuple[CourseSource, SyncReport | None]:
    """Validate the content in ``folder`` and, if ``write``, store it. Raises ``ContentInvalid``."""
    source = read_course(folder)
    return source, write_course(source) if write else None

"""sync_course writes the course in one transaction and keeps rows keyed to stable ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from courseware.content.sync import sync_course
from courseware.models import AgendaItem, Course, Day, Exercise, Module, Slide, Task

pytestmark = pytest.mark.django_db

PODS = "day-1/01-pods.md"


def test_it_loads_course_days_modules_slides_exercises_and_tasks(fixture_course: Course) -> None:
    assert fixture_course.title == "Fixture Course"
    assert list(Day.objects.values_list("slug", "is_backup")) == [
        ("day-1", False),
        ("backup", True),
    ]
    assert list(Module.objects.values_list("slug", flat=True)) == ["pods", "services"]
    assert Slide.objects.filter(module__slug="pods").count() == 3
    pods_slide = Slide.objects.get(module__slug="pods", position=1)
    assert pods_slide.title == "A pod manifest"
    assert '<span class="nt">apiVersion</span>' in pods_slide.html
    task = Task.objects.get(slug="create-pod")
    assert task.key == "first-pod/create-pod"
    assert task.checks[0]["kind"] == "Pod"
    assert [(i.section, i.title, i.module and i.module.slug) for i in AgendaItem.objects.all()] == [
        ("Basics", "Welcome", None),
        ("Basics", "Pods", "pods"),
        ("Basics", "Services", "services"),
        ("Extras", "Tips and tricks", None),
    ]


def test_it_is_idempotent(content_dir: Path, fixture_course: Course) -> None:
    rows = {m: set(m.objects.values_list("pk", flat=True)) for m in (Day, Module, Exercise, Task)}

    _, report = sync_course(content_dir)

    assert report is not None
    assert {m: set(m.objects.values_list("pk", flat=True)) for m in rows} == rows
    assert report.changes["tasks created"] == 0
    assert Course.objects.count() == 1


def test_it_keeps_task_ids_across_an_edit(content_dir: Path, fixture_course: Course) -> None:
    create_pod = Task.objects.get(slug="create-pod")
    label_pod = Task.objects.get(slug="label-pod")
    module = content_dir / PODS
    text = module.read_text()
    text = text.replace("title: Create a pod named my-pod running nginx", "title: Run my-pod")
    # Swap the order of the two tasks and add a third.
    text = text.replace(
        "      - id: label-pod",
        "      - id: describe-pod\n        title: Describe it\n"
        "        checks:\n          - {kind: Pod, name: my-pod}\n      - id: label-pod",
    )
    module.write_text(text)

    sync_course(content_dir)

    create_pod.refresh_from_db()
    label_pod.refresh_from_db()
    assert create_pod.title == "Run my-pod"
    assert label_pod.position == 2
    assert Task.objects.get(slug="describe-pod").position == 1
    assert Task.objects.filter(retired=False).count() == 4


def test_it_retires_what_the_content_dropped_and_revives_it(
    content_dir: Path, fixture_course: Course
) -> None:
    label_pod = Task.objects.get(slug="label-pod")
    module = content_dir / PODS
    original = module.read_text()
    start = original.index("      - id: label-pod")
    end = original.index("---", start)
    module.write_text(original[:start] + original[end:])

    _, report = sync_course(content_dir)

    label_pod.refresh_from_db()
    assert label_pod.retired
    assert report is not None
    assert report.changes["tasks retired"] == 1

    module.write_text(original)
    sync_course(content_dir)

    label_pod.refresh_from_db()
    assert not label_pod.retired


def test_it_retires_a_removed_module_with_its_exercises(
    content_dir: Path, fixture_course: Course
) -> None:
    (content_dir / "day-1" / "02-services.md").unlink()
    course_yaml = content_dir / "course.yaml"
    course_yaml.write_text(
        course_yaml.read_text().replace("          - {title: Services, module: services}\n", "")
    )

    sync_course(content_dir)

    assert Module.objects.get(slug="services").retired
    assert Exercise.objects.get(slug="first-service").retired
    assert Task.objects.get(slug="create-service").retired
    assert Task.objects.filter(retired=False).count() == 2

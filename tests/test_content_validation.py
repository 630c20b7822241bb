"""The content pipeline refuses broken content with file:line errors and writes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError

from courseware.content.errors import ContentInvalid
from courseware.content.source import read_course
from courseware.content.sync import sync_course
from courseware.models import Course, Slide, Task
from tests.factories import FIXTURES

MODULE = "day-1/01-pods.md"


def errors_of(folder: Path) -> list[str]:
    with pytest.raises(ContentInvalid) as caught:
        read_course(folder)
    return [str(error) for error in caught.value.errors]


def test_it_accepts_the_shipped_course() -> None:
    source = read_course(settings.COURSE_CONTENT_DIR)
    assert [day.title for day in source.days] == ["Day I", "Day II", "Day III", "Backup"]
    assert source.modules, "the course has modules"


def test_it_accepts_the_fixture_course() -> None:
    source = read_course(FIXTURES / "course")
    (pods, services) = source.modules
    assert [s.title for s in pods.slides] == [
        "Pods",
        "A pod manifest",
        "Two documents in one fence",
    ]
    assert pods.slides[0].notes == 'Ask the room what "pod" means in English.'
    assert [t.id for t in pods.exercises[0].tasks] == ["create-pod", "label-pod"]
    create, label = pods.exercises[0].tasks
    assert create.checks[0]["kind"] == "Pod"
    (wrong,) = create.wrong_answers
    assert wrong.description == "The pod is named after its image, not my-pod."
    assert "$ kubectl run nginx --image=nginx:1.27" in wrong.solution
    (other,) = create.other_solutions
    assert other.description == "kubectl run, without a manifest."
    assert "$ kubectl run my-pod --image=nginx:1.27" in other.solution
    assert (create.simulated, label.simulated) == (
        "",
        "The fixture course says so, to show the key.",
    )
    assert services.exercises[0].id == "first-service"
    assert services.exercises[0].builds_on == ""


@pytest.mark.parametrize(
    ("broken", "line", "message"),
    [
        ("unknown-key.md", 3, "unknown key 'titel' in module front matter"),
        ("bad-yaml.md", 5, "YAML: expected ',' or ']'"),
        ("unclosed-front-matter.md", 1, "front matter is never closed"),
        ("duplicate-task-id.md", 12, "duplicate task id 'create-pod' (first at line 8)"),
        ("unknown-check-kind.md", 11, "unknown kind"),
        ("bad-selector.md", 12, "app in (web"),
        ("bad-jsonpath.md", 13, 'bad jsonpath "{.spec.containers[0}"'),
        ("invalid-manifest-in-slide.md", 20, "spec.containers[0].imagePullPolice"),
        ("outdated-api-in-slide.md", 8, "no kind 'ReplicaSet' in apiVersion 'extensions/v1beta1'"),
        ("invalid-manifest-in-solution.md", 17, "Pod manifest invalid at .spec.containers"),
        ("fence-without-language.md", 7, "code fence without a language"),
        ("task-without-checks.md", 8, "task 'create-pod' has no checks"),
        ("empty-slide.md", 8, "empty slide"),
    ],
)
def test_it_names_file_and_line_of_each_error(
    content_dir: Path, broken: str, line: int, message: str
) -> None:
    shutil.copy(FIXTURES / "broken" / broken, content_dir / MODULE)

    errors = errors_of(content_dir)

    prefix = f"{MODULE}:{line}: "
    assert len(errors) == 1, errors
    assert errors[0].startswith(prefix), errors
    assert message in errors[0], errors


def test_it_reports_every_error_of_a_run(content_dir: Path) -> None:
    shutil.copy(FIXTURES / "broken" / "unknown-key.md", content_dir / MODULE)
    services = content_dir / "day-1" / "02-services.md"
    services.write_text(services.read_text().replace("kind: Service", "kind: Servcie"))

    errors = errors_of(content_dir)

    assert any(e.startswith(f"{MODULE}:3: ") for e in errors)
    assert any(e.startswith("day-1/02-services.md:11: ") for e in errors)


def test_it_rejects_an_exercise_id_used_twice(content_dir: Path) -> None:
    services = content_dir / "day-1" / "02-services.md"
    services.write_text(services.read_text().replace("id: first-service", "id: first-pod"))

    errors = errors_of(content_dir)

    assert (
        "day-1/02-services.md:4: duplicate exercise id 'first-pod' (also in day-1/01-pods.md)"
        in errors
    )


def test_it_rejects_an_agenda_link_to_a_missing_module(content_dir: Path) -> None:
    course = content_dir / "course.yaml"
    course.write_text(course.read_text().replace("module: services", "module: servics"))

    errors = errors_of(content_dir)

    assert "course.yaml:12: agenda item 'Services': no module 'servics' in day-1/" in errors
    assert (
        "day-1/02-services.md:1: module 'services' is not linked from the agenda of day-1 "
        "in course.yaml" in errors
    )


def test_it_rejects_a_folder_that_is_no_day(content_dir: Path) -> None:
    (content_dir / "day-9").mkdir()

    assert "day-9:1: folder 'day-9' is not a day of course.yaml" in errors_of(content_dir)


def test_it_accepts_a_manifest_fenced_as_no_validate(content_dir: Path) -> None:
    module = content_dir / MODULE
    shutil.copy(FIXTURES / "broken" / "outdated-api-in-slide.md", module)
    module.write_text(module.read_text().replace("```yaml\n", "```yaml no-validate\n"))

    source = read_course(content_dir)

    assert "extensions/v1beta1" in source.modules[0].slides[0].body


@pytest.mark.django_db
def test_it_writes_nothing_when_the_content_is_broken(content_dir: Path) -> None:
    shutil.copy(FIXTURES / "broken" / "bad-selector.md", content_dir / MODULE)

    with pytest.raises(ContentInvalid):
        sync_course(content_dir)

    assert not Course.objects.exists()
    assert not Task.objects.exists()


@pytest.mark.django_db
def test_it_keeps_the_last_good_content_when_an_edit_is_broken(content_dir: Path) -> None:
    sync_course(content_dir)
    slides_before = list(Slide.objects.values_list("pk", "title"))
    services = content_dir / "day-1" / "02-services.md"
    services.write_text(services.read_text().replace("# Services", "# Renamed") + "\n```\nx\n```\n")

    with pytest.raises(ContentInvalid):
        sync_course(content_dir)

    assert list(Slide.objects.values_list("pk", "title")) == slides_before


@pytest.mark.django_db
def test_it_validates_without_writing_with_check(
    content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("sync_course", "--check", "--path", str(content_dir))

    assert "valid (2 days, 2 modules, 4 slides, 2 exercises, 3 tasks)" in capsys.readouterr().out
    assert not Course.objects.exists()


@pytest.mark.django_db
def test_it_fails_the_command_with_the_errors(
    content_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(FIXTURES / "broken" / "unknown-key.md", content_dir / MODULE)

    with pytest.raises(CommandError, match=r"1 error\(s\) in .*; nothing was written"):
        call_command("sync_course", "--check", "--path", str(content_dir))

    assert f"{MODULE}:3: unknown key 'titel'" in capsys.readouterr().err


def test_it_names_a_list_that_is_not_a_list(content_dir: Path) -> None:
    course = content_dir / "course.yaml"
    text = course.read_text()
    course.write_text(text[: text.index("days:")] + "days: every weekday\n")

    errors = errors_of(content_dir)

    assert "course.yaml:4: days must be a list" in errors
    assert "day-1:1: folder 'day-1' is not a day of course.yaml" in errors


def test_it_names_exercises_that_are_not_a_list(content_dir: Path) -> None:
    (content_dir / MODULE).write_text("---\ntitle: Pods\nexercises: none\n---\n\n# Pods\n")

    assert errors_of(content_dir) == [f"{MODULE}:3: exercises must be a list"]


def test_it_names_front_matter_that_is_not_a_mapping(content_dir: Path) -> None:
    (content_dir / MODULE).write_text("---\n- a list\n---\n\n# Pods\n")

    assert errors_of(content_dir) == [f"{MODULE}:2: front matter must be a mapping"]


def test_it_names_a_file_that_is_not_utf8(content_dir: Path) -> None:
    (content_dir / MODULE).write_bytes(b"---\ntitle: Caf\xe9\n---\n")

    assert errors_of(content_dir) == [
        f"{MODULE}:1: not UTF-8 text (invalid continuation byte at byte 14)"
    ]


@pytest.mark.django_db
def test_it_reads_a_gated_exercise_and_refuses_a_gated_demonstration(content_dir: Path) -> None:
    module = content_dir / MODULE
    text = module.read_text()
    module.write_text(text.replace("    minutes: 10\n", "    minutes: 10\n    gated: true\n", 1))
    assert read_course(content_dir).modules[0].exercises[0].gated is True
    _, report = sync_course(content_dir)
    assert report is not None
    assert report.course.exercises.get(slug="first-pod").gated is True

    module.write_text(
        text.replace("    minutes: 10\n", "    minutes: 10\n    gated: yes-please\n", 1)
    )
    assert errors_of(content_dir) == [f"{MODULE}:8: exercise 'gated' must be true or false"]

    demo = text.replace(
        "    minutes: 10\n", "    minutes: 10\n    demo: true\n    gated: true\n", 1
    )
    demo = (
        demo.split("        checks:")[0] + "      - id: label-pod\n        title: Label it\n---\n"
    )
    module.write_text(demo + text.split("\n---\n", 2)[2])
    assert f"{MODULE}:9: a demonstration cannot be gated" in "\n".join(errors_of(content_dir))


def test_it_names_what_is_wrong_with_a_wrong_answer_or_another_solution(
    content_dir: Path,
) -> None:
    module = content_dir / MODULE
    text = module.read_text()
    no_solution = text.replace(
        "            solution: |\n              ```console\n              $ kubectl run nginx",
        "            solution_: |\n              ```console\n              $ kubectl run nginx",
    )
    module.write_text(no_solution)
    assert errors_of(content_dir) == [
        f"{MODULE}:36: wrong answer has no 'solution'",
        f"{MODULE}:37: unknown key 'solution_' in wrong answer (allowed: description, solution)",
    ]

    lines = text.split("\n")
    module.write_text("\n".join([*lines[:34], "        wrong_answers: []", *lines[40:]]))
    assert errors_of(content_dir) == [
        f"{MODULE}:35: wrong_answers must not be empty (or leave it out)"
    ]

    unfenced = text.replace("              ```console\n", "              ```\n", 1)
    module.write_text(unfenced)
    assert errors_of(content_dir) == [
        f"{MODULE}:38: code fence without a language (```yaml, ```console, ...)"
    ]

    module.write_text("\n".join([*lines[:41], "          - kubectl run my-pod", *lines[46:]]))
    assert errors_of(content_dir) == [
        f"{MODULE}:42: an item of other_solutions (description and solution) must be a mapping"
    ]


def test_it_refuses_an_empty_simulated_reason_and_one_on_a_demonstration(
    content_dir: Path,
) -> None:
    module = content_dir / MODULE
    text = module.read_text()
    module.write_text(text.replace("simulated: The fixture course says so, to show the key.",
                                   'simulated: ""'))  # fmt: skip
    assert errors_of(content_dir) == [f"{MODULE}:49: task 'simulated' must be a non-empty text"]

    demo = text.replace("    minutes: 10\n", "    minutes: 10\n    demo: true\n", 1)
    demo = demo.replace(
        "        checks:\n          - kind: Pod\n            name: my-pod\n"
        "            expect: {phase: Running}\n", "", 1,
    ).replace(
        "        checks:\n          - kind: Pod\n            selector: \"tier=web\"\n"
        "            count: {min: 1}\n", "", 1,
    )  # fmt: skip
    module.write_text(demo)
    assert errors_of(content_dir) == [
        f"{MODULE}:32: a demonstration task has no checks, so no 'wrong_answers'",
        f"{MODULE}:38: a demonstration task has no checks, so no 'other_solutions'",
        f"{MODULE}:46: a demonstration task has no checks, so no 'simulated'",
    ]


def test_it_accepts_only_an_earlier_checked_exercise_to_build_on(content_dir: Path) -> None:
    services = content_dir / "day-1" / "02-services.md"
    text = services.read_text()
    builds = text.replace("    minutes: 5\n", "    minutes: 5\n    builds_on: first-pod\n", 1)
    services.write_text(builds)
    assert read_course(content_dir).modules[1].exercises[0].builds_on == "first-pod"

    services.write_text(builds.replace("builds_on: first-pod", "builds_on: first-pods"))
    assert errors_of(content_dir) == [
        "day-1/02-services.md:7: builds_on 'first-pods': no exercise with that id comes "
        "before 'first-service' in the course"
    ]
    services.write_text(builds.replace("builds_on: first-pod", "builds_on: First Pod"))
    assert "builds_on: exercise id 'First Pod' must be lower-case" in "\n".join(
        errors_of(content_dir)
    )

    # A module that cannot be read says so; what builds on it is not blamed as well.
    services.write_text(builds)
    module = content_dir / MODULE
    pods = module.read_text()
    module.write_text(pods.replace("title: Pods\n", "title: [Pods\n", 1))
    assert [e.split(": ")[0] for e in errors_of(content_dir)] == [f"{MODULE}:3"]

    module.write_text(pods.replace("    minutes: 10\n", "    minutes: 10\n    demo: true\n", 1))
    assert "day-1/02-services.md:7: builds_on 'first-pod': a demonstration leaves nothing " \
        "in a lab to build on" in errors_of(content_dir)  # fmt: skip

    services.write_text(text)
    module.write_text(
        pods.replace("    minutes: 10\n", "    minutes: 10\n    builds_on: first-service\n", 1)
    )
    assert errors_of(content_dir) == [
        f"{MODULE}:8: builds_on 'first-service': no exercise with that id comes before "
        "'first-pod' in the course"
    ]

"""Reads ``slides/`` into plain dataclasses and validates everything, touching no database.

``read_course(folder)`` returns a ``CourseSource`` or raises ``ContentInvalid`` with every
error found, each with its file and line. The file format is described in
``docs/content-format.md``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courseware.content import yamlfile
from courseware.content.errors import ErrorLog
from courseware.content.fences import outside_fences, scan
from courseware.content.manifests import check_fence
from courseware.content.yamlfile import LineDict, LineList
from labs.checks import CheckSpecError, parse_check

COURSE_FILE = "course.yaml"
ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_MAX = 50
MODULE_FILE_RE = re.compile(r"^(?P<position>\d+)-(?P<id>.+)\.md$")
HEADING_RE = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
SLIDE_SEPARATOR = "---"
NOTES_MARKER = "Note:"

COURSE_KEYS = {"id", "title", "subtitle", "pod_security", "days"}
DAY_KEYS = {"id", "title", "backup", "agenda"}
SECTION_KEYS = {"section", "items"}
ITEM_KEYS = {"title", "module"}
# Pod Security Admission levels a course may need, strictest first.
POD_SECURITY_LEVELS = ("restricted", "baseline")
MODULE_KEYS = {"title", "summary", "exercises"}
EXERCISE_KEYS = {
    "id", "title", "minutes", "intro", "cleanup", "demo", "gated", "builds_on", "tasks",
}  # fmt: skip
TASK_KEYS = {
    "id", "title", "instructions", "hint", "solution", "checks", "other_solutions",
    "wrong_answers", "simulated",
}  # fmt: skip
ANSWER_KEYS = {"description", "solution"}
# The task keys that list answers, and what one of them is called in an error message.
ANSWER_LISTS = {"other_solutions": "other solution", "wrong_answers": "wrong answer"}
MINUTES_RANGE = (5, 20)


@dataclass
class AnswerSource:
    """Another way to answer a task than its solution: what the trainee did
    (``description``, one sentence) and how (``solution``, Markdown like a task's solution).
    An other solution must pass the task's checks and a wrong answer must fail them; the
    content tests apply each to prove so."""

    description: str
    solution: str
    line: int


@dataclass
class TaskSource:
    id: str
    title: str
    line: int
    instructions: str = ""
    hint: str = ""
    solution: str = ""
    checks: list[dict[str, Any]] = field(default_factory=list)
    other_solutions: list[AnswerSource] = field(default_factory=list)
    wrong_answers: list[AnswerSource] = field(default_factory=list)
    # Why the task's checks cannot pass on the simulated cluster; empty when they can.
    simulated: str = ""


@dataclass
class ExerciseSource:
    id: str
    title: str
    minutes: int
    line: int
    path: str
    intro: str = ""
    cleanup: str = ""
    demo: bool = False
    gated: bool = False
    # The id of an earlier exercise whose end state this one starts from; empty for none.
    builds_on: str = ""
    builds_on_line: int = 0
    tasks: list[TaskSource] = field(default_factory=list)


@dataclass
class SlideSource:
    line: int
    title: str
    body: str
    notes: str


@dataclass
class ModuleSource:
    id: str
    position: int
    path: str
    title: str
    summary: str
    slides: list[SlideSource]
    exercises: list[ExerciseSource]


@dataclass
class AgendaItemSource:
    section: str
    title: str
    module_id: str | None
    line: int


@dataclass
class DaySource:
    id: str
    title: str
    backup: bool
    agenda: list[AgendaItemSource]
    modules: list[ModuleSource] = field(default_factory=list)


@dataclass
class CourseSource:
    id: str
    title: str
    subtitle: str
    days: list[DaySource]
    digest: str
    pod_security: str = "restricted"

    @property
    def modules(self) -> list[ModuleSource]:
        return [module for day in self.days for module in day.modules]


class _File:
    """Error reporting for one file: knows its path, collects into the shared log."""

    def __init__(self, log: ErrorLog, path: str):
        self.log = log
        self.path = path

    def error(self, line: int, message: str) -> None:
        self.log.add(self.path, line, message)

    def keys(self, data: LineDict, allowed: set[str], required: set[str], what: str) -> bool:
        ok = True
        for key in data:
            if key not in allowed:
                self.error(
                    data.line_of(key),
                    f"unknown key {key!r} in {what} (allowed: {', '.join(sorted(allowed))})",
                )
                ok = False
        for key in sorted(required - data.keys()):
            self.error(data.line, f"{what} has no {key!r}")
            ok = False
        return ok

    def text(self, data: LineDict, key: str, what: str, *, required: bool = False) -> str:
        value = data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.error(data.line_of(key), f"{what} {key!r} must be a non-empty text")
            return ""
        return value

    def ident(self, data: LineDict, key: str, what: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not ID_RE.match(value) or len(value) > ID_MAX:
            self.error(
                data.line_of(key),
                f"{what} id {value!r} must be lower-case letters, digits and hyphens "
                f"(at most {ID_MAX} characters)",
            )
            return ""
        return value

    def markdown(self, text: str, first_line: int) -> None:
        """Fences in a Markdown text: language given, closed, manifests valid."""
        for fence in scan(text.split("\n"), first_line):
            if not fence.language:
                self.error(fence.line, "code fence without a language (```yaml, ```console, ...)")
            if not fence.closed:
                self.error(fence.line, "code fence is never closed")
            for line, message in check_fence(fence):
                self.error(line, message)


def _mapping(file: _File, value: Any, line: int, what: str) -> LineDict | None:
    if isinstance(value, LineDict):
        return value
    file.error(line, f"{what} must be a mapping")
    return None


def _sequence(file: _File, value: Any, line: int, what: str) -> LineList:
    if isinstance(value, LineList):
        return value
    file.error(line, f"{what} must be a list")
    return LineList()


def _markdown_start(data: LineDict, key: str) -> int:
    # A block scalar (`key: |`) starts on the line after its key.
    return data.line_of(key) + 1


# -- course.yaml -------------------------------------------------------------------------


def _read_course_file(file: _File, text: str) -> tuple[dict[str, str], list[DaySource]]:
    try:
        data = yamlfile.load(text)
    except yamlfile.YamlError as exc:
        file.error(exc.line, exc.message)
        return {}, []
    course = _mapping(file, data, 1, "course.yaml")
    if course is None:
        return {}, []
    file.keys(course, COURSE_KEYS, {"id", "title", "days"}, "course")
    meta = {
        "id": file.ident(course, "id", "course"),
        "title": file.text(course, "title", "course", required=True),
        "subtitle": file.text(course, "subtitle", "course"),
        "pod_security": _pod_security(file, course),
    }
    days: list[DaySource] = []
    seen: dict[str, int] = {}
    raw_days = _sequence(file, course.get("days"), course.line_of("days"), "days")
    for raw_day, line in zip(raw_days, raw_days.item_lines, strict=True):
        day = _mapping(file, raw_day, line, "a day")
        if day is None:
            continue
        file.keys(day, DAY_KEYS, {"id", "title", "agenda"}, "day")
        day_id = file.ident(day, "id", "day")
        if day_id in seen:
            file.error(
                day.line_of("id"), f"duplicate day id {day_id!r} (first at line {seen[day_id]})"
            )
        seen[day_id] = day.line_of("id")
        backup = day.get("backup", False)
        if not isinstance(backup, bool):
            file.error(day.line_of("backup"), "day 'backup' must be true or false")
        days.append(
            DaySource(
                id=day_id,
                title=file.text(day, "title", "day", required=True),
                backup=backup is True,
                agenda=_read_agenda(file, day),
            )
        )
    return meta, days


def _pod_security(file: _File, course: LineDict) -> str:
    """The Pod Security level the course's exercises need; restricted unless declared."""
    level = course.get("pod_security", POD_SECURITY_LEVELS[0])
    if level not in POD_SECURITY_LEVELS:
        file.error(
            course.line_of("pod_security"),
            f"pod_security must be one of {', '.join(POD_SECURITY_LEVELS)} "
            f"(the Pod Security Admission level the exercises need), not {level!r}",
        )
        return POD_SECURITY_LEVELS[0]
    return level


def _read_agenda(file: _File, day: LineDict) -> list[AgendaItemSource]:
    items: list[AgendaItemSource] = []
    sections = _sequence(file, day.get("agenda"), day.line_of("agenda"), "agenda")
    for raw_section, line in zip(sections, sections.item_lines, strict=True):
        section = _mapping(file, raw_section, line, "an agenda section")
        if section is None:
            continue
        file.keys(section, SECTION_KEYS, {"section", "items"}, "agenda section")
        title = file.text(section, "section", "agenda", required=True)
        entries = _sequence(file, section.get("items"), section.line_of("items"), "items")
        for entry, entry_line in zip(entries, entries.item_lines, strict=True):
            if isinstance(entry, str) and entry.strip():
                items.append(AgendaItemSource(title, entry.strip(), None, entry_line))
                continue
            item = _mapping(file, entry, entry_line, "an agenda item (a text or {title, module})")
            if item is None:
                continue
            file.keys(item, ITEM_KEYS, {"title", "module"}, "agenda item")
            module_id = file.ident(item, "module", "module") if "module" in item else None
            items.append(
                AgendaItemSource(
                    title,
                    file.text(item, "title", "agenda item", required=True),
                    module_id or None,
                    item.line_of("module"),
                )
            )
    return items


# -- module files -------------------------------------------------------------------------


def _split_front_matter(file: _File, lines: list[str]) -> tuple[str, int] | None:
    """The front matter text and the index of its closing line, or None after an error."""
    if not lines or lines[0].strip() != "---":
        file.error(1, "a module file starts with front matter: a line '---', YAML, a line '---'")
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "\n".join(lines[1:index]), index
    file.error(1, "front matter is never closed by a line '---'")
    return None


def _read_slides(file: _File, lines: list[str], first_line: int) -> list[SlideSource]:
    """Split the deck on '---' lines outside code fences; 'Note:' starts speaker notes."""
    outside = outside_fences(lines)
    chunks: list[tuple[int, list[str]]] = [(first_line, [])]
    for index, line in enumerate(lines):
        if outside[index] and line.strip() == SLIDE_SEPARATOR:
            chunks.append((first_line + index + 1, []))
        else:
            chunks[-1][1].append(line)

    slides: list[SlideSource] = []
    for start, chunk in chunks:
        if not "".join(chunk).strip():
            # Only an empty deck (a module of exercises alone) may have an empty first chunk.
            if start != first_line:
                file.error(start, "empty slide (a '---' line with nothing after it)")
            continue
        chunk_outside = outside_fences(chunk)
        notes_at = next(
            (
                i
                for i, line in enumerate(chunk)
                if chunk_outside[i] and line.strip() == NOTES_MARKER
            ),
            len(chunk),
        )
        body, notes = chunk[:notes_at], chunk[notes_at + 1 :]
        title = next(
            (
                m["title"]
                for i, line in enumerate(body)
                if chunk_outside[i] and (m := HEADING_RE.match(line))
            ),
            "",
        )
        file.markdown("\n".join(chunk), start)
        slides.append(SlideSource(start, title, "\n".join(body).strip(), "\n".join(notes).strip()))
    return slides


def _read_task(file: _File, raw: Any, line: int, demo: bool) -> TaskSource | None:
    task = _mapping(file, raw, line, "a task")
    if task is None:
        return None
    file.keys(task, TASK_KEYS, {"id", "title"}, "task")
    result = TaskSource(
        id=file.ident(task, "id", "task"),
        title=file.text(task, "title", "task", required=True),
        line=task.line,
    )
    for key in ("instructions", "hint", "solution"):
        value = file.text(task, key, "task")
        setattr(result, key, value)
        file.markdown(value, _markdown_start(task, key))
    result.simulated = file.text(task, "simulated", "task", required=True).strip()
    for key in ANSWER_LISTS:
        if key in task:
            setattr(result, key, _read_answers(file, task, key))
    if demo:
        if "checks" in task:
            file.error(task.line_of("checks"), "a demonstration task has no checks")
        for key in (*ANSWER_LISTS, "simulated"):
            if key in task:
                file.error(task.line_of(key), f"a demonstration task has no checks, so no {key!r}")
        return result
    if "checks" not in task:
        file.error(task.line, f"task {result.id!r} has no checks (or mark the exercise demo: true)")
        return result
    checks = _sequence(file, task["checks"], task.line_of("checks"), "checks")
    if isinstance(task["checks"], LineList) and not checks:
        file.error(task.line_of("checks"), "checks must not be empty")
    for raw_check, check_line in zip(checks, checks.item_lines, strict=True):
        try:
            check = parse_check(raw_check)
        except CheckSpecError as exc:
            where = (
                raw_check.line_of(exc.key)
                if isinstance(raw_check, LineDict) and exc.key
                else check_line
            )
            file.error(where, f"check: {exc.message}")
            continue
        result.checks.append(check.to_json())
    return result


def _read_answers(file: _File, task: LineDict, key: str) -> list[AnswerSource]:
    """A task's ``other_solutions`` or ``wrong_answers``: a list of {description, solution},
    both required."""
    what = ANSWER_LISTS[key]
    found: list[AnswerSource] = []
    items = _sequence(file, task[key], task.line_of(key), key)
    if isinstance(task[key], LineList) and not items:
        file.error(task.line_of(key), f"{key} must not be empty (or leave it out)")
    for raw, line in zip(items, items.item_lines, strict=True):
        item = _mapping(file, raw, line, f"an item of {key} (description and solution)")
        if item is None:
            continue
        file.keys(item, ANSWER_KEYS, ANSWER_KEYS, what)
        description = file.text(item, "description", what, required=True).strip()
        solution = file.text(item, "solution", what, required=True)
        file.markdown(solution, _markdown_start(item, "solution"))
        found.append(AnswerSource(description, solution, item.line))
    return found


def _read_exercise(file: _File, raw: Any, line: int) -> ExerciseSource | None:
    exercise = _mapping(file, raw, line, "an exercise")
    if exercise is None:
        return None
    file.keys(exercise, EXERCISE_KEYS, {"id", "title", "minutes", "tasks"}, "exercise")
    minutes = exercise.get("minutes")
    low, high = MINUTES_RANGE
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not low <= minutes <= high:
        file.error(
            exercise.line_of("minutes"), f"exercise 'minutes' must be a number from {low} to {high}"
        )
        minutes = 0
    demo = exercise.get("demo", False)
    if not isinstance(demo, bool):
        file.error(exercise.line_of("demo"), "exercise 'demo' must be true or false")
        demo = False
    gated = exercise.get("gated", False)
    if not isinstance(gated, bool):
        file.error(exercise.line_of("gated"), "exercise 'gated' must be true or false")
        gated = False
    elif gated and demo:
        file.error(
            exercise.line_of("gated"),
            "a demonstration cannot be gated: its tasks have no checks to pass",
        )
        gated = False
    result = ExerciseSource(
        id=file.ident(exercise, "id", "exercise"),
        title=file.text(exercise, "title", "exercise", required=True),
        minutes=minutes,
        line=exercise.line,
        path=file.path,
        intro=file.text(exercise, "intro", "exercise"),
        cleanup=file.text(exercise, "cleanup", "exercise"),
        demo=demo,
        gated=gated,
    )
    if "builds_on" in exercise:
        result.builds_on = file.ident(exercise, "builds_on", "builds_on: exercise")
        result.builds_on_line = exercise.line_of("builds_on")
    file.markdown(result.intro, _markdown_start(exercise, "intro"))
    file.markdown(result.cleanup, _markdown_start(exercise, "cleanup"))
    tasks = _sequence(file, exercise.get("tasks"), exercise.line_of("tasks"), "tasks")
    if "tasks" in exercise and not tasks:
        file.error(exercise.line_of("tasks"), "an exercise needs at least one task")
    seen: dict[str, int] = {}
    for raw_task, task_line in zip(tasks, tasks.item_lines, strict=True):
        task = _read_task(file, raw_task, task_line, demo)
        if task is None:
            continue
        if task.id and task.id in seen:
            file.error(task.line, f"duplicate task id {task.id!r} (first at line {seen[task.id]})")
        seen[task.id] = task.line
        result.tasks.append(task)
    return result


def read_module(
    log: ErrorLog, path: Path, relative: str, position: int, module_id: str
) -> ModuleSource | None:
    file = _File(log, relative)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        file.error(1, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        return None
    lines = text.split("\n")
    split = _split_front_matter(file, lines)
    if split is None:
        return None
    front_text, closing = split
    try:
        front = yamlfile.load(front_text)
    except yamlfile.YamlError as exc:
        file.error(exc.line + 1, exc.message)
        return None
    # The front matter's first line is the file's second line.
    _shift_lines(front, 1)
    meta = _mapping(file, front, 2, "front matter")
    if meta is None:
        return None
    file.keys(meta, MODULE_KEYS, {"title"}, "module front matter")
    exercises: list[ExerciseSource] = []
    raw_exercises = _sequence(
        file, meta.get("exercises", LineList()), meta.line_of("exercises"), "exercises"
    )
    for raw, line in zip(raw_exercises, raw_exercises.item_lines, strict=True):
        exercise = _read_exercise(file, raw, line)
        if exercise is not None:
            exercises.append(exercise)
    slides = _read_slides(file, lines[closing + 1 :], closing + 2)
    if not slides and not exercises:
        file.error(1, "a module needs slides or exercises")
    return ModuleSource(
        id=module_id,
        position=position,
        path=relative,
        title=file.text(meta, "title", "module", required=True),
        summary=file.text(meta, "summary", "module"),
        slides=slides,
        exercises=exercises,
    )


def _shift_lines(value: Any, offset: int) -> None:
    if isinstance(value, LineDict):
        value.line += offset
        value.key_lines = {key: line + offset for key, line in value.key_lines.items()}
        for child in value.values():
            _shift_lines(child, offset)
    elif isinstance(value, LineList):
        value.line += offset
        value.item_lines = [line + offset for line in value.item_lines]
        for child in value:
            _shift_lines(child, offset)


# -- the whole course ---------------------------------------------------------------------


def read_course(folder: Path) -> CourseSource:
    """Read and validate the course in ``folder``; raises ``ContentInvalid`` on any error."""
    log = ErrorLog()
    course_path = folder / COURSE_FILE
    if not course_path.is_file():
        log.add(COURSE_FILE, 1, f"no {COURSE_FILE} in {folder}")
        log.raise_if_any()
    digest = hashlib.sha256()
    course_text = course_path.read_text(encoding="utf-8")
    digest.update(course_text.encode())
    meta, days = _read_course_file(_File(log, COURSE_FILE), course_text)

    day_ids = {day.id for day in days}
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and entry.name not in day_ids:
            log.add(entry.name, 1, f"folder {entry.name!r} is not a day of {COURSE_FILE}")

    exercise_ids: dict[str, str] = {}
    earlier: dict[str, ExerciseSource] = {}  # the exercises read so far, in course order
    unread: list[str] = []  # module files that could not be read at all
    for day in days:
        day_folder = folder / day.id
        files = sorted(day_folder.glob("*.md")) if day_folder.is_dir() else []
        module_ids: dict[str, str] = {}
        for path in files:
            relative = f"{day.id}/{path.name}"
            digest.update(relative.encode() + b"\0" + path.read_bytes())
            match = MODULE_FILE_RE.match(path.name)
            if not match or not ID_RE.match(match["id"]):
                log.add(relative, 1, "a module file is named NN-module-id.md (e.g. 05-pods.md)")
                continue
            module_id = match["id"]
            if module_id in module_ids:
                log.add(
                    relative, 1, f"duplicate module id {module_id!r} (also {module_ids[module_id]})"
                )
                continue
            module_ids[module_id] = relative
            module = read_module(log, path, relative, int(match["position"]), module_id)
            if module is None:
                unread.append(relative)
                continue
            day.modules.append(module)
            for exercise in module.exercises:
                if exercise.id and exercise.id in exercise_ids:
                    log.add(
                        relative,
                        exercise.line,
                        f"duplicate exercise id {exercise.id!r} "
                        f"(also in {exercise_ids[exercise.id]})",
                    )
                exercise_ids[exercise.id] = relative
                _check_builds_on(log, exercise, earlier, bool(unread))
                earlier.setdefault(exercise.id, exercise)
        _link_agenda(log, day, set(module_ids))

    all_modules = [m.id for d in days for m in d.modules]
    for module_id in {m for m in all_modules if all_modules.count(m) > 1}:
        log.add(COURSE_FILE, 1, f"module id {module_id!r} is used on more than one day")
    log.raise_if_any()
    return CourseSource(
        id=meta["id"],
        title=meta["title"],
        subtitle=meta["subtitle"],
        days=days,
        digest=digest.hexdigest(),
        pod_security=meta["pod_security"],
    )


def _check_builds_on(
    log: ErrorLog, exercise: ExerciseSource, earlier: dict[str, ExerciseSource], unread: bool
) -> None:
    """``builds_on`` names an exercise that comes earlier in the course and has checked
    tasks: a trainee reaches this one with that one's objects in the lab. (When a module file
    before it could not be read, a missing id may be in that file: its own error says enough.)"""
    if not exercise.builds_on:
        return
    base = earlier.get(exercise.builds_on)
    if base is None and not unread:
        log.add(
            exercise.path,
            exercise.builds_on_line,
            f"builds_on {exercise.builds_on!r}: no exercise with that id comes before "
            f"{exercise.id!r} in the course",
        )
    elif base is not None and base.demo:
        log.add(
            exercise.path,
            exercise.builds_on_line,
            f"builds_on {exercise.builds_on!r}: a demonstration leaves nothing in a lab to "
            "build on",
        )
    elif exercise.demo:
        log.add(
            exercise.path,
            exercise.builds_on_line,
            "a demonstration does not build on an exercise: it runs outside the lab",
        )


def _link_agenda(log: ErrorLog, day: DaySource, present: set[str]) -> None:
    """Agenda links and module files must match; ``present`` counts files that failed to
    read too, so that one broken file is reported once."""
    linked = {item.module_id for item in day.agenda if item.module_id}
    for item in day.agenda:
        if item.module_id and item.module_id not in present:
            log.add(
                COURSE_FILE,
                item.line,
                f"agenda item {item.title!r}: no module {item.module_id!r} in {day.id}/",
            )
    for module in day.modules:
        if module.id not in linked:
            log.add(
                module.path,
                1,
                f"module {module.id!r} is not linked from the agenda of {day.id} in {COURSE_FILE}",
            )

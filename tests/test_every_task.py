"""Every task of the course, as a trainee does it, judged by the check engine.

For every exercise of every day (``slides/``, in course order): a fresh lab that Lotse
provisions on the simulated cluster (its controllers running, at pace 0), the kubeconfig the
trainee downloads from the cohort page, the real kubectl, and each task's solution run as
written (by ``sh -c``, so that ``$(...)`` and quotes work as in the trainee's shell). The
tasks are judged by `courseware.progress.judge` on the objects `courseware.progress.objects_for`
fetches: the code path of the watcher, the sweep and "Check now", so a check the engine reads
differently from its author fails here. What must hold (docs/content-format.md, "Checks"):

* in the empty lab every check of a task fails, but those true of an empty lab by design
  (``absent: true``), and the task fails;
* after the solutions of the tasks before it (and of the exercise it ``builds_on``), a task
  still fails, so that passing it tells the trainee did it;
* after its own solution it passes, unless it says in ``simulated:`` why it cannot here;
* the exercise's cleanup leaves the lab as the empty lab was, unless a later exercise
  builds on it;
* each of a task's ``wrong_answers``, applied in a fresh lab instead of its solution, fails it,
  and each of its ``other_solutions`` passes it.

The instructor demonstrations run as the cluster's admin where they can (namespaces are
cluster-wide); the exceptions are listed in `EXCEPTIONS` with their reasons. The walk itself
is tested on the small fixture course, with checks and answers broken on purpose.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from courseware import progress
from courseware.content.fences import scan
from courseware.content.source import (
    AnswerSource,
    CourseSource,
    ExerciseSource,
    TaskSource,
    read_course,
)
from courseware.content.sync import sync_course
from courseware.models import Cohort, Course, Task
from labs import provisioning
from labs.checks import KINDS, State, TaskOutcome, parse_check
from labs.models import Lab
from simcluster import KubeStandIn
from tests.factories import FIXTURES, client_for, enrol, make_cluster, make_cohort

KUBECTL = "/usr/bin/kubectl"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="needs the real kubectl"),
]


def exercises_of(course: CourseSource) -> list[ExerciseSource]:
    """Every exercise of every day, in course order."""
    return [e for day in course.days for module in day.modules for e in module.exercises]


COURSE = read_course(settings.COURSE_CONTENT_DIR)
EXERCISES = exercises_of(COURSE)
WITH_WRONG_ANSWERS = [e for e in EXERCISES if any(t.wrong_answers for t in e.tasks)]
WITH_OTHER_SOLUTIONS = [e for e in EXERCISES if any(t.other_solutions for t in e.tasks)]

# (exercise, task or "" for the whole exercise, the command or "") -> why it runs otherwise.
EXCEPTIONS = {
    ("architecture-tour", "", ""): (
        "an instructor's demonstration on a kind cluster of its own: it runs kind and docker, "
        "stops the scheduler and proxies the API, none of which a lab or the simulated "
        "cluster has"
    ),
    ("deployment-rollout", "undo-broken-rollout",
     "kubectl rollout status deployment/test-deployment"): (
        "the first `rollout status` waits on purpose (the instructions say to stop it with "
        "Ctrl-C): it runs with --timeout=2s and must time out, still waiting for the new pod"
    ),
}  # fmt: skip
ADMIN_DEMOS = {"namespace-demo"}  # shown by the instructor with the cluster's own admin rights
# The tasks whose checks cannot pass on the simulated cluster, as their `simulated:` says.
SIMULATED_ONLY_FAIL: set[str] = set()


@dataclass
class Trainee:
    """What the trainee has: a shell with kubectl and the downloaded kubeconfig, and the lab
    it points into."""

    lab: Lab
    kubeconfig: Path
    workdir: Path

    def shell(self, command: str, *, config: Path | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.workdir),
               "KUBECONFIG": str(config or self.kubeconfig)}  # fmt: skip
        return subprocess.run(
            ["sh", "-c", command], cwd=self.workdir, env=env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip


@dataclass
class Classroom:
    """A running cohort of a course on the simulated cluster: its exercises as written, its
    tasks as stored (what the watcher judges), and a fresh lab for each trainee enrolled."""

    cohort: Cohort
    exercises: dict[str, ExerciseSource]
    tasks: dict[tuple[str, str], Task]
    admin_config: Path
    root: Path

    @classmethod
    def of(
        cls, course: Course, source: CourseSource, standin: KubeStandIn, root: Path
    ) -> Classroom:
        cohort = make_cohort(course, "every-task")
        cohort.cluster = make_cluster(standin)
        cohort.pod_security = "baseline"  # nginx starts as root
        cohort.save()
        admin = root / "admin.kubeconfig"
        admin.write_text(yaml.safe_dump(standin.kubeconfig()))
        stored = Task.objects.filter(exercise__course=course, retired=False)
        tasks = {(t.exercise.slug, t.slug): t for t in stored.select_related("exercise")}
        exercises = {e.id: e for e in exercises_of(source)}
        return cls(cohort, exercises, tasks, admin, root)

    def trainee(self, name: str) -> Trainee:
        (enrolment,) = enrol(self.cohort, name)
        lab = provisioning.provision(provisioning.ensure_lab(enrolment).pk)
        assert lab.state == Lab.State.READY, lab.last_error
        response = client_for(enrolment.trainee).get(f"/cohorts/{self.cohort.slug}/kubeconfig/")
        assert response.status_code == 200
        workdir = self.root / name
        workdir.mkdir()
        kubeconfig = workdir / ".kubeconfig"
        kubeconfig.write_bytes(response.content)
        return Trainee(lab, kubeconfig, workdir)

    def start(self, trainee: Trainee, exercise: ExerciseSource) -> None:
        """Bring a fresh lab to where ``exercise`` starts: the exercises it builds on done,
        the earliest first, each with its cleanup."""
        chain: list[ExerciseSource] = []
        while exercise.builds_on:
            exercise = self.exercises[exercise.builds_on]
            chain.insert(0, exercise)
        for base in chain:
            for task in base.tasks:
                apply(trainee, f"{base.id}/{task.id}", task.solution)
            apply(trainee, base.id, base.cleanup)

    def judge(self, trainee: Trainee, exercise: str, task: str) -> TaskOutcome:
        """The task's outcome in the trainee's lab, by the function the watcher, the sweep
        and "Check now" use, on the checks as stored."""
        stored = self.tasks[(exercise, task)]
        return progress.judge(stored, progress.objects_for(trainee.lab, progress.kinds_for(stored)))


@pytest.fixture
def classroom(real_course: Course, standin: KubeStandIn, tmp_path: Path) -> Classroom:
    return Classroom.of(real_course, COURSE, standin, tmp_path)


# -- the solutions ------------------------------------------------------------------------------


def commands(markdown: str) -> list[str]:
    """The commands of a solution's console blocks, continuation lines joined."""
    found = []
    for fence in scan(markdown.split("\n")):
        if fence.language != "console":
            continue
        text = re.sub(r"\\\n\s*", " ", fence.body)
        found += [line.strip()[2:] for line in text.split("\n") if line.strip().startswith("$ ")]
    return found


def write_manifests(markdown: str, trainee: Trainee) -> None:
    """Save a solution's YAML where its commands read it: the file ``-f`` names."""
    manifests = [f.body for f in scan(markdown.split("\n")) if f.language == "yaml"]
    if not manifests:
        return
    named = [m.group(1) for c in commands(markdown) if (m := re.search(r"-f\s+(\S+)", c))]
    assert named, "a solution with a manifest applies it from a file"
    (trainee.workdir / named[0]).write_text("---\n".join(manifests))


def run(trainee: Trainee, where: str, command: str, admin: Path | None, first: bool) -> None:
    """Run one command of a solution (``first``: the first time its task runs it); it must
    succeed, as it does for the trainee (a wrong answer is wrong in what it does, not in a
    typo)."""
    exercise, _, task = where.partition("/")
    reason = EXCEPTIONS.get((exercise, task, command)) if first else None
    if reason is not None and "--timeout" in reason:
        done = trainee.shell(f"{command} --timeout=2s", config=admin)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "new replicas have been updated" in done.stdout + done.stderr
        return
    done = trainee.shell(command, config=admin)
    assert done.returncode == 0, f"{where}: `{command}` failed:\n{done.stdout}{done.stderr}"


def apply(trainee: Trainee, where: str, markdown: str, admin: Path | None = None) -> None:
    """Do what a solution (or a cleanup, or another answer) says, command by command."""
    write_manifests(markdown, trainee)
    seen: set[str] = set()  # an exception names the first time a task runs a command
    for command in commands(markdown):
        run(trainee, where, command, admin, command not in seen)
        seen.add(command)


# -- what the engine says -----------------------------------------------------------------------


def caught(outcome: TaskOutcome) -> str:
    """The checks that fail, each with what differs."""
    return "; ".join(
        f"{o.sentence} ({', '.join(o.differences)})"
        for o in outcome.outcomes
        if o.state == State.FAILING
    )


def explain(outcome: TaskOutcome) -> str:
    return "\n".join(
        f"  [{o.state}] {o.sentence}" + "".join(f"\n      {d}" for d in o.differences)
        for o in outcome.outcomes
    )


def true_when_empty(task: TaskSource) -> list[bool]:
    """For each check of the task: whether it holds of an empty lab by design."""
    return [parse_check(raw).absent for raw in task.checks]


def lab_objects(trainee: Trainee) -> set[str]:
    """Everything in the lab's namespace (of the kinds checks know), by kind and name,
    objects being deleted left out."""
    snapshot = progress.objects_for(trainee.lab, KINDS)
    assert not snapshot.errors, snapshot.errors
    return {f"{kind} {obj['metadata']['name']}" for kind in KINDS for obj in snapshot.live(kind)}


# -- the walks ----------------------------------------------------------------------------------


def walk(classroom: Classroom, exercise: ExerciseSource) -> list[str]:
    """Do the exercise in a fresh lab, task by task, and judge each task in the empty lab,
    before its solution and after it; then the cleanup. What went against the rules."""
    trainee = classroom.trainee("dana_trainee")
    empty = lab_objects(trainee)
    problems: list[str] = []
    if not exercise.demo:
        for task in exercise.tasks:
            outcome = classroom.judge(trainee, exercise.id, task.id)
            holding = [
                o.sentence
                for o, by_design in zip(outcome.outcomes, true_when_empty(task), strict=True)
                if o.state != State.FAILING and not by_design
            ]
            if holding or outcome.state != State.FAILING:
                problems.append(f"{task.id} holds in the empty lab:\n{explain(outcome)}")

    classroom.start(trainee, exercise)
    admin = classroom.admin_config if exercise.id in ADMIN_DEMOS else None
    for task in exercise.tasks:
        where = f"{exercise.id}/{task.id}"
        if not exercise.demo:
            before = classroom.judge(trainee, exercise.id, task.id)
            if before.state != State.FAILING:
                problems.append(
                    f"{task.id} passes before its solution, after the tasks before it: passing "
                    f"it cannot tell that the trainee did it\n{explain(before)}"
                )
        apply(trainee, where, task.solution, admin)
        if exercise.demo:
            continue
        after = classroom.judge(trainee, exercise.id, task.id)
        if task.simulated and after.state == State.PASSED:
            problems.append(
                f"{task.id} passes on the simulated cluster: its `simulated:` reason is stale"
            )
        elif not task.simulated and after.state != State.PASSED:
            problems.append(f"{task.id} is {after.state} after its solution:\n{explain(after)}")

    apply(trainee, exercise.id, exercise.cleanup, admin)
    built_on = any(e.builds_on == exercise.id for e in classroom.exercises.values())
    if not exercise.demo and not built_on:
        left = lab_objects(trainee) - empty
        if left:
            problems.append(f"the cleanup leaves {', '.join(sorted(left))}")
    return problems


def answers_instead(
    classroom: Classroom, exercise: ExerciseSource, key: str
) -> list[tuple[str, AnswerSource, TaskOutcome]]:
    """Each answer of ``key`` (``wrong_answers`` or ``other_solutions``) of the exercise's
    tasks, done in a fresh lab after the tasks before it instead of the task's solution:
    the task, the answer and how the task fares."""
    fared = []
    for index, task in enumerate(exercise.tasks):
        for number, answer in enumerate(getattr(task, key), 1):
            trainee = classroom.trainee(f"{key}_{index}_{number}")
            classroom.start(trainee, exercise)
            for earlier in exercise.tasks[:index]:
                apply(trainee, f"{exercise.id}/{earlier.id}", earlier.solution)
            apply(trainee, f"{exercise.id}/{task.id} ({key} {number})", answer.solution)
            fared.append((task.id, answer, classroom.judge(trainee, exercise.id, task.id)))
    return fared


def wrong_answers_passing(classroom: Classroom, exercise: ExerciseSource) -> list[str]:
    """The wrong answers of the exercise that its checks do not catch; the others are
    printed with the checks that caught them."""
    problems = []
    for task, wrong, outcome in answers_instead(classroom, exercise, "wrong_answers"):
        print(f"{exercise.id}/{task}: {wrong.description}\n  caught by: {caught(outcome)}")
        if outcome.state != State.FAILING:
            problems.append(
                f"{task}: the wrong answer “{wrong.description}” is {outcome.state}:\n"
                f"{explain(outcome)}"
            )
    return problems


def other_solutions_failing(classroom: Classroom, exercise: ExerciseSource) -> list[str]:
    return [
        f"{task}: the other solution “{other.description}” is {outcome.state}:\n{explain(outcome)}"
        for task, other, outcome in answers_instead(classroom, exercise, "other_solutions")
        if outcome.state != State.PASSED
    ]


# -- the tests ------------------------------------------------------------------------------------


def test_it_lists_its_exceptions_for_exercises_and_commands_that_exist() -> None:
    known = {
        (e.id, t.id, c) for e in EXERCISES for t in e.tasks for c in [*commands(t.solution), ""]
    } | {(e.id, "", "") for e in EXERCISES}
    assert set(EXCEPTIONS) <= known
    assert {e.id for e in EXERCISES if e.demo} >= ADMIN_DEMOS


def test_it_covers_every_day_with_exercises() -> None:
    days = {day.id for day in COURSE.days if any(m.exercises for m in day.modules)}
    assert days, "the course has exercises"
    assert {e.path.split("/")[0] for e in EXERCISES} == days


def test_it_lists_the_tasks_that_cannot_pass_on_the_simulated_cluster() -> None:
    reasons = {f"{e.id}/{t.id}": t.simulated for e in EXERCISES for t in e.tasks if t.simulated}
    for task, reason in sorted(reasons.items()):
        print(f"{task}: {reason}")
    assert set(reasons) == SIMULATED_ONLY_FAIL


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_it_walks_the_exercise_and_each_task_passes_only_once_it_is_done(
    exercise: ExerciseSource, classroom: Classroom
) -> None:
    if (exercise.id, "", "") in EXCEPTIONS:
        pytest.skip(EXCEPTIONS[(exercise.id, "", "")])
    problems = walk(classroom, exercise)
    assert problems == [], f"{exercise.id}:\n" + "\n".join(problems)


@pytest.mark.parametrize("exercise", WITH_WRONG_ANSWERS, ids=lambda e: e.id)
def test_it_fails_every_wrong_answer(exercise: ExerciseSource, classroom: Classroom) -> None:
    problems = wrong_answers_passing(classroom, exercise)
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("exercise", WITH_OTHER_SOLUTIONS, ids=lambda e: e.id)
def test_it_passes_every_other_solution(exercise: ExerciseSource, classroom: Classroom) -> None:
    problems = other_solutions_failing(classroom, exercise)
    assert problems == [], "\n".join(problems)


def test_it_reports_checks_that_cannot_tell_and_answers_they_misjudge(
    db: None, standin: KubeStandIn, tmp_path: Path
) -> None:
    """The walk on the fixture course, broken on purpose: a check that holds in an empty lab,
    a wrong answer its loose check lets through, and another solution it refuses."""
    folder = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", folder)
    module = folder / "day-1" / "01-pods.md"
    module.write_text(
        module.read_text()
        .replace(
            "            expect: {phase: Running}\n",
            "            expect: {phase: Running}\n"
            "          - kind: Pod\n            selector: app=web\n            count: {max: 2}\n"
            "            description: At most two Pods carry app=web.\n",
            1,
        )
        .replace(
            "        other_solutions:\n",
            "          - description: Another tag than the task's.\n"
            "            solution: |\n              ```console\n"
            "              $ kubectl run my-pod --image=nginx:1.25\n              ```\n"
            "        other_solutions:\n",
            1,
        )
        .replace(
            "$ kubectl run my-pod --image=nginx:1.27", "$ kubectl run my-pod --image=nginx:0.1"
        )
        .replace(
            "                image: nginx:1.27\n          ```\n",
            "                image: nginx:1.27\n          ```\n\n"
            "          ```console\n          $ kubectl apply -f pod.yaml\n          ```\n",
            1,
        )
    )
    source, _ = sync_course(folder)
    classroom = Classroom.of(Course.objects.get(slug=source.id), source, standin, tmp_path)
    exercise = classroom.exercises["first-pod"]

    problems = walk(classroom, exercise)
    assert [problem.split("\n")[0] for problem in problems] == [
        "create-pod holds in the empty lab:"
    ]
    assert "[passed] At most two Pods carry app=web." in problems[0]
    (let_through,) = wrong_answers_passing(classroom, exercise)
    assert let_through.startswith("create-pod: the wrong answer “Another tag than the task's.”")
    (refused,) = other_solutions_failing(classroom, exercise)
    assert "Pod my-pod: status.phase is Pending, want Running" in refused

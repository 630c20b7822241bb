"""Day II as a trainee does it, on the simulated cluster: a lab that Lotse provisions, the
kubeconfig the trainee downloads from the cohort page, the real kubectl, and every task's
solution in course order, each command as written (run by ``sh -c``, so that ``$(...)`` and
quotes work as in the trainee's shell). After each task its checks hold, read as
docs/content-format.md ("Checks") defines them; after each exercise its cleanup runs.

The instructor demonstrations run as the cluster's admin where they can (namespaces are
cluster-wide); the exceptions are listed in `EXCEPTIONS` with their reasons.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient

from courseware.content.fences import scan
from courseware.content.source import ExerciseSource, read_course
from courseware.models import Course
from labs import provisioning
from labs.checks import NOT_GIVEN, READY_KINDS, Check, parse_check, split_field_path
from simcluster import KubeStandIn
from tests.factories import client_for, enrol, make_cluster, make_cohort

KUBECTL = "/usr/bin/kubectl"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not Path(KUBECTL).exists(), reason="needs the real kubectl"),
]

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


@dataclass
class Trainee:
    """What the trainee has: a shell with kubectl and the downloaded kubeconfig."""

    kubeconfig: Path
    workdir: Path
    api: k8s.ApiClient
    namespace: str

    def shell(self, command: str, *, config: Path | None = None) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.workdir),
               "KUBECONFIG": str(config or self.kubeconfig)}  # fmt: skip
        return subprocess.run(
            ["sh", "-c", command], cwd=self.workdir, env=env, capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip


@pytest.fixture
def dana(real_course: Course, standin: KubeStandIn, tmp_path: Path) -> Iterator[Trainee]:
    """A trainee of a cohort of the course, with a provisioned lab and its kubeconfig."""
    cohort = make_cohort(real_course, "day-two")
    cohort.cluster = make_cluster(standin)
    cohort.save()
    (enrolment,) = enrol(cohort, "dana_trainee")
    lab = provisioning.ensure_lab(enrolment)
    lab = provisioning.provision(lab.pk)
    response = client_for(enrolment.trainee).get(f"/cohorts/{cohort.slug}/kubeconfig/")
    assert response.status_code == 200
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(response.content)
    admin = tmp_path / "admin.kubeconfig"
    admin.write_text(yaml.safe_dump(standin.kubeconfig()))
    workdir = tmp_path / "work"
    workdir.mkdir()
    api = k8s_config.new_client_from_config(str(kubeconfig))
    return Trainee(kubeconfig, workdir, api, lab.namespace)


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


# -- the checks, as docs/content-format.md defines them -------------------------------------------


def _objects(dynamic: DynamicClient, check: Check, namespace: str) -> list[dict]:
    resource = dynamic.resources.get(api_version=check.api_version, kind=check.kind)
    if check.name is not None:
        try:
            return [resource.get(name=check.name, namespace=namespace).to_dict()]
        except k8s.exceptions.ApiException as error:
            if error.status == 404:
                return []
            raise
    items = resource.get(namespace=namespace).to_dict()["items"]
    return [obj for obj in items if check.selector.matches(obj["metadata"].get("labels") or {})]


def _field(obj: Any, path: str) -> Any:
    for key in split_field_path(path):
        if isinstance(obj, list) and key.isdigit() and int(key) < len(obj):
            obj = obj[int(key)]
        elif isinstance(obj, dict):
            obj = obj.get(key)
        else:
            return None
    return obj


def _ready(kind: str, obj: dict) -> bool:
    status = obj.get("status") or {}
    if kind == "Pod":
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in status.get("conditions") or [])  # fmt: skip
    if kind == "DaemonSet":
        return status.get("numberReady", 0) == status.get("desiredNumberScheduled", -1)
    replicas = (obj.get("spec") or {}).get("replicas", 1)
    return (status.get("readyReplicas") or 0) == replicas


def failures(trainee: Trainee, raw_checks: list[dict]) -> list[str]:
    """The checks of a task that do not hold, as sentences."""
    dynamic = DynamicClient(trainee.api)
    failed = []
    for raw in raw_checks:
        check = parse_check(raw)
        found = _objects(dynamic, check, trainee.namespace)
        holds = not found if check.absent else bool(found)
        if check.selector is not None and not check.absent:
            holds = (check.count_min or 0) <= len(found) <= (check.count_max or len(found))
        for obj in found if not check.absent else []:
            for path, wanted in check.expect:
                holds &= _field(obj, path) == wanted
            if check.jsonpath is not None:
                values = check.jsonpath.find(obj)
                shown = " ".join(str(v) for v in values)
                if check.equals is not NOT_GIVEN:
                    holds &= bool(values) and values[0] == check.equals
                if check.matches is not None:
                    holds &= bool(values) and bool(check.matches.search(shown))
            if check.all_ready and check.kind in READY_KINDS:
                holds &= _ready(check.kind, obj)
        if not holds:
            failed.append(check.sentence())
    return failed


# -- the walk -------------------------------------------------------------------------------------


def run(
    trainee: Trainee, where: tuple[str, str], command: str, admin: Path | None, first: bool = True
) -> None:
    """Run one command of a solution (``first``: the first time its task runs it)."""
    exercise, task = where
    reason = EXCEPTIONS.get((exercise, task, command)) if first else None
    if reason is not None and "--timeout" in reason:
        done = trainee.shell(f"{command} --timeout=2s", config=admin)
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert "new replicas have been updated" in done.stdout + done.stderr
        return
    done = trainee.shell(command, config=admin)
    assert done.returncode == 0, (
        f"{exercise}/{task}: `{command}` failed:\n{done.stdout}{done.stderr}"
    )


def tasks_of_day_two() -> list[ExerciseSource]:
    course = read_course(settings.COURSE_CONTENT_DIR)
    day = next(day for day in course.days if day.id == "day-2")
    return [exercise for module in day.modules for exercise in module.exercises]


def test_it_lists_its_exceptions_for_exercises_and_commands_that_exist() -> None:
    known = {
        (e.id, t.id, c)
        for e in tasks_of_day_two()
        for t in e.tasks
        for c in [*commands(t.solution), ""]
    } | {(e.id, "", "") for e in tasks_of_day_two()}
    assert set(EXCEPTIONS) <= known


def test_it_walks_every_solution_of_day_two_and_each_tasks_checks_hold(
    dana: Trainee, tmp_path: Path
) -> None:
    trainee = dana
    admin = tmp_path / "admin.kubeconfig"
    checked = [task for e in tasks_of_day_two() if not e.demo for task in e.tasks]
    # The reading of the checks is not vacuous: in the empty lab every task's checks fail.
    assert all(failures(trainee, task.checks) for task in checked)
    walked: list[str] = []
    for exercise in tasks_of_day_two():
        if (exercise.id, "", "") in EXCEPTIONS:
            continue
        config = admin if exercise.id in ADMIN_DEMOS else None
        for task in exercise.tasks:
            write_manifests(task.solution, trainee)
            seen: set[str] = set()  # an exception names the first time a task runs a command
            for command in commands(task.solution):
                run(trainee, (exercise.id, task.id), command, config, command not in seen)
                seen.add(command)
            if not exercise.demo:
                assert failures(trainee, task.checks) == [], f"{exercise.id}/{task.id}"
            walked.append(f"{exercise.id}/{task.id}")
        for command in commands(exercise.cleanup):
            run(trainee, (exercise.id, ""), command, config)

    assert len(walked) >= 25
    assert "deployment-rollout/undo-broken-rollout" in walked

"""A whole day of the course fits every lab profile.

The test replays, day by day and in course order, what the solutions of the exercises leave
in a trainee's namespace (the manifests they apply and the kubectl commands they run) and what
each exercise's ``cleanup`` removes, and checks the namespace's usage after every step, the
toolbox pod included, against the ResourceQuota of every profile: pods, CPU and memory
requests and limits (containers without resources get the LimitRange defaults), and object
counts. Transient pods count at their moment: a ``kubectl run --rm`` client, and the surge of
a rolling update.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
import yaml
from django.conf import settings
from kubernetes.utils.quantity import parse_quantity

from courseware.content.fences import scan
from courseware.content.source import CourseSource, ExerciseSource, read_course
from labs import manifests
from labs.profiles import PROFILES

# The kinds whose pods a solution creates, and how many pods each runs.
_WORKLOADS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"}
_KIND_NAMES = {
    "pod": "Pod", "pods": "Pod", "po": "Pod",
    "deployment": "Deployment", "deployments": "Deployment", "deploy": "Deployment",
    "replicaset": "ReplicaSet", "replicasets": "ReplicaSet", "rs": "ReplicaSet",
    "statefulset": "StatefulSet", "statefulsets": "StatefulSet", "sts": "StatefulSet",
    "daemonset": "DaemonSet", "daemonsets": "DaemonSet", "ds": "DaemonSet",
    "job": "Job", "jobs": "Job", "service": "Service", "services": "Service", "svc": "Service",
    "configmap": "ConfigMap", "configmaps": "ConfigMap", "cm": "ConfigMap",
    "secret": "Secret", "secrets": "Secret", "cronjob": "CronJob", "cronjobs": "CronJob",
}  # fmt: skip
# ResourceQuota's object counts, by the kind they count.
_COUNTS = {
    "Pod": "pods", "Service": "services", "ConfigMap": "count/configmaps",
    "Secret": "count/secrets", "Deployment": "count/deployments.apps",
    "ReplicaSet": "count/replicasets.apps", "Job": "count/jobs.batch",
    "CronJob": "count/cronjobs.batch",
}  # fmt: skip


@dataclass(frozen=True)
class Container:
    requests: dict[str, Decimal]
    limits: dict[str, Decimal]


@dataclass
class Workload:
    kind: str
    pods: int
    containers: list[Container]
    labels: dict[str, str] = field(default_factory=dict)
    revisions: int = 1  # a Deployment's ReplicaSets, old ones included


@dataclass
class Usage:
    """What the namespace holds at one moment, in the quota's terms."""

    values: dict[str, Decimal] = field(default_factory=dict)

    def add(self, key: str, amount: Decimal | int) -> None:
        self.values[key] = self.values.get(key, Decimal(0)) + Decimal(amount)


def _containers(pod_spec: dict, defaults: Container) -> list[Container]:
    found = []
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        limits = {k: parse_quantity(v) for k, v in (resources.get("limits") or {}).items()} or dict(
            defaults.limits
        )
        requests = {k: parse_quantity(v) for k, v in (resources.get("requests") or {}).items()}
        # A container with limits but no requests gets requests equal to its limits.
        requests = requests or (
            dict(limits) if resources.get("limits") else dict(defaults.requests)
        )
        found.append(Container(requests, limits))
    return found


class Lab:
    """A trainee's namespace as the solutions leave it, object by object."""

    def __init__(self, defaults: Container) -> None:
        self.defaults = defaults
        self.workloads: dict[tuple[str, str], Workload] = {}
        self.others: dict[tuple[str, str], int] = {}  # Services, ConfigMaps, ... by kind/name
        self.transient: list[Workload] = []  # gone after the current step

    def apply(self, obj: dict) -> None:
        kind, name = obj["kind"], obj["metadata"]["name"]
        namespace = obj["metadata"].get("namespace")
        if namespace or kind == "Namespace":
            return  # another namespace: not the trainee's lab (an instructor's demonstration)
        if kind not in _WORKLOADS:
            self.others[(kind, name)] = 1
            return
        spec = obj.get("spec") or {}
        if kind == "Pod":
            pod_spec, pods, labels = spec, 1, obj["metadata"].get("labels") or {}
        else:
            template = spec.get("template") or {}
            pod_spec = template.get("spec") or {}
            labels = (template.get("metadata") or {}).get("labels") or {}
            pods = {"DaemonSet": 1, "Job": spec.get("parallelism", 1)}.get(
                kind, spec.get("replicas", 1)
            )
        workload = Workload(kind, pods, _containers(pod_spec, self.defaults), labels)
        previous = self.workloads.get((kind, name))
        if previous is not None and kind == "Deployment":
            workload.revisions = previous.revisions + 1
            self._surge(workload)
        self.workloads[(kind, name)] = workload

    def _surge(self, deployment: Workload) -> None:
        """A rolling update's extra pods (maxSurge 25%, rounded up) while it runs."""
        surge = math.ceil(deployment.pods * 0.25)
        self.transient.append(Workload("Pod", surge, deployment.containers))

    def run(self, command: list[str], manifests_of_solution: list[dict]) -> None:
        """Apply what one kubectl command does to the namespace."""
        args = [arg for arg in command[1:] if not arg.startswith("-")]
        flags = _flags(command)
        if flags.get("namespace") or flags.get("n"):
            return
        if not args:
            return
        verb = args[0]
        if verb in ("apply", "create", "replace") and ("f" in flags or "filename" in flags):
            for obj in manifests_of_solution:
                self.apply(obj)
        elif verb == "run" and len(args) > 1:
            pod = {
                "kind": "Pod",
                "metadata": {"name": args[1], "labels": _labels(flags.get("labels", ""))},
                "spec": {"containers": [{"name": args[1], "image": flags.get("image", "")}]},
            }
            if "rm" in flags:
                self.transient.append(Workload("Pod", 1, _containers(pod["spec"], self.defaults)))
            else:
                self.apply(pod)
        elif verb == "create" and len(args) > 2 and args[1] in ("deployment", "deploy"):
            replicas = int(flags.get("replicas", 1))
            container = {"name": "c", "image": flags.get("image", "")}
            self.apply({
                "kind": "Deployment", "metadata": {"name": args[2]},
                "spec": {"replicas": replicas, "template": {"spec": {"containers": [container]}}},
            })  # fmt: skip
        elif verb == "create" and len(args) > 2 and args[1] in _KIND_NAMES:
            self.others[(_KIND_NAMES[args[1]], args[2])] = 1
        elif verb == "scale":
            for kind, name in _targets(args[1:]):
                if (kind, name) in self.workloads:
                    self.workloads[(kind, name)].pods = int(flags["replicas"])
        elif verb == "set" and len(args) > 2 and args[1] == "image":
            self._roll(_targets(args[2:3]))
        elif verb == "rollout" and len(args) > 2 and args[1] == "restart":
            self._roll(_targets(args[2:]))
        elif verb == "delete":
            self._delete(args[1:], flags, manifests_of_solution)
        elif verb == "label" and any(arg.startswith("$(") for arg in command):
            self._take_out(command, flags)

    def _take_out(self, command: list[str], flags: dict[str, str]) -> None:
        """``kubectl label pod $(kubectl get pods -l SELECTOR ...) key=value --overwrite``:
        a pod of a workload relabelled out of its selector stays, and the workload starts a
        replacement, so the namespace holds one pod more."""
        selector = _labels(flags.get("l", ""))
        end = next(i for i, word in enumerate(command) if word.endswith(")"))
        changes = _labels(",".join(w for w in command[end + 1 :] if "=" in w))
        for (kind, _), workload in list(self.workloads.items()):
            if kind != "Pod" and selector and selector.items() <= workload.labels.items():
                if any(selector.get(key) not in (None, value) for key, value in changes.items()):
                    labels = {**workload.labels, **changes}
                    name = f"taken-out-{len(self.workloads)}"
                    self.workloads[("Pod", name)] = Workload("Pod", 1, workload.containers, labels)
                return

    def _roll(self, targets: list[tuple[str, str]]) -> None:
        for kind, name in targets:
            deployment = self.workloads.get((kind, name))
            if deployment is not None and kind == "Deployment":
                deployment.revisions += 1
                self._surge(deployment)

    def _delete(self, args: list[str], flags: dict[str, str], solution: list[dict]) -> None:
        if "f" in flags or "filename" in flags:
            for obj in solution:
                self.workloads.pop((obj["kind"], obj["metadata"]["name"]), None)
                self.others.pop((obj["kind"], obj["metadata"]["name"]), None)
            return
        selector = flags.get("l") or flags.get("selector")
        if selector:
            wanted = _labels(selector)
            kinds = {_KIND_NAMES.get(args[0], args[0])} if args else {"Pod"}
            for key, workload in list(self.workloads.items()):
                if key[0] in kinds and wanted.items() <= workload.labels.items():
                    del self.workloads[key]
            return
        for kind, name in _targets(args):
            self.workloads.pop((kind, name), None)
            self.others.pop((kind, name), None)

    def usage(self, toolbox: list[Container]) -> Usage:
        usage = Usage()
        pods = [Workload("Pod", 1, toolbox), *self.workloads.values(), *self.transient]
        for workload in pods:
            usage.add("pods", workload.pods)
            for container in workload.containers:
                for resource, amount in container.requests.items():
                    usage.add(f"requests.{resource}", amount * workload.pods)
                for resource, amount in container.limits.items():
                    usage.add(f"limits.{resource}", amount * workload.pods)
        for kind, _ in [*self.workloads, *self.others]:
            if kind in _COUNTS and kind != "Pod":
                usage.add(_COUNTS[kind], 1)
        for (kind, _), workload in self.workloads.items():
            if kind == "Deployment":
                usage.add(_COUNTS["ReplicaSet"], min(workload.revisions, 11))
        return usage


def _flags(command: list[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    words = iter(command)
    for word in words:
        if not word.startswith("-") or word == "--":
            if word == "--":
                break
            continue
        key, _, value = word.lstrip("-").partition("=")
        if not value and key in ("f", "filename", "n", "namespace", "l", "selector", "replicas"):
            value = next(words, "")
        flags[key] = value
    return flags


def _labels(text: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in text.split(",") if "=" in pair)


def _targets(args: list[str]) -> list[tuple[str, str]]:
    """``deployment web``, ``deployment/web`` or ``pod a b`` as (kind, name) pairs."""
    if not args:
        return []
    if "/" in args[0]:
        return [
            (_KIND_NAMES.get(kind, kind), name)
            for kind, _, name in (arg.partition("/") for arg in args)
        ]
    kind = _KIND_NAMES.get(args[0], args[0])
    return [(kind, name) for name in args[1:]]


def _commands(markdown: str) -> Iterator[list[str]]:
    """The kubectl commands of the console blocks in ``markdown``, continuation lines joined."""
    for fence in scan(markdown.split("\n")):
        if fence.language not in ("console", "bash", "shell", "sh"):
            continue
        text = re.sub(r"\\\n\s*", " ", fence.body)
        for line in text.split("\n"):
            line = line.strip().removeprefix("$").strip()
            if line.startswith("kubectl "):
                words = shlex.split(line.split(" #")[0])
                yield words[: words.index("--")] if "--" in words else words


def _manifests(markdown: str) -> list[dict]:
    found = []
    for fence in scan(markdown.split("\n")):
        if fence.language == "yaml" and "no-validate" not in fence.flags:
            found.extend(doc for doc in yaml.safe_load_all(fence.body) if doc and "kind" in doc)
    return found


def _spec(profile_name: str) -> manifests.LabSpec:
    return manifests.LabSpec(
        namespace="lab-x-1", cohort="x", enrolment_id=1, profile=PROFILES[profile_name],
        pod_security="baseline", toolbox_image="toolbox", installation="0123456789ab",
        cluster_id=1,
    )  # fmt: skip


def _toolbox(profile_name: str) -> list[Container]:
    spec = _spec(profile_name)
    return _containers(manifests.toolbox_pod(spec)["spec"], _defaults(profile_name))


def _defaults(profile_name: str) -> Container:
    profile = PROFILES[profile_name]
    return Container(
        {k: parse_quantity(v) for k, v in profile.default_request.items()},
        {k: parse_quantity(v) for k, v in profile.default_limit.items()},
    )


def _quota(profile_name: str) -> dict[str, Decimal]:
    hard = manifests.resource_quota(_spec(profile_name))["spec"]["hard"]
    return {key: parse_quantity(value) for key, value in hard.items()}


def _exercises(course: CourseSource, day_id: str) -> list[ExerciseSource]:
    day = next(day for day in course.days if day.id == day_id)
    return [ex for module in day.modules for ex in module.exercises if not ex.demo]


def replay_day(course: CourseSource, day_id: str, profile_name: str) -> list[str]:
    """Replay a day's solutions in a lab of ``profile_name``; every step that would exceed
    the quota, as a message naming the exercise, the task and the quota key."""
    lab, toolbox, quota = Lab(_defaults(profile_name)), _toolbox(profile_name), _quota(profile_name)
    # Lotse's own objects in the namespace count too (the toolbox is counted apart), and so
    # does the kube-root-ca.crt ConfigMap that the cluster puts into every namespace.
    for obj in manifests.lab_objects(_spec(profile_name)):
        if obj["kind"] != "Pod" and obj["metadata"].get("namespace"):
            lab.others[(obj["kind"], obj["metadata"]["name"])] = 1
    lab.others[("ConfigMap", "kube-root-ca.crt")] = 1
    problems: list[str] = []
    reported: set[tuple[str, str]] = set()

    def check(where: str) -> None:
        exercise = where.split("/")[0].split(" ")[0]
        for key, used in lab.usage(toolbox).values.items():
            if key in quota and used > quota[key] and (exercise, key) not in reported:
                reported.add((exercise, key))  # the first step over the quota says enough
                problems.append(f"{where}: {key} {used} > {quota[key]} ({profile_name})")
        lab.transient.clear()

    for exercise in _exercises(course, day_id):
        for task in exercise.tasks:
            solution = _manifests(task.solution)
            for command in _commands(task.solution):
                lab.run(command, solution)
                check(f"{exercise.id}/{task.id} `{shlex.join(command)}`")
        for command in _commands(exercise.cleanup):
            lab.run(command, [])
        check(f"{exercise.id} after its cleanup")
    return problems


COURSE = read_course(settings.COURSE_CONTENT_DIR)
DAYS = [day.id for day in COURSE.days if not day.backup and _exercises(COURSE, day.id)]


@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("day", DAYS)
def test_it_fits_a_day_of_exercises_into_every_profile(day: str, profile: str) -> None:
    assert replay_day(COURSE, day, profile) == []


def test_it_counts_what_the_solutions_leave_and_the_cleanups_remove() -> None:
    """The replay itself: a small course whose numbers are known."""
    lab = Lab(_defaults("small"))
    deployment = """```console
$ kubectl create deployment web --image=nginx:1.27 --replicas=3
$ kubectl run client --rm -it --image=busybox:1.37 -- wget -qO- http://web
```"""
    for command in _commands(deployment):
        lab.run(command, [])
    usage = lab.usage([])

    assert usage.values["pods"] == 5  # the toolbox, three replicas and the transient client
    assert usage.values["count/deployments.apps"] == 1
    lab.transient.clear()
    lab.run(["kubectl", "set", "image", "deployment/web", "nginx=nginx:1.28"], [])
    assert lab.usage([]).values["pods"] == 5  # the toolbox, three replicas, one surge pod
    lab.transient.clear()
    lab.run(["kubectl", "delete", "deployment", "web"], [])
    assert lab.usage([]).values["pods"] == 1  # the toolbox alone

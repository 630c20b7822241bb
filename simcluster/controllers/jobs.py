"""The Job controller: pods until ``completions`` have succeeded, at most ``parallelism`` at a
time, and no more failures than ``backoffLimit``.

Pods are ``<job>-xxxxx``, labelled with the job's name and controller uid (the API server put
those into the template and the selector when the Job was created). A pod that succeeds counts
toward completions; one that fails counts toward the back-off limit, and its replacement waits
10 s, doubling to 6 min (paced). With restartPolicy OnFailure the kubelet restarts the
container instead, and its restarts count. When enough pods have succeeded the Job gets the
SuccessCriteriaMet and Complete conditions and its completion time (``Completed`` event); past
the back-off limit, or active longer than ``activeDeadlineSeconds`` (wall-clock), it gets
FailureTarget and Failed (BackoffLimitExceeded, DeadlineExceeded) and its running pods are
deleted. A suspended Job has no pods. ``ttlSecondsAfterFinished`` deletes a finished Job.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import UTC, datetime

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.workloads import (
    Creator,
    active,
    controlled_by,
    controller_uid,
    pod_from_template,
    ready,
)
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Event, Store, timestamp

__all__ = ["Jobs", "finished"]

PODS = known("", "v1", "pods")
JOBS = known("batch", "v1", "jobs")
COMPONENT = "job-controller"
Delete = Callable[[Resource, str, str, str], None]


def finished(job: dict) -> str | None:
    """ "Complete" or "Failed" when the Job has ended."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True":
            return condition["type"]
    return None


def _seconds_since(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (datetime.now(UTC) - when).total_seconds()


class Jobs:
    def __init__(
        self, store: Store, clock: Clock, recorder: Recorder, creator: Creator, delete: Delete
    ) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.creator = creator
        self.delete = delete
        self._waiting: set[str] = set()  # jobs whose next pod waits for a back-off

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace", "")
        if event.resource is JOBS:
            if event.type != "DELETED":
                self._queue(namespace, meta["name"])
        elif event.resource is PODS:
            owner = controller_uid(event.object)
            if owner is None:
                return
            for job in self.store.list(JOBS, namespace)[0]:
                if job["metadata"]["uid"] == owner:
                    self._queue(namespace, job["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("job", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        job = self.store.get(JOBS, namespace, name)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return
        spec, status = job.get("spec") or {}, dict(job.get("status") or {})
        uid = job["metadata"]["uid"]
        if finished(job):
            self._expire(job)
            return
        pods = [p for p in self.store.list(PODS, namespace)[0] if controlled_by(p, job)]
        running = [p for p in pods if active(p)]
        succeeded = sum((p.get("status") or {}).get("phase") == "Succeeded" for p in pods)
        failed = sum((p.get("status") or {}).get("phase") == "Failed" for p in pods)
        succeeded = max(succeeded, int(status.get("succeeded") or 0))
        failed = max(failed, int(status.get("failed") or 0))
        policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        restarts = sum(
            c.get("restartCount", 0)
            for p in running
            for c in (p.get("status") or {}).get("containerStatuses") or []
        ) if policy == "OnFailure" else 0  # fmt: skip
        now = timestamp()
        if not spec.get("suspend") and not status.get("startTime"):
            status["startTime"] = now
            deadline = spec.get("activeDeadlineSeconds")
            if deadline:
                self.clock.at_real(float(deadline), self._queue, namespace, name)
        completions = spec.get("completions")
        parallelism = int(spec.get("parallelism", 1) if spec.get("parallelism") is not None else 1)
        backoff_limit = int(spec.get("backoffLimit", 6))
        conditions = list(status.get("conditions") or [])
        outcome = None
        if (completions is not None and succeeded >= int(completions)) or (
            completions is None and succeeded and not running
        ):
            outcome = ("Complete", "CompletionsReached",
                       "Reached expected number of succeeded pods")  # fmt: skip
        elif failed + restarts > backoff_limit:
            outcome = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif spec.get("activeDeadlineSeconds") and _seconds_since(status.get("startTime")) >= float(
            spec["activeDeadlineSeconds"]
        ):
            outcome = (
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            )
        if outcome is not None:
            kind, reason, message = outcome
            for pod in running:
                self._remove(job, pod)
            first = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
            for condition_type in (first, kind):
                conditions.append({"type": condition_type, "status": "True", "lastProbeTime": now,
                                   "lastTransitionTime": now, "reason": reason,
                                   "message": message})  # fmt: skip
            if kind == "Complete":
                status["completionTime"] = now
                self.recorder.record(job, "Normal", "Completed", "Job completed", COMPONENT)
            else:
                self.recorder.record(job, "Warning", reason, message, COMPONENT)
            running = []
        elif spec.get("suspend"):
            for pod in running:
                self._remove(job, pod)
            running = []
        else:
            wanted = parallelism
            if completions is not None:
                wanted = min(parallelism, int(completions) - succeeded)
            elif succeeded:
                wanted = 0
            missing = wanted - len(running)
            if missing > 0 and uid not in self._waiting:
                if failed and status.get("failed", 0) != failed:
                    self._waiting.add(uid)
                    delay = min(10.0 * 2 ** (failed - 1), 360.0)
                    self.clock.after(delay, self._resume, uid, namespace, name, backoff=True)
                else:
                    for _ in range(missing):
                        pod = pod_from_template(job, spec.get("template") or {},
                                                generate=f"{name}-")  # fmt: skip
                        created = self.creator.create(job, pod, COMPONENT)
                        if created is None:
                            break
                        running.append(created)
        status.update({
            "active": len(running), "ready": sum(ready(p) for p in running),
            "succeeded": succeeded, "failed": failed, "terminating": 0,
            "uncountedTerminatedPods": {}, "conditions": conditions,
        })  # fmt: skip
        for key in ("active", "succeeded", "failed"):
            if not status[key]:
                del status[key]
        if not status["conditions"]:
            del status["conditions"]
        if status != (job.get("status") or {}):

            def write(current: dict) -> None:
                current["status"] = status

            with contextlib.suppress(ApiError):
                self.store.mutate(JOBS, namespace, name, write)

    def _resume(self, uid: str, namespace: str, name: str) -> None:
        """A failed pod's back-off is over: the next pod may start."""
        self._waiting.discard(uid)
        self._queue(namespace, name)

    def _remove(self, job: dict, pod: dict) -> None:
        name = pod["metadata"]["name"]
        try:
            self.delete(PODS, pod["metadata"]["namespace"], name, "Background")
        except ApiError:
            return
        self.recorder.record(job, "Normal", "SuccessfulDelete", f"Deleted pod: {name}", COMPONENT)

    def _expire(self, job: dict) -> None:
        ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
        if ttl is None:
            return
        meta = job["metadata"]
        finished_at = next(
            (c.get("lastTransitionTime") for c in (job.get("status") or {}).get("conditions") or []
             if c.get("type") in ("Complete", "Failed")), None)  # fmt: skip
        left = float(ttl) - _seconds_since(finished_at)
        if left > 0:
            self.clock.at_real(left, self._queue, meta["namespace"], meta["name"])
            return
        with contextlib.suppress(ApiError):
            self.delete(JOBS, meta["namespace"], meta["name"], "Background")

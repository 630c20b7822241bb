"""The CronJob controller: a Job at each scheduled minute, in the CronJob's time zone (UTC
unless ``timeZone`` says otherwise), on the wall clock (schedules are not paced).

At each time due since the last one (or since the CronJob was created) it creates the Job
``<cronjob>-<minutes since the epoch>`` from the job template, annotated with the scheduled
time, and records ``SuccessfulCreate``; if the time was missed by more than
``startingDeadlineSeconds`` it is skipped. ``concurrencyPolicy`` Forbid skips a run while a Job
is active, Replace deletes the active ones first. The status lists the active Jobs and the
last scheduled and successful times (``SawCompletedJob``); finished Jobs beyond
``successfulJobsHistoryLimit`` (3) and ``failedJobsHistoryLimit`` (1) are deleted, oldest first.
A suspended CronJob creates nothing.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime

from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.jobs import finished
from simcluster.controllers.workloads import controlled_by, controller_uid, owner_reference
from simcluster.cron import ScheduleError, parse_schedule
from simcluster.errors import ApiError
from simcluster.resources import Resource, known
from simcluster.store import Event, Store, timestamp

__all__ = ["CronJobs"]

JOBS = known("batch", "v1", "jobs")
CRONJOBS = known("batch", "v1", "cronjobs")
COMPONENT = "cronjob-controller"
Delete = Callable[[Resource, str, str, str], None]


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class CronJobs:
    def __init__(self, store: Store, clock: Clock, recorder: Recorder, delete: Delete) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.delete = delete
        self._seen: set[tuple[str, str]] = set()  # (job uid, condition) already reported
        self._armed: dict[str, datetime] = {}

    def on_event(self, event: Event) -> None:
        meta = event.object["metadata"]
        namespace = meta.get("namespace", "")
        if event.resource is CRONJOBS:
            if event.type != "DELETED":
                self._queue(namespace, meta["name"])
        elif event.resource is JOBS:
            owner = controller_uid(event.object)
            if owner is None:
                return
            for cronjob in self.store.list(CRONJOBS, namespace)[0]:
                if cronjob["metadata"]["uid"] == owner:
                    self._queue(namespace, cronjob["metadata"]["name"])

    def _queue(self, namespace: str, name: str) -> None:
        self.clock.soon(self.sync, namespace, name, key=("cronjob", namespace, name))

    def sync(self, namespace: str, name: str) -> None:
        cronjob = self.store.get(CRONJOBS, namespace, name)
        if cronjob is None or cronjob["metadata"].get("deletionTimestamp"):
            return
        spec = cronjob.get("spec") or {}
        status = dict(cronjob.get("status") or {})
        jobs = [j for j in self.store.list(JOBS, namespace)[0] if controlled_by(j, cronjob)]
        jobs.sort(key=lambda j: (j["metadata"].get("creationTimestamp", ""), j["metadata"]["name"]))
        self._history(cronjob, jobs, status)
        jobs = [j for j in self.store.list(JOBS, namespace)[0] if controlled_by(j, cronjob)]
        running = [
            j for j in jobs if not finished(j) and not j["metadata"].get("deletionTimestamp")
        ]
        try:
            schedule = parse_schedule(spec.get("schedule", ""))
            zone = zoneinfo.ZoneInfo(spec.get("timeZone") or "UTC")
        except (ScheduleError, zoneinfo.ZoneInfoNotFoundError, ValueError) as error:
            self.recorder.record(cronjob, "Warning", "UnparseableSchedule",
                                 f"unparseable schedule: {spec.get('schedule')!r} : {error}",
                                 COMPONENT)  # fmt: skip
            return
        now = datetime.now(UTC).astimezone(zone)
        last = _parse(status.get("lastScheduleTime")) or _parse(
            cronjob["metadata"].get("creationTimestamp")
        )
        last = (last or datetime.now(UTC)).astimezone(zone)
        if not spec.get("suspend"):
            due, count = schedule.last_between(last, now)
            if due is not None:
                if count > 100:
                    self.recorder.record(cronjob, "Warning", "TooManyMissedTimes",
                                         "too many missed start times: 101. Set or decrease "
                                         ".spec.startingDeadlineSeconds or check clock skew",
                                         COMPONENT)  # fmt: skip
                deadline = spec.get("startingDeadlineSeconds")
                late = (now - due).total_seconds()
                if deadline is None or late <= float(deadline):
                    running = self._run(cronjob, due, running, status)
                status["lastScheduleTime"] = timestamp(due.astimezone(UTC))
        status["active"] = [
            {"kind": "Job", "namespace": namespace, "name": j["metadata"]["name"],
             "uid": j["metadata"]["uid"], "apiVersion": "batch/v1",
             "resourceVersion": j["metadata"].get("resourceVersion", "")}
            for j in running
        ]  # fmt: skip
        if not status["active"]:
            del status["active"]
        if status != (cronjob.get("status") or {}):

            def write(current: dict) -> None:
                current["status"] = status

            self.store.mutate(CRONJOBS, namespace, name, write)
        self._arm(cronjob, schedule.next_after(now), now)

    def _run(self, cronjob: dict, due: datetime, running: list[dict], status: dict) -> list[dict]:
        spec = cronjob.get("spec") or {}
        meta = cronjob["metadata"]
        policy = spec.get("concurrencyPolicy", "Allow")
        if running and policy == "Forbid":
            self.recorder.record(cronjob, "Normal", "JobAlreadyActive",
                                 "Not starting job because prior execution is running and "
                                 "concurrency policy is Forbid", COMPONENT)  # fmt: skip
            return running
        if running and policy == "Replace":
            for job in running:
                self._delete_job(cronjob, job)
            running = []
        template = spec.get("jobTemplate") or {}
        job_meta = template.get("metadata") or {}
        name = f"{meta['name']}-{int(due.timestamp()) // 60}"
        job = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": meta["namespace"],
                "labels": dict(job_meta.get("labels") or {}),
                "annotations": {**(job_meta.get("annotations") or {}),
                                "batch.kubernetes.io/cronjob-scheduled-timestamp":
                                    timestamp(due.astimezone(UTC))},
                "ownerReferences": [owner_reference(cronjob)],
            },
            "spec": template.get("spec") or {},
        }  # fmt: skip
        try:
            created = self.store.create(JOBS, job)
        except ApiError as refused:
            if refused.code != 409:
                self.recorder.record(cronjob, "Warning", "FailedCreate",
                                     f"Error creating job: {refused.message}",
                                     COMPONENT)  # fmt: skip
            return running
        self.recorder.record(cronjob, "Normal", "SuccessfulCreate", f"Created job {name}",
                             COMPONENT)  # fmt: skip
        return [*running, created]

    def _history(self, cronjob: dict, jobs: list[dict], status: dict) -> None:
        spec = cronjob.get("spec") or {}
        done = {"Complete": [], "Failed": []}
        for job in jobs:
            state = finished(job)
            if state is None:
                continue
            done[state].append(job)
            key = (job["metadata"]["uid"], state)
            if key not in self._seen:
                self._seen.add(key)
                self.recorder.record(cronjob, "Normal", "SawCompletedJob",
                                     f"Saw completed job: {job['metadata']['name']}, condition: "
                                     f"{state}", COMPONENT)  # fmt: skip
                if state == "Complete":
                    completion = (job.get("status") or {}).get("completionTime")
                    if completion and completion > status.get("lastSuccessfulTime", ""):
                        status["lastSuccessfulTime"] = completion
        for state, limit_key, default in (("Complete", "successfulJobsHistoryLimit", 3),
                                          ("Failed", "failedJobsHistoryLimit", 1)):  # fmt: skip
            limit = spec.get(limit_key, default)
            extra = done[state][: max(len(done[state]) - int(limit), 0)]
            for job in extra:
                self._delete_job(cronjob, job)

    def _delete_job(self, cronjob: dict, job: dict) -> None:
        name = job["metadata"]["name"]
        try:
            self.delete(JOBS, job["metadata"]["namespace"], name, "Background")
        except ApiError:
            return
        self.recorder.record(cronjob, "Normal", "SuccessfulDelete", f"Deleted job {name}",
                             COMPONENT)  # fmt: skip

    def _arm(self, cronjob: dict, when: datetime, now: datetime) -> None:
        """Wake up for the next scheduled minute (once per minute armed)."""
        uid = cronjob["metadata"]["uid"]
        if self._armed.get(uid) == when:
            return
        self._armed[uid] = when
        meta = cronjob["metadata"]
        self.clock.at_real((when - now).total_seconds() + 0.05, self._queue, meta["namespace"],
                           meta["name"])  # fmt: skip

"""What the API server checks and fills in for workloads: Deployments, ReplicaSets,
StatefulSets, DaemonSets, Jobs and CronJobs, and the pod templates in them.

Checks: a selector is required and must match the template's labels (``spec.template.metadata
.labels: Invalid value: map[string]string{"app":"another-app"}: `selector` does not match
template `labels```); a Job's pods restart ``OnFailure`` or ``Never``; a CronJob's schedule
parses. Defaults: the pod template's (restart and DNS policy, scheduler, grace period, image pull
policy, termination message), each kind's own (replicas, update strategies, history limits), and
a new Job's selector and template labels made of its uid (``batch.kubernetes.io/controller-uid``,
``batch.kubernetes.io/job-name``).
"""

from __future__ import annotations

from simcluster.cron import ScheduleError, parse_schedule
from simcluster.resources import Resource

__all__ = ["default_pod_spec", "default_workload", "workload_problems"]

_WITH_SELECTOR = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets"),
                  ("apps", "daemonsets")}  # fmt: skip
_WORKLOADS = _WITH_SELECTOR | {("batch", "jobs"), ("batch", "cronjobs")}


def _image_pull_policy(image: str) -> str:
    tag = image.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    return "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"


def default_pod_spec(spec: dict, *, template: bool) -> None:
    """A pod spec's defaults; a template's lack what only a pod gets (its service account,
    service links, requests taken from limits)."""
    for field, value in (
        ("restartPolicy", "Always"),
        ("dnsPolicy", "ClusterFirst"),
        ("schedulerName", "default-scheduler"),
        ("terminationGracePeriodSeconds", 30),
        ("securityContext", {}),
    ):
        spec.setdefault(field, value)
    if not template:
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        container.setdefault("imagePullPolicy", _image_pull_policy(container.get("image", "")))
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        resources = container.setdefault("resources", {})
        if not template:
            limits = resources.get("limits") or {}
            for key, value in limits.items():
                resources.setdefault("requests", {}).setdefault(key, value)


def _template(obj: dict, resource: Resource) -> dict | None:
    spec = obj.get("spec") or {}
    if resource.key == ("batch", "cronjobs"):
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        return job.get("template")
    return spec.get("template")


def default_workload(resource: Resource, obj: dict, *, created: bool) -> None:
    if resource.key not in _WORKLOADS:
        return
    spec = obj.setdefault("spec", {})
    template = _template(obj, resource)
    if template is not None:
        default_pod_spec(template.setdefault("spec", {}), template=True)
        # Go writes a template's zero creation time as null, and so does the API server.
        template.setdefault("metadata", {}).setdefault("creationTimestamp", None)
    key = resource.key
    if key in (("apps", "replicasets"), ("apps", "statefulsets")):
        spec.setdefault("replicas", 1)
    if key == ("apps", "statefulsets"):
        spec.setdefault("podManagementPolicy", "OrderedReady")
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"partition": 0})
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("persistentVolumeClaimRetentionPolicy",
                        {"whenDeleted": "Retain", "whenScaled": "Retain"})  # fmt: skip
    elif key == ("apps", "daemonsets"):
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if strategy.get("type") == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        spec.setdefault("revisionHistoryLimit", 10)
    elif key == ("batch", "jobs"):
        if spec.get("completions") is None and spec.get("parallelism") is None:
            spec["completions"] = 1
        spec.setdefault("parallelism", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
        meta = obj["metadata"]
        if created and not spec.get("manualSelector") and meta.get("uid"):
            uid, name = meta["uid"], meta.get("name", "")
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            labels = (
                spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
            )
            labels.update({
                "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": name,
                "controller-uid": uid, "job-name": name,
            })  # fmt: skip
    elif key == ("batch", "cronjobs"):
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)


def _go_map(labels: dict) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def workload_problems(resource: Resource, obj: dict) -> list[tuple[str, str, str]]:
    """The API server's validation errors of a workload: (field, reason, message)."""
    if resource.key not in _WORKLOADS:
        return []
    spec = obj.get("spec") or {}
    problems = []
    if resource.key in _WITH_SELECTOR:
        selector = spec.get("selector")
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector:
            problems.append(("spec.selector", "FieldValueRequired", "Required value"))
        elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
            problems.append(("spec.selector", "FieldValueInvalid",
                             "Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
                             "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty "
                             "selector is invalid for deployment"))  # fmt: skip
        else:
            from simcluster.selectors import label_selector_matches

            if not label_selector_matches(selector, labels):
                problems.append(("spec.template.metadata.labels", "FieldValueInvalid",
                                 f"Invalid value: {_go_map(labels)}: `selector` does not match "
                                 "template `labels`"))  # fmt: skip
    template = _template(obj, resource) or {}
    if resource.key in (("batch", "jobs"), ("batch", "cronjobs")):
        policy = (template.get("spec") or {}).get("restartPolicy")
        field = ("spec.jobTemplate.spec.template.spec.restartPolicy"
                 if resource.key == ("batch", "cronjobs")
                 else "spec.template.spec.restartPolicy")  # fmt: skip
        if policy not in ("OnFailure", "Never"):
            message = 'valid values: "OnFailure", "Never"'
            if policy is None:
                problems.append((field, "FieldValueRequired", f"Required value: {message}"))
            else:
                problems.append((field, "FieldValueNotSupported",
                                 f'Unsupported value: "{policy}": supported values: '
                                 '"OnFailure", "Never"'))  # fmt: skip
    if resource.key == ("batch", "cronjobs"):
        schedule = spec.get("schedule", "")
        try:
            parse_schedule(schedule)
        except ScheduleError as error:
            problems.append(("spec.schedule", "FieldValueInvalid",
                             f'Invalid value: "{schedule}": {error}'))  # fmt: skip
    return problems

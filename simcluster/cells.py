"""The cells of ``kubectl get`` tables, worked out as kube-apiserver's printers do.

A pod's STATUS comes from its phase, reason and container states (Pending, ContainerCreating,
Running, Completed, Error, CrashLoopBackOff, ErrImagePull, Init:0/1, Terminating, ...), its
RESTARTS carry "(5m ago)", ages read "4m10s" (apimachinery's HumanDuration), selectors and
ports are written as kubectl writes them. The column sets that use these are in
`simcluster.tables`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Cell = Callable[[dict], Any]

_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """apimachinery's ``duration.HumanDuration``: "45s", "4m10s", "3h", "2d5h", "3y"."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y{days}d" if days else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"


def since(text: Any) -> str:
    when = _parse_time(text)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - when).total_seconds())


def age(obj: dict) -> str:
    return since(obj["metadata"].get("creationTimestamp"))


def name(obj: dict) -> str:
    return obj["metadata"].get("name", "")


def created_at(obj: dict) -> str:
    when = _parse_time(obj["metadata"].get("creationTimestamp"))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "<unknown>"


def spec_of(obj: dict) -> dict:
    return obj.get("spec") or {}


def status_of(obj: dict) -> dict:
    return obj.get("status") or {}


def labels(labels: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def selector(selector: dict | None) -> str:
    """A LabelSelector as ``kubectl`` writes it: "app=web,tier in (a,b)"; "<none>" if empty."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator", "")
        values = ",".join(sorted(expression.get("values") or []))
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(operator, key)
        )
    return ",".join(sorted(parts)) or "<none>"


def _template_containers(obj: dict) -> list[dict]:
    template = spec_of(obj).get("template") or {}
    return (template.get("spec") or {}).get("containers") or []


def containers(obj: dict) -> str:
    return ",".join(c.get("name", "") for c in _template_containers(obj))


def images(obj: dict) -> str:
    return ",".join(c.get("image", "") for c in _template_containers(obj))


# -- pods ------------------------------------------------------------------------------------


def _restartable(container: dict | None) -> bool:
    return (container or {}).get("restartPolicy") == "Always"


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


def _later(a: str | None, b: str | None) -> str | None:
    ta, tb = _parse_time(a), _parse_time(b)
    if tb is not None and (ta is None or tb > ta):
        return b
    return a


def pod_summary(pod: dict) -> tuple[str, int, int, str, list[dict]]:
    """(status, ready containers, all containers, restarts, row conditions), as kubectl shows."""
    spec, status = spec_of(pod), status_of(pod)
    phase = status.get("phase", "")
    reason = status.get("reason") or phase
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    init_specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    total = len(spec.get("containers") or []) + sum(map(_restartable, init_specs.values()))
    ready = restarts = sidecar_restarts = 0
    last_restart = sidecar_last = None
    initializing = False
    init_statuses = status.get("initContainerStatuses") or []
    for index, container in enumerate(init_statuses):
        restarts += container.get("restartCount", 0)
        finished = ((container.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        last_restart = _later(last_restart, finished)
        state = container.get("state") or {}
        sidecar = _restartable(init_specs.get(container.get("name")))
        if sidecar:
            sidecar_restarts += container.get("restartCount", 0)
            sidecar_last = _later(sidecar_last, finished)
        terminated, waiting = state.get("terminated"), state.get("waiting")
        if terminated is not None and terminated.get("exitCode", 0) == 0:
            continue
        if sidecar and container.get("started"):
            ready += bool(container.get("ready"))
            continue
        if terminated is not None:
            reason = _terminated_reason(terminated, "Init:")
        elif waiting and waiting.get("reason") and waiting["reason"] != "PodInitializing":
            reason = "Init:" + waiting["reason"]
        else:
            reason = f"Init:{index}/{len(init_specs)}"
        initializing = True
        break
    initialized = any(
        c.get("type") == "Initialized" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    if not initializing or initialized:
        restarts, last_restart = sidecar_restarts, sidecar_last
        running = False
        for container in reversed(status.get("containerStatuses") or []):
            restarts += container.get("restartCount", 0)
            finished = ((container.get("lastState") or {}).get("terminated") or {}).get(
                "finishedAt"
            )
            last_restart = _later(last_restart, finished)
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated is not None:
                reason = _terminated_reason(terminated)
            elif container.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            pod_ready = any(c.get("type") == "Ready" for c in status.get("conditions") or [])
            reason = "Running" if pod_ready else "NotReady"
    deleting = pod["metadata"].get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"
    shown = str(restarts)
    if restarts and last_restart:
        shown = f"{restarts} ({since(last_restart)} ago)"
    conditions = []
    if phase in ("Succeeded", "Failed"):
        message = (
            "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
        )
        conditions = [{"type": "Completed", "status": "True", "reason": phase, "message": message}]
    return reason, ready, total, shown, conditions


def pod_status(pod: dict) -> str:
    """The STATUS column of ``kubectl get pods`` for this pod."""
    return pod_summary(pod)[0]


def pod_ip(pod: dict) -> str:
    ips = status_of(pod).get("podIPs") or []
    return (ips[0].get("ip") if ips else "") or status_of(pod).get("podIP") or "<none>"


def readiness_gates(pod: dict) -> str:
    gates = spec_of(pod).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in status_of(pod).get("conditions") or []}
    true = sum(conditions.get(g.get("conditionType")) == "True" for g in gates)
    return f"{true}/{len(gates)}"


# -- the other kinds -------------------------------------------------------------------------


def service_type(svc: dict) -> str:
    return spec_of(svc).get("type") or "ClusterIP"


def cluster_ip(svc: dict) -> str:
    ips = spec_of(svc).get("clusterIPs") or []
    return ips[0] if ips else (spec_of(svc).get("clusterIP") or "<none>")


def load_balancer(status: dict) -> list[str]:
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return [entry.get("ip") or entry.get("hostname") or "" for entry in ingress]


def external_ip(svc: dict) -> str:
    spec, kind = spec_of(svc), service_type(svc)
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        found = load_balancer(status_of(svc)) + external
        return ",".join(found) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def ports(svc: dict) -> str:
    shown = []
    for port in spec_of(svc).get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            shown.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            shown.append(f"{port.get('port')}/{protocol}")
    return ",".join(shown) or "<none>"


def endpoints(ep: dict) -> str:
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    shown: list[str] = []
    count, most = 0, 3
    for subset in subsets:
        addresses = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or [None]
        for port in ports:
            count += len(addresses)
            for ip in addresses:
                if len(shown) < most:
                    shown.append(ip if port is None else f"{ip}:{port.get('port')}")
    text = ",".join(shown)
    return f"{text} + {count - most} more..." if count > most else text


def slice_ports(endpoint_slice: dict) -> str:
    """An EndpointSlice's ports as kubectl shows them: "80,443", "<unset>" without any."""
    ports = endpoint_slice.get("ports") or []
    if not ports:
        return "<unset>"
    return ",".join(str(p["port"]) if p.get("port") is not None else "<unset>" for p in ports)


def slice_endpoints(endpoint_slice: dict) -> str:
    """Its addresses, the first three and how many more: "10.244.0.5,10.244.0.6 + 2 more..."."""
    addresses = [a for e in endpoint_slice.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    shown = ",".join(addresses[:3])
    return f"{shown} + {len(addresses) - 3} more..." if len(addresses) > 3 else shown


def node_status(node: dict) -> str:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status_of(node).get("conditions") or []
    )
    states = ["Ready" if ready else "NotReady"]
    if spec_of(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def node_roles(node: dict) -> str:
    roles = set()
    for key, value in (node["metadata"].get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def node_address(kind: str) -> Cell:
    def cell(node: dict) -> str:
        for address in status_of(node).get("addresses") or []:
            if address.get("type") == kind:
                return address.get("address", "")
        return "<none>"

    return cell


def node_info(field: str) -> Cell:
    return lambda node: (status_of(node).get("nodeInfo") or {}).get(field, "")


def _has_condition(obj: dict, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in status_of(obj).get("conditions") or []
    )


def job_status(job: dict) -> str:
    for condition, shown in (("Complete", "Complete"), ("Failed", "Failed")):
        if _has_condition(job, condition):
            return shown
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for condition in ("SuccessCriteriaMet", "FailureTarget", "Suspended"):
        if _has_condition(job, condition):
            return condition
    return "Running"


def job_completions(job: dict) -> str:
    spec, succeeded = spec_of(job), status_of(job).get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def job_duration(job: dict) -> str:
    start = _parse_time(status_of(job).get("startTime"))
    if start is None:
        return ""
    end = _parse_time(status_of(job).get("completionTime")) or datetime.now(UTC)
    return human_duration((end - start).total_seconds())


def hpa_targets(hpa: dict) -> str:
    spec, status = spec_of(hpa), status_of(hpa)
    if "targetCPUUtilizationPercentage" in spec or "currentCPUUtilizationPercentage" in status:
        current = status.get("currentCPUUtilizationPercentage")
        target = spec.get("targetCPUUtilizationPercentage")
        shown = f"{current}%" if current is not None else "<unknown>"
        return f"cpu: {shown}/{target}%"
    current_metrics = status.get("currentMetrics") or []
    shown = []
    for metric in spec.get("metrics") or []:
        if metric.get("type") != "Resource":
            shown.append(f"{metric.get('type', '').lower()}: <unknown>")
            continue
        resource = metric.get("resource") or {}
        name, target = resource.get("name", ""), resource.get("target") or {}
        now = next(
            (
                (m.get("resource") or {}).get("current") or {}
                for m in current_metrics
                if (m.get("resource") or {}).get("name") == name
            ),
            {},
        )
        if target.get("type") == "Utilization":
            value = now.get("averageUtilization")
            current = f"{value}%" if value is not None else "<unknown>"
            shown.append(f"{name}: {current}/{target.get('averageUtilization')}%")
        else:
            current = now.get("averageValue") or "<unknown>"
            shown.append(f"{name}: {current}/{target.get('averageValue')}")
    return ", ".join(shown) or "<none>"


def ingress_hosts(ingress: dict) -> str:
    rules = spec_of(ingress).get("rules") or []
    hosts = [rule["host"] for rule in rules if rule.get("host")][:3]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if len(rules) > 3 else text


def access_modes(modes: list[str] | None) -> str:
    return ",".join(_ACCESS_MODES.get(m, m) for m in modes or [])


def pvc_status(pvc: dict) -> str:
    if pvc["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return status_of(pvc).get("phase", "")


def event_times(event: dict) -> tuple[str, str, int]:
    first = event.get("firstTimestamp") or event.get("deprecatedFirstTimestamp")
    first_seen = since(first) if first else since(event.get("eventTime"))
    last = event.get("lastTimestamp") or event.get("deprecatedLastTimestamp")
    last_seen = since(last) if last else first_seen
    count = event.get("count") or event.get("deprecatedCount") or 0
    series = event.get("series")
    if series:
        last_seen, count = since(series.get("lastObservedTime")), series.get("count", 0)
    elif count == 0:
        count = 1
    return last_seen, first_seen, count


def event_message(event: dict) -> str:
    return (event.get("message") or event.get("note") or "").strip()


def event_object(event: dict) -> str:
    involved = event.get("involvedObject") or event.get("regarding") or {}
    kind = (involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def event_source(event: dict) -> str:
    source = event.get("source") or event.get("deprecatedSource") or {}
    component = (source.get("component") or event.get("reportingComponent")
                 or event.get("reportingController", ""))  # fmt: skip
    host = source.get("host") or event.get("reportingInstance", "")
    return f"{component}, {host}" if host else component


def quota(used_or_limits: str) -> Cell:
    def cell(quota: dict) -> str:
        hard, used = status_of(quota).get("hard") or spec_of(quota).get("hard") or {}, {}
        used = status_of(quota).get("used") or {}
        shown = [
            f"{name}: {used.get(name, '0')}/{hard[name]}"
            for name in sorted(hard)
            if name.startswith("limits.") == (used_or_limits == "limits")
        ]
        return ", ".join(shown)

    return cell


def subjects(kind: str) -> Cell:
    def cell(binding: dict) -> str:
        found = []
        for subject in binding.get("subjects") or []:
            if subject.get("kind") != kind:
                continue
            if kind == "ServiceAccount":
                found.append(f"{subject.get('namespace', '')}:{subject.get('name', '')}")
            else:
                found.append(subject.get("name", ""))
        return ", ".join(found)

    return cell


def pdb_value(field: str) -> Cell:
    return lambda pdb: str(spec_of(pdb)[field]) if field in spec_of(pdb) else "N/A"


def cron_containers(cron: dict) -> list[dict]:
    job = (spec_of(cron).get("jobTemplate") or {}).get("spec") or {}
    return ((job.get("template") or {}).get("spec") or {}).get("containers") or []


def cron_selector(cron: dict) -> str:
    return selector(((spec_of(cron).get("jobTemplate") or {}).get("spec") or {}).get("selector"))


def last_schedule(cron: dict) -> str:
    when = status_of(cron).get("lastScheduleTime")
    return since(when) if when else "<none>"


def scale_target(hpa: dict) -> str:
    target = spec_of(hpa).get("scaleTargetRef") or {}
    return f"{target.get('kind', '')}/{target.get('name', '')}"


def role_ref(binding: dict) -> str:
    ref = binding.get("roleRef") or {}
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def attributes_class(volume: dict) -> str:
    return spec_of(volume).get("volumeAttributesClassName") or "<unset>"


def volume_mode(volume: dict) -> str:
    return spec_of(volume).get("volumeMode") or "<unset>"


def pv_claim(volume: dict) -> str:
    claim = spec_of(volume).get("claimRef")
    return f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""


def storage_class_name(storage_class: dict) -> str:
    annotations = storage_class["metadata"].get("annotations") or {}
    default = annotations.get("storageclass.kubernetes.io/is-default-class") == "true"
    return name(storage_class) + (" (default)" if default else "")

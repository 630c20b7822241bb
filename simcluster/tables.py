"""meta.k8s.io Tables: the columns kube-apiserver prints for each kind, as ``kubectl get`` shows.

The columns, their priorities (1 = only with ``-o wide``) and the cells follow the API server's
printers: a pod's STATUS is worked out from its phase, reason and container states as kubectl
shows it (Pending, ContainerCreating, Running, Completed, Error, CrashLoopBackOff,
ErrImagePull, Init:0/1, Terminating, ...), its RESTARTS carry "(5m ago)", ages read "4m10s".
Column descriptions come from the API's own field documentation (`simcluster.schema`). Kinds
without a printer of their own get NAME and CREATED AT, as the server's default does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from simcluster.schema import definitions

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["human_duration", "pod_status", "table"]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_CORE = "io.k8s.api.core.v1"
_ACCESS_MODES = {
    "ReadWriteOnce": "RWO",
    "ReadOnlyMany": "ROX",
    "ReadWriteMany": "RWX",
    "ReadWriteOncePod": "RWOP",
}

Cell = Callable[[dict], Any]
# The server's default printer, for kinds without columns of their own (Role, LimitRange, ...).
_DEFAULT = ("", "")


@dataclass(frozen=True)
class Column:
    name: str
    cell: Cell
    description: str = ""
    priority: int = 0
    type: str = "string"
    format: str = ""


def _doc(definition: str, field: str) -> str:
    schema = definitions().schemas.get(definition, {})
    return (schema.get("properties", {}).get(field) or {}).get("description", "")


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


def _since(text: Any) -> str:
    when = _parse_time(text)
    if when is None:
        return "<unknown>"
    return human_duration((datetime.now(UTC) - when).total_seconds())


def _age(obj: dict) -> str:
    return _since(obj["metadata"].get("creationTimestamp"))


def _name(obj: dict) -> str:
    return obj["metadata"].get("name", "")


def _created_at(obj: dict) -> str:
    when = _parse_time(obj["metadata"].get("creationTimestamp"))
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "<unknown>"


def _spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def _status(obj: dict) -> dict:
    return obj.get("status") or {}


def _or_none(value: Any) -> Any:
    return value if value not in (None, "", []) else "<none>"


def _labels(labels: dict | None) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted((labels or {}).items())) or "<none>"


def _selector(selector: dict | None) -> str:
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
    template = _spec(obj).get("template") or {}
    return (template.get("spec") or {}).get("containers") or []


def _containers(obj: dict) -> str:
    return ",".join(c.get("name", "") for c in _template_containers(obj))


def _images(obj: dict) -> str:
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


def _pod_summary(pod: dict) -> tuple[str, int, int, str, list[dict]]:
    """(status, ready containers, all containers, restarts, row conditions), as kubectl shows."""
    spec, status = _spec(pod), _status(pod)
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
        shown = f"{restarts} ({_since(last_restart)} ago)"
    conditions = []
    if phase in ("Succeeded", "Failed"):
        message = (
            "The pod has completed successfully." if phase == "Succeeded" else "The pod failed."
        )
        conditions = [{"type": "Completed", "status": "True", "reason": phase, "message": message}]
    return reason, ready, total, shown, conditions


def pod_status(pod: dict) -> str:
    """The STATUS column of ``kubectl get pods`` for this pod."""
    return _pod_summary(pod)[0]


def _pod_ip(pod: dict) -> str:
    ips = _status(pod).get("podIPs") or []
    return (ips[0].get("ip") if ips else "") or _status(pod).get("podIP") or "<none>"


def _readiness_gates(pod: dict) -> str:
    gates = _spec(pod).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {c.get("type"): c.get("status") for c in _status(pod).get("conditions") or []}
    true = sum(conditions.get(g.get("conditionType")) == "True" for g in gates)
    return f"{true}/{len(gates)}"


# -- the other kinds -------------------------------------------------------------------------


def _service_type(svc: dict) -> str:
    return _spec(svc).get("type") or "ClusterIP"


def _cluster_ip(svc: dict) -> str:
    ips = _spec(svc).get("clusterIPs") or []
    return ips[0] if ips else (_spec(svc).get("clusterIP") or "<none>")


def _load_balancer(status: dict) -> list[str]:
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    return [entry.get("ip") or entry.get("hostname") or "" for entry in ingress]


def _external_ip(svc: dict) -> str:
    spec, kind = _spec(svc), _service_type(svc)
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        found = _load_balancer(_status(svc)) + external
        return ",".join(found) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _ports(svc: dict) -> str:
    shown = []
    for port in _spec(svc).get("ports") or []:
        protocol = port.get("protocol") or "TCP"
        if port.get("nodePort"):
            shown.append(f"{port.get('port')}:{port['nodePort']}/{protocol}")
        else:
            shown.append(f"{port.get('port')}/{protocol}")
    return ",".join(shown) or "<none>"


def _endpoints(ep: dict) -> str:
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


def _node_status(node: dict) -> str:
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in _status(node).get("conditions") or []
    )
    states = ["Ready" if ready else "NotReady"]
    if _spec(node).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _node_roles(node: dict) -> str:
    roles = set()
    for key, value in (node["metadata"].get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            roles.add(key.split("/", 1)[1])
        elif key == "kubernetes.io/role" and value:
            roles.add(value)
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _node_address(kind: str) -> Cell:
    def cell(node: dict) -> str:
        for address in _status(node).get("addresses") or []:
            if address.get("type") == kind:
                return address.get("address", "")
        return "<none>"

    return cell


def _node_info(field: str) -> Cell:
    return lambda node: (_status(node).get("nodeInfo") or {}).get(field, "")


def _has_condition(obj: dict, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in _status(obj).get("conditions") or []
    )


def _job_status(job: dict) -> str:
    for condition, shown in (("Complete", "Complete"), ("Failed", "Failed")):
        if _has_condition(job, condition):
            return shown
    if job["metadata"].get("deletionTimestamp"):
        return "Terminating"
    for condition in ("SuccessCriteriaMet", "FailureTarget", "Suspended"):
        if _has_condition(job, condition):
            return condition
    return "Running"


def _job_completions(job: dict) -> str:
    spec, succeeded = _spec(job), _status(job).get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(job: dict) -> str:
    start = _parse_time(_status(job).get("startTime"))
    if start is None:
        return ""
    end = _parse_time(_status(job).get("completionTime")) or datetime.now(UTC)
    return human_duration((end - start).total_seconds())


def _hpa_targets(hpa: dict) -> str:
    spec, status = _spec(hpa), _status(hpa)
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


def _ingress_hosts(ingress: dict) -> str:
    rules = _spec(ingress).get("rules") or []
    hosts = [rule["host"] for rule in rules if rule.get("host")][:3]
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if len(rules) > 3 else text


def _access_modes(modes: list[str] | None) -> str:
    return ",".join(_ACCESS_MODES.get(m, m) for m in modes or [])


def _pvc_status(pvc: dict) -> str:
    if pvc["metadata"].get("deletionTimestamp"):
        return "Terminating"
    return _status(pvc).get("phase", "")


def _event_times(event: dict) -> tuple[str, str, int]:
    first = event.get("firstTimestamp")
    first_seen = _since(first) if first else _since(event.get("eventTime"))
    last = event.get("lastTimestamp")
    last_seen = _since(last) if last else first_seen
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen, count = _since(series.get("lastObservedTime")), series.get("count", 0)
    elif count == 0:
        count = 1
    return last_seen, first_seen, count


def _event_object(event: dict) -> str:
    involved = event.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    return f"{kind}/{involved['name']}" if involved.get("name") else kind


def _event_source(event: dict) -> str:
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent", "")
    host = source.get("host") or event.get("reportingInstance", "")
    return f"{component}, {host}" if host else component


def _quota(used_or_limits: str) -> Cell:
    def cell(quota: dict) -> str:
        hard, used = _status(quota).get("hard") or _spec(quota).get("hard") or {}, {}
        used = _status(quota).get("used") or {}
        shown = [
            f"{name}: {used.get(name, '0')}/{hard[name]}"
            for name in sorted(hard)
            if name.startswith("limits.") == (used_or_limits == "limits")
        ]
        return ", ".join(shown)

    return cell


def _subjects(kind: str) -> Cell:
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


def _pdb_value(field: str) -> Cell:
    return lambda pdb: str(_spec(pdb)[field]) if field in _spec(pdb) else "N/A"


# -- the column sets -------------------------------------------------------------------------


def _columns() -> dict[tuple[str, str], list[Column]]:
    meta_name, meta_age = _doc(_META, "name"), _doc(_META, "creationTimestamp")
    name = Column("Name", _name, meta_name, format="name")
    age = Column("Age", _age, meta_age)
    created = Column("Created At", _created_at, meta_age, type="date")
    containers = Column("Containers", _containers, "Names of each container in the template.", 1)
    images = Column("Images", _images, "Images referenced by each container in the template.", 1)

    def selector(doc: str) -> Column:
        return Column("Selector", lambda o: _selector(_spec(o).get("selector")), doc, 1)

    apps = "io.k8s.api.apps.v1"
    pod_doc = f"{_CORE}.PodStatus"
    return {
        ("", "pods"): [
            name,
            Column(
                "Ready",
                lambda p: "{1}/{2}".format(*_pod_summary(p)),
                "The aggregate readiness state of this pod for accepting traffic.",
            ),
            Column("Status", pod_status, "The aggregate status of the containers in this pod."),
            Column(
                "Restarts",
                lambda p: _pod_summary(p)[3],
                "The number of times the containers in this pod have been restarted and when "
                "the last container in this pod has restarted.",
            ),
            age,
            Column("IP", _pod_ip, _doc(pod_doc, "podIP"), 1),
            Column(
                "Node",
                lambda p: _spec(p).get("nodeName") or "<none>",
                _doc(f"{_CORE}.PodSpec", "nodeName"),
                1,
            ),
            Column(
                "Nominated Node",
                lambda p: _status(p).get("nominatedNodeName") or "<none>",
                _doc(pod_doc, "nominatedNodeName"),
                1,
            ),
            Column(
                "Readiness Gates",
                _readiness_gates,
                _doc(f"{_CORE}.PodSpec", "readinessGates"),
                1,
            ),
        ],
        ("apps", "deployments"): [
            name,
            Column(
                "Ready",
                lambda d: f"{_status(d).get('readyReplicas', 0)}/{_spec(d).get('replicas', 0)}",
                "Number of the pod with ready state",
            ),
            Column(
                "Up-to-date",
                lambda d: _status(d).get("updatedReplicas", 0),
                _doc(f"{apps}.DeploymentStatus", "updatedReplicas"),
            ),
            Column(
                "Available",
                lambda d: _status(d).get("availableReplicas", 0),
                _doc(f"{apps}.DeploymentStatus", "availableReplicas"),
            ),
            age,
            containers,
            images,
            selector(_doc(f"{apps}.DeploymentSpec", "selector")),
        ],
        ("apps", "replicasets"): [
            name,
            Column(
                "Desired",
                lambda r: _spec(r).get("replicas", 0),
                _doc(f"{apps}.ReplicaSetSpec", "replicas"),
                type="integer",
            ),
            Column(
                "Current",
                lambda r: _status(r).get("replicas", 0),
                _doc(f"{apps}.ReplicaSetStatus", "replicas"),
                type="integer",
            ),
            Column(
                "Ready",
                lambda r: _status(r).get("readyReplicas", 0),
                _doc(f"{apps}.ReplicaSetStatus", "readyReplicas"),
                type="integer",
            ),
            age,
            containers,
            images,
            selector(_doc(f"{apps}.ReplicaSetSpec", "selector")),
        ],
        ("apps", "statefulsets"): [
            name,
            Column(
                "Ready",
                lambda s: f"{_status(s).get('readyReplicas', 0)}/{_spec(s).get('replicas', 0)}",
                "Number of the pod with ready state",
            ),
            age,
            containers,
            images,
        ],
        ("apps", "daemonsets"): [
            name,
            *(
                Column(
                    title,
                    (lambda f: lambda d: _status(d).get(f, 0))(field),
                    _doc(f"{apps}.DaemonSetStatus", field),
                    type="integer",
                )
                for title, field in (
                    ("Desired", "desiredNumberScheduled"),
                    ("Current", "currentNumberScheduled"),
                    ("Ready", "numberReady"),
                    ("Up-to-date", "updatedNumberScheduled"),
                    ("Available", "numberAvailable"),
                )
            ),
            Column(
                "Node Selector",
                lambda d: _labels(
                    ((_spec(d).get("template") or {}).get("spec") or {}).get("nodeSelector")
                ),
                _doc(f"{_CORE}.PodSpec", "nodeSelector"),
            ),
            age,
            containers,
            images,
            selector(_doc(f"{apps}.DaemonSetSpec", "selector")),
        ],
        ("", "services"): [
            name,
            Column("Type", _service_type, _doc(f"{_CORE}.ServiceSpec", "type")),
            Column("Cluster-IP", _cluster_ip, _doc(f"{_CORE}.ServiceSpec", "clusterIP")),
            Column("External-IP", _external_ip, _doc(f"{_CORE}.ServiceSpec", "externalIPs")),
            Column("Port(s)", _ports, _doc(f"{_CORE}.ServiceSpec", "ports")),
            age,
            Column(
                "Selector",
                lambda s: _labels(_spec(s).get("selector")),
                _doc(f"{_CORE}.ServiceSpec", "selector"),
                1,
            ),
        ],
        ("", "endpoints"): [
            name,
            Column("Endpoints", _endpoints, _doc(f"{_CORE}.Endpoints", "subsets")),
            age,
        ],
        ("", "nodes"): [
            name,
            Column("Status", _node_status, "The status of the node"),
            Column("Roles", _node_roles, "The roles of the node"),
            age,
            Column(
                "Version", _node_info("kubeletVersion"), "Kubelet Version reported by the node."
            ),
            Column(
                "Internal-IP",
                _node_address("InternalIP"),
                "List of addresses reachable to the node.",
                1,
            ),
            Column(
                "External-IP",
                _node_address("ExternalIP"),
                "List of addresses reachable to the node.",
                1,
            ),
            Column(
                "OS-Image",
                _node_info("osImage"),
                "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                1,
            ),
            Column(
                "Kernel-Version",
                _node_info("kernelVersion"),
                "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                1,
            ),
            Column(
                "Container-Runtime",
                _node_info("containerRuntimeVersion"),
                "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                1,
            ),
        ],  # fmt: skip
        ("", "namespaces"): [
            name,
            Column(
                "Status",
                lambda n: _status(n).get("phase", ""),
                "The status of the namespace",
            ),
            age,
        ],
        ("batch", "jobs"): [
            name,
            Column("Status", _job_status, "Status of the job."),
            Column("Completions", _job_completions, "The completion status of the job."),
            Column("Duration", _job_duration, "Time required to complete the job."),
            age,
            containers,
            images,
            selector(_doc("io.k8s.api.batch.v1.JobSpec", "selector")),
        ],
        ("batch", "cronjobs"): [
            name,
            Column(
                "Schedule",
                lambda c: _spec(c).get("schedule", ""),
                _doc("io.k8s.api.batch.v1.CronJobSpec", "schedule"),
            ),
            Column(
                "Timezone",
                lambda c: _spec(c).get("timeZone") or "<none>",
                _doc("io.k8s.api.batch.v1.CronJobSpec", "timeZone"),
            ),
            Column(
                "Suspend",
                lambda c: "True" if _spec(c).get("suspend") else "False",
                _doc("io.k8s.api.batch.v1.CronJobSpec", "suspend"),
            ),
            Column(
                "Active",
                lambda c: len(_status(c).get("active") or []),
                _doc("io.k8s.api.batch.v1.CronJobStatus", "active"),
                type="integer",
            ),
            Column(
                "Last Schedule",
                lambda c: (
                    _since(_status(c)["lastScheduleTime"])
                    if _status(c).get("lastScheduleTime")
                    else "<none>"
                ),
                _doc("io.k8s.api.batch.v1.CronJobStatus", "lastScheduleTime"),
            ),
            age,
            Column(
                "Containers",
                lambda c: ",".join(x.get("name", "") for x in _cron_containers(c)),
                "Names of each container in the template.",
                1,
            ),
            Column(
                "Images",
                lambda c: ",".join(x.get("image", "") for x in _cron_containers(c)),
                "Images referenced by each container in the template.",
                1,
            ),
            Column(
                "Selector",
                lambda c: _selector(
                    ((_spec(c).get("jobTemplate") or {}).get("spec") or {}).get("selector")
                ),
                _doc("io.k8s.api.batch.v1.JobSpec", "selector"),
                1,
            ),
        ],
        ("autoscaling", "horizontalpodautoscalers"): [
            name,
            Column(
                "Reference",
                lambda h: "{kind}/{name}".format(
                    kind=(_spec(h).get("scaleTargetRef") or {}).get("kind", ""),
                    name=(_spec(h).get("scaleTargetRef") or {}).get("name", ""),
                ),
                "Reference to the scaled object",
            ),
            Column("Targets", _hpa_targets, "The current and target metric values"),
            Column(
                "MinPods",
                lambda h: _spec(h).get("minReplicas", "<unset>"),
                "The minimum number of replicas",
            ),
            Column(
                "MaxPods",
                lambda h: _spec(h).get("maxReplicas", 0),
                "The maximum number of replicas",
                type="integer",
            ),
            Column(
                "Replicas",
                lambda h: _status(h).get("currentReplicas", 0),
                "The current number of replicas",
                type="integer",
            ),
            age,
        ],
        ("networking.k8s.io", "ingresses"): [
            name,
            Column(
                "Class",
                lambda i: _spec(i).get("ingressClassName") or "<none>",
                "The name of the IngressClass resource that should be used",
            ),
            Column("Hosts", _ingress_hosts, "Hosts that incoming requests are matched against"),
            Column(
                "Address",
                lambda i: ",".join(_load_balancer(_status(i))),
                "Address is a list containing ingress points for the load-balancer",
            ),
            Column(
                "Ports",
                lambda i: "80, 443" if _spec(i).get("tls") else "80",
                "Ports of TLS configurations that open",
            ),
            age,
        ],
        ("networking.k8s.io", "networkpolicies"): [
            name,
            Column(
                "Pod-Selector",
                lambda n: _selector(_spec(n).get("podSelector")),
                _doc("io.k8s.api.networking.v1.NetworkPolicySpec", "podSelector"),
            ),
            age,
        ],
        ("", "persistentvolumeclaims"): [
            name,
            Column("Status", _pvc_status, _doc(f"{_CORE}.PersistentVolumeClaimStatus", "phase")),
            Column(
                "Volume",
                lambda p: _spec(p).get("volumeName", ""),
                _doc(f"{_CORE}.PersistentVolumeClaimSpec", "volumeName"),
            ),
            Column(
                "Capacity",
                lambda p: (_status(p).get("capacity") or {}).get("storage", ""),
                _doc(f"{_CORE}.PersistentVolumeClaimStatus", "capacity"),
            ),
            Column(
                "Access Modes",
                lambda p: _access_modes(_status(p).get("accessModes")),
                _doc(f"{_CORE}.PersistentVolumeClaimStatus", "accessModes"),
            ),
            Column(
                "StorageClass",
                lambda p: _spec(p).get("storageClassName", ""),
                "StorageClass of the pvc",
            ),
            Column(
                "VolumeAttributesClass",
                lambda p: _spec(p).get("volumeAttributesClassName") or "<unset>",
                "VolumeAttributesClass of the pvc",
            ),
            age,
            Column(
                "VolumeMode",
                lambda p: _spec(p).get("volumeMode") or "<unset>",
                _doc(f"{_CORE}.PersistentVolumeClaimSpec", "volumeMode"),
                1,
            ),
        ],
        ("", "persistentvolumes"): [
            name,
            Column(
                "Capacity",
                lambda p: (_spec(p).get("capacity") or {}).get("storage", ""),
                _doc(f"{_CORE}.PersistentVolumeSpec", "capacity"),
            ),
            Column(
                "Access Modes",
                lambda p: _access_modes(_spec(p).get("accessModes")),
                _doc(f"{_CORE}.PersistentVolumeSpec", "accessModes"),
            ),
            Column(
                "Reclaim Policy",
                lambda p: _spec(p).get("persistentVolumeReclaimPolicy", ""),
                _doc(f"{_CORE}.PersistentVolumeSpec", "persistentVolumeReclaimPolicy"),
            ),
            Column(
                "Status",
                lambda p: _status(p).get("phase", ""),
                _doc(f"{_CORE}.PersistentVolumeStatus", "phase"),
            ),
            Column(
                "Claim",
                lambda p: (
                    "{namespace}/{name}".format(
                        **{
                            "namespace": (_spec(p).get("claimRef") or {}).get("namespace", ""),
                            "name": (_spec(p).get("claimRef") or {}).get("name", ""),
                        }
                    )
                    if _spec(p).get("claimRef")
                    else ""
                ),
                _doc(f"{_CORE}.PersistentVolumeSpec", "claimRef"),
            ),  # fmt: skip
            Column(
                "StorageClass",
                lambda p: _spec(p).get("storageClassName", ""),
                "StorageClass of the pv",
            ),
            Column(
                "VolumeAttributesClass",
                lambda p: _spec(p).get("volumeAttributesClassName") or "<unset>",
                "VolumeAttributesClass of the pv",
            ),
            Column(
                "Reason",
                lambda p: _status(p).get("reason", ""),
                _doc(f"{_CORE}.PersistentVolumeStatus", "reason"),
            ),
            age,
            Column(
                "VolumeMode",
                lambda p: _spec(p).get("volumeMode") or "<unset>",
                _doc(f"{_CORE}.PersistentVolumeSpec", "volumeMode"),
                1,
            ),
        ],
        ("", "events"): [
            Column(
                "Last Seen",
                lambda e: _event_times(e)[0],
                _doc(f"{_CORE}.Event", "lastTimestamp"),
            ),
            Column("Type", lambda e: e.get("type", ""), _doc(f"{_CORE}.Event", "type")),
            Column("Reason", lambda e: e.get("reason", ""), _doc(f"{_CORE}.Event", "reason")),
            Column("Object", _event_object, _doc(f"{_CORE}.Event", "involvedObject")),
            Column(
                "Subobject",
                lambda e: (e.get("involvedObject") or {}).get("fieldPath", ""),
                _doc(f"{_CORE}.ObjectReference", "fieldPath"),
                1,
            ),
            Column("Source", _event_source, _doc(f"{_CORE}.Event", "source"), 1),
            Column(
                "Message",
                lambda e: (e.get("message") or "").strip(),
                _doc(f"{_CORE}.Event", "message"),
            ),
            Column(
                "First Seen",
                lambda e: _event_times(e)[1],
                _doc(f"{_CORE}.Event", "firstTimestamp"),
                1,
            ),
            Column(
                "Count",
                lambda e: _event_times(e)[2],
                _doc(f"{_CORE}.Event", "count"),
                1,
            ),
            Column("Name", _name, meta_name, 1, format="name"),
        ],
        ("", "configmaps"): [
            name,
            Column(
                "Data",
                lambda c: len(c.get("data") or {}) + len(c.get("binaryData") or {}),
                _doc(f"{_CORE}.ConfigMap", "data"),
                type="integer",
            ),
            age,
        ],
        ("", "secrets"): [
            name,
            Column("Type", lambda s: s.get("type", ""), _doc(f"{_CORE}.Secret", "type")),
            Column(
                "Data",
                lambda s: len(s.get("data") or {}),
                _doc(f"{_CORE}.Secret", "data"),
                type="integer",
            ),
            age,
        ],
        ("", "serviceaccounts"): [
            name,
            Column(
                "Secrets",
                lambda s: len(s.get("secrets") or []),
                _doc(f"{_CORE}.ServiceAccount", "secrets"),
                type="integer",
            ),
            age,
        ],
        ("", "resourcequotas"): [
            name,
            age,
            Column(
                "Request",
                _quota("requests"),
                "Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            Column(
                "Limit",
                _quota("limits"),
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
        ],  # fmt: skip
        ("rbac.authorization.k8s.io", "rolebindings"): _binding_columns(name, age),
        ("rbac.authorization.k8s.io", "clusterrolebindings"): _binding_columns(name, age),
        ("policy", "poddisruptionbudgets"): [
            name,
            Column(
                "Min Available",
                _pdb_value("minAvailable"),
                "The minimum number of pods that must be available",
            ),
            Column(
                "Max Unavailable",
                _pdb_value("maxUnavailable"),
                "The maximum number of pods that may be unavailable",
            ),
            Column(
                "Allowed Disruptions",
                lambda p: _status(p).get("disruptionsAllowed", 0),
                "Calculated number of pods that may be disrupted at this time",
                type="integer",
            ),
            age,
        ],  # fmt: skip
        ("storage.k8s.io", "storageclasses"): [
            Column(
                "Name",
                lambda s: (
                    _name(s)
                    + (
                        " (default)"
                        if (s["metadata"].get("annotations") or {}).get(
                            "storageclass.kubernetes.io/is-default-class"
                        )
                        == "true"
                        else ""
                    )
                ),
                meta_name,
                format="name",
            ),
            Column(
                "Provisioner",
                lambda s: s.get("provisioner", ""),
                "Indicates the type of the provisioner.",
            ),
            Column(
                "ReclaimPolicy",
                lambda s: s.get("reclaimPolicy") or "Delete",
                "Indicates the type of the reclaim policy.",
            ),
            Column(
                "VolumeBindingMode",
                lambda s: s.get("volumeBindingMode") or "Immediate",
                "Indicates when volume binding and dynamic provisioning should occur.",
            ),
            Column(
                "AllowVolumeExpansion",
                lambda s: bool(s.get("allowVolumeExpansion")),
                "Indicates whether the storage class allow volume expand.",
                type="boolean",
            ),
            age,
        ],  # fmt: skip
        _DEFAULT: [name, created],
    }


def _binding_columns(name: Column, age: Column) -> list[Column]:
    return [
        name,
        Column(
            "Role",
            lambda b: "{kind}/{name}".format(
                kind=(b.get("roleRef") or {}).get("kind", ""),
                name=(b.get("roleRef") or {}).get("name", ""),
            ),
            "RoleRef can reference a Role in the current namespace or a ClusterRole in the "
            "global namespace.",
        ),
        age,
        Column("Users", _subjects("User"), "Users in the binding", 1),
        Column("Groups", _subjects("Group"), "Groups in the binding", 1),
        Column("ServiceAccounts", _subjects("ServiceAccount"), "ServiceAccounts in the binding", 1),
    ]


def _cron_containers(cron: dict) -> list[dict]:
    job = (_spec(cron).get("jobTemplate") or {}).get("spec") or {}
    return ((job.get("template") or {}).get("spec") or {}).get("containers") or []


@functools.cache
def _all_columns() -> dict[tuple[str, str], list[Column]]:
    return _columns()


def columns_of(resource: Resource) -> list[Column]:
    found = _all_columns()
    return found.get(resource.key) or found[_DEFAULT]


def _row(columns: list[Column], obj: dict, include: str, pod: bool) -> dict:
    row: dict[str, Any] = {"cells": [column.cell(obj) for column in columns]}
    if pod and (conditions := _pod_summary(obj)[4]):
        row["conditions"] = conditions
    if include == "Object":
        row["object"] = obj
    elif include != "None":
        row["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return row


def table(resource: Resource, document: dict, version: str = "v1", include: str = "") -> dict:
    """``document`` (an object or a list of ``resource``) as a meta.k8s.io Table.

    ``include`` is TableOptions' includeObject: Object, Metadata (the default) or None."""
    columns = columns_of(resource)
    items = document["items"] if "items" in document else [document]
    metadata = dict(document.get("metadata") or {})
    if "items" not in document:
        metadata = {"resourceVersion": metadata.get("resourceVersion", "")}
    definitions_ = [
        {
            "name": column.name,
            "type": column.type,
            "format": column.format,
            "description": column.description,
            "priority": column.priority,
        }
        for column in columns
    ]
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": metadata,
        "columnDefinitions": definitions_,
        "rows": [_row(columns, obj, include, resource.key == ("", "pods")) for obj in items],
    }

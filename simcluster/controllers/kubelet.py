"""The node's kubelet: it takes a scheduled pod through the steps a real one does, by rules,
and writes each step into the pod's status and the events.

For each pod bound to the node: the volumes are checked (a missing ConfigMap or Secret holds
the pod in ContainerCreating with FailedMount events); init containers run one after another,
then the containers. For each container: the image is pulled (``Pulling``, then ``Pulled``
after `PULL` seconds, or ``already present on machine`` for an image the node has and a policy
that allows it; an image outside the catalogue fails: ErrImagePull, then ImagePullBackOff, and
is tried again after a back-off of 10 s doubling to 5 min); ConfigMap and Secret references
of its environment are resolved (a missing one: CreateContainerConfigError, tried again when
ConfigMaps or Secrets change); it is created and started `START` seconds later; what it then
does is its `Outcome` (`simcluster.containers.programs`): a server runs, a finite command
exits with its code after its time. An exited container is restarted as the restart policy
says, at once the first time and after a back-off of 10 s doubling to 5 min after that
(CrashLoopBackOff). Readiness follows the readiness probe by rule (`probes`), a failing
liveness probe restarts the container. A deleted pod's containers are stopped (``Killing``):
a process that ends on SIGTERM in `STOP` seconds, any other when its grace period is over;
then the pod is removed. All times are the node's, paced by `simcluster.controllers.clock`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simcluster.containers.images import PullFailure, find, reference
from simcluster.containers.logs import LogLine, lines_of
from simcluster.containers.node import Node
from simcluster.containers.programs import Outcome, model
from simcluster.containers.world import World
from simcluster.controllers.clock import Clock
from simcluster.controllers.events import Recorder
from simcluster.controllers.podstatus import ContainerState, pod_status
from simcluster.controllers.probes import check_probe
from simcluster.errors import ApiError
from simcluster.resources import known
from simcluster.store import Event, Store, timestamp

__all__ = ["PULL", "START", "STOP", "ContainerRun", "Kubelet", "go_duration"]

PODS = known("", "v1", "pods")
NODES = known("", "v1", "nodes")
CONFIGMAPS = known("", "v1", "configmaps")
SECRETS = known("", "v1", "secrets")

PULL = 0.5  # seconds an image pull takes
START = 0.5  # from Created to Started
STOP = 0.5  # a process that ends on SIGTERM
PULL_ERROR = 1.0  # from ErrImagePull to ImagePullBackOff
BACKOFF, BACKOFF_MAX = 10.0, 300.0
BACKOFF_RESET = 600.0  # a container that ran this long starts its back-off afresh
_POD_NETWORK = ipaddress.ip_network("10.244.0.0/16")


def go_duration(seconds: float) -> str:
    """Go's time.Duration text for whole seconds: 10s, 1m20s, 5m0s."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m{rest}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{rest}s"


@dataclass
class ContainerRun:
    """One container on the node: its status as the API shows it, and where it is."""

    spec: dict
    view: ContainerState
    stage: str = "new"  # new, pulling, pull-failed, config, creating, running, exited, backoff
    token: int = 0
    outcome: Outcome | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    previous: tuple[Outcome, datetime, datetime] | None = None
    backoff: float = 0.0
    pull_backoff: float = 0.0
    pull_error: str = ""
    failures: int = 0  # liveness probe failures in a row

    @property
    def name(self) -> str:
        return self.view.name


@dataclass
class PodRun:
    uid: str
    namespace: str
    name: str
    containers: list[ContainerRun]
    ip: str = ""
    start_time: str = ""
    mounted: bool = False
    mount_tried: bool = False
    terminating: bool = False
    stop_token: int = 0
    interactive: dict[str, int] = field(default_factory=dict)


class Kubelet:
    """The kubelet of node ``node.name``, on the cluster's clock."""

    def __init__(self, store: Store, clock: Clock, recorder: Recorder, node: Node) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        self.node = node
        self.runs: dict[str, PodRun] = {}
        self.pulled: set[str] = set()

    # -- events -------------------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        resource, obj = event.resource, event.object
        meta = obj["metadata"]
        if resource is PODS:
            if (obj.get("spec") or {}).get("nodeName") != self.node.name:
                return
            if event.type == "DELETED":
                self._forget(meta.get("uid", ""))
                return
            key = ("kubelet", meta["namespace"], meta["name"])
            self.clock.soon(self._sync, meta["namespace"], meta["name"], False, key=key)
        elif resource in (CONFIGMAPS, SECRETS) and event.type != "DELETED":
            for run in list(self.runs.values()):
                if run.namespace == meta.get("namespace") and (
                    not run.mounted or any(c.stage == "config" for c in run.containers)
                ):
                    self.clock.soon(self._sync, run.namespace, run.name, True,
                                    key=("kubelet-retry", run.namespace, run.name))  # fmt: skip

    def _forget(self, uid: str) -> None:
        self.runs.pop(uid, None)
        self.node.forget(uid)

    # -- the pod ------------------------------------------------------------------------------

    def _pod(self, namespace: str, name: str, uid: str | None = None) -> dict | None:
        pod = self.store.get(PODS, namespace, name)
        if pod is None or (uid is not None and pod["metadata"]["uid"] != uid):
            return None
        if (pod.get("spec") or {}).get("nodeName") != self.node.name:
            return None
        return pod

    def _sync(self, namespace: str, name: str, retry: bool) -> None:
        pod = self._pod(namespace, name)
        if pod is None:
            return
        uid = pod["metadata"]["uid"]
        run = self.runs.get(uid)
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(pod, run)
            return
        if run is None:
            if (pod.get("status") or {}).get("phase", "Pending") != "Pending":
                return  # a status someone else wrote (a test): left alone
            run = self._admit(pod)
        if not run.mounted:
            report = retry or not run.mount_tried
            run.mount_tried = True
            if not self._mount(pod, run, report):
                return
        self._advance(pod, run, retry)

    def _admit(self, pod: dict) -> PodRun:
        spec, meta = pod.get("spec") or {}, pod["metadata"]
        containers = []
        for container in spec.get("initContainers") or []:
            sidecar = container.get("restartPolicy") == "Always"
            view = ContainerState(container.get("name", ""), container.get("image", ""),
                                  {"waiting": {"reason": "PodInitializing"}}, init=True,
                                  sidecar=sidecar)  # fmt: skip
            containers.append(ContainerRun(container, view))
        waiting = "PodInitializing" if containers else "ContainerCreating"
        for container in spec.get("containers") or []:
            view = ContainerState(container.get("name", ""), container.get("image", ""),
                                  {"waiting": {"reason": waiting}})  # fmt: skip
            containers.append(ContainerRun(container, view))
        if containers and containers[0].view.init:
            containers[0].view.state = {"waiting": {"reason": "PodInitializing"}}
        run = PodRun(meta["uid"], meta["namespace"], meta["name"], containers)
        run.ip = self.node.ip if spec.get("hostNetwork") else self._allocate_ip()
        run.start_time = timestamp()
        self.runs[run.uid] = run
        return run

    def _allocate_ip(self) -> str:
        taken = {run.ip for run in self.runs.values()}
        for pod in self.store.list(PODS)[0]:
            taken.add((pod.get("status") or {}).get("podIP", ""))
        for address in _POD_NETWORK.hosts():
            text = str(address)
            if address.packed[-1] in (0, 1, 255) or text in taken:
                continue
            return text
        raise RuntimeError("the pod network is full")

    def _mount(self, pod: dict, run: PodRun, report: bool) -> bool:
        """Whether every volume can be set up; if not, FailedMount (when ``report``)."""
        problem = self._volume_problem(pod)
        if problem is None:
            run.mounted = True
            self._write(pod, run)
            return True
        self._write(pod, run)
        if report:
            self.recorder.record(pod, "Warning", "FailedMount", problem, "kubelet",
                                 host=self.node.name)  # fmt: skip
        return False

    def _volume_problem(self, pod: dict) -> str | None:
        namespace = pod["metadata"]["namespace"]
        for volume in (pod.get("spec") or {}).get("volumes") or []:
            sources = [(kind, volume.get(kind)) for kind in ("configMap", "secret")]
            for source in (volume.get("projected") or {}).get("sources") or []:
                sources += [(kind, source.get(kind)) for kind in ("configMap", "secret")]
            for kind, source in sources:
                if not source or source.get("optional"):
                    continue
                name = source.get("name") or source.get("secretName", "")
                resource = CONFIGMAPS if kind == "configMap" else SECRETS
                found = self.store.get(resource, namespace, name)
                what = "configmap" if kind == "configMap" else "secret"
                if found is None:
                    return (f'MountVolume.SetUp failed for volume "{volume.get("name")}" : '
                            f'{what} "{name}" not found')  # fmt: skip
                keys = set(found.get("data") or {}) | set(found.get("stringData") or {})
                for item in source.get("items") or []:
                    if item.get("key") not in keys:
                        return (f'MountVolume.SetUp failed for volume "{volume.get("name")}" : '
                                f"{what} references non-existent config key: "
                                f"{item.get('key')}")  # fmt: skip
        return None

    def _advance(self, pod: dict, run: PodRun, retry: bool = False) -> None:
        """Start what is next: the first init container that has not completed, else every
        container that has not started, one after another."""
        for container in run.containers:
            if container.view.init and not container.view.sidecar:
                if container.view.succeeded:
                    continue
                if container.stage == "new" or (container.stage == "config" and retry):
                    self._begin(pod, run, container)
                return
            if container.view.sidecar and container.stage in ("new", "config"):
                if container.stage == "new" or retry:
                    self._begin(pod, run, container)
                return
            if container.stage == "new" or (container.stage == "config" and retry):
                self._begin(pod, run, container)
                return

    def _write(self, pod: dict, run: PodRun) -> None:
        spec = pod.get("spec") or {}
        status = pod_status(
            [c.view for c in run.containers],
            spec.get("restartPolicy", "Always"),
            previous=pod.get("status") or {},
            sandbox=run.mounted,
            host_ip=self.node.ip,
            pod_ip=run.ip,
            start_time=run.start_time,
            now=timestamp(),
        )

        def change(current: dict) -> None:
            current["status"] = status

        with contextlib.suppress(ApiError):  # gone meanwhile
            self.store.mutate(PODS, run.namespace, run.name, change)

    def _current(self, uid: str, name: str, token: int) -> tuple[dict, PodRun, ContainerRun] | None:
        """The pod, its run and the container a timer was set for, unless it moved on."""
        run = self.runs.get(uid)
        if run is None:
            return None
        pod = self._pod(run.namespace, run.name, uid)
        container = next((c for c in run.containers if c.name == name), None)
        if pod is None or container is None or container.token != token:
            return None
        if run.terminating:
            return None
        return pod, run, container

    def _event(self, pod: dict, container: ContainerRun, kind: str, reason: str,
               message: str) -> None:  # fmt: skip
        where = "initContainers" if container.view.init else "containers"
        self.recorder.record(pod, kind, reason, message, "kubelet",
                             field_path=f"spec.{where}{{{container.name}}}",
                             host=self.node.name)  # fmt: skip

    # -- a container's steps ------------------------------------------------------------------

    def _begin(self, pod: dict, run: PodRun, container: ContainerRun) -> None:
        container.token += 1
        token = container.token
        image = container.spec.get("image", "")
        try:
            ref = reference(image)
        except PullFailure as failure:
            container.stage = "invalid"
            container.view.state = {"waiting": {"reason": failure.reason,
                                                "message": failure.message}}  # fmt: skip
            self._event(pod, container, "Warning", "InspectFailed", failure.message)
            self._event(pod, container, "Warning", "Failed", f"Error: {failure.reason}")
            self._write(pod, run)
            return
        policy = container.spec.get("imagePullPolicy", "IfNotPresent")
        present = ref.canonical in self.pulled
        if policy == "Never" and not present:
            message = f'Container image "{image}" is not present with pull policy of Never'
            container.stage = "invalid"
            container.view.state = {"waiting": {"reason": "ErrImageNeverPull",
                                                "message": message}}  # fmt: skip
            self._event(pod, container, "Warning", "ErrImageNeverPull", message)
            self._write(pod, run)
            return
        if present and policy != "Always":
            self._event(pod, container, "Normal", "Pulled",
                        f'Container image "{image}" already present on machine')  # fmt: skip
            self._create(pod, run, container)
            return
        container.stage = "pulling"
        self._event(pod, container, "Normal", "Pulling", f'Pulling image "{image}"')
        self._write(pod, run)
        self.clock.after(PULL, self._pulled, run.uid, container.name, token)

    def _pulled(self, uid: str, name: str, token: int) -> None:
        found = self._current(uid, name, token)
        if found is None:
            return
        pod, run, container = found
        image = container.spec.get("image", "")
        ref = reference(image)
        try:
            catalogued = find(ref)
        except PullFailure as failure:
            container.stage = "pull-failed"
            container.pull_error = failure.message
            container.view.state = {"waiting": {"reason": "ErrImagePull",
                                                "message": failure.message}}  # fmt: skip
            self._event(pod, container, "Warning", "Failed",
                        f'Failed to pull image "{image}": {failure.message}')  # fmt: skip
            self._event(pod, container, "Warning", "Failed", "Error: ErrImagePull")
            self._write(pod, run)
            self.clock.after(PULL_ERROR, self._pull_backoff, uid, name, token)
            return
        self._remember_image(ref.canonical, ref.image_id, catalogued.size)
        seconds = f"{int(PULL * 1000)}ms"
        self._event(pod, container, "Normal", "Pulled",
                    f'Successfully pulled image "{image}" in {seconds} ({seconds} including '
                    f"waiting). Image size: {catalogued.size} bytes.")  # fmt: skip
        self._create(pod, run, container)

    def _remember_image(self, canonical: str, image_id: str, size: int) -> None:
        if canonical in self.pulled:
            return
        self.pulled.add(canonical)

        def add(node: dict) -> None:
            images = node.setdefault("status", {}).setdefault("images", [])
            images.append({"names": [image_id, canonical], "sizeBytes": size})

        with contextlib.suppress(ApiError):
            self.store.mutate(NODES, None, self.node.name, add)

    def _pull_backoff(self, uid: str, name: str, token: int) -> None:
        found = self._current(uid, name, token)
        if found is None:
            return
        pod, run, container = found
        image = container.spec.get("image", "")
        container.pull_backoff = min(container.pull_backoff * 2 or BACKOFF, BACKOFF_MAX)
        container.stage = "backoff"
        message = f'Back-off pulling image "{image}": ErrImagePull: {container.pull_error}'
        container.view.state = {"waiting": {"reason": "ImagePullBackOff", "message": message}}
        self._event(pod, container, "Normal", "BackOff", f'Back-off pulling image "{image}"')
        self._event(pod, container, "Warning", "Failed", "Error: ImagePullBackOff")
        self._write(pod, run)
        self.clock.after(container.pull_backoff, self._retry, uid, name, token, backoff=True)

    def _retry(self, uid: str, name: str, token: int) -> None:
        found = self._current(uid, name, token)
        if found is not None:
            pod, run, container = found
            self._begin(pod, run, container)

    def _config_problem(self, pod: dict, container: dict) -> str | None:
        namespace = pod["metadata"]["namespace"]

        def lookup(kind: str, name: str) -> dict | None:
            return self.store.get(CONFIGMAPS if kind == "configMap" else SECRETS, namespace, name)

        for source in container.get("envFrom") or []:
            for kind in ("configMap", "secret"):
                ref = source.get(f"{kind}Ref")
                if ref and not ref.get("optional") and lookup(kind, ref.get("name", "")) is None:
                    return f'{kind.lower()} "{ref.get("name", "")}" not found'
        for variable in container.get("env") or []:
            source = variable.get("valueFrom") or {}
            for kind in ("configMap", "secret"):
                ref = source.get(f"{kind}KeyRef")
                if not ref or ref.get("optional"):
                    continue
                found = lookup(kind, ref.get("name", ""))
                if found is None:
                    return f'{kind.lower()} "{ref.get("name", "")}" not found'
                keys = set(found.get("data") or {}) | set(found.get("stringData") or {})
                if ref.get("key") not in keys:
                    title = "ConfigMap" if kind == "configMap" else "Secret"
                    return (f"couldn't find key {ref.get('key')} in {title} "
                            f"{namespace}/{ref.get('name', '')}")  # fmt: skip
        return None

    def _create(self, pod: dict, run: PodRun, container: ContainerRun) -> None:
        problem = self._config_problem(pod, container.spec)
        if problem is not None:
            container.stage = "config"
            container.view.state = {"waiting": {"reason": "CreateContainerConfigError",
                                                "message": problem}}  # fmt: skip
            self._event(pod, container, "Warning", "Failed", f"Error: {problem}")
            self._write(pod, run)
            return
        container.stage = "creating"
        container.view.state = {"waiting": {"reason": "ContainerCreating"}}
        self.clock.after(START, self._start, run.uid, container.name, container.token)

    def _start(self, uid: str, name: str, token: int) -> None:
        found = self._current(uid, name, token)
        if found is None:
            return
        pod, run, container = found
        ref = reference(container.spec.get("image", ""))
        restarts = container.view.restart_count
        digest = hashlib.sha256(f"{uid}/{name}/{restarts}".encode()).hexdigest()
        container.view.container_id = f"containerd://{digest}"
        container.view.image = ref.canonical
        container.view.image_id = ref.image_id
        self._event(pod, container, "Normal", "Created", f"Created container: {name}")
        self._event(pod, container, "Normal", "Started", f"Started container {name}")
        now = datetime.now(UTC)
        container.started_at, container.finished_at = now, None
        pod = self._pod(run.namespace, run.name, uid) or pod
        spec = container.spec
        world = World(self.node, _with_ip(pod, run), spec, started=now, tty=bool(spec.get("tty")))
        outcome = model(world, stdin_open=bool(spec.get("stdin")))
        container.outcome = outcome
        container.stage = "running"
        container.failures = 0
        container.view.state = {"running": {"startedAt": timestamp(now)}}
        container.view.started = not spec.get("startupProbe")
        container.view.ready = (
            not spec.get("readinessProbe") and not spec.get("startupProbe")
            and (not container.view.init or container.view.sidecar)
        )  # fmt: skip
        self._write(pod, run)
        if outcome.ends is not None:
            # The process's own time is real (sleep 5 takes five seconds at any pace).
            self.clock.at_real(outcome.ends, self._exited, uid, name, token, outcome.exit_code,
                               "")  # fmt: skip
        self._schedule_probes(run, container)
        if not container.view.init or container.view.sidecar:
            self._advance(self._pod(run.namespace, run.name, uid) or pod, run)

    def _exited(self, uid: str, name: str, token: int, code: int, reason: str) -> None:
        found = self._current(uid, name, token)
        if found is None:
            return
        pod, run, container = found
        self._terminate_container(container, code, reason)
        policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
        view = container.view
        if view.sidecar:
            restart = True
        elif view.init:
            restart = code != 0 and policy != "Never"
        else:
            restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        self._write(pod, run)
        if view.init and code == 0 and not view.sidecar:
            self._advance(pod, run)
            return
        if not restart:
            return
        ran = (container.finished_at - container.started_at).total_seconds() if (
            container.finished_at and container.started_at) else 0.0  # fmt: skip
        if self.clock.pace and ran >= self.clock.seconds(BACKOFF_RESET):
            container.backoff = 0.0
        if container.backoff == 0.0:
            container.backoff = BACKOFF
            self._restart(pod, run, container)
            return
        wait = container.backoff
        container.backoff = min(container.backoff * 2, BACKOFF_MAX)
        meta = pod["metadata"]
        described = f"{meta['name']}_{meta['namespace']}({meta['uid']})"
        container.stage = "backoff"
        view.last_state, view.state = view.state, {"waiting": {
            "reason": "CrashLoopBackOff",
            "message": f"back-off {go_duration(wait)} restarting failed container={name} "
                       f"pod={described}",
        }}  # fmt: skip
        self._event(pod, container, "Warning", "BackOff",
                    f"Back-off restarting failed container {name} in pod {described}")  # fmt: skip
        self._write(pod, run)
        self.clock.after(wait, self._restart_after, uid, name, container.token, backoff=True)

    def _terminate_container(self, container: ContainerRun, code: int, reason: str) -> None:
        now = datetime.now(UTC)
        container.finished_at = now
        view = container.view
        running = view.state.get("running") or {}
        view.state = {"terminated": {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": running.get("startedAt") or timestamp(container.started_at or now),
            "finishedAt": timestamp(now),
            "containerID": view.container_id,
        }}  # fmt: skip
        view.ready = False
        view.started = False
        container.stage = "exited"
        if container.outcome is not None and container.started_at is not None:
            container.previous = (container.outcome, container.started_at, now)

    def _restart_after(self, uid: str, name: str, token: int) -> None:
        found = self._current(uid, name, token)
        if found is not None:
            self._restart(*found)

    def _restart(self, pod: dict, run: PodRun, container: ContainerRun) -> None:
        view = container.view
        if "terminated" in view.state:
            view.last_state = view.state
        view.restart_count += 1
        view.state = {"waiting": {"reason": "ContainerCreating"}}
        self._begin(pod, run, container)

    # -- probes -------------------------------------------------------------------------------

    def _schedule_probes(self, run: PodRun, container: ContainerRun) -> None:
        spec = container.spec
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = spec.get(kind)
            if probe:
                delay = float(probe.get("initialDelaySeconds") or 0)
                self.clock.after(delay, self._probe, run.uid, container.name, container.token,
                                 kind)  # fmt: skip

    def _probe(self, uid: str, name: str, token: int, kind: str) -> None:
        found = self._current(uid, name, token)
        if found is None or found[2].stage != "running":
            return
        pod, run, container = found
        probe = container.spec.get(kind) or {}
        if kind != "startupProbe" and not container.view.started:
            self.clock.after(float(probe.get("periodSeconds") or 10), self._probe, uid, name,
                             token, kind, backoff=True)  # fmt: skip
            return
        ok, message = check_probe(self.node, _with_ip(pod, run), container.spec, probe)
        title = {"startupProbe": "Startup", "readinessProbe": "Readiness",
                 "livenessProbe": "Liveness"}[kind]  # fmt: skip
        if not ok:
            self._event(pod, container, "Warning", "Unhealthy", f"{title} probe failed: {message}")
        if kind == "startupProbe":
            if ok:
                container.view.started = True
                container.view.ready = not container.spec.get("readinessProbe")
                self._write(pod, run)
                return
        elif kind == "readinessProbe":
            if container.view.ready != ok:
                container.view.ready = ok
                self._write(pod, run)
        elif not ok:
            container.failures += 1
            if container.failures >= int(probe.get("failureThreshold") or 3):
                self._event(
                    pod,
                    container,
                    "Normal",
                    "Killing",
                    f"Container {name} failed liveness probe, will be restarted",
                )
                stops = container.outcome.stops_on_term if container.outcome else True
                self._exited(uid, name, token, 0 if stops else 137, "" if stops else "Error")
                return
        else:
            container.failures = 0
        self.clock.after(float(probe.get("periodSeconds") or 10), self._probe, uid, name, token,
                         kind, backoff=True)  # fmt: skip

    # -- attach -------------------------------------------------------------------------------

    def end_session(self, uid: str, name: str, code: int) -> None:
        """An attached terminal ended the container's interactive process with ``code``."""
        run = self.runs.get(uid)
        container = next((c for c in (run.containers if run else []) if c.name == name), None)
        if container is not None and container.stage == "running":
            self._exited(uid, name, container.token, code, "")

    # -- logs ---------------------------------------------------------------------------------

    def log_lines(self, pod: dict, name: str, previous: bool) -> list[LogLine]:
        """The container's log lines (of the run before the last restart with ``previous``);
        raises the kubelet's 400 when there is none yet."""
        meta = pod["metadata"]
        run = self.runs.get(meta["uid"])
        container = next((c for c in (run.containers if run else []) if c.name == name), None)
        if container is None:
            if not (pod.get("spec") or {}).get("nodeName") or run is None:
                return []
            raise ApiError.bad_request(
                f'container "{name}" in pod "{meta["name"]}" is waiting to start: ContainerCreating'
            )
        now = datetime.now(UTC)
        if previous:
            if container.previous is None or container.view.restart_count == 0:
                raise ApiError.bad_request(
                    f'previous terminated container "{name}" in pod "{meta["name"]}" not found'
                )
            outcome, started, finished = container.previous
            return lines_of(outcome, started, finished, self.node, meta["uid"], name)
        if (
            container.outcome is None
            or container.started_at is None
            or ("waiting" in container.view.state and container.view.restart_count == 0)
        ):
            raise ApiError.bad_request(
                f'container "{name}" in pod "{meta["name"]}" is waiting to start: '
                f"{_waiting_reason(container.view.state)}"
            )
        if "waiting" in container.view.state and container.previous is not None:
            outcome, started, finished = container.previous  # CrashLoopBackOff: the last run
        else:
            outcome, started = container.outcome, container.started_at
            finished = container.finished_at or now
        return lines_of(outcome, started, finished, self.node, meta["uid"], name)

    def running(self, pod: dict, name: str) -> tuple[Outcome, bool] | None:
        """The running container's outcome, and whether it has ended; None if not running."""
        run = self.runs.get(pod["metadata"]["uid"])
        container = next((c for c in (run.containers if run else []) if c.name == name), None)
        if container is None or container.outcome is None:
            return None
        return container.outcome, container.stage != "running"

    # -- deletion -----------------------------------------------------------------------------

    def _terminate(self, pod: dict, run: PodRun | None) -> None:
        if run is not None and run.terminating:
            return
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        if run is None:
            self._finish(pod)
            return
        run.terminating = True
        longest = 0.0
        for container in run.containers:
            if container.stage == "running":
                self.recorder.record(pod, "Normal", "Killing",
                                     f"Stopping container {container.name}", "kubelet",
                                     field_path=f"spec.containers{{{container.name}}}",
                                     host=self.node.name)  # fmt: skip
                stops = container.outcome.stops_on_term if container.outcome else True
                longest = max(longest, min(STOP if stops else grace, grace))
        self.clock.after(longest, self._stopped, run.uid)

    def _stopped(self, uid: str) -> None:
        run = self.runs.get(uid)
        if run is None:
            return
        pod = self._pod(run.namespace, run.name, uid)
        if pod is None:
            return
        for container in run.containers:
            if container.stage == "running":
                stops = container.outcome.stops_on_term if container.outcome else True
                self._terminate_container(container, 0 if stops else 137, "")
        self._write(pod, run)
        self._finish(self._pod(run.namespace, run.name, uid) or pod)

    def _finish(self, pod: dict) -> None:
        """The kubelet's last word: the pod may go (a delete with grace period 0)."""
        meta = pod["metadata"]
        with self.store.lock:
            current = self.store.get(PODS, meta["namespace"], meta["name"])
            if current is None or current["metadata"]["uid"] != meta["uid"]:
                return
            if current["metadata"].get("finalizers"):

                def now(obj: dict) -> None:
                    obj["metadata"]["deletionGracePeriodSeconds"] = 0

                self.store.mutate(PODS, meta["namespace"], meta["name"], now)
            else:
                self.store.delete(PODS, meta["namespace"], meta["name"])


def _with_ip(pod: dict, run: PodRun) -> dict:
    status = dict(pod.get("status") or {})
    if run.ip and not status.get("podIP"):
        status["podIP"] = run.ip
    return {**pod, "status": status}


def _waiting_reason(state: dict) -> str:
    reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        return "trying and failing to pull image"
    return reason

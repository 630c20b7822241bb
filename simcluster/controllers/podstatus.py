"""A pod's status from the state of its containers, as the kubelet writes it (pure functions).

The phase follows the kubelet's rules (``getPhase``): Pending while an init container has not
completed or a container waits to start for the first time; Running while a container runs or
will be restarted; Succeeded or Failed once every container has ended for good, by their exit
codes and the restart policy. The conditions are those a v1.34 kubelet reports, with their
reasons and messages (``containers with unready status: [web]``); a condition keeps its
``lastTransitionTime`` until its status changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ContainerState", "conditions", "phase", "pod_status"]


@dataclass
class ContainerState:
    """What the kubelet knows of one container: its state as the API shows it (``waiting``,
    ``running`` or ``terminated`` with their fields), the one before, and the rest of its
    ContainerStatus."""

    name: str
    image: str
    state: dict = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: dict = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    restart_count: int = 0
    image_id: str = ""
    container_id: str = ""
    init: bool = False
    sidecar: bool = False  # an init container with restartPolicy Always

    def as_status(self) -> dict:
        status: dict = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": self.image_id,
            "started": self.started,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @property
    def exited(self) -> bool:
        """It ended and is not waiting to start again."""
        return "terminated" in self.state

    @property
    def succeeded(self) -> bool:
        return self.exited and self.state["terminated"].get("exitCode", 0) == 0


def phase(containers: list[ContainerState], restart_policy: str) -> str:
    """The pod phase of ``containers`` (init containers included, marked ``init``)."""
    inits = [c for c in containers if c.init]
    mains = [c for c in containers if not c.init]
    for init in inits:
        if init.sidecar:
            if "running" not in init.state and not init.started:
                return "Pending"
            continue
        if not init.succeeded:
            if init.exited and restart_policy == "Never":
                return "Failed"
            return "Pending"
    running = waiting = stopped = succeeded = 0
    for container in mains:
        state = container.state
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += container.succeeded
        elif container.last_state.get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    failed = stopped - succeeded
    if restart_policy == "Always":
        return "Running"
    if restart_policy == "OnFailure" and failed:
        return "Running"
    if any(not c.exited for c in mains):
        return "Running"  # one is waiting to be restarted after its back-off
    return "Failed" if failed else "Succeeded"


def _condition(kind: str, ok: bool, previous: dict, now: str, reason: str = "",
               message: str = "") -> dict:  # fmt: skip
    status = "True" if ok else "False"
    before = previous.get(kind) or {}
    since = before.get("lastTransitionTime") if before.get("status") == status else None
    condition = {"type": kind, "status": status, "lastProbeTime": None,
                 "lastTransitionTime": since or now}  # fmt: skip
    if not ok and reason:
        condition["reason"] = reason
    if not ok and message:
        condition["message"] = message
    return condition


def conditions(
    containers: list[ContainerState],
    pod_phase: str,
    sandbox: bool,
    previous: list[dict],
    now: str,
) -> list[dict]:
    """The five conditions of a scheduled pod, in the kubelet's order."""
    before = {c.get("type"): c for c in previous or []}
    inits = [c for c in containers if c.init and not c.sidecar]
    mains = [c for c in containers if not c.init] + [c for c in containers if c.sidecar]
    pending_inits = [c.name for c in inits if not c.succeeded]
    initialized = not pending_inits
    done = pod_phase in ("Succeeded", "Failed")
    unready = [c.name for c in mains if not c.ready]
    ready = not unready and not done
    why = "PodCompleted" if done else "ContainersNotReady"
    message = "" if done else f"containers with unready status: [{' '.join(unready)}]"
    init_reason = "PodCompleted" if done and initialized else "ContainersNotInitialized"
    init_message = (
        "" if initialized else f"containers with incomplete status: [{' '.join(pending_inits)}]"
    )
    return [
        _condition("PodReadyToStartContainers", sandbox and not done, before, now),
        _condition("Initialized", initialized, before, now, init_reason, init_message),
        _condition("Ready", ready, before, now, why, message),
        _condition("ContainersReady", ready, before, now, why, message),
        {**_condition("PodScheduled", True, before, now)},
    ]


def pod_status(
    containers: list[ContainerState],
    restart_policy: str,
    *,
    previous: dict,
    sandbox: bool,
    host_ip: str,
    pod_ip: str,
    start_time: str,
    now: str,
) -> dict:
    """The whole status the kubelet writes, keeping what it does not own (qosClass)."""
    pod_phase = phase(containers, restart_policy)
    status = {
        "phase": pod_phase,
        "conditions": conditions(
            containers, pod_phase, sandbox, previous.get("conditions") or [], now
        ),
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": start_time,
    }
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    inits = [c.as_status() for c in containers if c.init]
    if inits:
        status["initContainerStatuses"] = inits
    status["containerStatuses"] = [c.as_status() for c in containers if not c.init]
    if "qosClass" in previous:
        status["qosClass"] = previous["qosClass"]
    return status

"""What the node keeps for its containers while they "run": the contents of writable volumes
(emptyDir per pod, PersistentVolumeClaims across pods), each container's own writable layer,
the requests its servers answered (their access log) and the round-robin of Services.

Nothing here runs: these are the records that make a file written by ``kubectl exec`` readable
by the pod's other container, or the nginx access log show a request a client pod made.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from simcluster.store import Store

__all__ = ["AccessLine", "Node"]


@dataclass(frozen=True)
class AccessLine:
    """A line a container printed outside its program's own output (a server's access log)."""

    when: datetime
    text: str


@dataclass
class Node:
    """The node's runtime records, shared by every container's view (`World`)."""

    store: Store
    name: str
    ip: str
    lock: threading.RLock = field(default_factory=threading.RLock)
    _volumes: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _layers: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    _access: dict[tuple[str, str], list[AccessLine]] = field(default_factory=dict)
    _turns: dict[str, int] = field(default_factory=dict)

    def volume(self, owner: str, name: str) -> dict[str, str]:
        """The files of a writable volume: ``owner`` is the pod's uid for an emptyDir, the
        claim's uid for a PersistentVolumeClaim (so its files outlive the pod)."""
        with self.lock:
            return self._volumes.setdefault((owner, name), {})

    def layer(self, pod_uid: str, container: str) -> dict[str, str]:
        """A container's own writable layer (gone with the pod)."""
        with self.lock:
            return self._layers.setdefault((pod_uid, container), {})

    def forget(self, pod_uid: str) -> None:
        """A pod is gone: its emptyDirs, layers and access logs go with it."""
        with self.lock:
            for store in (self._volumes, self._layers, self._access):
                for key in [key for key in store if key[0] == pod_uid]:
                    del store[key]

    def log_access(self, pod_uid: str, container: str, text: str) -> None:
        with self.lock:
            lines = self._access.setdefault((pod_uid, container), [])
            lines.append(AccessLine(datetime.now(UTC), text))
            del lines[:-1000]

    def access_log(self, pod_uid: str, container: str) -> list[AccessLine]:
        with self.lock:
            return list(self._access.get((pod_uid, container), []))

    def turn(self, service_uid: str, choices: int) -> int:
        """Which of ``choices`` endpoints a Service sends the next connection to: each in
        turn (kube-proxy picks at random; the simulated cluster takes turns, to stay
        deterministic)."""
        with self.lock:
            count = self._turns.get(service_uid, 0)
            self._turns[service_uid] = count + 1
            return count % choices

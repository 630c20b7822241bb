"""A Kubernetes API stand-in: a simulated cluster that the real `kubernetes` client talks to.

Start one with ``KubeStandIn().start()`` (or ``python -m simcluster``); see `KubeStandIn`.
"""

from __future__ import annotations

from simcluster.cluster import KubeStandIn
from simcluster.errors import ApiError
from simcluster.exec import ExecSession, echo_shell

__all__ = ["ApiError", "ExecSession", "KubeStandIn", "echo_shell"]

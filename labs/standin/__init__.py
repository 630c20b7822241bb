"""A Kubernetes API stand-in: a simulated cluster that the real `kubernetes` client talks to.

Start one with ``KubeStandIn().start()`` (or ``python -m labs.standin``); see `KubeStandIn`.
"""

from __future__ import annotations

from labs.standin.cluster import KubeStandIn
from labs.standin.errors import ApiError
from labs.standin.exec import ExecSession, echo_shell

__all__ = ["ApiError", "ExecSession", "KubeStandIn", "echo_shell"]

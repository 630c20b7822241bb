"""The browser terminal's server side that knows only labs: the backend contract
(``base``), its implementations (``kubernetes``: exec into the lab's toolbox pod;
``local``: a confined shell on this machine, for development), the sessions that outlive
their sockets (``sessions``) and the activity the dashboard reads (``activity``).

The websocket consumer, which decides who may connect, is the web edge and lives in
``courseware.consumers``."""

from __future__ import annotations

from django.conf import settings

from labs.terminal.base import Backend, TerminalError


def backend() -> Backend:
    """The backend ``LAB_TERMINAL_BACKEND`` names (the settings refuse unknown names, and
    the local shell unless ``LAB_TERMINAL_LOCAL_SHELL`` is on)."""
    if settings.LAB_TERMINAL_BACKEND == "local":
        if not settings.LAB_TERMINAL_LOCAL_SHELL:
            raise TerminalError("the local shell is not enabled (LAB_TERMINAL_LOCAL_SHELL)")
        from labs.terminal.local import LocalShell

        return LocalShell()
    from labs.terminal.kubernetes import KubernetesExec

    return KubernetesExec()

"""The Kubernetes exec backend (production): the trainee's shell runs in the lab's toolbox
pod, reached through ``pods/exec`` with Kubernetes' channel protocol (v5 where the API
server offers it, v4 otherwise) over a websocket that the event loop drives (aiohttp), so
one process serves many terminals. Why aiohttp rather than the official client's stream
in a thread: docs/terminal.md, "Choosing the exec client"."""

from __future__ import annotations

from dataclasses import dataclass

from labs import manifests
from labs.kube import ClusterError, ExecStream, ExecTarget, Kube, exit_of, open_exec
from labs.models import Lab
from labs.terminal.base import Backend, Exit, Terminal, TerminalError

# bash as a login shell (the toolbox image's profile sets the prompt and completion); the
# API server runs it with a TTY, so it is interactive.
COMMAND = ["bash", "-il"]


@dataclass(frozen=True)
class Prepared:
    target: ExecTarget


class ExecTerminal(Terminal):
    def __init__(self, stream: ExecStream) -> None:
        self.stream = stream

    async def read(self) -> bytes:
        return await self.stream.read()

    async def write(self, data: bytes) -> None:
        await self.stream.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        await self.stream.resize(cols, rows)

    async def close(self) -> None:
        await self.stream.close()

    async def wait(self) -> Exit:
        await self.stream.close()
        status, message = exit_of(self.stream.status)
        return Exit(status, message)


class KubernetesExec(Backend):
    name = "kubernetes"
    description = "a shell in your lab's toolbox pod"

    def prepare(self, lab: Lab) -> Prepared:
        try:
            kube = Kube.for_cluster(lab.cluster)
            target = kube.exec_target(lab.namespace, manifests.TOOLBOX, manifests.TOOLBOX, COMMAND)
        except ClusterError as exc:
            raise TerminalError(f"cannot reach your lab's cluster: {exc.message}") from None
        return Prepared(target)

    async def start(self, prepared: Prepared, cols: int, rows: int) -> Terminal:
        try:
            stream = await open_exec(prepared.target)
        except ClusterError as exc:
            raise TerminalError(f"cannot open a shell in your lab: {exc.message}") from None
        terminal = ExecTerminal(stream)
        await terminal.resize(cols, rows)
        return terminal

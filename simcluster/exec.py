"""``pods/exec`` and ``pods/attach`` over a websocket, in Kubernetes' channel protocol
(``v5.channel.k8s.io``, preferred, or ``v4.channel.k8s.io``).

Every frame starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 the exit Status, 4 a
terminal resize ``{"Width": w, "Height": h}``; with v5, 255 closes a channel (``[255, 0]`` ends
stdin). Clients send stdin as binary frames (kubectl) or text frames (the Python client); both
are accepted. What runs "in the container" is the stand-in's ``exec_handler``: a coroutine
``handler(pod, command, session) -> exit code`` (the simulated shell,
`simcluster.containers.sessions`; `echo_shell` is a plain alternative for tests);
``attach_handler(pod, container, session)`` joins the container's own process. An exception
of the handler ends the session with an InternalError Status carrying its message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from simcluster.errors import ApiError
from simcluster.messages import LOGGED, flag, get_or_404

if TYPE_CHECKING:
    from simcluster.cluster import KubeStandIn
    from simcluster.server import Target

__all__ = ["PROTOCOLS", "ExecSession", "container_of", "echo_shell", "serve_attach", "serve_exec"]

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


class ExecSession:
    """One exec's streams, as the handler sees them.

    ``read()`` returns the next stdin bytes, or b"" once stdin has ended; ``write`` and
    ``write_stderr`` send output (stderr goes to stdout with a tty, as a terminal merges them);
    ``resized()`` waits for the next terminal size, ``size`` holds the latest one.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        *,
        protocol: str,
        container: str,
        stdin: bool,
        tty: bool,
    ) -> None:
        self.protocol = protocol
        self.container = container
        self.stdin = stdin
        self.tty = tty
        self.size: tuple[int, int] | None = None
        self._ws = ws
        self._input: asyncio.Queue[bytes] = asyncio.Queue()
        self._resizes: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._ended = False

    async def read(self) -> bytes:
        if self._ended and self._input.empty():
            return b""
        return await self._input.get()

    async def write(self, data: bytes | str) -> None:
        await self._send(STDOUT, data)

    async def write_stderr(self, data: bytes | str) -> None:
        await self._send(STDOUT if self.tty else STDERR, data)

    async def resized(self) -> tuple[int, int]:
        return await self._resizes.get()

    async def _send(self, channel: int, data: bytes | str) -> None:
        payload = data.encode() if isinstance(data, str) else data
        if payload:
            await self._ws.send_bytes(bytes([channel]) + payload)

    def _end_input(self) -> None:
        if not self._ended:
            self._ended = True
            self._input.put_nowait(b"")

    async def pump(self) -> None:
        """Route the client's frames until it closes the connection."""
        async for message in self._ws:
            if message.type == WSMsgType.BINARY:
                frame = message.data
            elif message.type == WSMsgType.TEXT:
                frame = message.data.encode()
            else:
                continue
            if not frame:
                continue
            channel, payload = frame[0], frame[1:]
            if channel == STDIN and payload and not self._ended:
                self._input.put_nowait(payload)
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    size = json.loads(payload)
                    self.size = (int(size["Width"]), int(size["Height"]))
                    self._resizes.put_nowait(self.size)
            elif channel == CLOSE and payload[:1] == bytes([STDIN]):
                self._end_input()
        self._end_input()


async def echo_shell(pod: dict, command: list[str], session: ExecSession) -> int:
    """A tiny stand-in shell: ``echo ...`` prints its arguments; anything else reads stdin
    line by line and echoes each line to stdout until ``exit [code]`` or the end of input.
    With a tty it shows a ``$`` prompt and echoes keystrokes, as a terminal would."""
    if command[:1] == ["echo"]:
        await session.write(" ".join(command[1:]) + "\n")
        return 0
    if not session.stdin:
        return 0
    newline = b"\r\n" if session.tty else b"\n"
    if session.tty:
        await session.write(b"$ ")
    pending = b""
    while chunk := await session.read():
        if session.tty:
            await session.write(chunk.replace(b"\r", b"\r\n"))
        pending += chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            words = line.decode(errors="replace").split()
            if words[:1] == ["exit"]:
                return int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            await session.write(line + newline)
            if session.tty:
                await session.write(b"$ ")
    return 0


def container_of(pod: dict, requested: str | None) -> str:
    """The container a request means, with the API server's answers when it is unclear."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    name = pod["metadata"]["name"]
    if requested:
        if requested not in names:
            raise ApiError.bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(names) == 1:
        return names[0]
    choices = " ".join(names)
    raise ApiError.bad_request(
        f"a container name must be specified for pod {name}, choose one of: [{choices}]"
    )


def _exit_status(command: list[str], code: int) -> dict:
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{' '.join(command)}], exit code {code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


def _running_container(pod: dict, container: str) -> None:
    """Refuse a stream into a container that is not running, with the API server's words."""
    phase = (pod.get("status") or {}).get("phase", "Pending")
    if phase in ("Succeeded", "Failed"):
        why = f"cannot exec into a container in a completed pod; current phase is {phase}"
        raise ApiError.bad_request(why)
    if not (pod.get("spec") or {}).get("nodeName") and phase == "Pending":
        raise ApiError.bad_request(f"pod {pod['metadata']['name']} does not have a host assigned")
    statuses = (pod.get("status") or {}).get("containerStatuses")
    if phase != "Running":
        raise ApiError.bad_request(
            f'unable to upgrade connection: container not found ("{container}")'
        )
    for status in statuses or []:
        if status.get("name") == container and "running" not in (status.get("state") or {}):
            raise ApiError.bad_request(
                f'unable to upgrade connection: container not found ("{container}")'
            )


async def _serve_stream(
    cluster: KubeStandIn,
    request: web.Request,
    target: Target,
    run: Callable[[dict, str, ExecSession], Awaitable[int]],
    command: list[str],
) -> web.WebSocketResponse:
    pod = get_or_404(cluster, target)
    query = request.query
    container = container_of(pod, query.get("container"))
    stdin, stdout, stderr = (flag(query.get(name)) for name in ("stdin", "stdout", "stderr"))
    if not (stdin or stdout or stderr):
        raise ApiError.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    _running_container(pod, container)
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    protocol = next((p for p in PROTOCOLS if p in offered), None)
    ws = web.WebSocketResponse(protocols=(protocol,) if protocol else ())
    if protocol is None or not ws.can_prepare(request).ok:
        raise ApiError.bad_request(
            "Upgrade request required: the stand-in speaks websockets with "
            + " or ".join(PROTOCOLS)
        )
    await ws.prepare(request)
    cluster.record(request.method, request.path, 101)
    request[LOGGED] = True
    session = ExecSession(
        ws, protocol=protocol, container=container, stdin=stdin, tty=flag(query.get("tty"))
    )
    program = asyncio.ensure_future(run(pod, container, session))
    pump = asyncio.ensure_future(session.pump())
    await asyncio.wait({program, pump}, return_when=asyncio.FIRST_COMPLETED)
    if program.done():
        if program.exception() is not None:
            error = ApiError(500, f"Internal error occurred: {program.exception()}")
            status = error.body
        elif not command:
            # An attached process's end is no error of the session: the client reads the
            # container's exit code from the pod.
            status = _exit_status([], 0)
        else:
            status = _exit_status(command, int(program.result() or 0))
        with contextlib.suppress(ConnectionError):
            await ws.send_bytes(bytes([ERROR]) + json.dumps(status).encode())
            await ws.close()
    else:
        program.cancel()
    await asyncio.gather(pump, program, return_exceptions=True)
    return ws


async def serve_exec(
    cluster: KubeStandIn, request: web.Request, target: Target
) -> web.WebSocketResponse:
    command = request.query.getall("command", [])
    if not command:
        get_or_404(cluster, target)
        raise ApiError.bad_request("you must specify at least 1 command")

    def run(pod: dict, container: str, session: ExecSession) -> Awaitable[int]:
        return cluster.exec_handler(pod, command, session)

    return await _serve_stream(cluster, request, target, run, command)


async def serve_attach(
    cluster: KubeStandIn, request: web.Request, target: Target
) -> web.WebSocketResponse:
    return await _serve_stream(cluster, request, target, cluster.attach_handler, [])

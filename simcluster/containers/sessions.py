"""``kubectl exec`` and ``kubectl attach`` into a simulated container.

**Exec** runs the simulated shell live in the container's `World`: ``kubectl exec web --
nginx -v`` prints nginx's version, ``kubectl exec web -- cat /etc/config/colour`` the mounted
ConfigMap's key, ``kubectl exec -it web -- sh`` (or ``bash`` where the image has it) gives a
prompt (``/ # `` in busybox, ``root@web:/# `` in Debian images) with line editing, Ctrl-C
and Ctrl-D; without a terminal the shell reads commands from stdin. Any other program says
that the simulated cluster does not run it. A shell the image does not have fails as
containerd words it (``exec: "bash": executable file not found in $PATH``).

**Attach** joins the container's own process: a shell that waits for a terminal
(``kubectl run -it --rm client --image=busybox -- sh``) becomes the session, and its ``exit``
ends the container with that code; any other process streams its output from now until it
ends.

The shell runs in a worker thread; its writes and reads cross to the server's loop.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable
from datetime import UTC, datetime

from simcluster.containers.commands import missing
from simcluster.containers.node import Node
from simcluster.containers.shell import Input, Interrupted, Shell, ShellExit
from simcluster.containers.world import World
from simcluster.exec import ExecSession

__all__ = ["ExecFailure", "Sessions"]

_SHELLS = ("sh", "bash", "ash", "dash")


class ExecFailure(Exception):
    """The runtime cannot start the program (its message is containerd's)."""


def _started(pod: dict, container: str) -> datetime:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            text = ((status.get("state") or {}).get("running") or {}).get("startedAt")
            if text:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
    return datetime.now(UTC)


def _prompt(shell: Shell) -> str:
    world = shell.world
    cwd = shell.cwd
    if shell.name == "bash" or (world.flavour != "busybox" and shell.name == "sh"):
        if shell.name == "sh":
            return "# " if world.uid == 0 else "$ "
        user = "root" if world.uid == 0 else "I have no name!"
        home = shell.env.get("HOME", "/")
        shown = "~" if cwd == home and home != "/" else cwd
        return f"{user}@{world.hostname}:{shown}{'#' if world.uid == 0 else '$'} "
    return f"{cwd} {'#' if world.uid == 0 else '$'} "


class _Bridge:
    """The worker thread's side of a session."""

    def __init__(self, session: ExecSession, loop: asyncio.AbstractEventLoop) -> None:
        self.session = session
        self.loop = loop
        self.closed = False

    def write(self, fd: int, text: str) -> None:
        if self.closed:
            raise Interrupted
        if self.session.tty:
            text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        coroutine = self.session.write(text) if fd == 1 else self.session.write_stderr(text)
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()
        except (ConnectionError, RuntimeError, asyncio.CancelledError) as gone:
            self.closed = True
            raise Interrupted from gone

    def read(self) -> str:
        if self.closed:
            return ""
        try:
            data = asyncio.run_coroutine_threadsafe(self.session.read(), self.loop).result()
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return ""
        return data.decode(errors="replace")


class Sessions:
    """The exec and attach handlers of the simulated cluster; ``end(pod_uid, container,
    code)`` tells the kubelet that an attached process ended."""

    def __init__(self, node: Node, end: Callable[[str, str, int], None]) -> None:
        self.node = node
        self.end = end

    def _world(self, pod: dict, name: str, tty: bool) -> World:
        spec = next(
            c for c in (pod.get("spec") or {}).get("containers") or [] if c.get("name") == name
        )
        return World(self.node, pod, spec, started=_started(pod, name), tty=tty)

    async def exec(self, pod: dict, command: list[str], session: ExecSession) -> int:
        world = self._world(pod, session.container, session.tty)
        program = posixpath.basename(command[0])
        if (program in _SHELLS and not _has_shell(world, program)) or missing(world, program):
            raise ExecFailure(
                "error executing command in container: failed to exec in container: failed to "
                "start exec: OCI runtime exec failed: exec failed: unable to start container "
                f'process: exec: "{command[0]}": executable file not found in $PATH: unknown'
            )
        interactive = program in _SHELLS and "-c" not in command and session.stdin
        if interactive:
            return await self._interactive(world, program, session)
        return await self._run(world, session, lambda shell: shell.run_argv(command))

    async def _run(self, world: World, session: ExecSession, run: Callable[[Shell], int]) -> int:
        loop = asyncio.get_running_loop()
        bridge = _Bridge(session, loop)
        stdin = Input(reader=bridge.read) if session.stdin else Input()
        shell = Shell(world, bridge.write, live=True, stdin=stdin)

        def work() -> int:
            try:
                return run(shell)
            except ShellExit as done:
                return done.code
            except Interrupted:
                return 130

        try:
            return await loop.run_in_executor(None, work)
        finally:
            shell.cancel.set()
            bridge.closed = True

    async def _interactive(self, world: World, name: str, session: ExecSession) -> int:
        if not session.tty:
            return await self._run(world, session, lambda shell: _commands(shell))
        loop = asyncio.get_running_loop()
        bridge = _Bridge(session, loop)
        shell = Shell(world, bridge.write, live=True, stdin=Input(), name=name)
        line = ""
        try:
            await session.write(_prompt(shell))
            while True:
                data = await session.read()
                if not data:
                    return 0
                for char in data.decode(errors="replace"):
                    if char in "\r\n":
                        await session.write("\r\n")
                        done = await self._line(shell, line, loop)
                        line = ""
                        if done is not None:
                            return done
                        await session.write(_prompt(shell))
                    elif char in "\x7f\b":
                        if line:
                            line = line[:-1]
                            await session.write("\b \b")
                    elif char == "\x03":
                        line = ""
                        await session.write("^C\r\n" + _prompt(shell))
                    elif char == "\x04":
                        if not line:
                            await session.write("exit\r\n" if name == "bash" else "\r\n")
                            return shell.status
                    elif char == "\x1b" or not char.isprintable():
                        continue  # arrow keys and other control sequences are not edited
                    else:
                        line += char
                        await session.write(char)
        finally:
            shell.cancel.set()
            bridge.closed = True

    async def _line(self, shell: Shell, line: str, loop: asyncio.AbstractEventLoop) -> int | None:
        """Run one command line; the exit code when it ended the shell."""
        if not line.strip():
            return None
        shell.cancel.clear()

        def work() -> int | None:
            try:
                shell.status = shell.run_script(line, catch_exit=False)
            except ShellExit as done:
                return done.code
            except Interrupted:
                shell.status = 130
            return None

        return await loop.run_in_executor(None, work)

    async def attach(self, pod: dict, container: str, session: ExecSession, outcome: object,
                     lines: Callable[[], list]) -> int:  # fmt: skip
        """Join the container's process; its exit code when the session ended it."""
        interactive = getattr(outcome, "interactive", False)
        uid = pod["metadata"]["uid"]
        if interactive and session.stdin:
            world = self._world(pod, container, session.tty)
            program = posixpath.basename((world.container.get("command") or ["sh"])[0])
            name = program if program in _SHELLS else "sh"
            code = await self._interactive(world, name, session)
            self.end(uid, container, code)
            return code
        seen = len(lines())
        while True:
            current = lines()
            for line in current[seen:]:
                await session.write(line.text)
            seen = len(current)
            ended = getattr(outcome, "ends", None) is not None and _finished(
                self.node, pod, container
            )
            if ended:
                return 0
            await asyncio.sleep(0.2)


def _commands(shell: Shell) -> int:
    """A shell without a terminal: commands from its input, one line after another."""
    while True:
        line = shell.stdin.readline()
        if not line:
            return shell.status
        try:
            shell.status = shell.run_script(line, catch_exit=False)
        except ShellExit as done:
            return done.code


def _has_shell(world: World, program: str) -> bool:
    """Whether the image has this shell: distroless ones have none, busybox and Alpine
    images no bash."""
    if world.short in ("pause", "http-echo", "whoami"):
        return False
    return program != "bash" or world.flavour != "busybox"


def _finished(node: Node, pod: dict, container: str) -> bool:
    from simcluster.resources import known

    current = node.store.get(known("", "v1", "pods"), pod["metadata"]["namespace"],
                             pod["metadata"]["name"])  # fmt: skip
    if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
        return True
    for status in (current.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == container:
            return "running" not in (status.get("state") or {})
    return True

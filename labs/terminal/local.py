"""The local shell backend: a PTY on this machine running bash with the real ``kubectl`` and
the lab's own scoped kubeconfig, for development against the simulated cluster (whose
"containers" run no programs).

Each terminal gets a private home directory (removed when the shell ends) holding the
kubeconfig, and a clean environment: no Lotse settings, no secrets, nothing inherited from
the server. Where bubblewrap (``bwrap``) works, the shell is confined: a read-only view of
the system (``/usr`` and a few files of ``/etc``), the private home as the only writable
place besides a tmpfs ``/tmp``, its own user, PID, IPC and UTS namespaces, no view of the
project directory or its database, and it dies with the server. The network is shared,
because ``kubectl`` has to reach the cluster's API server.

It is refused unless ``LAB_TERMINAL_LOCAL_SHELL`` is on (the settings refuse that with
``DEBUG`` off), and without bubblewrap unless ``LAB_TERMINAL_LOCAL_UNCONFINED`` is on too."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import functools
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import termios
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from labs import provisioning
from labs.kube import ClusterError
from labs.models import Lab
from labs.terminal.base import Backend, Exit, Terminal, TerminalError

SHELL = ["/bin/bash", "--noprofile", "--norc", "-i"]
SANDBOX_HOME = "/home/trainee"
SANDBOX_UID = 1000
# The files of /etc a shell and kubectl need: TLS roots, name resolution, terminfo, the
# alternatives that /usr/bin links point into. Not the rest (/etc/shadow, service configs).
ETC = [
    "alternatives", "ca-certificates", "ca-certificates.conf", "hosts", "inputrc",
    "ld.so.cache", "localtime", "nsswitch.conf", "resolv.conf", "ssl", "terminfo", "vim",
]  # fmt: skip
# Output waiting for the session to take it; beyond this the PTY is not read (backpressure).
HIGH_WATER = 256 * 1024


def _system_args() -> list[str]:
    """A read-only view of the system's programs and libraries."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / top
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _bwrap_works(bwrap: str) -> bool:
    probe = [bwrap, *_system_args(), "--unshare-all", "--die-with-parent", "--", "/bin/true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=10, env={}).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.cache
def confinement() -> str | None:
    """The path of a working ``bwrap``, or None where there is none or it cannot run here
    (a container without user namespaces, say). Probed once per process."""
    bwrap = shutil.which("bwrap")
    return bwrap if bwrap and _bwrap_works(bwrap) else None


def describe() -> str:
    if confinement():
        return "a local shell confined by bubblewrap"
    if settings.LAB_TERMINAL_LOCAL_UNCONFINED:
        return "a local shell, NOT confined (bubblewrap is unavailable)"
    return "a local shell, refused: bubblewrap is unavailable"


# The private homes of running shells: removed when a shell ends, and those left when the
# server stops.
_SCRATCH: set[Path] = set()


def _remove(scratch: Path) -> None:
    _SCRATCH.discard(scratch)
    shutil.rmtree(scratch, ignore_errors=True)


@atexit.register
def _remove_all() -> None:
    for scratch in list(_SCRATCH):
        _remove(scratch)


@dataclass(frozen=True)
class Prepared:
    namespace: str
    kubeconfig: dict[str, Any]


def _sandbox_args(bwrap: str, home: Path, etc: Path) -> list[str]:
    args = [bwrap, "--die-with-parent", "--unshare-all", "--share-net",
            "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "lab",
            "--cap-drop", "ALL", *_system_args()]  # fmt: skip
    for name in ETC:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd",
             "--ro-bind", str(etc / "group"), "/etc/group",
             "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
             "--bind", str(home), SANDBOX_HOME, "--chdir", SANDBOX_HOME, "--"]  # fmt: skip
    return args


def _environment(home: str, namespace: str) -> dict[str, str]:
    # Built from nothing: the server's environment (its secrets, DATABASE_URL, settings)
    # never reaches the shell.
    return {
        "HOME": home,
        "USER": "trainee",
        "LOGNAME": "trainee",
        "SHELL": "/bin/bash",
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TERM": "xterm-256color",
        "COLORTERM": "truecolor",
        "LANG": "C.UTF-8",
        "KUBECONFIG": f"{home}/.kube/config",
        "HISTFILE": f"{home}/.bash_history",
        # A plain "$": the shell is the trainee's, even where it runs unconfined as root.
        "PS1": rf"\[\e[1;32m\]{namespace}\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]$ ",
    }


# util-linux's setsid: a new session whose controlling terminal is the PTY on stdin, so the
# shell has job control and Ctrl-C reaches the foreground program; coreutils' env puts every
# signal back to its default (a server started in the background ignores SIGINT, and the
# shell's programs would inherit that). A preexec_fn could do both in the child, but is
# unsafe in a server with threads.
SETSID = ["setsid", "--ctty", "env", "--default-signal"]


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class _Output(asyncio.Protocol):
    """The PTY's output as it arrives, read by the event loop (no thread per terminal)."""

    def __init__(self) -> None:
        self.chunks: deque[bytes] = deque()
        self.buffered = 0
        self.ended = False
        self.waiter: asyncio.Future[None] | None = None
        self.transport: asyncio.ReadTransport | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and self.transport and not self.paused:
            self.transport.pause_reading()
            self.paused = True
        self._wake()

    def connection_lost(self, exc: Exception | None) -> None:
        # EIO from the PTY is how the end of the shell shows; asyncio logs it at debug only.
        self.ended = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def read(self) -> bytes:
        while not self.chunks:
            if self.ended:
                return b""
            self.waiter = asyncio.get_running_loop().create_future()
            await self.waiter
            self.waiter = None
        data = b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport:
            self.paused = False
            self.transport.resume_reading()
        return data


class LocalTerminal(Terminal):
    def __init__(
        self,
        process: asyncio.subprocess.Process,
        control: int,
        output: _Output,
        writer: asyncio.WriteTransport,
        scratch: Path,
    ) -> None:
        self.process = process
        # A descriptor of the PTY of its own for resizes: the transports close theirs.
        self.control = control
        self.output = output
        self.writer = writer
        self.scratch = scratch
        self._closed = False

    async def read(self) -> bytes:
        return await self.output.read()

    async def write(self, data: bytes) -> None:
        if not self._closed and not self.writer.is_closing():
            self.writer.write(data)

    async def resize(self, cols: int, rows: int) -> None:
        if not self._closed:
            with contextlib.suppress(OSError):
                set_size(self.control, cols, rows)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._signal(signal.SIGHUP)
        try:
            await asyncio.wait_for(self.process.wait(), 2)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await self.process.wait()
        self._cleanup()

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, number)

    def _cleanup(self) -> None:
        self.writer.close()
        if self.output.transport is not None:
            self.output.transport.close()
        with contextlib.suppress(OSError):
            os.close(self.control)
        _remove(self.scratch)

    async def wait(self) -> Exit:
        status = await self.process.wait()
        if not self._closed:
            self._closed = True
            self._cleanup()
        if status < 0:
            return Exit(None, f"the shell was ended by signal {-status}")
        return Exit(status, f"the shell exited with status {status}")


class LocalShell(Backend):
    name = "local"

    @property
    def description(self) -> str:  # type: ignore[override]
        return describe()

    def prepare(self, lab: Lab) -> Prepared:
        try:
            kubeconfig = provisioning.trainee_kubeconfig(lab)
        except ClusterError as exc:
            raise TerminalError(
                f"the cluster cannot issue your lab's token: {exc.message}"
            ) from None
        return Prepared(namespace=lab.namespace, kubeconfig=kubeconfig)

    async def start(self, prepared: Prepared, cols: int, rows: int) -> Terminal:
        bwrap = confinement()
        if bwrap is None and not settings.LAB_TERMINAL_LOCAL_UNCONFINED:
            raise TerminalError(
                "the local shell needs bubblewrap (bwrap), which cannot run on this machine; "
                "LAB_TERMINAL_LOCAL_UNCONFINED=1 runs it unconfined (development only)"
            )
        scratch = Path(tempfile.mkdtemp(prefix="lotse-terminal-"))
        _SCRATCH.add(scratch)
        try:
            return await self._spawn(prepared, cols, rows, scratch, bwrap)
        except BaseException:
            _remove(scratch)
            raise

    async def _spawn(
        self, prepared: Prepared, cols: int, rows: int, scratch: Path, bwrap: str | None
    ) -> Terminal:
        home = scratch / "home"
        (home / ".kube").mkdir(parents=True, mode=0o700)
        config = home / ".kube" / "config"
        config.write_text(yaml.safe_dump(prepared.kubeconfig, sort_keys=False))
        config.chmod(0o600)
        if bwrap:
            etc = scratch / "etc"
            etc.mkdir()
            (etc / "passwd").write_text(
                f"trainee:x:{SANDBOX_UID}:{SANDBOX_UID}:Trainee:{SANDBOX_HOME}:/bin/bash\n"
            )
            (etc / "group").write_text(f"trainee:x:{SANDBOX_UID}:\n")
            argv = SETSID + _sandbox_args(bwrap, home, etc) + SHELL
            env, cwd = _environment(SANDBOX_HOME, prepared.namespace), str(scratch)
        else:
            argv, env = SETSID + SHELL, _environment(str(home), prepared.namespace)
            cwd = str(home)
        master, slave = os.openpty()
        try:
            set_size(slave, cols, rows)
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=env,
                cwd=cwd,
            )
        except OSError as exc:
            os.close(master)
            raise TerminalError(f"the local shell did not start: {exc}") from None
        finally:
            os.close(slave)
        loop = asyncio.get_running_loop()
        control = os.dup(master)
        output = _Output()
        # Two transports on the one PTY: reads and (buffered, non-blocking) writes.
        await loop.connect_read_pipe(lambda: output, os.fdopen(master, "rb", buffering=0))
        writer, _ = await loop.connect_write_pipe(
            asyncio.Protocol, os.fdopen(os.dup(master), "wb", buffering=0)
        )
        return LocalTerminal(process, control, output, writer, scratch)

"""`./dev start` as a developer runs it: it serves, and Ctrl-C or SIGTERM stops the server
and the simulated cluster at once, leaving no process behind and both ports free."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import wait_for

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
NPM_STAMP = ROOT / "node_modules" / ".package-lock.json"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now. Servers set SO_REUSEADDR, so closed
    connections waiting out TIME_WAIT do not count; a listening socket does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def session_processes(sid: int) -> list[str]:
    """The processes still alive in session ``sid``, as "pid command"."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            found.append(f"{stat.parent.name} {(stat.parent / 'cmdline').read_bytes()!r}")
    return found


def installs_nothing() -> bool:
    """Whether `./dev start` would start at once: the venv matches the lock and node_modules
    is at least as new as package-lock.json (otherwise it would run `npm ci`, which also
    empties a node_modules that is a link to another checkout's)."""
    if not (VENV / "bin" / "uv").exists() or not NPM_STAMP.exists():
        return False
    if (ROOT / "package-lock.json").stat().st_mtime > NPM_STAMP.stat().st_mtime:
        return False
    uv, python = VENV / "bin" / "uv", VENV / "bin" / "python"
    check = subprocess.run(
        [
            uv,
            "pip",
            "sync",
            "--dry-run",
            "--python",
            python,
            "--require-hashes",
            "requirements-dev.lock",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return check.returncode == 0 and "Would make no changes" in check.stdout + check.stderr


@pytest.fixture
def dev_start(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, int, Path]]:
    """`./dev start` on free ports and a database of its own, in a session of its own (as a
    terminal would run it); killed with everything it started if the test leaves it running."""
    if not installs_nothing():
        pytest.skip("./dev start would install first: needs an up-to-date .venv and node_modules")
    web, simulated = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"KUBECONFIG", "REDIS_URL", "CELERY_BROKER_URL", "SITE_URL"}
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}",
        LOTSE_ADDR=f"127.0.0.1:{web}",
        LOTSE_SIMULATED_PORT=str(simulated),
    )
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        dev = subprocess.Popen(
            [ROOT / "dev", "start"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield dev, web, simulated, log
    finally:
        if session_processes(dev.pid):
            os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=10)


@pytest.mark.parametrize(
    ("signum", "to_the_group", "status"),
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["sigterm-to-dev", "ctrl-c"],
)
def test_it_stops_dev_start_and_everything_it_started(
    dev_start: tuple[subprocess.Popen[bytes], int, int, Path],
    signum: signal.Signals,
    to_the_group: bool,
    status: int,
) -> None:
    dev, web, simulated, log = dev_start

    def serving() -> bool:
        assert dev.poll() is None, f"./dev start ended early:\n{log.read_text()}"
        return answers(f"http://127.0.0.1:{web}/accounts/login/")

    # Migrations, the course and the demo labs come first: slow on a busy machine.
    wait_for(serving, "./dev start to serve", timeout=240, every=0.5)
    assert not port_is_free(simulated)

    # Ctrl-C in a terminal signals the whole foreground group; `kill` only the script.
    sent = time.monotonic()
    if to_the_group:
        os.killpg(dev.pid, signum)
    else:
        dev.send_signal(signum)
    returncode = dev.wait(timeout=20)
    took = time.monotonic() - sent

    assert returncode == status, log.read_text()
    assert took < 10, f"took {took:.1f} s to stop"
    assert session_processes(dev.pid) == []
    assert port_is_free(web)
    assert port_is_free(simulated)
    assert "Simulated cluster stopped." in log.read_text()
    assert not (ROOT / ".lotse" / f"simulated-{simulated}.kubeconfig").exists()

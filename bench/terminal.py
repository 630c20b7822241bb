"""Terminal benchmark: Lotse's websocket path against a bare PTY-over-websocket baseline.

    DEBUG=1 .venv/bin/python bench/terminal.py [--sessions 1,100] [--keys 200] [--bulk-mb 20]

Lotse runs as in production — uvicorn, the ASGI application, the Channels consumer, the
session registry — with the local shell backend (bash in a PTY, confined by bubblewrap
where it works) and the real kubectl against the Kubernetes API stand-in. The baseline,
started in the same run, is the least a browser terminal can be: an aiohttp server that
bridges each websocket to bash in a PTY, nothing else. Both run in processes of their own;
the clients (aiohttp) run here.

Measured at each concurrency: the keystroke echo round trip (a byte in, until output comes
back; p50 and p99 over all sessions' keystrokes), the bulk output throughput (every session
prints ``--bulk-mb`` / sessions MB at once; total bytes over wall time), and the memory per
idle session (the server process's RSS, and the shell processes', divided by the sessions).
The last three lines are the ratios Lotse / baseline, at the concurrency where Lotse fares
worst (the highest echo ratios, the lowest throughput ratio).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from measure import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHELL = ["/bin/bash", "--noprofile", "--norc", "-i"]
MARK = b"__BENCH_DONE__"


# -- the baseline: a bare PTY over a websocket -------------------------------------------------


def serve_baseline(port: int) -> None:
    """The baseline server (run in a process of its own): per websocket, bash in a PTY."""
    import fcntl
    import struct
    import termios

    from aiohttp import WSMsgType, web

    env = {"HOME": tempfile.mkdtemp(prefix="lotse-bench-home-"), "PATH": "/usr/bin:/bin",
           "TERM": "xterm-256color", "LANG": "C.UTF-8", "PS1": "bench$ "}  # fmt: skip

    async def terminal(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        process = subprocess.Popen(SHELL, stdin=slave, stdout=slave, stderr=slave, env=env,
                                   cwd=env["HOME"], start_new_session=True)  # fmt: skip
        os.close(slave)
        os.set_blocking(master, False)
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue[bytes] = asyncio.Queue()

        def readable() -> None:
            try:
                outbox.put_nowait(os.read(master, 65536))
            except OSError:
                loop.remove_reader(master)
                outbox.put_nowait(b"")

        async def forward() -> None:
            while data := await outbox.get():
                await ws.send_bytes(data)

        loop.add_reader(master, readable)
        sender = loop.create_task(forward())
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                os.write(master, message.data)
        loop.remove_reader(master)
        sender.cancel()
        process.kill()
        process.wait()
        os.close(master)
        return ws

    app = web.Application()
    app.router.add_get("/", terminal)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


# -- measuring ----------------------------------------------------------------------------------


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a server exited early with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Memory:
    server_kib: float
    shells_kib: float


class Client:
    """One terminal's websocket, Lotse's (hello first) or the baseline's (bytes only)."""

    def __init__(self, ws: object, lotse: bool) -> None:
        self.ws = ws
        self.lotse = lotse
        self.output = bytearray()
        self.arrived = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def pump(self) -> None:
        from aiohttp import WSMsgType

        async for message in self.ws:  # type: ignore[attr-defined]
            if message.type == WSMsgType.BINARY:
                self.output += message.data
                self.arrived.set()
            elif message.type == WSMsgType.TEXT and self.lotse:
                control = json.loads(message.data)
                if control["type"] == "message":
                    print(f"  Lotse says: {control['text']}", flush=True)

    async def until(self, needle: bytes, start: int = 0, timeout: float = 120) -> None:
        async with asyncio.timeout(timeout):
            while self.output.find(needle, start) < 0:
                self.arrived.clear()
                await self.arrived.wait()

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(data)  # type: ignore[attr-defined]


async def connect(session: object, url: str, headers: dict[str, str], lotse: bool) -> Client:
    ws = await session.ws_connect(url, headers=headers, max_msg_size=0)  # type: ignore[attr-defined]
    client = Client(ws, lotse)
    client.task = asyncio.get_running_loop().create_task(client.pump())
    if lotse:
        await ws.send_str(json.dumps({"type": "hello", "cols": 80, "rows": 24,
                                      "session": None, "seq": None}))  # fmt: skip
    await client.until(b"$ ")
    return client


async def echo_times(client: Client, keys: int) -> list[float]:
    times = []
    for n in range(keys):
        # Type a letter, then erase it: each keystroke's echo is one round trip.
        key = b"abcdefghij"[n % 10 : n % 10 + 1] if n % 2 == 0 else b"\x7f"
        seen = len(client.output)
        start = time.perf_counter()
        await client.send(key)
        while len(client.output) == seen:
            client.arrived.clear()
            await client.arrived.wait()
        times.append(time.perf_counter() - start)
    return times


async def bulk(client: Client, size: int) -> int:
    start = len(client.output)
    # The mark is split in the typed command, so only the printed one matches.
    half = len(MARK) // 2
    command = (f"head -c {size} /dev/zero | tr '\\0' x; echo; "
               f"echo {MARK[:half].decode()}''{MARK[half:].decode()}\r")  # fmt: skip
    await client.send(command.encode())
    await client.until(MARK, start)
    await client.until(b"$ ", client.output.find(MARK, start))
    return len(client.output) - start


async def warm_up(servers: list[tuple[str, dict[str, str], bool]]) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for url, headers, lotse in servers:
            client = await connect(http, url, headers, lotse)
            await bulk(client, 100_000)
            await client.send(b"exit\r")
            await client.ws.close()  # type: ignore[attr-defined]


@dataclass
class Result:
    p50_ms: float
    p99_ms: float
    mb_per_s: float
    memory: Memory


async def run_level(name: str, urls: list[str], headers: list[dict[str, str]], lotse: bool,
                    keys: int, bulk_bytes: int, server_pid: int) -> Result:  # fmt: skip
    """One level of one side: ``len(urls)`` sessions opened, typed into, flooded."""
    import aiohttp

    sessions = len(urls)
    before = rss_kib(server_pid)
    async with aiohttp.ClientSession() as http:
        clients = []
        for i in range(sessions):  # one after another: opening is not what is measured
            clients.append(await connect(http, urls[i], headers[i], lotse))
        await asyncio.sleep(1)
        shells = sum(rss_kib(pid) for pid in descendants(server_pid))
        memory = Memory((rss_kib(server_pid) - before) / sessions, shells / sessions)
        per_session = max(10, keys // sessions)
        samples = [t for ts in await asyncio.gather(*(echo_times(c, per_session)
                                                      for c in clients)) for t in ts]  # fmt: skip
        started = time.perf_counter()
        received = sum(await asyncio.gather(*(bulk(c, bulk_bytes // sessions) for c in clients)))
        seconds = time.perf_counter() - started
        for client in clients:
            await client.ws.close()  # type: ignore[attr-defined]
            if client.task:
                client.task.cancel()
    ordered = sorted(samples)
    result = Result(
        p50_ms=statistics.median(ordered) * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000,
        mb_per_s=received / seconds / 1e6,
        memory=memory,
    )
    print(f"  {name:<8} {sessions:>4} sessions: echo p50 {result.p50_ms:6.2f} ms  "
          f"p99 {result.p99_ms:7.2f} ms ({len(samples)} keys)   bulk {result.mb_per_s:7.1f} MB/s  "
          f"idle memory: server {memory.server_kib:7.0f} KiB + shells "
          f"{memory.shells_kib:6.0f} KiB per session", flush=True)  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,100", help="concurrency levels (1,100)")
    parser.add_argument("--keys", type=int, default=200, help="keystrokes per level (200)")
    parser.add_argument("--bulk-mb", type=float, default=20, help="output per level, MB (20)")
    parser.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline_server:
        serve_baseline(args.baseline_server)
        return
    levels = [int(n) for n in args.sessions.split(",")]

    workdir = tempfile.mkdtemp(prefix="lotse-bench-terminal-")
    env = {
        **os.environ,
        "DEBUG": "1",
        "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3",
        "DJANGO_SETTINGS_MODULE": "courseware.settings",
        "LAB_TERMINAL_BACKEND": "local",
        "LAB_TERMINAL_LOCAL_SHELL": "1",
        "LAB_TERMINAL_MAX_PER_TRAINEE": "9",
        # The benchmark types and prints faster than a person: not what the limits are for.
        "LAB_TERMINAL_INPUT_RATE": str(10**9),
        "LAB_TERMINAL_INPUT_BURST": str(10**9),
        "LOG_LEVEL": "WARNING",
    }
    for name in ("DEBUG", "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LAB_TERMINAL_BACKEND",
                 "LAB_TERMINAL_LOCAL_SHELL"):  # fmt: skip
        os.environ[name] = env[name]
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 60
    call_command("migrate", verbosity=0)

    from django.test import Client as DjangoClient

    from courseware.content.sync import sync_course
    from labs import provisioning
    from labs.terminal.local import describe
    from simcluster import KubeStandIn
    from tests.factories import enrol, make_cluster, make_cohort

    sessions_needed = max(levels)
    standin = KubeStandIn(auto_ready_after=0).start()
    standin.log_requests = False
    _, report = sync_course(ROOT / "tests" / "fixtures" / "course")
    assert report is not None
    cohort = make_cohort(report.course, "bench")
    cohort.cluster = make_cluster(standin)
    cohort.save()
    # Nine terminals per lab (the most a lab has): enough labs for the largest level.
    trainees = enrol(cohort, *(f"bench_{n}" for n in range(-(-sessions_needed // 9))))
    labs = [provisioning.ensure_lab(enrolment) for enrolment in trainees]
    provisioning.run_each([lab.pk for lab in labs], provisioning.provision)
    cookies = []
    for enrolment in trainees:
        client = DjangoClient()
        client.force_login(enrolment.trainee)
        cookies.append(client.cookies[settings.SESSION_COOKIE_NAME].value)

    lotse_port, baseline_port = free_port(), free_port()
    lotse = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "courseware.asgi:application", "--host", "127.0.0.1",
         "--port", str(lotse_port), "--ws", "websockets", "--lifespan", "off",
         "--log-level", "warning"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    baseline = subprocess.Popen(
        [sys.executable, __file__, "--baseline-server", str(baseline_port)], cwd=ROOT,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(lotse_port, lotse)
        wait_for_port(baseline_port, baseline)
        print(f"Lotse: uvicorn, {describe()}; baseline: aiohttp + PTY, plain bash", flush=True)

        ratios: list[tuple[float, float, float]] = []
        bulk_bytes = int(args.bulk_mb * 1e6)
        # A first session each, so that what a server loads once is not counted per session.
        warm = f"http://127.0.0.1:{lotse_port}/ws/labs/{labs[0].pk}/terminal/?n=9"
        origin = {"Origin": f"http://127.0.0.1:{lotse_port}",
                  "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookies[0]}"}  # fmt: skip
        asyncio.run(warm_up([(warm, origin, True),
                             (f"http://127.0.0.1:{baseline_port}/", {}, False)]))  # fmt: skip
        for level in levels:
            # Session i is terminal i % 9 + 1 of lab i // 9, as its trainee.
            lotse_urls = [f"http://127.0.0.1:{lotse_port}/ws/labs/{labs[i // 9].pk}/terminal/"
                          f"?n={i % 9 + 1}" for i in range(level)]  # fmt: skip
            lotse_headers = [{"Origin": f"http://127.0.0.1:{lotse_port}",
                              "Cookie": f"{settings.SESSION_COOKIE_NAME}={cookies[i // 9]}"}
                             for i in range(level)]  # fmt: skip
            baseline_urls = [f"http://127.0.0.1:{baseline_port}/"] * level

            mine = asyncio.run(run_level("Lotse", lotse_urls, lotse_headers, True, args.keys,
                                         bulk_bytes, lotse.pid))  # fmt: skip
            bare = asyncio.run(run_level("baseline", baseline_urls, [{}] * level, False,
                                         args.keys, bulk_bytes, baseline.pid))  # fmt: skip
            ratios.append((mine.p50_ms / bare.p50_ms, mine.p99_ms / bare.p99_ms,
                           mine.mb_per_s / bare.mb_per_s))  # fmt: skip
            print(f"  ratio at {level}: echo p50 {ratios[-1][0]:.2f}, p99 {ratios[-1][1]:.2f},"
                  f" bulk {ratios[-1][2]:.2f}", flush=True)  # fmt: skip
    finally:
        for process in (lotse, baseline):
            process.send_signal(signal.SIGTERM)
        for process in (lotse, baseline):
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        standin.stop()
    print(f"echo p50 ratio: {max(r[0] for r in ratios):.2f}")
    print(f"echo p99 ratio: {max(r[1] for r in ratios):.2f}")
    print(f"bulk throughput ratio: {min(r[2] for r in ratios):.2f}")


if __name__ == "__main__":
    main()

"""How to drive ``pods/exec`` from an async consumer: Lotse's aiohttp exec stream
(``labs.kube.open_exec``, on the event loop) against the official client's ``stream`` (a
blocking websocket-client, one reader thread per session), at N concurrent interactive
sessions against the Kubernetes API stand-in's exec endpoint.

    DEBUG=1 .venv/bin/python bench/exec_clients.py [--sessions 50] [--keys 40]

Measures the time to open all sessions, the keystroke round trip (a byte to stdin until
its echo comes back on stdout; p50, p99), and the threads and memory the sessions hold.
Both clients use the same credentials from the same Kube object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from measure import percentile

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Session:
    """One interactive exec, as the terminal uses it: write bytes, await output."""

    write: Callable[[bytes], Awaitable[None]]
    close: Callable[[], Awaitable[None]]

    def __init__(self) -> None:
        self.output = bytearray()
        self.arrived = asyncio.Event()

    def got(self, data: bytes) -> None:
        self.output += data
        self.arrived.set()

    async def until(self, needle: bytes, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while needle not in self.output:
                self.arrived.clear()
                await self.arrived.wait()


async def open_aiohttp(target: object) -> Session:
    from labs.kube import open_exec

    stream = await open_exec(target)  # type: ignore[arg-type]
    session = Session()

    async def pump() -> None:
        while data := await stream.read():
            session.got(data)

    task = asyncio.get_running_loop().create_task(pump())

    async def close() -> None:
        await stream.close()
        task.cancel()

    session.write, session.close = stream.write, close
    return session


async def open_threaded(kube: object, namespace: str) -> Session:
    from kubernetes import client as k8s
    from kubernetes.stream import stream

    core = k8s.CoreV1Api(kube.api_client)  # type: ignore[attr-defined]
    loop = asyncio.get_running_loop()

    def connect() -> object:
        return stream(core.connect_get_namespaced_pod_exec, "toolbox", namespace,
                      container="toolbox", command=["bash", "-il"], stdin=True, stdout=True,
                      stderr=True, tty=True, _preload_content=False)  # fmt: skip

    ws = await asyncio.to_thread(connect)
    session = Session()
    stopping = threading.Event()

    def reader() -> None:  # the thread each session holds while it is open
        from websocket import WebSocketConnectionClosedException, WebSocketProtocolException

        # Closing from another thread races the poll in update(): whatever it raises then
        # (a half-read frame reads as a protocol error).
        with contextlib.suppress(
            WebSocketConnectionClosedException,
            WebSocketProtocolException,
            OSError,
            ValueError,
            TypeError,
        ):
            while not stopping.is_set() and ws.is_open():  # type: ignore[attr-defined]
                ws.update(timeout=1)  # type: ignore[attr-defined]
                data = ws.read_stdout()  # type: ignore[attr-defined]
                if data:
                    loop.call_soon_threadsafe(session.got, data.encode())

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()

    async def write(data: bytes) -> None:
        ws.write_stdin(data.decode())  # type: ignore[attr-defined]

    async def close() -> None:
        stopping.set()
        ws.close()  # type: ignore[attr-defined]
        await asyncio.to_thread(thread.join, 5)

    session.write, session.close = write, close
    return session


async def measure(name: str, opener: Callable[[int], Awaitable[Session]], sessions: int,
                  keys: int) -> dict[str, float]:  # fmt: skip
    threads, memory = threading.active_count(), rss_kib()
    started = time.perf_counter()
    opened = await asyncio.gather(*(opener(i) for i in range(sessions)))
    open_seconds = time.perf_counter() - started
    await asyncio.gather(*(s.until(b"$ ") for s in opened))
    held_threads, held_memory = threading.active_count() - threads, rss_kib() - memory

    async def type_keys(session: Session) -> list[float]:
        times = []
        for n in range(keys):
            key = b"abcdefghij"[n % 10 : n % 10 + 1]
            seen = len(session.output)
            start = time.perf_counter()
            await session.write(key)
            while len(session.output) == seen:
                session.arrived.clear()
                await session.arrived.wait()
            times.append(time.perf_counter() - start)
        return times

    samples = [t for times in await asyncio.gather(*(type_keys(s) for s in opened)) for t in times]
    await asyncio.gather(*(s.close() for s in opened))
    result = {
        "open_s": open_seconds,
        "p50_ms": statistics.median(samples) * 1000,
        "p99_ms": percentile(samples, 0.99) * 1000,
        "threads": held_threads,
        "rss_kib_per_session": held_memory / sessions,
    }
    print(f"{name:<28} open {sessions}: {open_seconds:6.2f} s   echo p50 {result['p50_ms']:6.2f} ms"
          f"   p99 {result['p99_ms']:7.2f} ms   threads held {held_threads:3d}"
          f"   memory {result['rss_kib_per_session']:6.0f} KiB/session", flush=True)  # fmt: skip
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--keys", type=int, default=40, help="keystrokes per session")
    args = parser.parse_args()
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
    import django

    django.setup()
    import yaml

    from labs.kube import Kube
    from labs.models import DEFAULT_TOOLBOX_IMAGE, Cluster
    from simcluster import KubeStandIn

    namespace = "bench"
    with KubeStandIn(pace=0).start() as standin:
        standin.log_requests = False
        standin.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        # The lab's toolbox, as provisioning makes it: the simulated kubelet runs it, and
        # exec answers from the image's simulated shell.
        standin.put({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "toolbox", "namespace": namespace},
                     "spec": {"containers": [{"name": "toolbox", "image": DEFAULT_TOOLBOX_IMAGE,
                                              "command": ["sleep", "infinity"]}]}})  # fmt: skip
        cluster = Cluster(name="bench")  # not saved: Kube only reads its kubeconfig
        cluster.set_kubeconfig(yaml.safe_dump(standin.kubeconfig()))
        kube = Kube.for_cluster(cluster)
        target = kube.exec_target(namespace, "toolbox", "toolbox", ["bash", "-il"])
        print(f"{args.sessions} concurrent exec sessions against the stand-in, "
              f"{args.keys} keystrokes each", flush=True)  # fmt: skip

        async def run() -> None:
            await measure("aiohttp on the event loop", lambda i: open_aiohttp(target),
                          args.sessions, args.keys)  # fmt: skip
            await measure("official client + threads", lambda i: open_threaded(kube, namespace),
                          args.sessions, args.keys)  # fmt: skip

        asyncio.run(run())


if __name__ == "__main__":
    main()

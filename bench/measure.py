"""What the benchmarks share: percentiles, free ports, and a throwaway Django setup.

The scripts run as ``python bench/<name>.py``, which puts this folder first on the path."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def throwaway_django(redis: str = "") -> Path:
    """Set up Django as ``./dev start`` runs it, on a new SQLite database in a temporary
    folder (returned), with the channel layer on ``redis`` if given, and without the
    in-process check watcher (a benchmark starts what it measures itself)."""
    workdir = Path(tempfile.mkdtemp(prefix="lotse-bench-"))
    os.environ.setdefault("DEBUG", "1")
    os.environ.pop("DATABASE_URL_FILE", None)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir}/bench.sqlite3"
    os.environ.pop("REDIS_URL", None)
    if redis:
        os.environ["REDIS_URL"] = redis
    os.environ["CHECK_WATCHER_IN_PROCESS"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    return workdir

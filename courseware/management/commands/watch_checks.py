"""``manage.py watch_checks``: the check watcher as a process of its own (production runs one
beside the web and worker processes; see courseware/watcher.py and docs/checks.md)."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from courseware.watcher import CheckWatcher


class Command(BaseCommand):
    help = "Watch the labs of running cohorts and judge their tasks' checks as they change."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--per-namespace",
            action="store_true",
            help="one watch per kind and namespace instead of one per kind (for comparison)",
        )

    def handle(self, *args: Any, per_namespace: bool, **options: Any) -> None:
        watcher = CheckWatcher(per_namespace=per_namespace)

        def stop(signum: int, frame: FrameType | None) -> None:
            watcher.stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(
            f"Watching the labs of running cohorts (polling every "
            f"{settings.CHECK_WATCHER_POLL_SECONDS} s, judging {settings.CHECK_DEBOUNCE_MS} ms "
            "after a lab's last change)."
        )
        watcher.run()
        self.stdout.write("The check watcher stopped.")

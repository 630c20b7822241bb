from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from courseware.content.errors import ContentInvalid
from courseware.content.sync import sync_course


class Command(BaseCommand):
    help = "Validate the course content in slides/ and load it into the database (one transaction)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="validate only; write nothing to the database"
        )
        parser.add_argument(
            "--path", type=Path, default=None, help="content folder (default: COURSE_CONTENT_DIR)"
        )

    def handle(self, *args: Any, check: bool, path: Path | None, **options: Any) -> None:
        folder = path or settings.COURSE_CONTENT_DIR
        try:
            source, report = sync_course(folder, write=not check)
        except ContentInvalid as exc:
            for error in exc.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{len(exc.errors)} error(s) in {folder}; nothing was written"
            ) from None
        modules = source.modules
        exercises = [e for m in modules for e in m.exercises]
        counts = (
            f"{len(source.days)} days, {len(modules)} modules, "
            f"{sum(len(m.slides) for m in modules)} slides, {len(exercises)} exercises, "
            f"{sum(len(e.tasks) for e in exercises)} tasks"
        )
        if report is None:
            self.stdout.write(self.style.SUCCESS(f"{folder}: valid ({counts})"))
        else:
            self.stdout.write(self.style.SUCCESS(f"synced {source.title!r}: {counts}"))
            self.stdout.write(f"changes: {report.summary()}")

"""How the CSV import of trainees scales: 10, 100 and 1,000 rows into fresh cohorts.

Runs against a throwaway SQLite database in a temporary directory (migrated here), with the
small fixture course from tests/fixtures/course, and without sending invites. Prints the
seconds and queries per file and how the time per row at 1,000 rows compares with the time
per row at 10 rows in the same run: a ratio near or below 1 means the import does not slow
down per row as files grow.

    DEBUG=1 .venv/bin/python bench/csv_import.py
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIZES = (10, 100, 1000)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lotse-bench-") as folder:
        # Before Django reads its settings: the benchmark must never touch a real database.
        os.environ.pop("DATABASE_URL_FILE", None)
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseware.settings")
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        run()


def run() -> None:
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from courseware.content.sync import sync_course
    from courseware.enrolment import import_csv
    from courseware.models import Cohort

    call_command("migrate", verbosity=0)
    _, report = sync_course(ROOT / "tests" / "fixtures" / "course")
    assert report is not None
    admin = User.objects.create_superuser("bench", "bench@lotse.example", None)
    starts = timezone.now() + dt.timedelta(days=7)

    def cohort_for(size: int) -> Cohort:
        return Cohort.objects.create(
            name=f"Bench {size}",
            slug=f"bench-{size}",
            course=report.course,
            starts_at=starts,
            ends_at=starts + dt.timedelta(days=3),
        )

    # Loads the content types that the audit log caches, so the baseline pays for none.
    warm_up = b"email,first_name,last_name\nwarm@example.com,Warm,Up\n"
    import_csv(cohort_for(0), warm_up, by=admin, send_invites=False)

    print(f"database: {connection.vendor} ({connection.settings_dict['NAME']})")
    print(f"{'rows':>6} {'seconds':>9} {'queries':>8} {'ms/row':>8}")
    per_row: dict[int, float] = {}
    for size in SIZES:
        cohort = cohort_for(size)
        lines = [f"trainee{n}.{size}@example.com,Trainee,Number {n}" for n in range(size)]
        data = ("email,first_name,last_name\n" + "\n".join(lines) + "\n").encode()
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            result = import_csv(cohort, data, by=admin, send_invites=False, filename="bench.csv")
            seconds = time.perf_counter() - started
        assert result.count == size
        per_row[size] = seconds / size
        print(f"{size:>6} {seconds:>9.3f} {len(queries):>8} {per_row[size] * 1000:>8.3f}")
    ratio = per_row[SIZES[-1]] / per_row[SIZES[0]]
    print("(SQLite takes a bulk insert in batches of about a hundred rows; PostgreSQL in one)")
    print(f"time per row at {SIZES[-1]} rows / at {SIZES[0]} rows: {ratio:.2f}")


if __name__ == "__main__":
    main()

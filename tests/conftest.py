"""The suite's fixtures, each defined once: courses, cohorts, the named users, the API
stand-in and the browser. Helpers that are not fixtures live in tests/factories.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright
from pytest_django.fixtures import Settings

from courseware.content.sync import sync_course
from courseware.models import Cohort, Course, Enrolment
from labs import provisioning
from labs.models import Cluster, Lab
from labs.terminal.local import confinement
from simcluster import KubeStandIn
from tests.factories import (
    ARTIFACTS,
    FIXTURES,
    People,
    answers,
    free_port,
    make_cluster,
    make_cohort,
    make_instructor,
    make_user,
    redis_url,
    wait_for,
)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Settings) -> None:
    # The default hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def no_watcher_in_process(settings: Settings) -> None:
    # Development starts the check watcher inside the ASGI process; tests that serve through
    # the application start their own where they need one.
    settings.CHECK_WATCHER_IN_PROCESS = False


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A writable copy of the small fixture course, for tests that edit or break it."""
    target = tmp_path / "course"
    shutil.copytree(FIXTURES / "course", target)
    return target


@pytest.fixture
def fixture_course(db: None, content_dir: Path) -> Course:
    _, report = sync_course(content_dir)
    assert report is not None
    return report.course


@pytest.fixture
def other_course(db: None, tmp_path: Path) -> Course:
    """The fixture course under another id: a course nobody in ``cohort`` may see."""
    target = tmp_path / "other-course"
    shutil.copytree(FIXTURES / "course", target)
    course_yaml = target / "course.yaml"
    text = course_yaml.read_text().replace("id: fixture-course", "id: other-course")
    course_yaml.write_text(text.replace("title: Fixture Course", "title: Other Course"))
    _, report = sync_course(target)
    assert report is not None
    return report.course


@pytest.fixture
def real_course(db: None) -> Course:
    """The course in slides/, as the product ships it."""
    _, report = sync_course(settings.COURSE_CONTENT_DIR)
    assert report is not None
    return report.course


@pytest.fixture
def cohort(fixture_course: Course) -> Cohort:
    """A cohort of the fixture course that is running now."""
    return make_cohort(fixture_course, "spring-class")


@pytest.fixture
def other_cohort(other_course: Course) -> Cohort:
    return make_cohort(other_course, "other-class")


# -- the named users: one of each role, each defined once ---------------------------------


@pytest.fixture
def admin(db: None) -> User:
    """Ada, a superuser."""
    return make_user("ada_admin", is_staff=True, is_superuser=True)


@pytest.fixture
def instructor(db: None) -> User:
    """Ivan, an instructor (in the Instructors group) who teaches no cohort until a test or
    ``people`` gives him one."""
    return make_instructor("ivan_instructor")


@pytest.fixture
def other_instructor(db: None) -> User:
    """Olga, another instructor."""
    return make_instructor("olga_instructor")


@pytest.fixture
def trainee(db: None) -> User:
    """Tina, a trainee, enrolled nowhere until a test or ``people`` enrols her."""
    return make_user("tina_trainee")


@pytest.fixture
def other_trainee(db: None) -> User:
    """Tom, another trainee."""
    return make_user("tom_trainee")


@pytest.fixture
def people(
    cohort: Cohort,
    other_cohort: Cohort,
    admin: User,
    instructor: User,
    other_instructor: User,
    trainee: User,
    other_trainee: User,
) -> People:
    """The named users at work: the instructor teaches ``cohort`` and the trainee is active
    in it; the other instructor and the other trainee the same in ``other_cohort``."""
    cohort.instructors.add(instructor)
    other_cohort.instructors.add(other_instructor)
    Enrolment.objects.create(cohort=cohort, trainee=trainee, state=Enrolment.State.ACTIVE)
    Enrolment.objects.create(
        cohort=other_cohort, trainee=other_trainee, state=Enrolment.State.ACTIVE
    )
    return People(
        admin=admin,
        instructor=instructor,
        other_instructor=other_instructor,
        trainee=trainee,
        other_trainee=other_trainee,
    )


# -- the Kubernetes API stand-in ------------------------------------------------------------


@pytest.fixture
def standin() -> Iterator[KubeStandIn]:
    """A fresh API stand-in for the test, whose pods are ready as soon as they exist."""
    with KubeStandIn(pace=0).start() as server:
        yield server


@pytest.fixture
def cluster(standin: KubeStandIn) -> Cluster:
    """A cluster row pointing at ``standin``."""
    return make_cluster(standin)


@pytest.fixture
def trainee_lab(people: People, cohort: Cohort, cluster: Cluster) -> Lab:
    """The trainee's lab in ``cohort``, provisioned on ``standin`` and ready. Its Pod Security
    level is baseline, as the shipped course's is, so that nginx (root) runs in it."""
    cohort.cluster = cluster
    cohort.pod_security = "baseline"
    cohort.save()
    lab = provisioning.ensure_lab(cohort.enrolments.get(trainee=people.trainee))
    provisioning.provision(lab.pk)
    lab.refresh_from_db()
    assert lab.state == Lab.State.READY, lab.last_error
    return lab


@pytest.fixture
def local_shell(settings: Settings) -> None:
    """Terminals run the local shell backend: a real bash, confined by bubblewrap where it
    can run (``./dev test`` installs it), unconfined elsewhere (the tests' own commands)."""
    settings.LAB_TERMINAL_BACKEND = "local"
    settings.LAB_TERMINAL_LOCAL_SHELL = True
    settings.LAB_TERMINAL_LOCAL_UNCONFINED = confinement() is None


@pytest.fixture
def redis_channel_layer(settings: Settings) -> None:
    """The channel layer on the tests' Redis (skipped without one), as production has it:
    publishers and websockets in different threads or processes. A prefix of its own keeps
    parallel tests apart."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [redis_url()], "prefix": f"lotse-test-{uuid.uuid4().hex[:12]}"},
        }
    }


# -- Lotse served by its production ASGI server, for the browser tests ---------------------

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def served(log_name: str, **environment: str) -> Iterator[str]:
    """Lotse under uvicorn (the server of the image) on a free port, on the test database,
    with ``environment`` added to this process's; yields its URL. Django's ``live_server``
    speaks WSGI only, so the server runs in a subprocess against the test database (the
    tests are transactional: their rows are committed, so the server sees them). Its
    output is kept as an artifact."""
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        pytest.skip("a second process cannot see an in-memory SQLite test database")
    credentials = database["USER"] + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "DEBUG": "1",
        "DATABASE_URL": f"postgres://{credentials}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        **environment,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / log_name
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "courseware.asgi:application", "--host",
             "127.0.0.1", "--port", str(port), "--ws", "websockets", "--lifespan", "off"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: answers(port) or server.poll() is not None, "uvicorn", timeout=30)
        assert server.poll() is None, log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def checks_server(transactional_db: None) -> Iterator[str]:
    """Lotse served with the check watcher in the server process
    (CHECK_WATCHER_IN_PROCESS, the in-memory channel layer), as ``./dev start`` runs it."""
    with served(
        "checks-server.log", CHECK_WATCHER_IN_PROCESS="1", CHECK_WATCHER_POLL_SECONDS="1"
    ) as url:
        yield url


@pytest.fixture
def terminal_server(transactional_db: None) -> Iterator[str]:
    """Lotse served with terminals that are local shells running the real kubectl against
    the simulated cluster, confined where bubblewrap can confine them."""
    with served(
        "terminal-server.log",
        LAB_TERMINAL_BACKEND="local",
        LAB_TERMINAL_LOCAL_SHELL="1",
        LAB_TERMINAL_LOCAL_UNCONFINED="0" if confinement() else "1",
    ) as url:
        yield url


# -- browser tests: Debian's chromium, driven by Playwright -------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip


# Module scope: Playwright's sync API runs an event loop in this thread while a browser is
# open, which other tests' async_to_sync would trip over.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls
    # are still synchronous, so Django's async-safety guard does not apply to them.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page; the test fails on any console error or warning, page error,
    failed request or HTTP error response it saw, in it or in a window it opened (the
    speaker view is a popup)."""
    yield from _watched_page(browser)


@pytest.fixture
def other_page(browser: Browser) -> Iterator[Page]:
    """A second page in a browser context of its own (another person's cookies), watched
    for problems as ``page`` is: two people in one test, such as a trainee and their
    instructor."""
    yield from _watched_page(browser)


def _watched_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    problems: list[str] = []

    def bad(message: ConsoleMessage) -> bool:
        return message.type in {"error", "warning"}

    # Listening on the context rather than the page covers popups and their frames too.
    context.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if bad(m) else None
    )
    context.on("weberror", lambda e: problems.append(f"page error: {e.error}"))
    context.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    context.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    ARTIFACTS.mkdir(exist_ok=True)
    yield page
    context.close()
    assert problems == []

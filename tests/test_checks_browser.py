"""Live checks in a real browser: Debian's chromium (Playwright) against Lotse served by
daphne, with the check watcher inside the server process as in development. The trainee
opens an exercise, creates the pod through the API with their own credentials (as kubectl
in their terminal would), and the task turns green without a click.

Django's ``live_server`` speaks WSGI only, so daphne runs in a subprocess against the test
database (a transactional test: the rows are committed, so the server sees them)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from playwright.sync_api import Page, expect

from labs import provisioning
from labs.models import Lab
from tests.factories import ARTIFACTS, People, client_for, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
EXERCISE = "/courses/fixture-course/exercises/first-pod/"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture
def checks_server(transactional_db: None, tmp_path: Path) -> Iterator[str]:
    """Lotse under daphne on a free port, on the test database, with the check watcher in
    the server process (CHECK_WATCHER_IN_PROCESS, the in-memory channel layer)."""
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
        "CHECK_WATCHER_IN_PROCESS": "1",
        "CHECK_WATCHER_POLL_SECONDS": "1",
    }
    log = tmp_path / "daphne.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "courseware.asgi:application"],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: answers(port) or server.poll() is not None, "daphne", timeout=30)
        assert server.poll() is None, log.read_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "checks-daphne.log").write_text(log.read_text())


def create_pod_as_trainee(lab: Lab) -> None:
    """What ``kubectl run my-pod --image=nginx:1.27`` does, with the trainee's own token."""
    api = k8s_config.new_client_from_config_dict(provisioning.trainee_kubeconfig(lab))
    k8s.CoreV1Api(api).create_namespaced_pod(
        lab.namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "my-pod"},
            "spec": {"containers": [{"name": "my-pod", "image": "nginx:1.27"}]},
        },
    )


def test_it_turns_a_task_green_when_the_trainee_creates_the_pod(
    checks_server: str, page: Page, people: People, trainee_lab: Lab
) -> None:
    cookie = client_for(people.trainee).cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": checks_server}])

    page.goto(f"{checks_server}{EXERCISE}")
    create = page.locator('li.task[data-task="first-pod/create-pod"]')
    state = create.locator("[data-region=task-state]")
    expect(state).to_have_text("Not yet", timeout=15000)
    expect(create.locator(".check-differences")).to_have_text("Pod my-pod does not exist")
    page.screenshot(path=str(ARTIFACTS / "checks-not-yet.png"), full_page=True)

    create_pod_as_trainee(trainee_lab)

    expect(state).to_have_text("Passed", timeout=5000)
    expect(state).to_have_attribute("data-state", "passed")
    expect(create.locator(".check-differences")).to_have_count(0)
    expect(create.locator('.check-list > li[data-check="0"]')).to_have_attribute(
        "data-state", "passed"
    )
    page.screenshot(path=str(ARTIFACTS / "checks-passed.png"), full_page=True)

    # "Check now" answers beside the button; asking again at once is refused politely.
    label = page.locator('li.task[data-task="first-pod/label-pod"]')
    label.get_by_role("button", name="Check now").click()
    expect(label.locator(".check-now-message")).to_have_text("Checking …")

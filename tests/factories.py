"""The test suite's helpers: plain functions and classes that build users, cohorts, clusters
and clients, and wait for things. No fixtures here (those live in conftest.py, each defined
once); test modules and the benchmarks import from this module, never from one another."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import Client
from django.utils import timezone
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from playwright.sync_api import BrowserContext

from courseware.models import Cohort, Course, Enrolment
from courseware.models.cohort import INSTRUCTORS_GROUP
from labs import manifests, provisioning
from labs.kube import Kube, RetryPolicy
from labs.models import Cluster, Lab, installation_key
from simcluster import KubeStandIn

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

PASSWORD = "correct-horse-battery-staple"
"""The password of every user that make_user creates."""


# -- people ------------------------------------------------------------------------------------


def make_user(name: str, **extra: object) -> User:
    """A user who logs in as ``name`` with PASSWORD, at ``name@example.com``, called by the
    first part of the name ("tina_trainee" is Tina); ``extra`` sets or overrides fields."""
    fields: dict[str, object] = {
        "email": f"{name}@example.com",
        "password": PASSWORD,
        "first_name": name.split("_")[0].title(),
    }
    return User.objects.create_user(username=name, **(fields | extra))


def make_instructor(name: str) -> User:
    """A user of make_user's in the Instructors group (teaching no cohort yet)."""
    user = make_user(name)
    # A migration makes the group; transactional tests flush it away, so make it again.
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
    user.groups.add(group)
    return user


@dataclass
class People:
    """The named users of the suite: one of each role, and their counterparts in another
    cohort of another course."""

    admin: User
    instructor: User
    other_instructor: User
    trainee: User
    other_trainee: User


def client_for(user: User | None) -> Client:
    """A test client logged in as ``user``; an anonymous one for None."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


# -- cohorts -----------------------------------------------------------------------------------

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def make_cohort(
    course: Course,
    slug: str,
    *,
    days_from_now: int = 0,
    hours_from_now: float | None = None,
    length: int = 3,
    name: str | None = None,
) -> Cohort:
    """A Berlin cohort of ``length`` days, named after its slug unless ``name`` is given.

    It starts at local midnight ``days_from_now`` days from today, so that with the default
    of 0 "now" is on its first day whatever the time of day the tests run. With
    ``hours_from_now`` it starts that many hours from this very moment instead."""
    if hours_from_now is None:
        midnight = timezone.now().astimezone(BERLIN)
        midnight = midnight.replace(hour=0, minute=0, second=0, microsecond=0)
        starts = midnight + dt.timedelta(days=days_from_now)
    else:
        starts = timezone.now() + dt.timedelta(hours=hours_from_now)
    return Cohort.objects.create(
        name=name or slug.replace("-", " ").title(),
        slug=slug,
        course=course,
        starts_at=starts,
        ends_at=starts + dt.timedelta(days=length),
        timezone="Europe/Berlin",
    )


def enrol(cohort: Cohort, *names: str) -> list[Enrolment]:
    """A new active trainee in ``cohort`` for each of ``names``."""
    return [
        Enrolment.objects.create(
            cohort=cohort, trainee=make_user(name), state=Enrolment.State.ACTIVE
        )
        for name in names
    ]


# -- labs: a cluster row pointing at the API stand-in, clients that do not sleep ----------------


@dataclass
class Sleeps:
    """Stands in for time.sleep between retries: records the delays instead of sleeping."""

    seconds: list[float] = field(default_factory=list)

    def __call__(self, delay: float) -> None:
        self.seconds.append(delay)


def make_cluster(standin: KubeStandIn, name: str = "stand-in") -> Cluster:
    cluster = Cluster(name=name, toolbox_image="bitnami/kubectl:1.34")
    cluster.set_kubeconfig(yaml.safe_dump(standin.kubeconfig()))
    cluster.save()
    return cluster


def kube_for(cluster: Cluster, sleeps: Sleeps | None = None, attempts: int = 5) -> Kube:
    return Kube.for_cluster(cluster, retry=RetryPolicy(attempts=attempts, sleep=sleeps or Sleeps()))


def lotse_labels(cluster: Cluster, enrolment_id: int, installation: str | None = None) -> dict:
    """The labels Lotse gives a lab's objects on ``cluster``: this installation's unless
    ``installation`` names another."""
    return {
        manifests.MANAGED_BY: "lotse",
        manifests.INSTALLATION_LABEL: installation or installation_key(),
        manifests.CLUSTER_LABEL: str(cluster.pk),
        manifests.ENROLMENT_LABEL: str(enrolment_id),
    }


def put_namespace(standin: KubeStandIn, name: str, labels: dict[str, str]) -> dict:
    """A namespace that someone else made (another installation, a person), replacing one
    of that name if there is one: deleted, gone, then made anew with a new uid."""
    if standin.get("v1", "Namespace", name) is not None:
        standin.delete("v1", "Namespace", name)
        wait_for(lambda: standin.get("v1", "Namespace", name) is None, f"namespace {name} gone")
    return standin.put({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": name, "labels": labels}})  # fmt: skip


def create_pod_as_trainee(lab: Lab, name: str = "my-pod") -> None:
    """What ``kubectl run my-pod --image=nginx:1.27`` does, with the trainee's own token."""
    api = k8s_config.new_client_from_config_dict(provisioning.trainee_kubeconfig(lab))
    k8s.CoreV1Api(api).create_namespaced_pod(
        lab.namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]},
        },
    )


def token_claims(token: str) -> dict:
    """The claims of a service account token (a JWT), unverified."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_as(standin: KubeStandIn, token: str) -> k8s.ApiClient:
    """A client of ``standin`` that presents ``token`` instead of the admin's."""
    return k8s_config.new_client_from_config_dict(standin.kubeconfig(token=token))


def account_token(standin: KubeStandIn, namespace: str, name: str, **spec: object) -> str:
    """A TokenRequest token of the ServiceAccount ``namespace/name``, asked for by the admin;
    ``spec`` adds to the request (audiences, boundObjectRef, expirationSeconds)."""
    core = k8s.CoreV1Api(standin.api_client())
    return core.create_namespaced_service_account_token(
        name, namespace, {"spec": spec}
    ).status.token


# -- waiting and services ----------------------------------------------------------------------


def wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 5, every: float = 0.01
) -> None:
    """Return as soon as ``condition()`` holds; fail naming ``what`` after ``timeout``
    seconds. Checks every ``every`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(every)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def redis_url() -> str:
    """The Redis of the tests (LOTSE_TEST_REDIS_URL, or one at 127.0.0.1:6379); skips the
    test when there is none."""
    url = os.environ.get("LOTSE_TEST_REDIS_URL")
    if url:
        return url
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis: set LOTSE_TEST_REDIS_URL or run one at 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/15"


# -- the terminal's websocket ------------------------------------------------------------------


def session_cookie(user: User | None) -> str:
    """The Cookie header of a logged-in ``user`` ("" for an anonymous visitor)."""
    if user is None:
        return ""
    cookie = client_for(user).cookies[settings.SESSION_COOKIE_NAME]
    return f"{cookie.key}={cookie.value}"


def log_in_browser(context: BrowserContext, url: str, user: User) -> None:
    """Give a browser context the session cookie of a logged-in ``user`` for the server at
    ``url`` (the login page has tests of its own)."""
    name, value = session_cookie(user).split("=", 1)
    context.add_cookies([{"name": name, "value": value, "url": url}])


class TerminalClient:
    """A browser's side of ``ws/labs/<id>/terminal/`` against the real ASGI application:
    what arrived so far (``output`` bytes, ``controls`` JSON messages) and how it closed."""

    def __init__(
        self, cookie: str, lab_id: int, number: int = 1, origin: str = "http://localhost"
    ) -> None:
        from courseware.asgi import application  # Django must be set up first

        headers = [(b"host", b"localhost"), (b"origin", origin.encode())]
        if cookie:
            headers.append((b"cookie", cookie.encode()))
        self.socket = WebsocketCommunicator(
            application, f"/ws/labs/{lab_id}/terminal/?n={number}", headers=headers
        )
        self.output = b""
        self.controls: list[dict] = []
        self.closed: dict | None = None

    async def connect(self) -> bool:
        connected, _ = await self.socket.connect(timeout=10)
        return connected

    async def hello(
        self, cols: int = 80, rows: int = 24, session: str | None = None, seq: int | None = None
    ) -> dict:
        """Say hello; the answer ("attached", "waiting", or the close's message)."""
        await self.send_json({"type": "hello", "cols": cols, "rows": rows,
                              "session": session, "seq": seq})  # fmt: skip
        return await self.next_control()

    async def send_json(self, message: dict) -> None:
        await self.socket.send_to(text_data=json.dumps(message))

    async def type(self, text: str) -> None:
        await self.socket.send_to(bytes_data=text.encode())

    async def receive(self, timeout: float = 10) -> None:
        message = await self.socket.receive_output(timeout)
        if message["type"] == "websocket.close":
            self.closed = message
        elif message.get("bytes") is not None:
            self.output += message["bytes"]
        elif message.get("text") is not None:
            self.controls.append(json.loads(message["text"]))

    async def next_control(self, timeout: float = 10) -> dict:
        seen = len(self.controls)
        while len(self.controls) == seen:
            assert self.closed is None, f"closed while waiting for a control: {self.closed}"
            await self.receive(timeout)
        return self.controls[seen]

    async def control_of_type(self, kind: str, timeout: float = 10) -> dict:
        """The first control message of type ``kind`` (waiting for it if need be)."""
        checked = 0
        while True:
            for message in self.controls[checked:]:
                if message["type"] == kind:
                    return message
            checked = len(self.controls)
            await self.next_control(timeout)

    async def read_until(self, needle: bytes, timeout: float = 10) -> bytes:
        """Receive until ``needle`` is in the output; everything received so far."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            assert self.closed is None, f"closed before {needle!r}: {self.closed}; {self.output!r}"
            try:
                await self.receive(max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                raise AssertionError(
                    f"no {needle!r} within {timeout} s in {self.output[-2000:]!r}"
                ) from None
        return self.output

    async def until_closed(self, timeout: float = 10) -> dict:
        while self.closed is None:
            await self.receive(timeout)
        return self.closed

    async def disconnect(self) -> None:
        """Leave as a browser does (also after the server closed): the consumer's
        ``disconnect`` has run when this returns."""
        await self.socket.disconnect(timeout=5)


# -- websockets --------------------------------------------------------------------------------


def browser_socket(user: User | None, path: str) -> WebsocketCommunicator:
    """A browser's websocket to ``path`` against the real ASGI application (origin check
    and session authentication included), with ``user``'s session (anonymous for None)."""
    from courseware.asgi import application  # Django must be set up first

    headers = [(b"host", b"localhost"), (b"origin", b"http://localhost")]
    if user is not None:
        cookie = client_for(user).cookies[settings.SESSION_COOKIE_NAME]
        headers.append((b"cookie", f"{cookie.key}={cookie.value}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


def progress_socket(user: User | None, lab_id: int) -> WebsocketCommunicator:
    """A browser's side of a lab's live check results (``ws/labs/<id>/progress/``)."""
    return browser_socket(user, f"/ws/labs/{lab_id}/progress/")


def dashboard_socket(user: User | None, cohort_id: int) -> WebsocketCommunicator:
    """An instructor's side of a cohort's dashboard (``ws/cohorts/<id>/dashboard/``)."""
    return browser_socket(user, f"/ws/cohorts/{cohort_id}/dashboard/")

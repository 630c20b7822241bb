"""Who may see what: the access policy, and a matrix of every URL × every kind of user.

A URL that is added to the project without a row here fails
`test_it_has_a_row_for_every_url`, so no door is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from courseware import access
from courseware.models import Cohort, Enrolment, Exercise, HelpRequest
from courseware.routing import websocket_urlpatterns
from labs.models import Cluster, Lab
from labs.terminal.sessions import registry
from tests.factories import (
    People,
    TerminalClient,
    browser_socket,
    client_for,
    dashboard_socket,
    make_user,
    progress_socket,
    session_cookie,
)

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "trainee", "other_trainee", "instructor", "other_instructor", "admin")

# route name → (URL kwargs, expected status per role in ROLES order, HTTP method).
# "login" means a redirect to the login page. A kwarg may be a function of the people.
Kwargs = dict[str, str | Callable[[People], str]]
MATRIX: dict[str, tuple[Kwargs, tuple[object, ...], str]] = {
    "courseware:home": ({}, ("login", 200, 200, 200, 200, 200), "get"),
    "courseware:cohort": ({"cohort": "spring-class"}, ("login", 200, 403, 200, 403, 200), "get"),
    # Only a trainee with a ready lab gets a kubeconfig; nobody here has one yet.
    "courseware:kubeconfig": (
        {"cohort": "spring-class"},
        ("login", 404, 403, 404, 403, 404),
        "get",
    ),
    # The read-only view of the trainee's terminal: the cohort's instructors and admins.
    "courseware:trainee_terminal": (
        {"cohort": "spring-class", "enrolment": lambda p: str(p.trainee.enrolments.get().pk)},
        ("login", 403, 403, 200, 403, 200),
        "get",
    ),
    # The class dashboard and everything on it: the cohort's instructors and admins only.
    "courseware:dashboard": (
        {"cohort": "spring-class"},
        ("login", 403, 403, 200, 403, 200),
        "get",
    ),
    "courseware:dashboard_export": (
        {"cohort": "spring-class"},
        ("login", 403, 403, 200, 403, 200),
        "get",
    ),
    # GET: the confirmation step, which says what a reset deletes.
    "courseware:dashboard_reset_lab": (
        {"cohort": "spring-class", "enrolment": lambda p: str(p.trainee.enrolments.get().pk)},
        ("login", 403, 403, 200, 403, 200),
        "get",
    ),
    # The actions answer with a message and return to the dashboard (here: nothing to do).
    "courseware:dashboard_rerun_checks": (
        {"cohort": "spring-class", "enrolment": lambda p: str(p.trainee.enrolments.get().pk)},
        ("login", 403, 403, 302, 403, 302),
        "post",
    ),
    "courseware:dashboard_resend_invite": (
        {"cohort": "spring-class", "enrolment": lambda p: str(p.trainee.enrolments.get().pk)},
        ("login", 403, 403, 302, 403, 302),
        "post",
    ),
    "courseware:help_handled": (
        {"cohort": "spring-class", "help_request": lambda p: str(raised_hand(p))},
        ("login", 403, 403, 302, 403, 302),
        "post",
    ),
    # Only a trainee of a running cohort raises a hand (and returns to the exercise).
    "courseware:raise_hand": (
        {"course": "fixture-course", "exercise": "first-pod"},
        ("login", 302, 403, 403, 403, 403),
        "post",
    ),
    "courseware:agenda": ({"course": "fixture-course"}, ("login", 200, 403, 200, 403, 200), "get"),
    "courseware:slides": (
        {"course": "fixture-course", "module": "pods"},
        ("login", 200, 403, 200, 403, 200),
        "get",
    ),
    "courseware:exercise": (
        {"course": "fixture-course", "exercise": "first-pod"},
        ("login", 200, 403, 200, 403, 200),
        "get",
    ),
    # "Check now" runs in the trainee's own lab (the trainee here has none yet: 409).
    "courseware:check_task": (
        {"course": "fixture-course", "exercise": "first-pod", "task": "create-pod"},
        ("login", 409, 403, 403, 403, 403),
        "post",
    ),
    # Opening a hint is recorded for trainees; for others there is nothing to record.
    "courseware:task_opened": (
        {"course": "fixture-course", "exercise": "first-pod", "task": "create-pod", "what": "hint"},
        ("login", 204, 403, 204, 403, 204),
        "post",
    ),
    # A token nobody signed: the same clear refusal for everyone.
    "courseware:invite": ({"token": "not-a-token"}, (400,) * 6, "get"),
    "favicon": ({}, (301,) * 6, "get"),
    "login": ({}, (200,) * 6, "get"),
    "logout": ({}, (302,) * 6, "post"),
    "password_change": ({}, ("login", 200, 200, 200, 200, 200), "get"),
    "password_change_done": ({}, ("login", 200, 200, 200, 200, 200), "get"),
    "password_reset": ({}, (200,) * 6, "get"),
    "password_reset_done": ({}, (200,) * 6, "get"),
    "password_reset_confirm": ({"uidb64": "MQ", "token": "set-password"}, (200,) * 6, "get"),
    "password_reset_complete": ({}, (200,) * 6, "get"),
}


def raised_hand(people: People) -> int:
    """The id of a hand the trainee raised on the first exercise."""
    enrolment = people.trainee.enrolments.get()
    exercise = Exercise.objects.get(slug="first-pod", course=enrolment.cohort.course)
    return HelpRequest.objects.create(enrolment=enrolment, exercise=exercise).pk


def routes(
    patterns: list[URLPattern | URLResolver], prefix: str = "", params: tuple[str, ...] = ()
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Every named route as (namespaced name, the names of its URL parameters)."""
    for pattern in patterns:
        own = tuple(getattr(pattern.pattern, "converters", {})) or tuple(
            pattern.pattern.regex.groupindex
        )
        if isinstance(pattern, URLResolver):
            namespace = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from routes(pattern.url_patterns, namespace, params + own)
        elif pattern.name:
            yield f"{prefix}{pattern.name}", params + own


def test_it_has_a_row_for_every_url() -> None:
    names = {name for name, _ in routes(get_resolver().url_patterns)}

    assert {name for name in names if not name.startswith("admin:")} == set(MATRIX)


# Websocket routes: route → the outcome per role in ROLES order: for the terminal the mode
# granted, for the live checks the first message's type when admitted; or the close code of
# the refusal (which comes before any backend is touched).
WEBSOCKET_MATRIX: dict[str, tuple[object, ...]] = {
    "ws/labs/<int:lab>/terminal/": (4403, "write", 4403, "read", 4403, "read"),
    "ws/labs/<int:lab>/progress/": (4403, "results", 4403, "results", 4403, "results"),
    "ws/cohorts/<int:cohort>/dashboard/": (4403, 4403, 4403, "snapshot", 4403, "snapshot"),
    # Present mode: the first message says where the class is (trainees follow, the rest lead).
    "ws/cohorts/<int:cohort>/present/": (4403, "position", 4403, "position", 4403, "position"),
}


def test_it_has_a_row_for_every_websocket_route() -> None:
    names = {str(route.pattern) for route in websocket_urlpatterns}

    assert names == set(WEBSOCKET_MATRIX)


def user_of(people: People, role: str) -> User | None:
    """The named user of a role in ROLES; None for an anonymous visitor."""
    return None if role == "anonymous" else getattr(people, role)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_it_answers_each_url_for_each_role(people: People, name: str) -> None:
    arguments, expected, method = MATRIX[name]
    kwargs = {key: value(people) if callable(value) else value for key, value in arguments.items()}
    url = reverse(name, kwargs=kwargs)
    answers = {}
    for role in ROLES:
        response = getattr(client_for(user_of(people, role)), method)(url)
        status: object = response.status_code
        if status == 302 and response["Location"].startswith(reverse("login") + "?next="):
            status = "login"
        answers[role] = status

    assert answers == dict(zip(ROLES, expected, strict=True))


def admin_urls() -> Iterator[str]:
    """Every admin route, with placeholder arguments (refusal comes before any lookup)."""
    for name, params in routes(get_resolver().url_patterns):
        if name.startswith("admin:"):
            values = {"app_label": "courseware"}
            yield reverse(name, kwargs={param: values.get(param, "1") for param in params})


@pytest.mark.parametrize("role", ["anonymous", "trainee", "instructor"])
def test_it_keeps_everyone_but_staff_out_of_the_admin(people: People, role: str) -> None:
    client = client_for(user_of(people, role))
    urls = sorted(set(admin_urls()))
    assert len(urls) > 20

    for url in urls:
        if url in (reverse("admin:login"), reverse("admin:logout")):
            continue  # the door itself
        response = client.get(url)
        assert response.status_code in (302, 404), url
        if response.status_code == 302:
            assert "/admin/login/" in response["Location"], url


def test_it_lets_admins_into_the_admin(people: People, cohort: Cohort) -> None:
    client = client_for(people.admin)

    assert client.get(reverse("admin:index")).status_code == 200
    assert client.get(reverse("admin:courseware_cohort_changelist")).status_code == 200
    assert (
        client.get(reverse("admin:courseware_cohort_change", args=[cohort.pk])).status_code == 200
    )


def test_it_shows_a_trainee_only_their_cohorts(people: People, cohort: Cohort) -> None:
    assert list(access.cohorts_for(people.trainee)) == [cohort]
    assert list(access.courses_for(people.trainee)) == [cohort.course]
    assert not access.can_manage_cohort(people.trainee, cohort)


def test_it_lets_instructors_manage_only_their_cohorts(
    people: People, cohort: Cohort, other_cohort: Cohort
) -> None:
    assert access.can_manage_cohort(people.instructor, cohort)
    assert not access.can_manage_cohort(people.instructor, other_cohort)
    assert not access.can_manage_cohort(people.other_instructor, cohort)
    assert access.can_manage_cohort(people.admin, other_cohort)


def test_it_shuts_a_removed_trainee_out_at_once(people: People, cohort: Cohort) -> None:
    Enrolment.objects.filter(trainee=people.trainee).update(state=Enrolment.State.REMOVED)

    assert not access.can_view_cohort(people.trainee, cohort)
    assert not access.can_view_course(people.trainee, cohort.course)
    assert client_for(people.trainee).get(cohort.course.get_absolute_url()).status_code == 403


def test_it_lets_an_invited_trainee_prepare_before_the_start(
    people: People, cohort: Cohort
) -> None:
    newcomer = make_user("nina_newcomer")
    cohort.starts_at = cohort.starts_at.replace(year=cohort.starts_at.year + 1)
    cohort.ends_at = cohort.ends_at.replace(year=cohort.ends_at.year + 1)
    cohort.save()
    Enrolment.objects.create(cohort=cohort, trainee=newcomer)

    assert access.can_view_course(newcomer, cohort.course)


def test_it_keeps_inactive_accounts_out(people: People, cohort: Cohort) -> None:
    people.trainee.is_active = False
    people.trainee.save()

    assert not access.can_view_cohort(people.trainee, cohort)


def test_it_does_not_treat_staff_without_permissions_as_admin(
    people: People, cohort: Cohort
) -> None:
    staff = make_user("sam_staff", is_staff=True)

    assert not access.is_admin(staff)
    assert not access.can_view_cohort(staff, cohort)


async def terminal_outcome(cookie: str, lab_id: int, origin: str = "http://localhost") -> object:
    """What a visitor gets from a lab's terminal: the mode granted ("write", or "read" for a
    watcher, who may have to wait for the trainee), the close code of a refusal, or
    "handshake refused" when the websocket is not even accepted."""
    client = TerminalClient(cookie, lab_id, origin=origin)
    if not await client.connect():
        return "handshake refused"
    answer = await client.hello()
    if answer["type"] == "message":  # a refusal: the close follows
        outcome: object = (await client.until_closed())["code"]
    else:
        outcome = answer.get("mode", "read")
    await client.disconnect()
    return outcome


def outcomes(visitors: dict[str, str], lab_id: int, **options: str) -> dict[str, object]:
    """The terminal outcome for each of ``visitors`` (name → session cookie), in order; no
    shell is left running afterwards."""

    async def scenario() -> dict[str, object]:
        try:
            return {
                name: await terminal_outcome(cookie, lab_id, **options)
                for name, cookie in visitors.items()
            }
        finally:
            await registry.close_all()

    return async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("local_shell")
def test_it_decides_who_may_use_a_terminal_for_each_role(people: People, trainee_lab: Lab) -> None:
    cookies = {role: session_cookie(user_of(people, role)) for role in ROLES}

    answers = outcomes(cookies, trainee_lab.pk)

    assert answers == dict(zip(ROLES, WEBSOCKET_MATRIX["ws/labs/<int:lab>/terminal/"], strict=True))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("local_shell")
def test_it_refuses_strangers_before_any_shell_starts(people: People, trainee_lab: Lab) -> None:
    strangers = {
        role: session_cookie(user_of(people, role))
        for role in ("anonymous", "other_trainee", "other_instructor")
    }
    opened: list[object] = []
    registry_open = registry.open

    async def spy(*args: object, **kwargs: object) -> object:
        opened.append(args[0])
        return await registry_open(*args, **kwargs)  # type: ignore[arg-type]

    registry.open = spy  # type: ignore[method-assign]
    try:
        answers = outcomes(strangers, trainee_lab.pk)
    finally:
        del registry.open

    assert answers == {"anonymous": 4403, "other_trainee": 4403, "other_instructor": 4403}
    assert opened == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("local_shell")
def test_it_refuses_a_removed_trainee_an_inactive_instructor_and_an_unknown_lab(
    people: People, trainee_lab: Lab
) -> None:
    trainee, instructor = session_cookie(people.trainee), session_cookie(people.instructor)
    Enrolment.objects.filter(pk=trainee_lab.enrolment_id).update(state=Enrolment.State.REMOVED)
    User.objects.filter(pk=people.instructor.pk).update(is_active=False)

    assert outcomes({"removed": trainee, "inactive": instructor}, trainee_lab.pk) == {
        "removed": 4403,
        "inactive": 4403,
    }
    assert outcomes({"admin": session_cookie(people.admin)}, trainee_lab.pk + 1000) == {
        "admin": 4403
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("local_shell")
def test_it_refuses_a_terminal_from_a_foreign_origin(people: People, trainee_lab: Lab) -> None:
    cookie = session_cookie(people.trainee)

    answers = outcomes({"trainee": cookie}, trainee_lab.pk, origin="https://evil.example")

    assert answers == {"trainee": "handshake refused"}


def progress_outcome(user: User | None, lab_id: int) -> object:
    """What a visitor gets from a lab's live checks: the first message's type, or the close
    code of the refusal."""
    socket = progress_socket(user, lab_id)

    async def visit() -> object:
        connected, code = await socket.connect(timeout=10)
        if not connected:
            return code
        message = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return message["type"]

    return async_to_sync(visit)()


def lab_of(people: People, cohort: Cohort) -> Lab:
    """A lab row for the trainee (its state does not matter to who may follow it)."""
    enrolment = Enrolment.objects.get(cohort=cohort, trainee=people.trainee)
    return Lab.objects.create(
        enrolment=enrolment, cluster=Cluster.objects.create(name="nowhere"), namespace="lab-x"
    )


@pytest.mark.django_db(transaction=True)
def test_it_decides_who_may_follow_a_labs_checks_for_each_role(
    people: People, cohort: Cohort
) -> None:
    lab = lab_of(people, cohort)

    answers = {role: progress_outcome(user_of(people, role), lab.pk) for role in ROLES}

    assert answers == dict(zip(ROLES, WEBSOCKET_MATRIX["ws/labs/<int:lab>/progress/"], strict=True))


@pytest.mark.django_db(transaction=True)
def test_it_decides_who_may_follow_or_lead_the_slides_for_each_role(
    people: People, cohort: Cohort
) -> None:
    def outcome(user: User | None) -> object:
        socket = browser_socket(user, f"/ws/cohorts/{cohort.pk}/present/")

        async def visit() -> object:
            connected, code = await socket.connect(timeout=10)
            if not connected:
                return code
            message = await socket.receive_json_from(timeout=10)
            await socket.disconnect()
            return message["type"]

        return async_to_sync(visit)()

    answers = {role: outcome(user_of(people, role)) for role in ROLES}

    row = WEBSOCKET_MATRIX["ws/cohorts/<int:cohort>/present/"]
    assert answers == dict(zip(ROLES, row, strict=True))


@pytest.mark.django_db(transaction=True)
def test_it_refuses_a_removed_trainee_and_an_unknown_lab_their_checks(
    people: People, cohort: Cohort
) -> None:
    lab = lab_of(people, cohort)
    Enrolment.objects.filter(pk=lab.enrolment_id).update(state=Enrolment.State.REMOVED)

    assert progress_outcome(people.trainee, lab.pk) == 4403
    assert progress_outcome(people.admin, lab.pk + 1000) == 4403
    assert progress_outcome(people.instructor, lab.pk) == "results"


def dashboard_outcome(user: User | None, cohort_id: int) -> object:
    """What a visitor gets from a cohort's dashboard socket: the first message's type, or
    the close code of the refusal."""
    socket = dashboard_socket(user, cohort_id)

    async def visit() -> object:
        connected, code = await socket.connect(timeout=10)
        if not connected:
            return code
        message = await socket.receive_json_from(timeout=10)
        await socket.disconnect()
        return message["type"]

    return async_to_sync(visit)()


@pytest.mark.django_db(transaction=True)
def test_it_decides_who_may_follow_a_cohorts_dashboard_for_each_role(
    people: People, cohort: Cohort
) -> None:
    answers = {role: dashboard_outcome(user_of(people, role), cohort.pk) for role in ROLES}

    assert answers == dict(
        zip(ROLES, WEBSOCKET_MATRIX["ws/cohorts/<int:cohort>/dashboard/"], strict=True)
    )


@pytest.mark.django_db(transaction=True)
def test_it_refuses_an_unknown_cohorts_dashboard_and_an_inactive_instructor(
    people: People, cohort: Cohort
) -> None:
    assert dashboard_outcome(people.admin, cohort.pk + 1000) == 4403
    User.objects.filter(pk=people.instructor.pk).update(is_active=False)
    assert dashboard_outcome(people.instructor, cohort.pk) == 4403

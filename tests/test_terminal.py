"""The terminal's websocket against the real ASGI application: the local backend runs a
real shell (confined by bubblewrap where it works), the Kubernetes backend execs into the
stand-in; sessions outlive their sockets; limits and bad frames get clear answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from pytest_django.fixtures import Settings

from labs.kube import Kube, exit_of, open_exec
from labs.models import Lab
from labs.terminal import activity
from labs.terminal.local import confinement
from labs.terminal.sessions import registry
from simcluster import KubeStandIn, echo_shell
from tests.factories import People, TerminalClient, session_cookie

# Transactional: the consumer reads the database from threads of its own.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("local_shell"),
]

PROMPT = b"$ "


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run ``scenario`` on one event loop, then end every terminal it left open."""

    async def wrapped() -> None:
        try:
            await scenario()
        finally:
            await registry.close_all()

    async_to_sync(wrapped)()


@pytest.fixture
def cookies(people: People) -> dict[str, str]:
    """The session cookies of the trainee and the instructor, made before any event loop
    runs (the session store is synchronous)."""
    return {"trainee": session_cookie(people.trainee),
            "instructor": session_cookie(people.instructor)}  # fmt: skip


def trainee_terminal(cookies: dict[str, str], trainee_lab: Lab, number: int = 1) -> TerminalClient:
    return TerminalClient(cookies["trainee"], trainee_lab.pk, number)


async def opened(client: TerminalClient, **hello: object) -> dict:
    """Connect, say hello and wait for the prompt; the "attached" answer."""
    assert await client.connect()
    attached = await client.hello(**hello)  # type: ignore[arg-type]
    assert attached["type"] == "attached", attached
    await client.read_until(PROMPT)
    return attached


def test_it_runs_a_command_in_the_local_shell(cookies: dict[str, str], trainee_lab: Lab) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        attached = await opened(term)
        await term.type("echo hi\r")
        output = await term.read_until(b"\rhi\r\n")
        await term.disconnect()

        assert attached["mode"] == "write"
        assert trainee_lab.namespace.encode() in output  # the prompt names the lab's namespace

    run(scenario)


def test_it_resizes_the_terminal(cookies: dict[str, str], trainee_lab: Lab) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term, cols=100, rows=30)
        await term.type("stty size\r")
        await term.read_until(b"30 100")
        await term.send_json({"type": "resize", "cols": 132, "rows": 43})
        await term.type("stty size\r")
        await term.read_until(b"43 132")
        await term.disconnect()

    run(scenario)


def test_it_gives_the_shell_a_controlling_terminal(
    cookies: dict[str, str], trainee_lab: Lab
) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        # A foreground job that says when it runs (the quotes keep the typed line from
        # matching), then sleeps.
        await term.type("sh -c 'echo st''arted; exec sleep 30'\r")
        await term.read_until(b"started\r\n")
        started = len(term.output)
        await term.type("\x03")  # Ctrl-C reaches the foreground program only through a ctty
        await term.read_until(b"^C")
        await term.type("echo interrupted\r")
        await term.read_until(b"\rinterrupted\r\n", timeout=5)
        await term.disconnect()

        assert b"no job control" not in term.output
        assert started < len(term.output)

    run(scenario)


def test_it_closes_cleanly_when_the_shell_exits(cookies: dict[str, str], trainee_lab: Lab) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type("exit 3\r")
        closed = await term.until_closed()
        await term.disconnect()

        assert closed["code"] == 1000
        assert closed["reason"] == "the shell exited with status 3"
        assert {"type": "exit", "status": 3, "code": 1000,
                "message": "the shell exited with status 3"} in term.controls  # fmt: skip
        assert registry.get((trainee_lab.pk, 1)) is None

    run(scenario)


def test_it_replays_what_a_reconnect_missed(cookies: dict[str, str], trainee_lab: Lab) -> None:
    async def scenario() -> None:
        first = trainee_terminal(cookies, trainee_lab)
        attached = await opened(first)
        await first.type("sleep 0.5; echo missed-while-away\r")
        await first.read_until(b"missed-while-away\r")  # the echo of the typed line
        seen = attached["seq"] + len(first.output)
        await first.disconnect()
        await asyncio.sleep(1)

        second = trainee_terminal(cookies, trainee_lab)
        assert await second.connect()
        resumed = await second.hello(session=attached["session"], seq=seen)
        await second.read_until(b"missed-while-away\r\n")
        await second.disconnect()

        assert resumed["fresh"] is False
        assert resumed["seq"] == seen
        # Once as typed, once as printed: nothing twice, nothing lost.
        assert (first.output + second.output).count(b"missed-while-away") == 2

    run(scenario)


def test_it_gives_a_new_tab_the_whole_screen_and_tells_the_old_one_why_it_closed(
    cookies: dict[str, str], trainee_lab: Lab
) -> None:
    async def scenario() -> None:
        first = trainee_terminal(cookies, trainee_lab)
        await opened(first)
        await first.type("echo from-the-first-tab\r")
        await first.read_until(b"\rfrom-the-first-tab\r\n")

        second = trainee_terminal(cookies, trainee_lab)
        attached = await opened(second)
        closed = await first.until_closed()
        await second.type("echo still-alive\r")
        await second.read_until(b"\rstill-alive\r\n")
        await first.disconnect()
        await second.disconnect()

        assert attached["fresh"] is True
        assert b"\rfrom-the-first-tab\r\n" in second.output
        assert closed["code"] == 4409
        assert "another tab" in first.controls[-1]["text"]

    run(scenario)


def test_it_lets_an_instructor_watch_but_not_type(
    cookies: dict[str, str], trainee_lab: Lab
) -> None:
    async def scenario() -> None:
        watcher = TerminalClient(cookies["instructor"], trainee_lab.pk)
        assert await watcher.connect()
        assert (await watcher.hello())["type"] == "waiting"

        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        attached = await watcher.control_of_type("attached")
        await term.type("echo typed-by-the-trainee\r")
        await watcher.read_until(b"\rtyped-by-the-trainee\r\n")
        await watcher.type("echo typed-by-the-instructor\r")
        refusal = await watcher.next_control()  # after "attached": the refusal
        await term.type("echo done\r")
        await term.read_until(b"\rdone\r\n")
        await watcher.disconnect()
        await term.disconnect()

        assert attached["mode"] == "read"
        assert "read-only" in refusal["text"]
        assert b"typed-by-the-instructor" not in term.output

    run(scenario)


def test_it_ends_the_shell_when_nobody_returns_within_the_grace_period(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    settings.LAB_TERMINAL_GRACE_SECONDS = 0.2

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.disconnect()
        session = registry.get((trainee_lab.pk, 1))
        assert session is not None
        for _ in range(100):
            if session.ended:
                break
            await asyncio.sleep(0.05)

        assert session.ended
        assert registry.get((trainee_lab.pk, 1)) is None

    run(scenario)


def test_it_warns_then_closes_an_idle_terminal(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    settings.LAB_TERMINAL_IDLE_SECONDS = 1
    settings.LAB_TERMINAL_IDLE_WARNING_SECONDS = 0.5

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        closed = await term.until_closed(timeout=5)
        await term.disconnect()
        texts = [c.get("text", "") for c in term.controls if c["type"] == "message"]

        assert closed["code"] == 4408
        assert closed["reason"] == "closed after 1 seconds without input"
        assert any("closes in" in text for text in texts)

    run(scenario)


def test_it_refuses_input_beyond_the_rate_limit(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    settings.LAB_TERMINAL_INPUT_RATE = 100
    settings.LAB_TERMINAL_INPUT_BURST = 200

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type("#" + "x" * 300)
        refusal = await term.next_control()
        await term.type("\x15echo fine\r")  # Ctrl-U: whatever was on the line goes
        await term.read_until(b"\rfine\r\n")
        await term.disconnect()

        assert refusal["text"].startswith("Input refused: more than 100 bytes per second")
        assert b"x" * 300 not in term.output

    run(scenario)


def test_it_refuses_more_terminals_than_a_trainee_may_have(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    settings.LAB_TERMINAL_MAX_PER_TRAINEE = 2

    async def scenario() -> None:
        terms = [trainee_terminal(cookies, trainee_lab, number) for number in (1, 2, 3)]
        for term in terms[:2]:
            await opened(term)
        assert await terms[2].connect()
        refusal = await terms[2].hello()
        closed = await terms[2].until_closed()
        for term in terms:
            await term.disconnect()

        assert "2 terminals open already" in refusal["text"]
        assert closed["code"] == 4429

    run(scenario)


def test_it_refuses_an_oversized_frame_and_goes_on(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type("x" * (settings.LAB_TERMINAL_MAX_FRAME_BYTES + 1))
        refusal = await term.next_control()
        await term.type("echo after\r")
        await term.read_until(b"\rafter\r\n")
        await term.disconnect()

        assert refusal["text"] == (
            f"Refused a frame of {settings.LAB_TERMINAL_MAX_FRAME_BYTES + 1} bytes: the limit "
            f"is {settings.LAB_TERMINAL_MAX_FRAME_BYTES} (LAB_TERMINAL_MAX_FRAME_BYTES)."
        )

    run(scenario)


def test_it_closes_on_terminal_bytes_before_the_hello(
    cookies: dict[str, str], trainee_lab: Lab
) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        assert await term.connect()
        await term.type("ls\r")
        closed = await term.until_closed()
        await term.disconnect()

        assert closed["code"] == 4400
        assert closed["reason"] == "expected a hello (a JSON text frame) first"
        assert registry.get((trainee_lab.pk, 1)) is None

    run(scenario)


@pytest.mark.parametrize(
    "frame", ["not json", "[1, 2]", '{"no": "type"}', '{"type": "resize", "cols": "wide"}']
)
def test_it_ignores_a_malformed_control_frame_with_a_message(
    cookies: dict[str, str], trainee_lab: Lab, frame: str
) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.socket.send_to(text_data=frame)
        answer = await term.next_control()
        await term.type("echo still-here\r")
        await term.read_until(b"\rstill-here\r\n")
        await term.disconnect()

        assert answer["type"] == "message"
        assert answer["text"].startswith("Ignored a")

    run(scenario)


def test_it_closes_on_a_malformed_hello(cookies: dict[str, str], trainee_lab: Lab) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        assert await term.connect()
        await term.send_json({"type": "hello", "cols": "eighty", "rows": 24})
        closed = await term.until_closed()
        await term.disconnect()

        assert closed["code"] == 4400
        assert closed["reason"] == "malformed hello: cols, rows, session, seq"

    run(scenario)


def test_it_records_activity_without_a_write_per_keystroke(
    cookies: dict[str, str], trainee_lab: Lab, settings: Settings
) -> None:
    settings.LAB_TERMINAL_ACTIVITY_SECONDS = 60

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type("echo one\r")
        await term.read_until(b"\rone\r\n")
        await asyncio.sleep(0.1)
        first = activity.activity([trainee_lab.pk])[trainee_lab.pk]
        await term.type("echo two\r")
        await term.read_until(b"\rtwo\r\n")
        await asyncio.sleep(0.1)
        second = activity.activity([trainee_lab.pk])[trainee_lab.pk]
        await term.disconnect()
        await asyncio.sleep(0.1)
        gone = activity.activity([trainee_lab.pk])[trainee_lab.pk]

        assert first.connected
        assert first.last_input is not None
        assert second == first  # within LAB_TERMINAL_ACTIVITY_SECONDS: not written again
        assert not gone.connected
        assert gone.last_input is not None
        assert gone.last_input >= first.last_input

    run(scenario)


@pytest.mark.skipif(confinement() is None, reason="bubblewrap cannot run on this machine")
def test_it_confines_the_local_shell(cookies: dict[str, str], trainee_lab: Lab) -> None:
    project = Path(settings.BASE_DIR)

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type(f"ls {project}; env; touch /usr/x; echo --END--\r")
        output = await term.read_until(b"\n--END--\r\n")
        await term.disconnect()
        text = output.decode()

        assert f"ls: cannot access '{project}': No such file or directory" in text
        assert "SECRET_KEY" not in text
        assert "DATABASE_URL" not in text
        assert "touch: cannot touch '/usr/x': Read-only file system" in text
        assert "HOME=/home/trainee" in text

    run(scenario)


def test_it_runs_kubectl_with_the_labs_own_kubeconfig(
    cookies: dict[str, str], trainee_lab: Lab
) -> None:
    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        await opened(term)
        await term.type(
            "kubectl get pods; kubectl config view --minify -o jsonpath='{..namespace}'; echo\r"
        )
        output = await term.read_until(f"{trainee_lab.namespace}\r\n".encode(), timeout=20)
        await term.disconnect()

        assert b"toolbox" in output

    run(scenario)


def test_it_execs_into_the_toolbox_pod_on_a_kubernetes_cluster(
    cookies: dict[str, str], trainee_lab: Lab, standin: KubeStandIn, settings: Settings
) -> None:
    settings.LAB_TERMINAL_BACKEND = "kubernetes"
    commands: list[list[str]] = []

    async def shell(pod: dict, command: list[str], session: object) -> int:
        commands.append([pod["metadata"]["namespace"], pod["metadata"]["name"], *command])
        return await echo_shell(pod, command, session)  # type: ignore[arg-type]

    standin.exec_handler = shell

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        assert await term.connect()
        attached = await term.hello(cols=90, rows=20)
        await term.read_until(b"$ ")
        await term.type("hello from the browser\r")
        await term.read_until(b"hello from the browser\r\nhello from the browser\r\n")
        await term.type("exit 4\r")
        closed = await term.until_closed()
        await term.disconnect()

        assert attached["backend"] == "a shell in your lab's toolbox pod"
        assert closed["code"] == 1000
        assert closed["reason"] == "the shell exited with status 4"

    run(scenario)

    assert commands == [[trainee_lab.namespace, "toolbox", "bash", "-il"]]
    assert (
        "GET",
        f"/api/v1/namespaces/{trainee_lab.namespace}/pods/toolbox/exec",
        101,
    ) in standin.requests


def test_it_says_when_the_cluster_refuses_the_exec(
    cookies: dict[str, str], trainee_lab: Lab, standin: KubeStandIn, settings: Settings
) -> None:
    settings.LAB_TERMINAL_BACKEND = "kubernetes"
    standin.set_status("v1", "Pod", "toolbox", trainee_lab.namespace, {"phase": "Pending"})

    async def scenario() -> None:
        term = trainee_terminal(cookies, trainee_lab)
        assert await term.connect()
        refusal = await term.hello()
        closed = await term.until_closed()
        await term.disconnect()

        assert refusal["text"].startswith(
            "The terminal cannot start: cannot open a shell in your lab"
        )
        assert closed["code"] == 4503

    run(scenario)


@pytest.mark.parametrize("offered", [("v5.channel.k8s.io", "v4.channel.k8s.io"),
                                     ("v4.channel.k8s.io",)])  # fmt: skip
def test_it_speaks_v5_of_the_exec_protocol_and_falls_back_to_v4(
    trainee_lab: Lab,
    standin: KubeStandIn,
    monkeypatch: pytest.MonkeyPatch,
    offered: tuple[str, ...],
) -> None:
    # The stand-in plays an API server that offers only what ``offered`` lists; its small echo
    # shell answers, so that the bytes on the wire are known.
    monkeypatch.setattr("simcluster.exec.PROTOCOLS", offered)
    standin.exec_handler = echo_shell
    target = Kube.for_cluster(trainee_lab.cluster).exec_target(
        trainee_lab.namespace, "toolbox", "toolbox", ["bash", "-il"]
    )

    async def scenario() -> tuple[str, bytes, int | None]:
        stream = await open_exec(target)
        output = b""
        await stream.write(b"exit 2\r")
        while chunk := await stream.read():
            output += chunk
        await stream.close()
        return stream.protocol, output, exit_of(stream.status)[0]

    protocol, output, status = async_to_sync(scenario)()

    assert protocol == offered[0]
    assert output.startswith(b"$ exit 2")
    assert status == 2

"""The simulated cluster's shell: it runs the scripts of `simcluster.containers.script` against
a container's `World`, with the programs of `simcluster.containers.commands`.

It runs in one of two ways. **Live**, for ``kubectl exec`` and ``kubectl attach``: output goes
to the session as it is made, ``sleep`` sleeps, a loop runs until the session ends. As a
**model**, for a container's own process: nothing waits; time is counted (``sleep 5`` adds five
seconds to the program's clock) and every piece of output is stamped with the second it would
appear, so the kubelet knows when the program ends, with which exit code, and what its log
says at any moment. In the model, a program that would wait forever (``sleep infinity``, a
server, reading a terminal nobody types into) raises `Forever`, and a ``while``/``until`` loop
still going after `ROUNDS` rounds raises `Looping`: it is taken to repeat its last round, every
period that round took, for as long as the container runs.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simcluster.containers import script as ast
from simcluster.containers.world import World

__all__ = [
    "ROUNDS",
    "Chunk",
    "Forever",
    "Input",
    "Interrupted",
    "Looping",
    "Shell",
    "ShellExit",
]

ROUNDS = 20


class Forever(Exception):
    """The program waits (or serves) from here on until it is stopped."""


class Interrupted(Exception):
    """A live session ended (the client went away or pressed Ctrl-C)."""


class ShellExit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Chunk:
    """Output at ``at`` seconds of the program's clock, on ``fd`` (1 or 2)."""

    at: float
    fd: int
    text: str


class Looping(Exception):
    """A loop that is taken to run forever: ``round`` is the output of one round, stamped
    from the round's start, ``period`` how long a round takes, ``start`` when the first
    repeated round begins."""

    def __init__(self, start: float, period: float, round_: list[Chunk]) -> None:
        super().__init__("loop")
        self.start = start
        self.period = period
        self.round = round_


class Input:
    """A command's standard input: text, or a live session's input (``reader`` returns the
    next chunk, "" at its end), or nothing (end of file at once); ``open_forever`` is a
    terminal nobody types into, which a model cannot read."""

    def __init__(
        self,
        text: str | None = None,
        reader: Callable[[], str] | None = None,
        open_forever: bool = False,
    ) -> None:
        self._text = text or ""
        self._reader = reader
        self._open_forever = open_forever
        self._ended = reader is None

    def readline(self) -> str:
        """The next line with its newline, or "" at the end."""
        while "\n" not in self._text and not self._ended:
            chunk = self._reader() if self._reader is not None else ""
            if not chunk:
                self._ended = True
            self._text += chunk
        if self._open_forever and not self._text:
            raise Forever
        line, newline, rest = self._text.partition("\n")
        self._text = rest
        return line + newline

    def read(self) -> str:
        chunks = []
        while line := self.readline():
            chunks.append(line)
        return "".join(chunks)


Writer = Callable[[int, str], None]
Program = Callable[["Shell", list[str], Input], int]


@dataclass
class Timer:
    """A model's clock, shared by a shell and the shells it starts (``sh -c``): seconds since
    the program started, and the round of a loop being recorded."""

    now: float = 0.0
    recording: list[Chunk] | None = None
    recording_from: float = 0.0


@dataclass
class Shell:
    """One shell process. ``write(fd, text)`` receives its output (model or live);
    ``stdin`` is its input; ``cancel`` ends a live session's waits; ``name`` is how it calls
    itself in messages (``sh``, ``bash``)."""

    world: World
    write: Writer
    live: bool = False
    stdin: Input = field(default_factory=Input)
    cancel: threading.Event = field(default_factory=threading.Event)
    name: str = "sh"
    args: list[str] = field(default_factory=list)
    timer: Timer = field(default_factory=Timer)
    # A model takes a program it does not know for a server that runs until stopped.
    unknown_runs_forever: bool = False

    def __post_init__(self) -> None:
        self.env: dict[str, str] = dict(self.world.env)
        self.exported: set[str] = set(self.env)
        self.status = 0
        self.cwd = "/"
        self.workdir_from_spec()
        self.traps: dict[str, str] = {}
        self.errexit = False
        self.background: list[threading.Thread] = []
        self.forever_in_background = False
        self._writers: list[dict[int, Writer]] = [{1: self._base, 2: self._base}]

    def workdir_from_spec(self) -> None:
        workdir = self.world.container.get("workingDir")
        if workdir:
            self.cwd = workdir
        elif self.world.short == "httpd":
            self.cwd = "/usr/local/apache2"

    @property
    def clock(self) -> float:
        return self.timer.now

    @clock.setter
    def clock(self, seconds: float) -> None:
        self.timer.now = seconds

    def _base(self, fd: int, text: str) -> None:
        timer = self.timer
        if timer.recording is not None:
            timer.recording.append(Chunk(timer.now - timer.recording_from, fd, text))
        self.write(fd, text)

    # -- output -------------------------------------------------------------------------------

    def out(self, text: str) -> None:
        self._writers[-1][1](1, text)

    def err(self, text: str) -> None:
        self._writers[-1][2](2, text)

    def capture(self, run: Callable[[], int]) -> tuple[int, str]:
        """Run with stdout collected; (status, the text)."""
        collected: list[str] = []
        self._writers.append({**self._writers[-1], 1: lambda fd, text: collected.append(text)})
        try:
            code = run()
        finally:
            self._writers.pop()
        return code, "".join(collected)

    # -- time ---------------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        if seconds == float("inf"):
            if not self.live:
                raise Forever
            self.cancel.wait()
            raise Interrupted
        if self.live:
            if self.cancel.wait(seconds):
                raise Interrupted
        else:
            self.clock += seconds

    def check(self) -> None:
        """Give a live session the chance to end between commands."""
        if self.live:
            if self.cancel.is_set():
                raise Interrupted
            time.sleep(0)

    # -- running ------------------------------------------------------------------------------

    def run_script(self, text: str, *, catch_exit: bool = True) -> int:
        """Run ``text``; its exit status. Raises `Forever`, `Looping` (models) and
        `Interrupted` (live sessions); ``exit`` ends it with its code (or raises `ShellExit`
        when not ``catch_exit``: one line of an interactive shell)."""
        try:
            tree = ast.parse(text)
        except ast.ScriptError as error:
            self.err(f"{self.name}: {error}\n")
            return 2
        try:
            return self.sequence(tree)
        except ShellExit as done:
            if not catch_exit:
                raise
            return done.code

    def run_argv(self, argv: list[str]) -> int:
        """Run one program with these arguments, as ``kubectl exec pod -- argv`` does."""
        from simcluster.containers.commands import run_program

        try:
            return run_program(self, argv, self.stdin)
        except ShellExit as done:
            return done.code

    def sequence(self, tree: ast.Sequence) -> int:
        status = 0
        for command, background in tree.items:
            self.check()
            status = self._background(command) if background else self.and_or(command)
            self.status = status
        return status

    def _background(self, command: ast.AndOr) -> int:
        if self.live:
            thread = threading.Thread(target=self._quietly, args=(command,), daemon=True)
            thread.start()
            self.background.append(thread)
            return 0
        saved = self.clock
        try:
            self.and_or(command)
        except (Forever, Looping):
            self.forever_in_background = True
        self.clock = saved
        return 0

    def _quietly(self, command: ast.AndOr) -> None:
        with contextlib.suppress(Interrupted, ShellExit, Forever, Looping):
            self.and_or(command)

    def and_or(self, command: ast.AndOr) -> int:
        status = self.pipeline(command.first)
        for op, pipeline in command.rest:
            if (op == "&&" and status == 0) or (op == "||" and status != 0):
                status = self.pipeline(pipeline)
        if self.errexit and status != 0 and not command.rest:
            raise ShellExit(status)
        return status

    def pipeline(self, pipeline: ast.Pipeline) -> int:
        stdin: Input | None = None
        status = 0
        for index, command in enumerate(pipeline.commands):
            last = index == len(pipeline.commands) - 1
            if last:
                status = self.command(command, stdin)
            else:
                status, text = self.capture(lambda c=command, s=stdin: self.command(c, s))
                stdin = Input(text)
        self.status = status
        return (0 if status else 1) if pipeline.negate else status

    def command(self, command: object, stdin: Input | None = None) -> int:
        if isinstance(command, ast.Simple):
            return self.simple(command, stdin)
        redirects = getattr(command, "redirects", [])
        return self._redirected(redirects, lambda: self._compound(command), stdin)

    def _compound(self, command: object) -> int:
        if isinstance(command, ast.While):
            return self._while(command)
        if isinstance(command, ast.For):
            status = 0
            words = (
                [field for word in command.words for field in self.fields(word)]
                if command.words is not None
                else list(self.args[1:])
            )
            for value in words:
                self.env[command.name] = value
                status = self.sequence(command.body)
            return status
        if isinstance(command, ast.If):
            for condition, body in command.branches:
                if self._condition(condition) == 0:
                    return self.sequence(body)
            return self.sequence(command.otherwise) if command.otherwise else 0
        if isinstance(command, ast.Group):
            if not command.subshell:
                return self.sequence(command.body)
            saved = (dict(self.env), self.cwd)
            try:
                return self.sequence(command.body)
            except ShellExit as done:
                return done.code
            finally:
                self.env, self.cwd = saved
        raise TypeError(command)

    def _condition(self, condition: ast.Sequence) -> int:
        errexit, self.errexit = self.errexit, False
        try:
            return self.sequence(condition)
        finally:
            self.errexit = errexit

    def _while(self, loop: ast.While) -> int:
        if self.live:
            return self._rounds(loop)
        logging, self.world.log_requests = self.world.log_requests, False
        try:
            return self._rounds(loop)
        finally:
            self.world.log_requests = logging

    def _rounds(self, loop: ast.While) -> int:
        status = 0
        rounds = 0
        while True:
            self.check()
            condition = self._condition(loop.condition)
            if (condition == 0) == loop.until:
                return status
            rounds += 1
            if not self.live and rounds > ROUNDS:
                # One more round, recorded: what it prints is what every round prints.
                start = self.timer.recording_from = self.clock
                self.timer.recording = chunks = []
                try:
                    self.sequence(loop.body)
                finally:
                    self.timer.recording = None
                raise Looping(start, self.clock - start, chunks)
            status = self.sequence(loop.body)

    # -- simple commands ----------------------------------------------------------------------

    def simple(self, command: ast.Simple, stdin: Input | None) -> int:
        from simcluster.containers.commands import run_program

        argv = [field for word in command.words for field in self.fields(word)]
        values = [(name, self.expand(word)) for name, word in command.assignments]
        if not argv:
            for name, value in values:
                self.env[name] = value
            return self._redirected(command.redirects, lambda: 0, stdin)
        saved = {name: self.env.get(name) for name, _ in values}
        for name, value in values:
            self.env[name] = value
        try:
            return self._redirected(
                command.redirects,
                lambda: run_program(self, argv, self._stdin_for(stdin)),
                stdin,
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    self.env.pop(name, None)
                else:
                    self.env[name] = value

    def _stdin_for(self, stdin: Input | None) -> Input:
        return stdin if stdin is not None else self.stdin

    def _redirected(
        self, redirects: list[ast.Redirect], run: Callable[[], int], stdin: Input | None
    ) -> int:
        if not redirects:
            return run()
        writers = dict(self._writers[-1])
        pending: list[tuple[str, list[str], bool]] = []
        for redirect in redirects:
            if redirect.dup is not None:
                if redirect.fd in (1, 2) and redirect.dup in writers:
                    writers[redirect.fd] = writers[redirect.dup]
                continue
            target = self.expand(redirect.target) if redirect.target else ""
            if redirect.fd == 0:
                text = self.world.fs.read(self.path(target))
                if text is None:
                    self.err(f"{self.name}: can't open {target}: no such file\n")
                    return 1
                stdin = Input(text)
                continue
            if target == "/dev/null":
                sink: Writer = lambda fd, text: None  # noqa: E731
            elif target in ("/dev/stderr", "/proc/self/fd/2"):
                sink = writers[2]
            elif target in ("/dev/stdout", "/proc/self/fd/1"):
                sink = writers[1]
            else:
                collected: list[str] = []
                pending.append((self.path(target), collected, redirect.append))
                problem = self.world.fs.write(self.path(target), "", append=True)
                if problem:
                    self.err(f"{self.name}: can't create {target}: {problem}\n")
                    return 1
                sink = lambda fd, text, c=collected: c.append(text)  # noqa: E731
            for fd in (1, 2) if redirect.fd == -1 else (redirect.fd,):
                writers[fd] = sink
        self._writers.append(writers)
        try:
            if stdin is not None and stdin is not self.stdin:
                saved, self.stdin = self.stdin, stdin
                try:
                    return run()
                finally:
                    self.stdin = saved
            return run()
        finally:
            self._writers.pop()
            for path, collected, append in pending:
                self.world.fs.write(path, "".join(collected), append=append)

    # -- expansion ----------------------------------------------------------------------------

    def path(self, name: str) -> str:
        import posixpath

        if not name.startswith("/"):
            name = posixpath.join(self.cwd, name)
        return posixpath.normpath(name) if name != "/" else "/"

    def variable(self, name: str) -> str:
        if name == "?":
            return str(self.status)
        if name == "$":
            return "1"
        if name == "#":
            return str(max(len(self.args) - 1, 0))
        if name.isdigit():
            index = int(name)
            return self.args[index] if index < len(self.args) else ""
        if name in ("@", "*"):
            return " ".join(self.args[1:])
        if ":-" in name:
            base, _, default = name.partition(":-")
            return self.env.get(base) or default
        if name.startswith("#"):
            return str(len(self.env.get(name[1:], "")))
        return self.env.get(name, "")

    def _part(self, part: ast.Part) -> str:
        if part.kind == "lit":
            return part.text
        if part.kind == "var":
            return self.variable(part.text)
        if part.kind == "cmd":
            status, text = self.capture(lambda: self._substitute(part.text))
            self.status = status
            return text.rstrip("\n")
        if part.kind == "arith":
            return str(self.arithmetic(part.text))
        raise ValueError(part.kind)

    def _substitute(self, text: str) -> int:
        saved = (dict(self.env), self.cwd)
        try:
            return self.run_script(text)
        finally:
            self.env, self.cwd = saved

    def arithmetic(self, expression: str) -> int:
        text = re.sub(
            r"\$?([A-Za-z_][A-Za-z0-9_]*)",
            lambda m: self.env.get(m.group(1), "0") or "0",
            expression,
        )
        if not re.fullmatch(r"[\d\s+\-*/%()<>=!&|]*", text):
            self.err(f"{self.name}: arithmetic syntax error\n")
            return 0
        text = text.replace("/", "//").replace("&&", " and ").replace("||", " or ")
        try:
            return int(eval(text, {"__builtins__": {}}, {}))  # digits and operators only
        except (SyntaxError, ZeroDivisionError, TypeError, ValueError):
            self.err(f"{self.name}: arithmetic syntax error\n")
            return 0

    def expand(self, word: ast.Word) -> str:
        return "".join(self._part(part) for part in word.parts)

    def fields(self, word: ast.Word) -> list[str]:
        """The fields a word expands to: unquoted expansions are split on blanks, and a word
        that expands to nothing unquoted gives no field."""
        fields: list[str] = []
        current: str | None = None
        for part in word.parts:
            value = self._part(part)
            if part.kind == "lit" or part.quoted:
                current = (current or "") + value
                continue
            pieces = value.split()
            if not pieces:
                continue
            if value[:1].isspace() and current is not None:
                fields.append(current)
                current = None
            current = (current or "") + pieces[0]
            for piece in pieces[1:]:
                fields.append(current)
                current = piece
            if value[-1:].isspace():
                fields.append(current)
                current = None
        if current is not None:
            fields.append(current)
        return fields

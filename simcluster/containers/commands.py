"""The programs the simulated shell knows, with the words and exit codes of the real ones
(busybox's in busybox and Alpine images, GNU's and bash's in the Debian-based ones).

Builtins (``cd``, ``echo``, ``export``, ``exit``, ``read``, ``sleep``, ``test``, ``trap``,
``wait``, ...), files and text (``cat``, ``ls``, ``grep``, ``head``, ``tail``, ``wc``, ``tee``,
``mkdir``, ``touch``, ``rm``), the system (``env``, ``hostname``, ``date``, ``id``, ``uname``),
the network (``wget``, ``curl``, ``nslookup``: `simcluster.containers.network`), shells
(``sh -c``, ``bash``) and a few programs of the catalogue's images (``nginx -v``,
``redis-cli ping``, perl's ``print bpi(N)``). A program the image does not have is
"not found", as its shell says it; any other program prints that the simulated cluster does
not run it, with exit status 127.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from simcluster.containers import network
from simcluster.containers.shell import Forever, Input, Shell, ShellExit
from simcluster.containers.world import World, nginx_version

__all__ = ["NOT_RUN", "missing", "run_program"]

NOT_RUN = (
    "simulated cluster: {program} does not run here (no containers run in the simulated cluster)"
)
Program = Callable[[Shell, list[str], Input], int]
_PROGRAMS: dict[str, Program] = {}
_DEBIAN_LACKS = {"wget", "nslookup", "ps"}
_BUSYBOX_LACKS = {"curl", "bash", "redis-cli", "nginx", "perl"}
_DISTROLESS = ("pause", "http-echo", "whoami")


def program(*names: str) -> Callable[[Program], Program]:
    def register(function: Program) -> Program:
        for name in names:
            _PROGRAMS[name] = function
        return function

    return register


def missing(world: World, name: str) -> bool:
    """Whether ``name`` is a program the simulated shell knows that the image lacks."""
    return name in _PROGRAMS and name not in _BUILTINS and not _has_program(world, name)


def _has(shell: Shell, name: str) -> bool:
    return _has_program(shell.world, name)


def _has_program(world: World, name: str) -> bool:
    """Whether the container's image has the program ``name`` at all."""
    if world.short in _DISTROLESS:
        return False
    if name in ("nginx",):
        return world.short == "nginx"
    if name == "redis-cli":
        return world.short == "redis"
    if name == "perl":
        return world.short in ("perl", "nginx", "httpd", "debian", "ubuntu", "python")
    if name == "kubectl":
        return world.short == "kubectl"
    if world.flavour == "busybox":
        if name == "curl":
            return world.short == "curl"
        return name not in _BUSYBOX_LACKS
    if name == "curl":
        return world.short in ("nginx", "curl")
    return name not in _DEBIAN_LACKS


def _not_found(shell: Shell, name: str) -> int:
    if shell.name == "bash":
        shell.err(f"bash: {name}: command not found\n")
    elif shell.world.flavour == "busybox":
        shell.err(f"sh: {name}: not found\n")
    else:
        shell.err(f"sh: 1: {name}: not found\n")
    return 127


def run_program(shell: Shell, argv: list[str], stdin: Input) -> int:
    """Run ``argv`` in ``shell``: a builtin, a known program, or the refusal."""
    name = argv[0]
    base = posixpath.basename(name)
    if base == "busybox" and len(argv) > 1 and shell.world.flavour == "busybox":
        return run_program(shell, argv[1:], stdin)
    function = _PROGRAMS.get(base)
    if function is None and shell.unknown_runs_forever and not shell.live:
        raise Forever
    if function is None:
        if "/" in name and not _has(shell, base):
            shell.err(f"{shell.name}: {name}: not found\n")
            return 127
        shell.err(NOT_RUN.format(program=base) + "\n")
        return 127
    if base not in _BUILTINS and not _has(shell, base):
        return _not_found(shell, base)
    return function(shell, argv, stdin)


# -- builtins -------------------------------------------------------------------------------

_BUILTINS = {"cd", "pwd", "export", "unset", "set", "exit", "true", "false", ":", "echo",
             "printf", "test", "[", "trap", "wait", "read", "sleep", "exec", "eval", "type",
             "command", "kill", ".", "source", "shift", "return", "umask", "ulimit"}  # fmt: skip


@program("true", ":", "umask", "ulimit")
def _true(shell: Shell, argv: list[str], stdin: Input) -> int:
    return 0


@program("false")
def _false(shell: Shell, argv: list[str], stdin: Input) -> int:
    return 1


@program("exit", "return")
def _exit(shell: Shell, argv: list[str], stdin: Input) -> int:
    code = shell.status
    if len(argv) > 1:
        if not argv[1].lstrip("-").isdigit():
            shell.err(f"{shell.name}: exit: Illegal number: {argv[1]}\n")
            code = 2
        else:
            code = int(argv[1]) % 256
    raise ShellExit(code)


@program("echo")
def _echo(shell: Shell, argv: list[str], stdin: Input) -> int:
    args, newline, escapes = argv[1:], True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        newline = newline and "n" not in args[0]
        escapes = "e" in args[0] or escapes
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text = text.replace("\\n", "\n").replace("\\t", "\t")
    shell.out(text + ("\n" if newline else ""))
    return 0


@program("printf")
def _printf(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) < 2:
        shell.err("printf: usage: printf format [arguments]\n")
        return 2
    form, values = argv[1], argv[2:]
    form = form.replace("\\n", "\n").replace("\\t", "\t")
    fields = re.findall(r"%[-0-9.]*[sdif]|%%", form)
    count = len([f for f in fields if f != "%%"]) or 1
    rounds = max(1, -(-len(values) // count)) if values else 1
    out = []
    for index in range(rounds):
        chunk = values[index * count : (index + 1) * count]
        iterator = iter(chunk)

        def fill(match: re.Match[str], it=iterator) -> str:
            spec = match.group(0)
            if spec == "%%":
                return "%"
            value = next(it, "")
            if spec[-1] in "di":
                value = str(int(value) if value.lstrip("-").isdigit() else 0)
            return ("%" + spec[1:-1] + "s") % value

        out.append(re.sub(r"%[-0-9.]*[sdif]|%%", fill, form))
    shell.out("".join(out))
    return 0


@program("cd")
def _cd(shell: Shell, argv: list[str], stdin: Input) -> int:
    target = shell.path(argv[1] if len(argv) > 1 else shell.env.get("HOME", "/"))
    if not shell.world.fs.is_dir(target):
        shell.err(f"{shell.name}: cd: can't cd to {argv[1] if len(argv) > 1 else target}: "
                  "No such file or directory\n")  # fmt: skip
        return 2 if shell.world.flavour == "busybox" else 1
    shell.cwd = target
    shell.env["PWD"] = target
    return 0


@program("pwd")
def _pwd(shell: Shell, argv: list[str], stdin: Input) -> int:
    shell.out(shell.cwd + "\n")
    return 0


@program("export")
def _export(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) == 1 or argv[1:] == ["-p"]:
        for key in sorted(shell.exported):
            if key in shell.env:
                shell.out(f"export {key}='{shell.env[key]}'\n")
        return 0
    for arg in argv[1:]:
        name, has_value, value = arg.partition("=")
        if has_value:
            shell.env[name] = value
        shell.exported.add(name)
    return 0


@program("unset")
def _unset(shell: Shell, argv: list[str], stdin: Input) -> int:
    for name in argv[1:]:
        shell.env.pop(name, None)
        shell.exported.discard(name)
    return 0


@program("set")
def _set(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) == 1:
        for key in sorted(shell.env):
            shell.out(f"{key}='{shell.env[key]}'\n")
    for arg in argv[1:]:
        if arg.startswith("-") and "e" in arg:
            shell.errexit = True
        elif arg.startswith("+") and "e" in arg:
            shell.errexit = False
    return 0


@program("shift")
def _shift(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(shell.args) > 1:
        del shell.args[1]
    return 0


@program("sleep")
def _sleep(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) < 2:
        shell.err("sleep: missing operand\n" if shell.world.flavour != "busybox"
                  else "BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary.\n\n"
                  "Usage: sleep [N]...\n")  # fmt: skip
        return 1
    total = 0.0
    for arg in argv[1:]:
        if arg in ("infinity", "inf"):
            total = float("inf")
            break
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", arg)
        if not match:
            shell.err(f"sleep: invalid number '{arg}'\n")
            return 1
        total += (
            float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
        )
    shell.sleep(total)
    return 0


@program("trap")
def _trap(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) >= 3:
        for signal in argv[2:]:
            shell.traps[signal.upper().removeprefix("SIG")] = argv[1]
    return 0


@program("wait")
def _wait(shell: Shell, argv: list[str], stdin: Input) -> int:
    if shell.live:
        for thread in shell.background:
            while thread.is_alive():
                thread.join(0.2)
                shell.check()
        return 0
    if shell.forever_in_background:
        raise Forever
    return 0


@program("read")
def _read(shell: Shell, argv: list[str], stdin: Input) -> int:
    names = [arg for arg in argv[1:] if not arg.startswith("-")] or ["REPLY"]
    line = stdin.readline()
    if not line:
        return 1
    words = line.rstrip("\n").split(None, len(names) - 1)
    for index, name in enumerate(names):
        shell.env[name] = words[index] if index < len(words) else ""
    return 0


@program("kill")
def _kill(shell: Shell, argv: list[str], stdin: Input) -> int:
    return 0


@program("exec")
def _exec(shell: Shell, argv: list[str], stdin: Input) -> int:
    if len(argv) == 1:
        return 0
    raise ShellExit(run_program(shell, argv[1:], stdin))


@program("eval")
def _eval(shell: Shell, argv: list[str], stdin: Input) -> int:
    return shell.run_script(" ".join(argv[1:]))


@program(".", "source")
def _source(shell: Shell, argv: list[str], stdin: Input) -> int:
    text = shell.world.fs.read(shell.path(argv[1])) if len(argv) > 1 else None
    if text is None:
        shell.err(f"{shell.name}: .: can't open '{argv[1] if len(argv) > 1 else ''}'\n")
        return 2
    return shell.run_script(text)


@program("type", "command")
def _type(shell: Shell, argv: list[str], stdin: Input) -> int:
    names = [arg for arg in argv[1:] if not arg.startswith("-")]
    if argv[0] == "command" and "-v" not in argv:
        return run_program(shell, names, stdin) if names else 0
    status = 0
    for name in names:
        if name in _BUILTINS:
            shell.out(f"{name} is a shell builtin\n" if argv[0] == "type" else f"{name}\n")
        elif name in _PROGRAMS and _has(shell, name):
            shell.out(f"{name} is /bin/{name}\n" if argv[0] == "type" else f"/bin/{name}\n")
        else:
            status = 1
            if argv[0] == "type":
                shell.out(f"{name}: not found\n")
    return status


@program("test", "[")
def _test(shell: Shell, argv: list[str], stdin: Input) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            shell.err("[: missing ]\n")
            return 2
        args = args[:-1]
    return 0 if _evaluate(shell, args) else 1


def _evaluate(shell: Shell, args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _evaluate(shell, args[1:])
    if "-a" in args:
        index = args.index("-a")
        return _evaluate(shell, args[:index]) and _evaluate(shell, args[index + 1 :])
    if "-o" in args:
        index = args.index("-o")
        return _evaluate(shell, args[:index]) or _evaluate(shell, args[index + 1 :])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, value = args
        fs = shell.world.fs
        path = shell.path(value)
        return {
            "-z": value == "",
            "-n": value != "",
            "-e": fs.read(path) is not None or fs.is_dir(path),
            "-f": fs.read(path) is not None,
            "-d": fs.is_dir(path),
            "-s": bool(fs.read(path)),
            "-r": fs.read(path) is not None or fs.is_dir(path),
            "-x": False,
        }.get(op, False)
    left, op, right = args[0], args[1], args[2]
    if op in ("=", "=="):
        return left == right
    if op == "!=":
        return left != right
    try:
        a, b = int(left), int(right)
    except ValueError:
        return False
    return {"-eq": a == b, "-ne": a != b, "-lt": a < b, "-le": a <= b, "-gt": a > b,
            "-ge": a >= b}.get(op, False)  # fmt: skip


# -- shells ---------------------------------------------------------------------------------


@program("sh", "bash", "ash", "dash")
def _shell(shell: Shell, argv: list[str], stdin: Input) -> int:
    name = posixpath.basename(argv[0])
    if name == "bash" and not _has(shell, "bash"):
        return _not_found(shell, "bash")
    args = argv[1:]
    while args and args[0] in ("-e", "-x", "-l", "-i", "-ex", "-xe", "-eu", "-eux"):
        args = args[1:]
    child = Shell(shell.world, shell.write, shell.live, stdin, shell.cancel, name,
                  timer=shell.timer)  # fmt: skip
    child.env, child.cwd = dict(shell.env), shell.cwd
    child._writers = [dict(shell._writers[-1])]
    if "-e" in argv[1:3] or "-ex" in argv[1:3]:
        child.errexit = True
    try:
        if args and args[0] == "-c":
            if len(args) < 2:
                shell.err(f"{name}: -c requires an argument\n")
                return 2
            child.args = [args[2] if len(args) > 2 else name, *args[3:]]
            return child.run_script(args[1])
        if args:
            text = shell.world.fs.read(shell.path(args[0]))
            if text is None:
                shell.err(f"{name}: can't open '{args[0]}': No such file or directory\n")
                return 2
            child.args = args
            return child.run_script(text)
        return _read_commands(child, stdin)
    finally:
        shell.forever_in_background |= child.forever_in_background
        shell.traps.update(child.traps)


def _read_commands(shell: Shell, stdin: Input) -> int:
    """A shell without ``-c`` reads commands from its input until the end of it."""
    status = 0
    buffered = ""
    while True:
        line = stdin.readline()
        if not line:
            return status
        buffered += line
        try:
            status = shell.run_script(buffered, catch_exit=False)
        except ShellExit as done:
            return done.code
        buffered = ""


# -- files and text -------------------------------------------------------------------------


def _files(shell: Shell, argv: list[str]) -> list[str]:
    return [arg for arg in argv[1:] if not arg.startswith("-") or arg == "-"]


def _missing(shell: Shell, command: str, name: str) -> None:
    if shell.world.flavour == "busybox":
        if command == "cat":
            shell.err(f"cat: can't open '{name}': No such file or directory\n")
        else:
            shell.err(f"{command}: {name}: No such file or directory\n")
    elif command == "ls":
        shell.err(f"ls: cannot access '{name}': No such file or directory\n")
    else:
        shell.err(f"{command}: {name}: No such file or directory\n")


def _inputs(shell: Shell, argv: list[str], stdin: Input, command: str) -> tuple[str, int]:
    names = _files(shell, argv)
    if not names or names == ["-"]:
        return stdin.read(), 0
    texts, status = [], 0
    for name in names:
        path = shell.path(name)
        text = shell.world.fs.read(path)
        if text is None:
            if shell.world.fs.is_dir(path):
                shell.err(f"{command}: read error: Is a directory\n" if shell.world.flavour ==
                          "busybox" else f"{command}: {name}: Is a directory\n")  # fmt: skip
            else:
                _missing(shell, command, name)
            status = 1
            continue
        texts.append(text)
    return "".join(texts), status


@program("cat")
def _cat(shell: Shell, argv: list[str], stdin: Input) -> int:
    text, status = _inputs(shell, argv, stdin, "cat")
    shell.out(text)
    return status


@program("ls")
def _ls(shell: Shell, argv: list[str], stdin: Input) -> int:
    flags = "".join(arg[1:] for arg in argv[1:] if arg.startswith("-"))
    names = _files(shell, argv) or ["."]
    status = 0
    fs = shell.world.fs
    for index, name in enumerate(names):
        path = shell.path(name)
        entries = fs.entries(path)
        if entries is None:
            if fs.read(path) is None:
                _missing(shell, "ls", name)
                status = 1 if shell.world.flavour == "busybox" else 2
            else:
                shell.out(name + "\n")
            continue
        if "a" in flags:
            entries = [".", "..", *entries]
        if len(names) > 1:
            shell.out(("\n" if index else "") + f"{name}:\n")
        if "l" in flags:
            shell.out(f"total {len(entries)}\n")
            for entry in entries:
                full = posixpath.join(path, entry)
                if fs.is_dir(full):
                    shell.out(f"drwxr-xr-x    2 root     root          4096 Jan  1 00:00 {entry}\n")
                else:
                    size = len((fs.read(full) or "").encode())
                    shell.out(
                        f"-rw-r--r--    1 root     root      {size:>8} Jan  1 00:00 {entry}\n"
                    )
        elif shell.world.tty and "1" not in flags:
            if entries:
                shell.out("  ".join(entries) + "\n")
        else:
            shell.out("".join(entry + "\n" for entry in entries))
    return status


@program("grep")
def _grep(shell: Shell, argv: list[str], stdin: Input) -> int:
    args = argv[1:]
    flags = ""
    while args and args[0].startswith("-") and len(args[0]) > 1:
        flags += args.pop(0)[1:]
    if not args:
        shell.err("Usage: grep [-HhnlLoqvsrRiwFE] PATTERN [FILE]...\n")
        return 2
    pattern, files = args[0], args[1:]
    text, status = _inputs(shell, ["grep", *files], stdin, "grep")
    try:
        regex = re.compile(pattern if "F" not in flags else re.escape(pattern),
                           re.IGNORECASE if "i" in flags else 0)  # fmt: skip
    except re.error:
        regex = re.compile(re.escape(pattern))
    lines = [line for line in text.splitlines() if bool(regex.search(line)) != ("v" in flags)]
    if "c" in flags:
        shell.out(f"{len(lines)}\n")
    elif "q" not in flags:
        shell.out("".join(line + "\n" for line in lines))
    return status if status else (0 if lines else 1)


def _count(argv: list[str], default: int = 10) -> tuple[int, list[str]]:
    count, rest = default, []
    args = iter(argv[1:])
    for arg in args:
        if arg == "-n":
            count = int(next(args, str(default)).lstrip("+") or default)
        elif re.fullmatch(r"-n?\d+", arg):
            count = int(arg.lstrip("-n"))
        elif arg in ("-f", "-F"):
            continue
        else:
            rest.append(arg)
    return count, rest


@program("head")
def _head(shell: Shell, argv: list[str], stdin: Input) -> int:
    count, rest = _count(argv)
    text, status = _inputs(shell, ["head", *rest], stdin, "head")
    shell.out("".join(line + "\n" for line in text.splitlines()[:count]))
    return status


@program("tail")
def _tail(shell: Shell, argv: list[str], stdin: Input) -> int:
    count, rest = _count(argv)
    text, status = _inputs(shell, ["tail", *rest], stdin, "tail")
    lines = text.splitlines()
    shell.out("".join(line + "\n" for line in (lines[-count:] if count else [])))
    if "-f" in argv or "-F" in argv:
        shell.sleep(float("inf"))
    return status


@program("wc")
def _wc(shell: Shell, argv: list[str], stdin: Input) -> int:
    flags = "".join(arg[1:] for arg in argv[1:] if arg.startswith("-"))
    text, status = _inputs(shell, argv, stdin, "wc")
    counts = {"l": text.count("\n"), "w": len(text.split()), "c": len(text.encode())}
    chosen = [key for key in "lwc" if key in flags] or ["l", "w", "c"]
    width = 7 if len(chosen) > 1 else 0
    shown = " ".join(f"{counts[key]:>{width}}" for key in chosen)
    names = _files(shell, argv)
    shell.out(shown + (f" {names[0]}" if names else "") + "\n")
    return status


@program("sort")
def _sort(shell: Shell, argv: list[str], stdin: Input) -> int:
    text, status = _inputs(shell, argv, stdin, "sort")
    lines = sorted(text.splitlines(), reverse="-r" in argv)
    if "-u" in argv:
        lines = sorted(set(lines), reverse="-r" in argv)
    shell.out("".join(line + "\n" for line in lines))
    return status


@program("seq")
def _seq(shell: Shell, argv: list[str], stdin: Input) -> int:
    numbers = [int(arg) for arg in argv[1:] if arg.lstrip("-").isdigit()]
    first, step, last = 1, 1, 0
    if len(numbers) == 1:
        last = numbers[0]
    elif len(numbers) == 2:
        first, last = numbers
    elif len(numbers) >= 3:
        first, step, last = numbers[:3]
    shell.out("".join(f"{n}\n" for n in range(first, last + (1 if step > 0 else -1), step)))
    return 0


@program("tee")
def _tee(shell: Shell, argv: list[str], stdin: Input) -> int:
    text = stdin.read()
    status = 0
    for name in _files(shell, argv):
        problem = shell.world.fs.write(shell.path(name), text, append="-a" in argv)
        if problem:
            shell.err(f"tee: {name}: {problem}\n")
            status = 1
    shell.out(text)
    return status


@program("mkdir")
def _mkdir(shell: Shell, argv: list[str], stdin: Input) -> int:
    for name in _files(shell, argv):
        path = shell.path(name)
        problem = shell.world.fs.write(path + "/.keep", "")
        if problem:
            shell.err(f"mkdir: can't create directory '{name}': {problem}\n")
            return 1
    return 0


@program("touch")
def _touch(shell: Shell, argv: list[str], stdin: Input) -> int:
    for name in _files(shell, argv):
        problem = shell.world.fs.write(shell.path(name), "", append=True)
        if problem:
            shell.err(f"touch: {name}: {problem}\n")
            return 1
    return 0


@program("rm")
def _rm(shell: Shell, argv: list[str], stdin: Input) -> int:
    status = 0
    for name in _files(shell, argv):
        path = shell.path(name)
        fs = shell.world.fs
        if path in fs.layer:
            del fs.layer[path]
            continue
        problem = fs.write(path, "")
        if (problem or fs.read(path) is None) and "-f" not in argv:
            shell.err(f"rm: can't remove '{name}': {problem or 'No such file or directory'}\n")
            status = 1
    return status


# -- the system -----------------------------------------------------------------------------


@program("env", "printenv")
def _env(shell: Shell, argv: list[str], stdin: Input) -> int:
    names = [arg for arg in argv[1:] if not arg.startswith("-")]
    if argv[0] == "env" and names:
        assignments = [arg for arg in names if "=" in arg]
        rest = [arg for arg in names if "=" not in arg]
        saved = dict(shell.env)
        shell.env.update(arg.split("=", 1) for arg in assignments)  # type: ignore[arg-type]
        try:
            if rest:
                return run_program(shell, rest, stdin)
            names = []
        finally:
            if rest:
                shell.env = saved
    if argv[0] == "printenv" and names:
        found = [shell.env[name] for name in names if name in shell.env]
        shell.out("".join(value + "\n" for value in found))
        return 0 if len(found) == len(names) else 1
    visible = {k: v for k, v in shell.env.items() if k in shell.exported or k in shell.world.env}
    shell.out("".join(f"{key}={value}\n" for key, value in visible.items()))
    return 0


@program("hostname")
def _hostname(shell: Shell, argv: list[str], stdin: Input) -> int:
    if "-i" in argv:
        shell.out(shell.world.pod_ip + "\n")
    else:
        shell.out(shell.world.hostname + "\n")
    return 0


def now(shell: Shell) -> datetime:
    """The wall-clock time the shell is at: now, or the model's start plus its clock."""
    if shell.live:
        return datetime.now(UTC)
    return shell.world.started + timedelta(seconds=shell.clock)


@program("date")
def _date(shell: Shell, argv: list[str], stdin: Input) -> int:
    when = now(shell)
    form = next((arg[1:] for arg in argv[1:] if arg.startswith("+")), None)
    if form:
        shell.out(when.strftime(form.replace("%N", "000000000")) + "\n")
    else:
        day = when.strftime("%d").lstrip("0").rjust(2)
        shell.out(when.strftime(f"%a %b {day} %H:%M:%S UTC %Y") + "\n")
    return 0


@program("id")
def _id(shell: Shell, argv: list[str], stdin: Input) -> int:
    uid = shell.world.uid
    if "-u" in argv:
        shell.out(f"{uid}\n")
    elif uid == 0:
        groups = "0(root),1(bin),2(daemon),3(sys),4(adm),6(disk),10(wheel),11(floppy),20(dialout)"
        shell.out(
            f"uid=0(root) gid=0(root) groups="
            f"{groups if shell.world.flavour == 'busybox' else '0(root)'}\n"
        )
    else:
        gid = ((shell.world.pod.get("spec") or {}).get("securityContext") or {}).get(
            "runAsGroup", 0
        )
        shell.out(f"uid={uid} gid={gid}" + ("(root)" if gid == 0 else "") + "\n")
    return 0


@program("whoami")
def _whoami(shell: Shell, argv: list[str], stdin: Input) -> int:
    if shell.world.uid == 0:
        shell.out("root\n")
        return 0
    shell.err(f"whoami: unknown uid {shell.world.uid}\n")
    return 1


@program("uname")
def _uname(shell: Shell, argv: list[str], stdin: Input) -> int:
    host = shell.world.hostname
    parts = {"s": "Linux", "n": host, "r": "6.1.0", "v": "#1 SMP PREEMPT_DYNAMIC",
             "m": "x86_64", "o": "GNU/Linux"}  # fmt: skip
    flags = "".join(arg[1:] for arg in argv[1:] if arg.startswith("-")) or "s"
    if "a" in flags:
        flags = "snrvmo"
    shell.out(" ".join(parts[key] for key in "snrvmo" if key in flags) + "\n")
    return 0


@program("ps")
def _ps(shell: Shell, argv: list[str], stdin: Input) -> int:
    shell.err(NOT_RUN.format(program="ps") + "\n")
    return 127


# -- the images' own programs ---------------------------------------------------------------


@program("nginx")
def _nginx(shell: Shell, argv: list[str], stdin: Input) -> int:
    version = nginx_version(shell.world.container.get("image", ""))
    if "-v" in argv:
        shell.err(f"nginx version: nginx/{version}\n")
        return 0
    if "-V" in argv:
        shell.err(f"nginx version: nginx/{version}\nbuilt by gcc 12.2.0 (Debian 12.2.0-14)\n"
                  "built with OpenSSL 3.0.15 3 Sep 2024\nTLS SNI support enabled\n")  # fmt: skip
        return 0
    if "-t" in argv or "-T" in argv:
        shell.err(
            "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
            "nginx: configuration file /etc/nginx/nginx.conf test is successful\n"
        )
        return 0
    if "-s" in argv:
        stamp = now(shell).strftime("%Y/%m/%d %H:%M:%S")
        shell.err(f"{stamp} [notice] 30#30: signal process started\n")
        return 0
    # nginx itself, in the foreground: a server does not end.
    if shell.live:
        shell.err(f'{now(shell).strftime("%Y/%m/%d %H:%M:%S")} [emerg] 30#30: bind() to '
                  "0.0.0.0:80 failed (98: Address already in use)\n")  # fmt: skip
        return 1
    raise Forever


@program("redis-cli")
def _redis_cli(shell: Shell, argv: list[str], stdin: Input) -> int:
    words = [arg for arg in argv[1:] if not arg.startswith("-")]
    if words[:1] == ["ping"] or [w.lower() for w in words[:1]] == ["ping"]:
        shell.out("PONG\n")
        return 0
    shell.err(NOT_RUN.format(program="redis-cli " + " ".join(words)) + "\n")
    return 127


@program("perl")
def _perl(shell: Shell, argv: list[str], stdin: Input) -> int:
    code = " ".join(argv[1:])
    match = re.search(r"print\s+bpi\((\d+)\)", code)
    if match and "bignum" in code:
        digits = int(match.group(1))
        shell.out(_pi(digits) + "\n")
        return 0
    if argv[1:] == ["-de0"] and stdin.readline() == "":
        return 0
    shell.err(NOT_RUN.format(program="perl") + "\n")
    return 127


def _pi(digits: int) -> str:
    """π to ``digits`` significant digits, as perl's ``bpi(digits)`` prints it (Machin's
    formula in integers, with guard digits)."""
    guard = 10
    scale = 10 ** (digits + guard)

    def arctan_inverse(x: int) -> int:
        total, term, n, sign = 0, scale // x, 1, 1
        x_squared = x * x
        while term:
            total += sign * (term // n)
            term //= x_squared
            n += 2
            sign = -sign
        return total

    shown = str(4 * (4 * arctan_inverse(5) - arctan_inverse(239)))
    text = shown[:digits]
    if int(shown[digits]) >= 5:  # rounded, as bignum rounds
        text = str(int(text) + 1)
    return text[0] + "." + text[1:] if digits > 1 else text


@program("kubectl")
def _kubectl(shell: Shell, argv: list[str], stdin: Input) -> int:
    shell.err(NOT_RUN.format(program="kubectl") + "\n")
    return 127


for _name in ("wget", "curl", "nslookup"):
    _PROGRAMS[_name] = getattr(network, _name)

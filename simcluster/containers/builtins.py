"""The simulated shell's builtins (``cd``, ``echo``, ``export``, ``exit``, ``read``,
``sleep``, ``test``, ``trap``, ``wait``, ...) and the shells themselves (``sh -c``, ``bash``,
a shell reading commands from its input), with the words and exit codes of busybox's ash and
of bash. They register themselves with `simcluster.containers.commands`."""

from __future__ import annotations

import posixpath
import re

from simcluster.containers.commands import (
    BUILTINS,
    PROGRAMS,
    has,
    not_found,
    program,
    run_program,
)
from simcluster.containers.shell import Forever, Input, Shell, ShellExit


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
        if name in BUILTINS:
            shell.out(f"{name} is a shell builtin\n" if argv[0] == "type" else f"{name}\n")
        elif name in PROGRAMS and has(shell, name):
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
    if name == "bash" and not has(shell, "bash"):
        return not_found(shell, "bash")
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

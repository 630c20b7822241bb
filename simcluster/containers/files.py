"""Files and text in the simulated shell: ``cat``, ``ls``, ``grep``, ``head``, ``tail``,
``wc``, ``sort``, ``seq``, ``tee``, ``mkdir``, ``touch``, ``rm``, with busybox's words in
busybox and Alpine images and GNU's in the others. They register themselves with
`simcluster.containers.commands`."""

from __future__ import annotations

import posixpath
import re

from simcluster.containers.commands import program
from simcluster.containers.shell import Input, Shell


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

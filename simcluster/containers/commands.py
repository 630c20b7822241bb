"""The programs the simulated shell knows, with the words and exit codes of the real ones
(busybox's in busybox and Alpine images, GNU's and bash's in the Debian-based ones).

This module holds the register of programs and runs them; the programs themselves are the
builtins and shells (`simcluster.containers.builtins`), files and text
(`simcluster.containers.files`), the network (``wget``, ``curl``, ``nslookup``:
`simcluster.containers.network`), and here the system (``env``, ``hostname``, ``date``,
``id``, ``uname``) and a few programs of the catalogue's images (``nginx -v``,
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
from simcluster.containers.shell import Forever, Input, Shell
from simcluster.containers.world import World, nginx_version

__all__ = [
    "BUILTINS",
    "NOT_RUN",
    "PROGRAMS",
    "has",
    "missing",
    "not_found",
    "program",
    "run_program",
]

NOT_RUN = (
    "simulated cluster: {program} does not run here (no containers run in the simulated cluster)"
)
Program = Callable[[Shell, list[str], Input], int]
PROGRAMS: dict[str, Program] = {}
_DEBIAN_LACKS = {"wget", "nslookup", "ps"}
_BUSYBOX_LACKS = {"curl", "bash", "redis-cli", "nginx", "perl"}
_DISTROLESS = ("pause", "http-echo", "whoami")
BUILTINS = {"cd", "pwd", "export", "unset", "set", "exit", "true", "false", ":", "echo",
             "printf", "test", "[", "trap", "wait", "read", "sleep", "exec", "eval", "type",
             "command", "kill", ".", "source", "shift", "return", "umask", "ulimit"}  # fmt: skip


def program(*names: str) -> Callable[[Program], Program]:
    def register(function: Program) -> Program:
        for name in names:
            PROGRAMS[name] = function
        return function

    return register


def missing(world: World, name: str) -> bool:
    """Whether ``name`` is a program the simulated shell knows that the image lacks."""
    return name in PROGRAMS and name not in BUILTINS and not _has_program(world, name)


def has(shell: Shell, name: str) -> bool:
    """Whether the shell's image has the program ``name``."""
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


def not_found(shell: Shell, name: str) -> int:
    """The shell's complaint about a program its image lacks; 127."""
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
    function = PROGRAMS.get(base)
    if function is None and shell.unknown_runs_forever and not shell.live:
        raise Forever
    if function is None:
        if "/" in name and not has(shell, base):
            shell.err(f"{shell.name}: {name}: not found\n")
            return 127
        shell.err(NOT_RUN.format(program=base) + "\n")
        return 127
    if base not in BUILTINS and not has(shell, base):
        return not_found(shell, base)
    return function(shell, argv, stdin)


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
    PROGRAMS[_name] = getattr(network, _name)

# The builtins and the file and text programs register themselves when imported.
from simcluster.containers import builtins, files  # noqa: E402, F401

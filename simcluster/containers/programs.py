"""What a container's own process does, worked out when it starts: the `Outcome`.

The process is the container's ``command`` and ``args`` over the image's entrypoint and
command, as the runtime composes them. Servers of the catalogue (nginx, httpd, redis, postgres,
pause, http-echo, whoami) print their real start-up lines and run until stopped; postgres
without ``POSTGRES_PASSWORD`` exits 1 with its real complaint. Anything else runs in the
simulated shell as a model (`simcluster.containers.shell`): ``sh -c 'echo hi; exit 3'`` prints
"hi" and exits 3; ``sleep 5`` ends after five seconds of the node's time; busybox's default
``sh`` with nothing on its input ends at once with 0; ``sh`` with ``stdin: true`` waits for a
terminal (``kubectl run -it``, ``kubectl attach``); a loop that keeps going repeats its last
round; a program the simulated cluster does not know is taken to run until stopped, printing
nothing.

A process ends at once on SIGTERM when it is a server or its script traps the signal; a shell
(or ``sleep``) that is PID 1 ignores it, so deleting its pod takes the whole grace period.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from datetime import datetime

from simcluster.containers.shell import Chunk, Forever, Input, Looping, Shell
from simcluster.containers.world import World, nginx_version

__all__ = ["Outcome", "argv_of", "model"]


@dataclass(frozen=True)
class Outcome:
    """``chunks``: output stamped in seconds after the start; ``ends``: when the process exits
    (None: it runs until stopped) with ``exit_code``; ``repeat``: a loop's round and period,
    from ``repeat.start`` on; ``interactive``: it reads a terminal (attach to talk to it)."""

    chunks: list[Chunk] = field(default_factory=list)
    ends: float | None = None
    exit_code: int = 0
    repeat: Looping | None = None
    interactive: bool = False
    stops_on_term: bool = False


def argv_of(container: dict, world: World) -> list[str]:
    """The process the runtime starts: command (else the image's entrypoint) and args (else,
    without a command, the image's command)."""
    image = world.image
    command = [str(c) for c in container.get("command") or []]
    args = [str(a) for a in container.get("args") or []]
    if command:
        return command + args
    entrypoint = list(image.entrypoint) if image else []
    return entrypoint + (args if args else (list(image.cmd) if image else []))


_ENTRYPOINTS = ("/docker-entrypoint.sh", "docker-entrypoint.sh", "/entrypoint.sh")


def _stamp(started: datetime, form: str) -> str:
    return started.strftime(form)


def _nginx_lines(world: World) -> list[str]:
    version = nginx_version(world.container.get("image", ""))
    stamp = _stamp(world.started, "%Y/%m/%d %H:%M:%S")
    conf = "/etc/nginx/conf.d/default.conf"
    mounted = any(
        conf.startswith(m.path.rstrip("/") + "/") or conf == m.path for m in world.fs.mounts
    )
    ipv6 = (
        [f"10-listen-on-ipv6-by-default.sh: info: can not modify {conf} (read-only file "
         "system?)"]
        if mounted
        else [f"10-listen-on-ipv6-by-default.sh: info: Getting the checksum of {conf}",
              f"10-listen-on-ipv6-by-default.sh: info: Enabled listen on IPv6 in {conf}"]
    )  # fmt: skip
    entry = "/docker-entrypoint.sh"
    lines = [
        f"{entry}: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
        f"{entry}: Looking for shell scripts in /docker-entrypoint.d/",
        f"{entry}: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
        *ipv6,
        f"{entry}: Sourcing /docker-entrypoint.d/15-local-resolvers.envsh",
        f"{entry}: Launching /docker-entrypoint.d/20-envsubst-on-templates.sh",
        f"{entry}: Launching /docker-entrypoint.d/30-tune-worker-processes.sh",
        f"{entry}: Configuration complete; ready for start up",
    ]
    notice = f"{stamp} [notice] 1#1:"
    lines += [
        f'{notice} using the "epoll" event method',
        f"{notice} nginx/{version}",
        f"{notice} built by gcc 12.2.0 (Debian 12.2.0-14) ",
        f"{notice} OS: Linux 6.1.0",
        f"{notice} getrlimit(RLIMIT_NOFILE): 1048576:1048576",
        f"{notice} start worker processes",
        *(f"{notice} start worker process {pid}" for pid in range(29, 33)),
    ]
    return lines


def _server_lines(world: World, program: str) -> list[str] | None:
    """The start-up lines of the catalogue's servers, or None when ``program`` is none."""
    started = world.started
    if program in ("httpd-foreground", "apache2-foreground"):
        name = "httpd" if program == "httpd-foreground" else "apache2"
        fqdn = (
            f"AH00558: {name}: Could not reliably determine the server's fully qualified domain "
            f"name, using {world.pod_ip or '127.0.0.1'}. Set the 'ServerName' directive globally "
            "to suppress this message"
        )
        when = started.strftime("%a %b %d %H:%M:%S.%f %Y")
        return [
            fqdn,
            fqdn,
            f"[{when}] [mpm_event:notice] [pid 1:tid 1] AH00489: Apache/2.4.65 (Unix) configured "
            "-- resuming normal operations",
            f"[{when}] [core:notice] [pid 1:tid 1] AH00094: Command line: 'httpd -D FOREGROUND'",
        ]
    if program == "redis-server":
        when = started.strftime("%d %b %Y %H:%M:%S.%f")[:-3]
        return [
            f"1:C {when} * oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo",
            f"1:C {when} * Redis version=8.2.1, bits=64, commit=00000000, modified=1, pid=1, "
            "just started",
            f"1:C {when} # Warning: no config file specified, using the default config. In order "
            "to specify a config file use redis-server /path/to/redis.conf",
            f"1:M {when} * monotonic clock: POSIX clock_gettime",
            f"1:M {when} * Running mode=standalone, port=6379.",
            f"1:M {when} * Server initialized",
            f"1:M {when} * Ready to accept connections tcp",
        ]
    if program == "postgres":
        when = started.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC [1]"
        return [
            'The files belonging to this database system will be owned by user "postgres".',
            "This user must also own the server process.",
            "",
            "PostgreSQL init process complete; ready for start up.",
            "",
            f"{when} LOG:  starting PostgreSQL 17.6 (Debian 17.6-1.pgdg120+1) on "
            "x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit",
            f'{when} LOG:  listening on IPv4 address "0.0.0.0", port 5432',
            f"{when} LOG:  database system is ready to accept connections",
        ]
    if program in ("/pause", "pause"):
        return []
    if program in ("/http-echo", "http-echo"):
        when = started.strftime("%Y/%m/%d %H:%M:%S")
        return [f"{when} [INFO] server is listening on :5678"]
    if program in ("/whoami", "whoami"):
        when = started.strftime("%Y/%m/%d %H:%M:%S")
        return [f"{when} Starting up on port 80"]
    return None


_POSTGRES_NO_PASSWORD = """\
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.

       See PostgreSQL documentation about "trust":
       https://www.postgresql.org/docs/current/auth-trust.html
"""

_KUBECTL_HELP = """\
kubectl controls the Kubernetes cluster manager.

 Find more information at: https://kubernetes.io/docs/reference/kubectl/

Use "kubectl <command> --help" for more information about a given command.
Use "kubectl options" for a list of global command-line options (applies to all commands).
"""


def _serving(lines: list[str]) -> Outcome:
    return Outcome([Chunk(0.0, 1, line + "\n") for line in lines], None, 0, None, False, True)


def model(world: World, *, stdin_open: bool = False) -> Outcome:
    """What the container's process does, from its start."""
    argv = argv_of(world.container, world)
    if argv and argv[0] in _ENTRYPOINTS and len(argv) > 1:
        argv = argv[1:]
    if not argv:
        return Outcome([Chunk(0.0, 2, "no command specified\n")], 0.0, 128)
    program = posixpath.basename(argv[0])
    if program in ("nginx", "nginx-debug") and world.short == "nginx":
        if "daemon off;" in " ".join(argv):
            return _serving(_nginx_lines(world))
        if not ({"-v", "-V", "-t", "-T", "-s"} & set(argv)):
            return Outcome(
                [Chunk(0.0, 1, line + "\n") for line in _nginx_lines(world)[:9]], 0.0, 0
            )  # nginx daemonises and the container's process ends
    if program == "postgres" and not (
        world.env.get("POSTGRES_PASSWORD") or world.env.get("POSTGRES_HOST_AUTH_METHOD") == "trust"
    ):
        return Outcome([Chunk(0.0, 2, _POSTGRES_NO_PASSWORD)], 0.0, 1)
    lines = _server_lines(world, argv[0])
    if lines is not None:
        return _serving(lines)
    if program == "kubectl" and argv[1:] in ([], ["--help"], ["help"]):
        return Outcome([Chunk(0.0, 1, _KUBECTL_HELP)], 0.0, 0)
    chunks: list[Chunk] = []
    stdin = Input(open_forever=True) if stdin_open else Input()
    shell = Shell(world, lambda fd, text: None, stdin=stdin)
    shell.write = lambda fd, text: chunks.append(Chunk(shell.clock, fd, text))
    shell.unknown_runs_forever = True
    try:
        code = shell.run_argv(argv)
    except Forever:
        interactive = stdin_open and _reads_terminal(argv)
        return Outcome(chunks, None, 0, None, interactive, _traps_term(shell))
    except Looping as loop:
        before = [chunk for chunk in chunks if chunk.at < loop.start]
        return Outcome(before, None, 0, loop, False, _traps_term(shell))
    if shell.forever_in_background:
        return Outcome(chunks, None, 0, None, False, _traps_term(shell))
    return Outcome(chunks, shell.clock, code, None, False, _traps_term(shell))


def _reads_terminal(argv: list[str]) -> bool:
    program = posixpath.basename(argv[0])
    return program in ("sh", "bash", "ash", "dash", "perl", "python3") and "-c" not in argv


def _traps_term(shell: Shell) -> bool:
    return any(signal in shell.traps for signal in ("TERM", "INT", "EXIT", "15", "2"))

"""``wget``, ``curl`` and ``nslookup`` in a simulated container, and what the servers of the
catalogue's images answer them.

A request goes where cluster networking would send it (`World.connect`): a Service to one of
its ready endpoints in turn, a pod IP to that pod, ``localhost`` to the pod's own containers.
The answer is the image's: nginx serves the files under ``/usr/share/nginx/html`` of its
container (its welcome page, or what a ConfigMap mounted there holds; 404 otherwise) with its
``Server: nginx/<version>`` header, httpd its "It works!", http-echo its ``-text``, whoami the
request; a port nothing listens on refuses the connection, a Service without ready endpoints
too (as kube-proxy rejects it), a name that does not resolve is a "bad address". Each request
is written to the serving nginx's access log.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING

from simcluster.containers.world import DNS_IP, Backend, Refused, World, nginx_version

if TYPE_CHECKING:
    from simcluster.containers.shell import Input, Shell

__all__ = ["Response", "curl", "nslookup", "request", "wget"]

_CURL_VERSION = "8.11.1"


@dataclass
class Response:
    status: int
    reason: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: str = ""


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


def _nginx(world: World, path: str, method: str) -> Response:
    version = nginx_version(world.container.get("image", ""))
    root = "/usr/share/nginx/html"
    clean = path.split("?", 1)[0] or "/"
    target = root + clean
    if world.fs.is_dir(target):
        target = target.rstrip("/") + "/index.html"
    body = world.fs.read(target)
    now = datetime.now(UTC)
    if body is None:
        status, reason = (403, "Forbidden") if world.fs.is_dir(root + clean) else (404, "Not Found")
        page = (
            f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
            f"<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/{version}"
            "</center>\r\n</body>\r\n</html>\r\n"
        )
        headers = [("Server", f"nginx/{version}"), ("Date", _http_date(now)),
                   ("Content-Type", "text/html"), ("Content-Length", str(len(page))),
                   ("Connection", "close")]  # fmt: skip
        return Response(status, reason, headers, page)
    size = len(body.encode())
    etag = hashlib.md5(body.encode()).hexdigest()[:8]
    kind = "text/html" if target.endswith((".html", ".htm")) else "text/plain"
    headers = [
        ("Server", f"nginx/{version}"), ("Date", _http_date(now)), ("Content-Type", kind),
        ("Content-Length", str(size)), ("Last-Modified", _http_date(world.started)),
        ("Connection", "close"), ("ETag", f'"{etag}-{size:x}"'), ("Accept-Ranges", "bytes"),
    ]  # fmt: skip
    return Response(200, "OK", headers, "" if method == "HEAD" else body)


def _serve(backend: Backend, world: World, path: str, method: str, client: str) -> Response:
    short = backend.image.repository.rsplit("/", 1)[-1]
    now = datetime.now(UTC)
    server_world = World(world.node, backend.pod, backend.container)
    if short == "nginx":
        response = _nginx(server_world, path, method)
        agent = {"curl": "curl/" + _CURL_VERSION, "kube-probe": "kube-probe/1.34"}.get(
            client, "Wget"
        )
        # The kubelet probes from the node's end of the pod network.
        source = "10.244.0.1" if client == "kube-probe" else world.pod_ip or "127.0.0.1"
        stamp = now.strftime("%d/%b/%Y:%H:%M:%S +0000")
        size = len(response.body.encode())
        if not world.log_requests:
            return response
        world.node.log_access(
            backend.pod["metadata"].get("uid", ""),
            backend.container.get("name", ""),
            f'{source} - - [{stamp}] "{method} {path} HTTP/1.1" '
            f'{response.status} {size} "-" "{agent}" "-"',
        )
        return response
    if short in ("httpd", "hpa-example"):
        body = server_world.fs.read("/usr/local/apache2/htdocs" + (path if path != "/" else
                                    "/index.html"))  # fmt: skip
        if short == "hpa-example":
            body = "OK!"
        server = "Apache/2.4.65 (Unix)"
        if body is None:
            page = (
                '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n'
                "<title>404 Not Found</title>\n</head><body>\n<h1>Not Found</h1>\n"
                "<p>The requested URL was not found on this server.</p>\n</body></html>\n"
            )
            return Response(404, "Not Found", [("Server", server)], page)  # fmt: skip
        headers = [("Date", _http_date(now)), ("Server", server),
                   ("Content-Length", str(len(body))), ("Content-Type", "text/html")]  # fmt: skip
        return Response(200, "OK", headers, body)
    if short == "http-echo":
        args = [*(backend.container.get("command") or []), *(backend.container.get("args") or [])]
        text = next((str(a).split("=", 1)[1] for a in args if str(a).startswith("-text=")),
                    "hello-world")  # fmt: skip
        headers = [
            ("X-App-Name", "http-echo"),
            ("X-App-Version", "1.0.0"),
            ("Date", _http_date(now)),
            ("Content-Type", "text/plain; charset=utf-8"),
        ]
        return Response(200, "OK", headers, text + "\n")
    if short == "whoami":
        meta = backend.pod["metadata"]
        ip = (backend.pod.get("status") or {}).get("podIP", "")
        body = (f"Hostname: {meta['name']}\nIP: 127.0.0.1\nIP: {ip}\nRemoteAddr: "
                f"{world.pod_ip}:40000\n{method} {path} HTTP/1.1\nHost: {ip}\n"
                f"User-Agent: {'Wget' if client == 'wget' else 'curl/' + _CURL_VERSION}\n"
                "Accept: */*\n\n")  # fmt: skip
        return Response(200, "OK", [("Date", _http_date(now))], body)
    raise Refused("reset")


def request(
    world: World, host: str, port: int, path: str, method: str, client: str
) -> tuple[str, Response]:
    """(the address connected to, the answer) of an HTTP request; raises `Refused`."""
    ip, backend = world.connect(host, port)
    return ip, _serve(backend, world, path, method, client)


def _url(text: str) -> tuple[str, int, str, str] | None:
    """(host, port, path, scheme) of an http(s) URL (the scheme may be left out)."""
    match = re.fullmatch(r"(?:(https?)://)?([^/:?#]+)(?::(\d+))?(/[^#]*)?(?:#.*)?", text)
    if not match:
        return None
    scheme = match.group(1) or "http"
    port = int(match.group(3)) if match.group(3) else (443 if scheme == "https" else 80)
    return match.group(2), port, match.group(4) or "/", scheme


def _options(argv: list[str], valued: str) -> tuple[set[str], dict[str, str], list[str]]:
    """busybox-style short options: flags, valued options (``-O file``, ``-qO-``), operands."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    operands: list[str] = []
    args = iter(argv[1:])
    for arg in args:
        if arg.startswith("--"):
            name, has, value = arg[2:].partition("=")
            if has:
                values[name] = value
            elif name in ("output-document", "timeout", "user-agent", "header", "output",
                          "max-time", "connect-timeout", "request", "write-out"):  # fmt: skip
                values[name] = next(args, "")
            else:
                flags.add(name)
        elif arg.startswith("-") and len(arg) > 1:
            for index, char in enumerate(arg[1:], 1):
                if char in valued:
                    values[char] = arg[index + 1 :] or next(args, "")
                    break
                flags.add(char)
        else:
            operands.append(arg)
    return flags, values, operands


def wget(shell: Shell, argv: list[str], stdin: Input) -> int:
    """busybox wget."""
    flags, values, operands = _options(argv, "OTUPYohe")
    if not operands:
        shell.err("BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary.\n\n"
                  "Usage: wget [-cqS] [--spider] [-O FILE] [-o LOGFILE] [--header STR]\n"
                  "\t[--post-data STR | --post-file FILE] [-Y on/off]\n"
                  "\t[-P DIR] [-U AGENT] [-T SEC] URL...\n")  # fmt: skip
        return 1
    quiet = "q" in flags
    output = values.get("O", values.get("output-document"))
    timeout = float(values.get("T", values.get("timeout", "10")) or 10)
    status = 0
    for url in operands:
        parsed = _url(url)
        if parsed is None:
            shell.err(f"wget: not an http or ftp url: {url}\n")
            status = 1
            continue
        host, port, path, _ = parsed
        hostport = host if port == 80 and ":80" not in url else f"{host}:{port}"
        try:
            ip, response = request(shell.world, host, port, path, "GET", "wget")
        except Refused as refused:
            if refused.why == "resolve":
                shell.err(f"wget: bad address '{hostport}'\n")
            elif refused.why == "timeout":
                if not quiet:
                    shell.err(f"Connecting to {hostport} ({refused.ip}:{port})\n")
                shell.sleep(min(timeout, 10))
                shell.err("wget: download timed out\n")
            elif refused.why == "reset":
                if not quiet:
                    shell.err(f"Connecting to {hostport} ({refused.ip}:{port})\n")
                shell.err("wget: error getting response: Connection reset by peer\n")
            else:
                if not quiet:
                    shell.err(f"Connecting to {hostport} ({refused.ip}:{port})\n")
                shell.err(f"wget: can't connect to remote host ({refused.ip}): "
                          "Connection refused\n")  # fmt: skip
            status = 1
            continue
        if not quiet:
            shell.err(f"Connecting to {hostport} ({ip}:{port})\n")
        if "S" in flags:
            shell.err(f"  HTTP/1.1 {response.status} {response.reason}\n")
            shell.err("".join(f"  {name}: {value}\n" for name, value in response.headers))
        if response.status >= 400:
            shell.err(f"wget: server returned error: HTTP/1.1 {response.status} "
                      f"{response.reason}\n")  # fmt: skip
            status = 1
            continue
        if "spider" in flags:
            if not quiet:
                shell.err("remote file exists\n")
            continue
        if output == "-":
            shell.out(response.body)
            continue
        name = output or (path.rstrip("/").rsplit("/", 1)[-1] or "index.html")
        if output != "/dev/null":
            problem = shell.world.fs.write(shell.path(name), response.body)
            if problem:
                shell.err(f"wget: can't open '{name}': {problem}\n")
                status = 1
                continue
        if not quiet:
            size = len(response.body.encode())
            shell.err(f"saving to '{name}'\n{name[:20]:<20} 100% |"
                      f"********************************| {size:>5}  0:00:00 ETA\n"
                      f"'{name}' saved\n")  # fmt: skip
    return status


def curl(shell: Shell, argv: list[str], stdin: Input) -> int:
    """curl 8."""
    flags, values, operands = _options(argv, "oHXmwAe")
    silent = "s" in flags or "silent" in flags
    show_error = "S" in flags or "show-error" in flags
    if not operands:
        shell.err("curl: try 'curl --help' or 'curl --manual' for more information\n")
        return 2
    method = values.get("X", values.get("request", "GET"))
    head = "I" in flags or "head" in flags
    if head:
        method = "HEAD"
    verbose = "v" in flags or "verbose" in flags
    status = 0
    for url in operands:
        parsed = _url(url)
        if parsed is None:
            if not silent or show_error:
                shell.err("curl: (3) URL rejected: Malformed input to a URL function\n")
            status = 3
            continue
        host, port, path, scheme = parsed
        if verbose:
            shell.err(f"* Host {host}:{port} was resolved.\n")
        try:
            ip, response = request(shell.world, host, port, path, method, "curl")
        except Refused as refused:
            messages = {
                "resolve": (6, f"Could not resolve host: {host}"),
                "refused": (7, f"Failed to connect to {host} port {port} after 0 ms: Could "
                               "not connect to server"),
                "timeout": (28, f"Failed to connect to {host} port {port} after 10002 ms: "
                                "Timeout was reached"),
                "reset": (56, "Recv failure: Connection reset by peer"),
            }  # fmt: skip
            code, message = messages[refused.why]
            if refused.why == "timeout":
                shell.sleep(10)
            if not silent or show_error:
                shell.err(f"curl: ({code}) {message}\n")
            status = code
            continue
        if scheme == "https":
            if not silent or show_error:
                shell.err("curl: (35) OpenSSL/3.3.2: error:0A00010B:SSL routines::wrong "
                          "version number\n")  # fmt: skip
            status = 35
            continue
        if verbose:
            shell.err(
                f"*   Trying {ip}:{port}...\n* Connected to {host} ({ip}) port {port}\n"
                f"> {method} {path} HTTP/1.1\n> Host: {host}:{port}\n"
                f"> User-Agent: curl/{_CURL_VERSION}\n> Accept: */*\n>\n"
                f"< HTTP/1.1 {response.status} {response.reason}\n"
                + "".join(f"< {n}: {v}\n" for n, v in response.headers)
                + "<\n"
            )
        if ("f" in flags or "fail" in flags) and response.status >= 400:
            if not silent or show_error:
                shell.err(f"curl: (22) The requested URL returned error: {response.status}\n")
            status = 22
            continue
        head_text = (
            f"HTTP/1.1 {response.status} {response.reason}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in response.headers)
            + "\r\n"
        )
        text = head_text if head else (head_text if "i" in flags else "") + response.body
        output = values.get("o", values.get("output"))
        if output and output != "-":
            if output != "/dev/null":
                shell.world.fs.write(shell.path(output), text)
            if not silent:
                size = len(text.encode())
                shell.err("  % Total    % Received % Xferd  Average Speed   Time    Time     Time "
                          " Current\n                                 Dload  Upload   Total   "
                          "Spent    Left  Speed\n"
                          f"100   {size:>3}  100   {size:>3}    0     0   {size:>5}      0 --:--:"
                          "-- --:--:-- --:--:-- 10000\n")  # fmt: skip
        else:
            shell.out(text)
        if "w" in values:
            shell.out(values["w"].replace("%{http_code}", str(response.status))
                      .replace("\\n", "\n"))  # fmt: skip
    return status


def nslookup(shell: Shell, argv: list[str], stdin: Input) -> int:
    """busybox nslookup: the cluster DNS server's answer for a Service or pod name."""
    names = [arg for arg in argv[1:] if not arg.startswith("-")]
    if not names:
        shell.err("BusyBox v1.37.0 (2024-09-26 21:31:42 UTC) multi-call binary.\n\n"
                  "Usage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n")  # fmt: skip
        return 1
    host = names[0]
    shell.out(f"Server:\t\t{DNS_IP}\nAddress:\t{DNS_IP}:53\n\n")
    world = shell.world
    try:
        ip, service, pod = world.resolve(host)
    except Refused:
        shell.out(f"** server can't find {host}: NXDOMAIN\n\n")
        return 1
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", host):
        reverse = ".".join(reversed(host.split("."))) + ".in-addr.arpa"
        if service is not None:
            meta = service["metadata"]
            shown = f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
        elif pod is not None:
            shown = f"{host.replace('.', '-')}.{pod['metadata']['namespace']}.pod.cluster.local"
        else:
            shell.out(f"** server can't find {reverse}: NXDOMAIN\n\n")
            return 1
        shell.out(f"{reverse}\tname = {shown}\n\n")
        return 0
    if service is not None:
        meta = service["metadata"]
        fqdn = f"{meta['name']}.{meta['namespace']}.svc.cluster.local"
        shell.out(f"Name:\t{fqdn}\nAddress: {ip}\n\n")
        return 0
    if pod is not None and host in ("localhost", "127.0.0.1"):
        shell.out(f"Name:\t{host}\nAddress: 127.0.0.1\n\n")
        return 0
    if pod is not None:
        spec = pod.get("spec") or {}
        fqdn = host
        if spec.get("subdomain"):
            fqdn = (f"{spec.get('hostname')}.{spec['subdomain']}."
                    f"{pod['metadata']['namespace']}.svc.cluster.local")  # fmt: skip
        shell.out(f"Name:\t{fqdn}\nAddress: {ip}\n\n")
        return 0
    shell.out(f"** server can't find {host}: NXDOMAIN\n\n")
    return 1

"""Probes by rule: whether a container's readiness, liveness or startup probe passes, and the
kubelet's message when it does not.

- ``exec``: the command runs in the simulated shell (`simcluster.containers`) against the
  container's files and environment; exit status 0 passes (``true``, ``cat`` of a mounted file,
  ``test -f``, ``redis-cli ping`` in redis).
- ``httpGet``: the request goes to the pod's IP and the port (a number, or the name of a
  container port); the server of the image on that port answers (nginx on 80 serves its files),
  and 200-399 passes. A port nothing listens on: connection refused.
- ``tcpSocket`` and ``grpc``: pass when the image listens on the port.
"""

from __future__ import annotations

from simcluster.containers.network import request
from simcluster.containers.node import Node
from simcluster.containers.shell import Forever, Input, Looping, Shell
from simcluster.containers.world import Refused, World

__all__ = ["check_probe"]


def _port(container: dict, port: object) -> int | None:
    if isinstance(port, int):
        return port
    if isinstance(port, str) and port.isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared.get("containerPort") or 0)
    return None


def check_probe(node: Node, pod: dict, container: dict, probe: dict) -> tuple[bool, str]:
    """(passes, the failure's message)."""
    ip = (pod.get("status") or {}).get("podIP", "")
    world = World(node, pod, container)
    if probe.get("exec"):
        command = [str(word) for word in probe["exec"].get("command") or []]
        output: list[str] = []
        shell = Shell(world, lambda fd, text: output.append(text), stdin=Input())
        try:
            code = shell.run_argv(command) if command else 1
        except (Forever, Looping):
            return False, f"command {command!r} timed out"
        return code == 0, "".join(output).strip()
    for kind in ("httpGet", "tcpSocket", "grpc"):
        check = probe.get(kind)
        if check is None:
            continue
        port = _port(container, check.get("port"))
        if port is None:
            return False, f"port {check.get('port')!r} is not a port of the container"
        if kind == "httpGet":
            path = check.get("path") or "/"
            scheme = (check.get("scheme") or "HTTP").lower()
            url = f"{scheme}://{ip}:{port}{path}"
            try:
                _, response = request(world, ip, port, path, "GET", "kube-probe")
            except Refused:
                return False, (f'Get "{url}": dial tcp {ip}:{port}: connect: connection refused')
            if 200 <= response.status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {response.status}"
        try:
            world.connect(ip, port)
        except Refused:
            return False, f"dial tcp {ip}:{port}: connect: connection refused"
        return True, ""
    return True, ""

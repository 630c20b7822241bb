"""What the API server fills in and allocates for a Service: its type and policies, a cluster IP
from the service range, node ports from 30000-32767, and each port's protocol and targetPort.

Allocation follows kube-apiserver's: a requested cluster IP or node port is checked (in range,
not taken) and refused with the same 422 otherwise; free ones are picked at random. A headless
service (``clusterIP: None``) keeps None, an ExternalName service gets no IP.
"""

from __future__ import annotations

import ipaddress
import random
from typing import TYPE_CHECKING

from simcluster.errors import ApiError

if TYPE_CHECKING:
    from simcluster.resources import Resource

__all__ = ["KUBERNETES_IP", "NODE_PORTS", "SERVICE_RANGE", "allocate"]

SERVICE_RANGE = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_IP = "10.96.0.1"  # the `kubernetes` service in `default`, as kubeadm clusters have
NODE_PORTS = range(30000, 32768)
_WITH_NODE_PORTS = ("NodePort", "LoadBalancer")


def _taken(existing: list[dict]) -> tuple[set[str], set[int]]:
    ips, ports = set(), set()
    for svc in existing:
        spec = svc.get("spec") or {}
        ips.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip)
        ports.update(p["nodePort"] for p in spec.get("ports") or [] if p.get("nodePort"))
    return ips, ports


def _pick_ip(taken: set[str]) -> str:
    size = SERVICE_RANGE.num_addresses
    while True:
        # .0 is the network and the last the broadcast address; neither is handed out.
        candidate = str(SERVICE_RANGE.network_address + random.randrange(1, size - 1))
        if candidate not in taken:
            return candidate


def _cluster_ip(resource: Resource, name: str, spec: dict, taken: set[str]) -> None:
    requested = spec.get("clusterIP") or (spec.get("clusterIPs") or [""])[0]
    if requested == "None":
        spec["clusterIP"], spec["clusterIPs"] = "None", ["None"]
        return
    if requested:
        problem = None
        try:
            inside = ipaddress.ip_address(requested) in SERVICE_RANGE
        except ValueError:
            problem = "must be a valid IP address"
            inside = False
        if problem is None and not inside:
            problem = (
                f"failed to allocate IP {requested}: the provided IP ({requested}) is not in the "
                f"valid range. The range of valid IPs is {SERVICE_RANGE}"
            )
        elif problem is None and requested in taken:
            problem = f"failed to allocate IP {requested}: provided IP is already allocated"
        if problem is not None:
            message = f'Invalid value: []string{{"{requested}"}}: {problem}'
            raise ApiError.invalid(
                resource, name, [("spec.clusterIPs", "FieldValueInvalid", message)]
            )
    ip = requested or _pick_ip(taken)
    spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")


def _node_ports(resource: Resource, name: str, spec: dict, taken: set[str | int]) -> None:
    for index, port in enumerate(spec.get("ports") or []):
        wanted = port.get("nodePort")
        if wanted:
            problem = None
            if wanted not in NODE_PORTS:
                problem = (
                    "provided port is not in the valid range. The range of valid ports is "
                    f"{NODE_PORTS.start}-{NODE_PORTS.stop - 1}"
                )
            elif wanted in taken:
                problem = "provided port is already allocated"
            if problem is not None:
                field = f"spec.ports[{index}].nodePort"
                message = f"Invalid value: {wanted}: {problem}"
                raise ApiError.invalid(resource, name, [(field, "FieldValueInvalid", message)])
        else:
            free = [p for p in NODE_PORTS if p not in taken]
            if not free:
                message = "range is full"
                field = f"spec.ports[{index}].nodePort"
                raise ApiError.invalid(resource, name, [(field, "FieldValueInvalid", message)])
            wanted = port["nodePort"] = random.choice(free)
        taken.add(wanted)


def allocate(resource: Resource, svc: dict, others: list[dict], previous: dict | None) -> None:
    """Fill ``svc``'s defaults and allocations in place; ``others`` are the services already
    stored (without this one), ``previous`` its stored form on an update."""
    name = svc["metadata"].get("name", "")
    spec = svc.setdefault("spec", {})
    old = (previous or {}).get("spec") or {}
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        port.setdefault("protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    ips, node_ports = _taken(others)
    if kind == "ExternalName":
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(field, None)
    else:
        if old.get("clusterIP") and not spec.get("clusterIP") and not spec.get("clusterIPs"):
            # An update that leaves the cluster IP out keeps it (it cannot change).
            for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                if field in old:
                    spec[field] = old[field]
        elif old.get("clusterIP") and spec.get("clusterIP") != old["clusterIP"]:
            message = f'Invalid value: "{spec.get("clusterIP")}": field is immutable'
            raise ApiError.invalid(
                resource, name, [("spec.clusterIP", "FieldValueInvalid", message)]
            )
        else:
            _cluster_ip(resource, name, spec, ips)
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in _WITH_NODE_PORTS:
        kept = {p.get("port"): p.get("nodePort") for p in old.get("ports") or []}
        for port in spec.get("ports") or []:
            if not port.get("nodePort") and kept.get(port.get("port")):
                port["nodePort"] = kept[port.get("port")]
        mine = {p for p in kept.values() if p}
        _node_ports(resource, name, spec, node_ports - mine)
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
    else:
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    if previous is None:
        svc["status"] = {"loadBalancer": {}}

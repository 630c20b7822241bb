"""Network destinations that a lab's pods may reach beyond their own namespace: the API
server and a cluster's allow-list, written as ``CIDR`` or ``CIDR:port``.

Parsing is strict and says what is wrong, because a mistyped allow-list either opens more
than meant or silently breaks the labs. The cloud metadata service is never reachable: it is
refused on its own and carved out (``except``) of any wider block that contains it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Where clouds serve instance metadata and credentials (AWS, GCP, Azure, OpenStack use the
# IPv4 address; AWS also the IPv6 one). A pod that reaches it may read the node's identity.
METADATA_ADDRESSES = (
    ipaddress.ip_network("169.254.169.254/32"),
    ipaddress.ip_network("fd00:ec2::254/128"),
)


class BadDestination(ValueError):
    """An entry that is not ``CIDR`` or ``CIDR:port``; the message names the entry."""


@dataclass(frozen=True)
class Destination:
    """A block of addresses, and the one port open on it (None: every port)."""

    cidr: str
    port: int | None = None

    @property
    def network(self) -> IPNetwork:
        return ipaddress.ip_network(self.cidr)

    def peer(self) -> dict[str, Any]:
        """The NetworkPolicy peer for this block, with the metadata service carved out."""
        block: dict[str, Any] = {"cidr": self.cidr}
        network = self.network
        carved = [
            str(address)
            for address in METADATA_ADDRESSES
            if address.version == network.version
            and address.subnet_of(network)  # type: ignore[arg-type]
            and address != network
        ]
        if carved:
            block["except"] = carved
        return {"ipBlock": block}

    def __str__(self) -> str:
        return self.cidr if self.port is None else f"{self.cidr}:{self.port}"


def host_destination(address: str, port: int | None = None) -> Destination:
    """A single address as a block of one: /32 for IPv4, /128 for IPv6."""
    ip = ipaddress.ip_address(address)
    return Destination(f"{ip}/{ip.max_prefixlen}", port)


def _split_port(entry: str) -> tuple[str, str | None]:
    # An IPv6 block has colons of its own; a port can only follow the prefix length.
    if "/" in entry:
        block, _, prefix = entry.partition("/")
        if ":" in prefix:
            prefix, _, port = prefix.partition(":")
            return f"{block}/{prefix}", port
        return entry, None
    if entry.count(":") == 1:  # an IPv4 address with a port
        address, _, port = entry.partition(":")
        return address, port
    return entry, None


def parse_destination(entry: str) -> Destination:
    """One ``CIDR``, ``CIDR:port``, address or ``address:port``; raises ``BadDestination``."""
    text = entry.strip()
    block, port_text = _split_port(text)
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise BadDestination(f"{text!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    try:
        network = ipaddress.ip_network(block, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            wider = ipaddress.ip_network(block, strict=False)
            raise BadDestination(
                f"{text!r}: {block} has host bits set; the block is written {wider}"
            ) from None
        raise BadDestination(f"{text!r} is not an IP address or CIDR block") from None
    if any(network == address for address in METADATA_ADDRESSES):
        raise BadDestination(f"{text!r} is the cloud metadata service, which labs must never reach")
    return Destination(str(network), port)


def parse_destinations(text: str) -> list[Destination]:
    """A comma-separated list; every bad entry is named in one ``BadDestination``."""
    found: list[Destination] = []
    problems: list[str] = []
    for entry in text.split(","):
        if not entry.strip():
            continue
        try:
            found.append(parse_destination(entry))
        except BadDestination as exc:
            problems.append(str(exc))
    if problems:
        raise BadDestination("; ".join(problems))
    return found


def egress_rules(
    destinations: Iterable[Destination], protocols: tuple[str, ...] = ("TCP", "UDP")
) -> list[dict[str, Any]]:
    """NetworkPolicy egress rules: one per port (open for each of ``protocols``), and one for
    the blocks open on every port."""
    by_port: dict[int | None, list[dict[str, Any]]] = {}
    for destination in destinations:
        by_port.setdefault(destination.port, []).append(destination.peer())
    rules = []
    for port, peers in by_port.items():
        rule: dict[str, Any] = {"to": peers}
        if port is not None:
            rule["ports"] = [{"protocol": protocol, "port": port} for protocol in protocols]
        rules.append(rule)
    return rules

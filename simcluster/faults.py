"""Injected failures, latency and dropped connections, for tests of retries and benchmarks.

A rule matches when its method pattern matches the whole method (case-insensitive) and its
path pattern is found in the request path (``re.search``; anchor with ``^``/``$`` to pin it).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from simcluster.errors import ApiError

__all__ = ["Fault", "Faults"]

_DEFAULT_MESSAGES = {
    429: "Too many requests, please try again later.",
    500: "Internal error occurred: failure injected by the Kubernetes API stand-in",
    503: "the server is currently unable to handle the request",
}


@dataclass
class Fault:
    """One rule. ``action`` is ``fail``, ``delay`` or ``drop``; ``times`` None means always."""

    action: str
    method: str
    path: str
    times: int | None = 1
    status: int = 500
    retry_after: int | None = None
    message: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self._method = re.compile(self.method, re.IGNORECASE)
        self._path = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        return bool(self._method.fullmatch(method) and self._path.search(path))

    def error(self) -> ApiError:
        message = self.message or _DEFAULT_MESSAGES.get(self.status, "injected failure")
        details = {"retryAfterSeconds": self.retry_after} if self.retry_after is not None else {}
        return ApiError(self.status, message, details=details, retry_after=self.retry_after)


class Faults:
    """The rules in force; thread-safe, as tests add rules while the server runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._rules.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def take(self, method: str, path: str) -> tuple[float, Fault | None]:
        """The added latency for this request, and the failure or drop it gets, if any (which
        uses up one of that rule's ``times``)."""
        with self._lock:
            if not self._rules:
                return 0.0, None
            delay = sum(
                rule.seconds
                for rule in self._rules
                if rule.action == "delay" and rule.matches(method, path)
            )
            for rule in self._rules:
                if rule.action != "delay" and rule.matches(method, path):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return delay, rule
            return delay, None

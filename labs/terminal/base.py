"""The terminal backend contract: a small async interface that every way of running a
trainee's shell implements, so that sessions and the websocket consumer never know which
one runs.

A ``Backend`` prepares a lab's shell (synchronously: it may read the database and ask the
cluster for credentials) and starts it (asynchronously, on the event loop). The started
``Terminal`` takes input and resizes, hands out output as it comes, and reports how it
ended. Nothing here may block the event loop: one process serves many terminals."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from labs.models import Lab

# The size a terminal gets when the browser has not said yet, and the largest accepted.
DEFAULT_SIZE = (80, 24)
MAX_COLS, MAX_ROWS = 1000, 500


class TerminalError(Exception):
    """A terminal that cannot start or run; ``message`` is written to the trainee."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Exit:
    """How a shell ended: its exit status when known, and a sentence for the trainee."""

    status: int | None
    message: str


class Terminal(ABC):
    """One running shell."""

    @abstractmethod
    async def read(self) -> bytes:
        """The next output (whatever has arrived, coalesced); b"" once the shell is done."""

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Keystrokes or pasted text, as the browser sent them."""

    @abstractmethod
    async def resize(self, cols: int, rows: int) -> None: ...

    @abstractmethod
    async def close(self) -> None:
        """End the shell (safe to call more than once)."""

    @abstractmethod
    async def wait(self) -> Exit:
        """How the shell ended; call once ``read`` has returned b"" or after ``close``."""


class Backend(ABC):
    """A way to run lab shells."""

    name: str = ""
    # Said to the user beside the terminal, e.g. "local shell, confined by bubblewrap".
    description: str = ""

    @abstractmethod
    def prepare(self, lab: Lab) -> Any:
        """What ``start`` needs for ``lab`` (credentials, addresses): synchronous, may
        touch the database and the cluster. Raises ``TerminalError``."""

    @abstractmethod
    async def start(self, prepared: Any, cols: int, rows: int) -> Terminal:
        """Start a shell from what ``prepare`` returned. Raises ``TerminalError``."""


def clamp_size(cols: int, rows: int) -> tuple[int, int]:
    return max(1, min(int(cols), MAX_COLS)), max(1, min(int(rows), MAX_ROWS))

"""Content errors: every one names the file and line it is about."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class ContentError:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ContentInvalid(Exception):
    """The content has errors; nothing was written."""

    def __init__(self, errors: list[ContentError]):
        self.errors = sorted(errors)
        super().__init__("\n".join(str(error) for error in self.errors))


class ErrorLog:
    """Collects errors while a file is read, so that one run reports all of them."""

    def __init__(self) -> None:
        self.errors: list[ContentError] = []

    def add(self, path: str, line: int, message: str) -> None:
        self.errors.append(ContentError(path, line, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ContentInvalid(self.errors)

"""Code fences in Markdown, found line by line so that errors can name their lines.

Markdown's own parser does not report positions, and the slide separator ``---`` must
not split a YAML code block, so the content pipeline scans fences itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_OPEN = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Fence:
    line: int  # of the opening fence line, 1-based in the file
    language: str
    flags: tuple[str, ...]  # words after the language, e.g. ("no-validate",)
    body: str
    closed: bool
    last_line: int  # of the closing fence, or of the last line when it is never closed


def scan(lines: list[str], first_line: int = 1) -> Iterator[Fence]:
    """Yield the fences in ``lines``; ``first_line`` is the file line of ``lines[0]``."""
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if not opening:
            index += 1
            continue
        marker = opening["fence"]
        words = opening["info"].split()
        body: list[str] = []
        closed = False
        end = index + 1
        while end < len(lines):
            stripped = lines[end].strip()
            if stripped.startswith(marker[0] * len(marker)) and set(stripped) == {marker[0]}:
                closed = True
                break
            body.append(lines[end])
            end += 1
        yield Fence(
            line=first_line + index,
            language=words[0] if words else "",
            flags=tuple(words[1:]),
            body="\n".join(body),
            closed=closed,
            last_line=first_line + min(end, len(lines) - 1),
        )
        index = end + 1


def outside_fences(lines: list[str]) -> list[bool]:
    """For each line, whether it stands outside every code fence (fence lines count as inside)."""
    flags = [True] * len(lines)
    for fence in scan(lines):
        for i in range(fence.line - 1, fence.last_line):
            flags[i] = False
    return flags


def strip_flags(text: str) -> str:
    """Drop the words after a fence's language (``yaml no-validate`` → ``yaml``) for rendering."""
    out = []
    for line in text.split("\n"):
        match = _OPEN.match(line)
        if match and len(match["info"].split()) > 1:
            line = f"{match['indent']}{match['fence']}{match['info'].split()[0]}"
        out.append(line)
    return "\n".join(out)

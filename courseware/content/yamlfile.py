"""YAML that remembers where each mapping key stands, so errors can name the line.

Mappings load as ``LineDict`` (a dict with ``line`` and ``key_lines``) and sequences as
``LineList`` (a list with ``line`` and ``item_lines``). Duplicate keys, which plain
PyYAML silently overwrites, are errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from yaml.constructor import ConstructorError


class LineDict(dict[str, Any]):
    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    def __init__(
        self, items: Iterable[Any] = (), line: int = 0, item_lines: list[int] | None = None
    ):
        super().__init__(items)
        self.line = line
        self.item_lines: list[int] = item_lines or []


class _Loader(yaml.SafeLoader):
    """Safe loading, with 1-based line numbers on every mapping and sequence."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict(node.start_mark.line + 1)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            raise ConstructorError(
                None, None, f"mapping keys must be strings, not {key!r}", key_node.start_mark
            )
        if key in result:
            raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    return LineList(
        (loader.construct_object(child, deep=True) for child in node.value),
        line=node.start_mark.line + 1,
        item_lines=[child.start_mark.line + 1 for child in node.value],
    )


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class YamlError(ValueError):
    def __init__(self, line: int, message: str):
        self.line = line
        self.message = message
        super().__init__(f"line {line}: {message}")


def load(text: str) -> Any:
    """Load one YAML document; a syntax error becomes a ``YamlError`` with its line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise YamlError(line, f"YAML: {exc.problem or exc.context}") from None

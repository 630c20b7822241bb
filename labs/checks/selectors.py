"""Kubernetes label selectors in kubectl syntax: ``app=web,tier!=db``, ``env in (a,b)``, ``!x``.

Parsing and matching follow ``k8s.io/apimachinery/pkg/labels``, so a selector accepted here is
accepted by the API server, and ``str(selector)`` is what a ``label_selector=`` parameter takes.
Pure functions: no cluster, no client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Operator",
    "Requirement",
    "Selector",
    "SelectorError",
    "is_dns_subdomain",
    "parse_selector",
]

_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_DNS_SUBDOMAIN_MAX = 253
_NAME_MAX = 63

_NAME_RULE = "1-63 characters of [A-Za-z0-9._-], starting and ending with a letter or digit"
_VALUE_RULE = "at most 63 characters of [A-Za-z0-9._-], starting and ending with a letter or digit"
_PREFIX_RULE = (
    'a DNS subdomain: at most 253 lower-case letters, digits, "-" and ".", '
    "starting and ending with a letter or digit"
)
_OPERATORS = "=, ==, !=, in or notin"

# The characters that end a key or value in kubectl's lexer; ">" and "<" are its numeric
# operators, which this module rejects, but they must still end a word to be reported as such.
_SPECIAL = "!=,()<>"


class SelectorError(ValueError):
    """A label selector that kubectl would not accept; the message names the offending part."""


class Operator(StrEnum):
    """How a requirement compares a label; the value is the operator's kubectl spelling."""

    EQUALS = "="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"
    EXISTS = "exists"
    DOES_NOT_EXIST = "!"


@dataclass(frozen=True)
class Requirement:
    """One comma-separated part of a selector.

    ``values`` holds one value for ``=`` and ``!=``, the sorted distinct values for ``in`` and
    ``notin``, and nothing for the existence operators.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels satisfies the requirement, as Kubernetes decides.

        The negative operators (``!=``, ``notin``) hold for an object without the key at all.
        """
        present = self.key in labels
        match self.operator:
            case Operator.EQUALS | Operator.IN:
                return present and labels[self.key] in self.values
            case Operator.NOT_EQUALS | Operator.NOT_IN:
                return not present or labels[self.key] not in self.values
            case Operator.EXISTS:
                return present
            case Operator.DOES_NOT_EXIST:
                return not present
        raise AssertionError(self.operator)  # pragma: no cover

    def __str__(self) -> str:
        match self.operator:
            case Operator.EQUALS | Operator.NOT_EQUALS:
                return f"{self.key}{self.operator.value}{self.values[0]}"
            case Operator.IN | Operator.NOT_IN:
                return f"{self.key} {self.operator.value} ({','.join(self.values)})"
            case Operator.EXISTS:
                return self.key
            case Operator.DOES_NOT_EXIST:
                return f"!{self.key}"
        raise AssertionError(self.operator)  # pragma: no cover


@dataclass(frozen=True)
class Selector:
    """A parsed label selector: an object matches when it satisfies every requirement.

    The requirements are sorted by key (stably), as Kubernetes sorts them, so two spellings of
    the same selector compare equal and print the same.
    """

    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether an object with these labels is selected."""
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(requirement) for requirement in self.requirements)


def is_dns_subdomain(text: str) -> bool:
    """Whether ``text`` is an RFC 1123 DNS subdomain, as Kubernetes object names must be."""
    return len(text) <= _DNS_SUBDOMAIN_MAX and _DNS_SUBDOMAIN.fullmatch(text) is not None


def parse_selector(text: str) -> Selector:
    """Parse a label selector in kubectl syntax.

    Takes ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a`` (the label
    exists) and ``!a`` (it does not), separated by commas, with any whitespace around the parts.
    An empty selector is an error: it would select everything, and a check must select
    something in particular. Raises `SelectorError`.
    """
    return _Parser(text).parse()


@dataclass(frozen=True)
class _Token:
    # kind is "word", "end", or the symbol itself: "=", "==", "!=", "!", ",", "(", ")", "<", ">"
    kind: str
    text: str

    def shown(self) -> str:
        return "the end" if self.kind == "end" else f'"{self.text}"'


def _tokens(text: str) -> Iterator[_Token]:
    i = 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in _SPECIAL:
            pair = text[i : i + 2]
            if pair in ("==", "!="):
                yield _Token(pair, pair)
                i += 2
            else:
                yield _Token(char, char)
                i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            yield _Token("word", text[start:i])
    yield _Token("end", "")


class _Parser:
    """Recursive descent over the tokens, one requirement at a time."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = list(_tokens(text))
        self.position = 0

    def error(self, reason: str) -> SelectorError:
        return SelectorError(f'bad label selector "{self.text}": {reason}')

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def take(self) -> _Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def parse(self) -> Selector:
        if not self.text.strip():
            raise self.error("empty; a check must select something, like app=web")
        requirements = [self.requirement(after=None)]
        while True:
            token = self.take()
            if token.kind == "end":
                break
            if token.kind != ",":
                raise self.error(
                    f'expected "," or the end after "{requirements[-1]}", found {token.shown()}'
                )
            requirements.append(self.requirement(after=","))
        return Selector(tuple(sorted(requirements, key=lambda requirement: requirement.key)))

    def requirement(self, after: str | None) -> Requirement:
        token = self.take()
        if token.kind == "!":
            key = self.key(self.take(), after="!")
            return Requirement(key, Operator.DOES_NOT_EXIST)
        key = self.key(token, after=after)
        operator = self.peek()
        if operator.kind in (",", "end"):
            return Requirement(key, Operator.EXISTS)
        self.take()
        if operator.kind in ("=", "==", "!="):
            value = self.value(key, operator.text)
            kind = Operator.NOT_EQUALS if operator.kind == "!=" else Operator.EQUALS
            return Requirement(key, kind, (value,))
        if operator.kind == "word" and operator.text in ("in", "notin"):
            values = self.value_list(key, operator.text)
            kind = Operator.IN if operator.text == "in" else Operator.NOT_IN
            return Requirement(key, kind, values)
        if operator.kind in ("<", ">"):
            raise self.error(f'operator "{operator.text}" is not supported; use {_OPERATORS}')
        raise self.error(
            f'expected an operator ({_OPERATORS}) or "," after "{key}", found {operator.shown()}'
        )

    def key(self, token: _Token, after: str | None) -> str:
        if token.kind != "word" or token.text in ("in", "notin"):
            where = f' after "{after}"' if after else ""
            found = f'keyword "{token.text}"' if token.kind == "word" else token.shown()
            raise self.error(f"expected a label key{where}, found {found}")
        problem = _key_problem(token.text)
        if problem:
            raise self.error(f'key "{token.text}" is not a valid label key: {problem}')
        return token.text

    def value(self, key: str, operator: str) -> str:
        token = self.peek()
        # "a=" is the empty value, as in Kubernetes; "in" and "notin" are ordinary values here.
        if token.kind in (",", "end"):
            return ""
        if token.kind != "word":
            raise self.error(f'expected a value after "{key}{operator}", found {token.shown()}')
        self.take()
        self.check_value(key, token.text)
        return token.text

    def value_list(self, key: str, operator: str) -> tuple[str, ...]:
        opening = self.take()
        if opening.kind != "(":
            raise self.error(f'expected "(" after "{key} {operator}", found {opening.shown()}')
        values: set[str] = set()
        # Kubernetes reads "(a,)", "(,a)" and "(a,,b)" as including the empty value.
        expect_value = True
        while True:
            token = self.take()
            if token.kind == "end":
                raise self.error('missing ")"')
            if token.kind == ")":
                if expect_value and values:
                    values.add("")
                break
            if token.kind == ",":
                if expect_value:
                    values.add("")
                expect_value = True
            elif token.kind == "word" and expect_value:
                self.check_value(key, token.text)
                values.add(token.text)
                expect_value = False
            elif token.kind == "word":
                raise self.error(
                    f'expected "," or ")" in the values of "{key}", found {token.shown()}'
                )
            else:
                raise self.error(
                    f'expected a value in the values of "{key}", found {token.shown()}'
                )
        if not values:
            raise self.error(f'"{key} {operator} ()" needs at least one value')
        return tuple(sorted(values))

    def check_value(self, key: str, value: str) -> None:
        if len(value) > _NAME_MAX or not _NAME.fullmatch(value):
            raise self.error(
                f'value "{value}" of "{key}" is not a valid label value: {_VALUE_RULE}'
            )


def _key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash:
        if "/" in prefix:
            return 'more than one "/"'
        if not prefix:
            return 'the prefix before "/" is empty'
        if not is_dns_subdomain(prefix):
            return f'prefix "{prefix}" must be {_PREFIX_RULE}'
    if len(name) > _NAME_MAX or not _NAME.fullmatch(name):
        return f'name "{name}" must be {_NAME_RULE}'
    return None

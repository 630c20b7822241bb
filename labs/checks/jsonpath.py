"""kubectl-style jsonpath templates, as checks use them: ``{.spec.containers[0].image}``.

A template is exactly one ``{...}`` expression, written as for ``kubectl get -o jsonpath=``.
It is translated to a ``jsonpath_ng.ext`` expression and evaluated by that library; the
translation covers what kubectl writes differently:

* the path starts at the object with ``.`` (or ``$.``);
* a dot inside a key is escaped with a backslash, as in
  ``{.metadata.labels.app\\.kubernetes\\.io/name}``; such keys (and keys with a ``/``) become
  bracketed string keys, which jsonpath-ng reads literally.

String literals in filters may use either quote, as in kubectl:
``{.status.conditions[?(@.type=="Ready")].status}``. Syntax that only jsonpath-ng knows
(named operators in backquotes, sorting, ``=~``, and anything it deprecates) is refused, so a
template that passes here behaves the same when an author tries it with kubectl.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any

from jsonpath_ng import JSONPath
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext import parse

__all__ = ["JsonPath", "JsonPathError", "compile_jsonpath"]

# A key after a dot: the characters kubectl allows in one, plus backslash escapes.
_KEY = re.compile(r"(?:[A-Za-z0-9_/-]|\\.)+")
# Words jsonpath-ng reads as keywords rather than keys.
_RESERVED = frozenset({"where", "wherenot"})
# Outside string literals these only mean something to jsonpath-ng, never to kubectl.
_FOREIGN = {
    "`": "named operators",
    "/": "sorting",
    "\\": "escapes outside a key",
    "~": "regular expression matching",
}


class JsonPathError(ValueError):
    """A jsonpath template that is not one well-formed kubectl jsonpath expression."""


@dataclass(frozen=True)
class JsonPath:
    """A compiled template: ``template`` as the author wrote it, ``expression`` as jsonpath-ng
    reads it. Two are equal when their templates are."""

    template: str
    expression: str = field(compare=False)
    _path: JSONPath = field(compare=False, repr=False)

    def find(self, obj: Any) -> list[Any]:
        """Every value the template selects in ``obj`` (a Kubernetes object as plain JSON data),
        in document order; empty when nothing matches."""
        return [match.value for match in self._path.find(obj)]


def compile_jsonpath(template: str) -> JsonPath:
    """Compile one ``{...}`` template; raise `JsonPathError` saying what is wrong with it."""
    text = template.strip()

    def error(reason: str) -> JsonPathError:
        return JsonPathError(f'bad jsonpath "{template}": {reason}')

    if len(text) < 2 or text[0] != "{" or text[-1] != "}":
        raise error("must be one {...} expression, like {.spec.replicas}")
    inner = text[1:-1].strip()
    if not inner:
        raise error("the expression between { and } is empty")
    if _outside_strings(inner, "{}"):
        raise error("a check takes exactly one {...} expression")
    if inner.split(maxsplit=1)[0] in ("range", "end"):
        raise error("range ... end is not supported; a check takes one expression")
    if inner[0] in ".[":
        inner = "$" + inner
    elif not inner.startswith("$"):
        raise error(f'must start with "." (the object), like {{.spec.replicas}}; found "{inner}"')
    expression = _quote_escaped_keys(inner)
    foreign = _outside_strings(expression, "".join(_FOREIGN))
    if foreign:
        raise error(f'"{foreign}" is not kubectl jsonpath ({_FOREIGN[foreign]})')
    # jsonpath-ng warns about syntax its next major version drops; refusing it now keeps
    # stored checks working after an upgrade.
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        try:
            path = parse(expression)
        except DeprecationWarning as warning:
            raise error(f"uses syntax jsonpath-ng is dropping: {warning}") from None
        except JSONPathError as parse_error:
            raise error(f"does not parse: {parse_error}") from None
    return JsonPath(template=text, expression=expression, _path=path)


def _outside_strings(text: str, characters: str) -> str | None:
    """The first of ``characters`` that occurs in ``text`` outside a quoted string literal."""
    quote: str | None = None
    escaped = False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in characters:
            return char
    return None


def _quote_escaped_keys(expression: str) -> str:
    """Rewrite ``.app\\.kubernetes\\.io/name`` as ``.["app.kubernetes.io/name"]``.

    Only keys that need it are rewritten (a backslash, a ``/``, or a jsonpath-ng keyword), so
    the expression stays close to the template and parser messages stay readable.
    """
    out: list[str] = []
    quote: str | None = None
    i = 0
    while i < len(expression):
        char = expression[i]
        if quote:
            out.append(char)
            if char == "\\" and i + 1 < len(expression):
                out.append(expression[i + 1])
                i += 1
            elif char == quote:
                quote = None
        elif char in "'\"":
            quote = char
            out.append(char)
        elif char == "." and (key := _KEY.match(expression, i + 1)):
            raw = key.group()
            if "\\" in raw or "/" in raw or raw in _RESERVED:
                name = re.sub(r"\\(.)", r"\1", raw)
                literal = name.replace("\\", "\\\\").replace('"', '\\"')
                out.append(f'.["{literal}"]')
            else:
                out.append("." + raw)
            i = key.end()
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)

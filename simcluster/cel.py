"""CEL expressions as the API server evaluates them in admission policies, with cel-python.

cel-python implements the CEL standard (macros ``has``, ``all``, ``exists``, ``exists_one``,
``map``, ``filter``; ``size``, ``matches``, ``startsWith``, ``endsWith``, ``contains``, ...).
Kubernetes adds libraries of its own; the string functions of its ``strings`` library are
added here (``charAt``, ``indexOf``, ``lastIndexOf``, ``lowerAscii``, ``upperAscii``,
``replace``, ``split``, ``substring``, ``trim``, ``join``). Not available: the optional syntax
(``object.?spec``), the ``authorizer`` variable, and the quantity, URL, IP and regex
libraries; an expression that needs them does not compile, or fails when evaluated, and the
policy's failurePolicy decides.
"""

from __future__ import annotations

import threading
from typing import Any

import celpy
from celpy import celtypes

__all__ = ["CelError", "compile_expression", "evaluate", "evaluate_bool", "to_cel", "to_cel_map"]

_ENV = celpy.Environment()
_CACHE_SIZE = 512


class CelError(Exception):
    """An expression that does not compile or whose evaluation fails, with the API server's
    wording: ``compilation failed: ...`` or ``no such key: x``."""


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"no such overload for {type(value).__name__}")
    return str(value)


def _index_of(text: Any, part: Any, start: Any = 0) -> celtypes.IntType:
    return celtypes.IntType(_string(text).find(_string(part), int(start)))


def _last_index_of(text: Any, part: Any) -> celtypes.IntType:
    return celtypes.IntType(_string(text).rfind(_string(part)))


def _split(text: Any, separator: Any, limit: Any = -1) -> celtypes.ListType:
    limit = int(limit)
    if limit == 0:
        return celtypes.ListType([])
    parts = _string(text).split(_string(separator), limit - 1 if limit > 0 else -1)
    return celtypes.ListType([celtypes.StringType(part) for part in parts])


def _substring(text: Any, start: Any, end: Any = None) -> celtypes.StringType:
    text = _string(text)
    stop = len(text) if end is None else int(end)
    if not 0 <= int(start) <= stop <= len(text):
        raise IndexError(f"index out of range: {start}")
    return celtypes.StringType(text[int(start) : stop])


def _join(items: Any, separator: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_string(separator).join(_string(item) for item in items))


_FUNCTIONS = {
    "charAt": lambda text, i: celtypes.StringType(_string(text)[int(i) : int(i) + 1]),
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "lowerAscii": lambda text: celtypes.StringType(_string(text).lower()),
    "upperAscii": lambda text: celtypes.StringType(_string(text).upper()),
    "replace": lambda text, old, new, n=-1: celtypes.StringType(
        _string(text).replace(_string(old), _string(new), int(n))
    ),
    "split": _split,
    "substring": _substring,
    "trim": lambda text: celtypes.StringType(_string(text).strip()),
    "join": _join,
}

_programs: dict[str, Any] = {}
_lock = threading.Lock()


def compile_expression(expression: str) -> Any:
    """A runnable program for ``expression``; raises `CelError` when it does not compile.
    Programs are kept (a policy is evaluated on every matching request)."""
    with _lock:
        found = _programs.get(expression)
    if found is not None:
        return found
    try:
        program = _ENV.program(_ENV.compile(expression), functions=_FUNCTIONS)
    except celpy.CELParseError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "syntax error"
        raise CelError(f"compilation failed: ERROR: <input>: {first}") from None
    with _lock:
        if len(_programs) >= _CACHE_SIZE:
            _programs.pop(next(iter(_programs)))
        _programs[expression] = program
    return program


def _reason(error: BaseException) -> str:
    text = str(error.args[0]) if error.args else str(error)
    # cel-python appends the whole activation to an unknown name; the name is enough.
    text = text.split(" (in activation", 1)[0]
    if text.startswith("found no matching overload"):
        return "no such overload"
    if text.startswith("no such member in mapping: "):
        return "no such key: " + text.removeprefix("no such member in mapping: ").strip("'")
    return text


def evaluate(expression: str, activation: dict[str, Any]) -> Any:
    """The value of ``expression`` (a CEL value); raises `CelError` with the API server's
    ``expression '...' resulted in error: ...`` when it cannot be evaluated."""
    program = compile_expression(expression)
    try:
        result = program.evaluate(activation)
    except (celpy.CELEvalError, TypeError, ValueError, IndexError, KeyError) as error:
        raise CelError(f"expression '{expression}' resulted in error: {_reason(error)}") from None
    if isinstance(result, celpy.CELEvalError):
        raise CelError(f"expression '{expression}' resulted in error: {_reason(result)}")
    return result


def evaluate_bool(expression: str, activation: dict[str, Any]) -> bool:
    """The value of an expression that must be a bool (a validation, a match condition)."""
    result = evaluate(expression, activation)
    if not isinstance(result, celtypes.BoolType):
        raise CelError(f"expression '{expression}' resulted in error: must evaluate to bool")
    return bool(result)


def to_cel(value: Any) -> Any:
    """A JSON value (an object, a list, null) as CEL sees it."""
    return celpy.json_to_cel(value)


def to_cel_map(values: dict[str, Any]) -> celtypes.MapType:
    """Named CEL values (a policy's ``variables``) as one CEL map."""
    return celtypes.MapType({celtypes.StringType(key): value for key, value in values.items()})

"""Kubernetes resource quantities (``250m``, ``2``, ``512Mi``, ``1e3``): parsed to exact
decimals and written back in apimachinery's canonical form, as ``kubectl describe quota``
and the quota's refusals print them.

A sum keeps the format of its first term, as ``resource.Quantity.Add`` does: memory counted
in ``Mi`` stays binary ("384Mi"), CPU in millicores stays decimal ("350m", "2").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["Quantity", "QuantityError", "parse", "total"]

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_SHAPE = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?")


class QuantityError(ValueError):
    """Text that is not a quantity, with apimachinery's wording."""


@dataclass(frozen=True)
class Quantity:
    """An exact amount and the format it is written in: "BinarySI", "DecimalSI" or
    "DecimalExponent"."""

    value: Decimal
    format: str = "DecimalSI"

    def __add__(self, other: Quantity) -> Quantity:
        return Quantity(self.value + other.value, self.format)

    def __sub__(self, other: Quantity) -> Quantity:
        return Quantity(self.value - other.value, self.format)

    def __mul__(self, times: int) -> Quantity:
        return Quantity(self.value * times, self.format)

    def __str__(self) -> str:
        return canonical(self.value, self.format)


def parse(text: str | int | float | Quantity) -> Quantity:
    """A quantity from its text (or a number); raises `QuantityError`."""
    if isinstance(text, Quantity):
        return text
    if isinstance(text, bool):
        raise QuantityError(f"quantities must match the regular expression: {text!r}")
    if isinstance(text, int | float):
        return Quantity(Decimal(str(text)), "DecimalSI")
    match = _SHAPE.fullmatch(str(text).strip())
    if not match:
        raise QuantityError(
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number, suffix = match.group(1), match.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"unable to parse quantity's number: {number}") from None
    if suffix in _BINARY:
        return Quantity(base * _BINARY[suffix], "BinarySI")
    if suffix[:1] in ("e", "E"):
        return Quantity(base.scaleb(int(suffix[1:])), "DecimalExponent")
    return Quantity(base.scaleb(_DECIMAL[suffix]), "DecimalSI")


def total(quantities: list[Quantity]) -> Quantity:
    """The sum, in the format of the first term (zero, written "0", when there is none)."""
    if not quantities:
        return Quantity(Decimal(0))
    result = quantities[0]
    for quantity in quantities[1:]:
        result = result + quantity
    return result


def _decimal(value: Decimal) -> str:
    """DecimalSI: the largest suffix that keeps the number whole; values below a milli-unit
    are rounded up to it, as Kubernetes rounds to its smallest scale."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value < Decimal("0.001"):
        value = Decimal("0.001")
    for suffix, exponent in sorted(_DECIMAL.items(), key=lambda item: -item[1]):
        if exponent < -3:
            continue
        scaled = value.scaleb(-exponent)
        if scaled == scaled.to_integral_value() and scaled >= 1:
            return f"{sign}{int(scaled)}{suffix}"
    millis = (value * 1000).to_integral_value(rounding="ROUND_CEILING")
    return f"{sign}{int(millis)}m"


def _binary(value: Decimal) -> str | None:
    if value != value.to_integral_value():
        return None
    whole = int(value)
    if whole == 0:
        return "0"
    for suffix, size in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if whole % size == 0:
            return f"{whole // size}{suffix}"
    return str(whole) if abs(whole) < 1024 else None


def canonical(value: Decimal, format: str = "DecimalSI") -> str:
    """apimachinery's canonical text of ``value`` in ``format``: "1500m", "2", "384Mi",
    "1e3"; a binary amount that is no whole number of Ki (or less) falls back to decimal."""
    if format == "BinarySI":
        shown = _binary(value)
        if shown is not None:
            return shown
    if format == "DecimalExponent" and value == value.to_integral_value() and value != 0:
        whole, exponent = int(value), 0
        while whole % 1000 == 0:
            whole, exponent = whole // 1000, exponent + 3
        return f"{whole}e{exponent}" if exponent else str(whole)
    return _decimal(value)

"""Checks for numbers that enter from outside (CLI arguments, node parameters, files, messages).

Each is checked once where it enters, so the rest of the code can trust it: a NaN passes every
`x <= 0` test and then turns a map into NaN, so "positive" here always means "finite and
positive". Failures are ScrLocalizerError with one line naming the source and the range.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

from scr_localizer.errors import ScrLocalizerError


def range_text(low=None, high=None, *, low_open: bool = False, high_open: bool = False,
               integer: bool = False) -> str:
    """'a finite number > 0', 'an integer >= 1', 'a finite number in [0, 100]'..."""
    kind = "an integer" if integer else "a finite number"
    low, high = _text(low), _text(high)
    if low is not None and high is not None:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        return f"{kind} in {left}{low}, {high}{right}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def _text(bound) -> str | None:
    if bound is None:
        return None
    return str(bound) if isinstance(bound, Integral) else f"{bound:g}"


def check_number(value, name: str, low=None, high=None, *, low_open: bool = False,
                 high_open: bool = False, integer: bool = False, hint: str = ""):
    """`value` if it is a finite number (an integer when `integer`) within the bounds; else a
    one-line ScrLocalizerError: "NAME is VALUE; expected RANGE[ (HINT)]"."""
    expected = range_text(low, high, low_open=low_open, high_open=high_open, integer=integer)
    ok = isinstance(value, Integral if integer else Real) and not isinstance(value, bool)
    if ok and not integer:
        ok = math.isfinite(float(value))
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        shown = f"'{value}'" if isinstance(value, str) else f"{value!r}"
        raise ScrLocalizerError(f"{name} is {shown}; expected {expected}"
                                + (f" ({hint})" if hint else ""))
    return value


def check_positive(value, name: str, hint: str = "") -> float:
    return check_number(value, name, 0, low_open=True, hint=hint)


def check_non_negative(value, name: str, hint: str = "") -> float:
    return check_number(value, name, 0, hint=hint)


def check_count(value, name: str, low: int = 1, hint: str = "") -> int:
    return check_number(value, name, low, integer=True, hint=hint)

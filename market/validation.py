"""Checking values where they enter ``market/``: one helper, one message format.

A :class:`Rule` says what a field accepts; ``rule.check(field, value)`` returns ``value`` as
the rule accepts it (numpy integers become ``int``, a ratio becomes a ``float``, ...) or raises
:class:`FieldError`, a ``ValueError`` whose message is ``field=value: rule`` on one line, e.g.
``offer.amount_cents=-5: must be a positive integer below 2**63``.  The value is shown as JSON
(``"abc"``, ``true``, ``null``; numbers as Python prints them), at most 60 characters.

Rules are small objects made once per module: :class:`Integer`, :class:`Number`,
:class:`Rational`, :class:`Seconds`, :class:`Text`, :class:`Flag`, :class:`OneOf`,
:class:`Bytes`, :class:`Pattern`, :class:`Day`, :class:`Instance`; the common ones are ready
made (:data:`POSITIVE_INT64`, :data:`NON_NEGATIVE_INT64`, :data:`SECONDS`, :data:`TEXT`,
:data:`FLAG`).  A rule that relates two fields (``du <= dc``) raises
``FieldError(field, value, rule)`` itself, in the same format; a field whose full name is
only worth building for a message (``source[<id>].price``) is checked under a short name and
renamed with :meth:`FieldError.prefixed` when it fails.  Integers are real integers: ``bool``,
floats and strings are refused; numpy integers are accepted.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from abc import ABC, abstractmethod
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Any

__all__ = [
    "FLAG",
    "INT64_MAX",
    "MAX_TIME_S",
    "NON_NEGATIVE_INT64",
    "POSITIVE_INT64",
    "SECONDS",
    "TEXT",
    "Bytes",
    "Day",
    "FieldError",
    "Flag",
    "Instance",
    "Integer",
    "Number",
    "OneOf",
    "Pattern",
    "Rational",
    "Rule",
    "Seconds",
    "Text",
    "one_line",
    "show",
]

#: amounts and rates are stored in int64 columns by the vectorised clearing
INT64_MAX = 2**63 - 1
#: times are exact in float64 up to 2**53 seconds, so they may be ints or floats
MAX_TIME_S = 2**53


class FieldError(ValueError):
    """Bad value for one field: ``"{field}={value}: {rule}"`` (value shown by :func:`show`)."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={show(value)}: {rule}")

    def prefixed(self, path: str) -> FieldError:
        """The same error with the field renamed to ``path`` (e.g. ``offers[2].amount_cents``)."""
        return FieldError(path, self.value, self.rule)


def show(value: Any) -> str:
    """Render ``value`` for an error message: JSON-like, on one line, shortened to 60 characters.

    Strings are JSON-quoted with every non-printable character escaped (``"a\\n"``,
    ``"\\u2028"``), so a message is always exactly one line; integers too long to print
    (Python refuses ``repr`` beyond 4300 digits) are shown by size."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = one_line(value)
    elif isinstance(value, int) and value.bit_length() > 200:
        text = f"<integer of about {value.bit_length() * 0.30103:.0f} digits>"
    else:
        text = _printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(text: str) -> str:
    """``text`` JSON-quoted, with every non-printable character (newlines, U+2028, ...) escaped."""
    return _printable(json.dumps(text, ensure_ascii=False))


def _printable(text: str) -> str:
    """``text`` with each non-printable character replaced by its Python escape (``\\u2028``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _bounds(lo: object, hi: object, lo_open: bool, hi_open: bool) -> str:
    """`` in [lo, hi)``, `` > lo``, `` <= hi``, ... or ``""`` without bounds."""
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f" {'<' if hi_open else '<='} {hi}"
    return ""


def _within(x: Any, lo: Any, hi: Any, lo_open: bool, hi_open: bool) -> bool:
    if lo is not None and (x <= lo if lo_open else x < lo):
        return False
    return hi is None or (x < hi if hi_open else x <= hi)


class Rule(ABC):
    """What a field accepts; ``text`` words it for the message (``"must be ..."``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @abstractmethod
    def check(self, field: str, value: Any) -> Any:
        """``value`` as this rule accepts it, or :class:`FieldError` ``field=value: rule``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"


class Integer(Rule):
    """An integer (``int`` or numpy integer, returned as ``int``) in ``[lo, hi]`` (``None``:
    unbounded).  ``text`` overrides the default wording."""

    __slots__ = ("hi", "lo")

    def __init__(self, lo: int | None = None, hi: int | None = None, text: str = "") -> None:
        super().__init__(text or _integer_text(lo, hi))
        self.lo = lo
        self.hi = hi

    def check(self, field: str, value: Any) -> Any:
        x = value
        if type(x) is not int:
            if isinstance(x, bool) or not hasattr(x, "__index__"):
                raise FieldError(field, value, self.text)
            x = x.__index__()
        lo, hi = self.lo, self.hi
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            raise FieldError(field, value, self.text)
        return x


def _integer_text(lo: int | None, hi: int | None) -> str:
    if hi == INT64_MAX and lo in (0, 1):
        return f"must be a {'positive' if lo else 'non-negative'} integer below 2**63"
    return "must be an integer" + _bounds(lo, hi, False, False)


class Number(Rule):
    """A finite real number (``int``, ``float``, ``Decimal``, ``Fraction``, numpy scalars; not
    ``bool``), returned as ``float``, within the bounds (``*_open``: the bound is excluded)."""

    __slots__ = ("hi", "hi_open", "lo", "lo_open")

    def __init__(
        self,
        lo: float | None = None,
        hi: float | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        text: str = "",
    ) -> None:
        super().__init__(text or "must be a finite number" + _bounds(lo, hi, lo_open, hi_open))
        # no bound is an open infinite one: comparisons alone then refuse inf and nan
        self.lo = -math.inf if lo is None else float(lo)
        self.hi = math.inf if hi is None else float(hi)
        self.lo_open = lo_open or lo is None
        self.hi_open = hi_open or hi is None

    def check(self, field: str, value: Any) -> Any:
        t = type(value)
        if (
            t is float
            or t is int
            or (not isinstance(value, bool) and isinstance(value, numbers.Real | Decimal))
        ):
            try:
                x = float(value)
            except (OverflowError, ValueError):  # beyond the float range, or a signaling NaN
                raise FieldError(field, value, self.text) from None
            lo, hi = self.lo, self.hi
            if (x > lo if self.lo_open else x >= lo) and (x < hi if self.hi_open else x <= hi):
                return x
        raise FieldError(field, value, self.text)


class Rational(Rule):
    """A finite real number as an exact ``Fraction``, within the bounds.  A float is read as
    its shortest round-tripping decimal (``0.1`` is 1/10) when ``decimal_floats``, else as the
    binary number it is; ``int``, ``Decimal`` and ``Fraction`` are exact either way."""

    __slots__ = ("decimal_floats", "hi", "hi_open", "lo", "lo_open")

    def __init__(
        self,
        lo: int | None = None,
        hi: int | None = None,
        *,
        lo_open: bool = False,
        hi_open: bool = False,
        decimal_floats: bool = True,
        text: str = "",
    ) -> None:
        super().__init__(text or "must be a finite number" + _bounds(lo, hi, lo_open, hi_open))
        self.lo, self.hi, self.lo_open, self.hi_open = lo, hi, lo_open, hi_open
        self.decimal_floats = decimal_floats

    def check(self, field: str, value: Any) -> Any:
        x = self._exact(value)
        if x is None or not _within(x, self.lo, self.hi, self.lo_open, self.hi_open):
            raise FieldError(field, value, self.text)
        return x

    def _exact(self, value: Any) -> Fraction | None:
        """The exact value of a finite real number, else ``None``."""
        if isinstance(value, bool):
            return None
        if isinstance(value, numbers.Integral):
            return Fraction(int(value))
        if isinstance(value, Fraction):
            return value
        if isinstance(value, Decimal):
            return Fraction(value) if value.is_finite() else None
        if isinstance(value, numbers.Real):
            f = float(value)
            if not math.isfinite(f):
                return None
            return Fraction(Decimal(repr(f))) if self.decimal_floats else Fraction(f)
        return None


class Seconds(Rule):
    """A time in seconds: an integer (numpy integers become ``int``) or a finite ``float`` in
    ``[0, 2**53]``, returned with its type (``int`` or ``float``)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("must be a non-negative number of seconds <= 2**53")

    def check(self, field: str, value: Any) -> Any:
        x = value
        if type(x) is float:
            if 0.0 <= x <= MAX_TIME_S:  # also refuses nan
                return x
        elif type(x) is int or (hasattr(x, "__index__") and not isinstance(x, bool)):
            x = x.__index__()
            if 0 <= x <= MAX_TIME_S:
                return x
        raise FieldError(field, value, self.text)


class Text(Rule):
    """A non-empty ``str``."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("must be a non-empty string")

    def check(self, field: str, value: Any) -> Any:
        if type(value) is str and value:
            return value
        raise FieldError(field, value, self.text)


class Flag(Rule):
    """A ``bool``."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("must be true or false")

    def check(self, field: str, value: Any) -> Any:
        if type(value) is bool:
            return value
        raise FieldError(field, value, self.text)


class OneOf(Rule):
    """One of the given strings."""

    __slots__ = ("options",)

    def __init__(self, options: tuple[str, ...]) -> None:
        super().__init__("must be one of " + ", ".join(options))
        self.options = options

    def check(self, field: str, value: Any) -> Any:
        if type(value) is str and value in self.options:
            return value
        raise FieldError(field, value, self.text)


class Bytes(Rule):
    """Exactly ``size`` bytes (``bytes`` or ``bytearray``, returned as ``bytes``)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        super().__init__(f"must be exactly {size} bytes")
        self.size = size

    def check(self, field: str, value: Any) -> Any:
        if type(value) is bytes and len(value) == self.size:
            return value
        if isinstance(value, bytes | bytearray) and len(value) == self.size:
            return bytes(value)
        raise FieldError(field, value, self.text)


class Pattern(Rule):
    """A ``str`` matching the regular expression ``pattern`` in full."""

    __slots__ = ("pattern",)

    def __init__(self, pattern: str, text: str) -> None:
        super().__init__(text)
        self.pattern = re.compile(pattern)

    def check(self, field: str, value: Any) -> Any:
        if type(value) is str and self.pattern.fullmatch(value):
            return value
        raise FieldError(field, value, self.text)


class Day(Rule):
    """A ``datetime.date`` that is not a ``datetime`` (a datetime never equals a holiday)."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("must be a datetime.date (not a datetime)")

    def check(self, field: str, value: Any) -> Any:
        if isinstance(value, date) and not hasattr(value, "hour"):
            return value
        raise FieldError(field, value, self.text)


class Instance(Rule):
    """An instance of ``kinds`` (a type or a tuple of types), returned as is."""

    __slots__ = ("kinds",)

    def __init__(self, kinds: type | tuple[type, ...], text: str) -> None:
        super().__init__(text)
        self.kinds = kinds

    def check(self, field: str, value: Any) -> Any:
        if isinstance(value, self.kinds):
            return value
        raise FieldError(field, value, self.text)


#: the rules most fields use
POSITIVE_INT64 = Integer(1, INT64_MAX)
NON_NEGATIVE_INT64 = Integer(0, INT64_MAX)
SECONDS = Seconds()
TEXT = Text()
FLAG = Flag()

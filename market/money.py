"""Money units: BRL integer centavos off chain, 18-decimal token base units on chain.

Rules (spec/money.md, "Units"):

* Off chain every amount is an ``int`` number of centavos (``amount_cents``); floats never hold
  money.
* The on-chain BRL token has 18 decimals, so **1 centavo = 10**16 base units**
  (:data:`CENTAVO_UNITS`). The conversion is exact both ways; an on-chain amount that is not a
  whole number of centavos is an error (:func:`token_units_to_cents` raises).
* Whenever a rate (which may be a float for the math) produces an amount, the amount is rounded to
  centavos with **round-half-even** (:func:`round_half_even`, or :func:`div_round_half_even` when
  the amount is an exact integer ratio).

Everything here is pure integer / rational arithmetic: no floats are produced.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from fractions import Fraction

__all__ = [
    "CENTAVO_UNITS",
    "TOKEN_DECIMALS",
    "ceil_div",
    "cents_to_token_units",
    "check_cents",
    "div_round_half_even",
    "format_brl",
    "round_half_even",
    "token_units_to_cents",
]

TOKEN_DECIMALS = 18
"""Decimals of the on-chain BRL token."""

CENTAVO_UNITS = 10**16
"""Token base units in one centavo (10**18 units per real, 100 centavos per real)."""


def _is_int(x: object) -> bool:
    """True for real integers (``int``, numpy integers), False for ``bool`` and everything else."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def check_cents(value: object, field: str = "amount_cents", *, allow_zero: bool = True) -> int:
    """Validate a centavo amount and return it as a plain ``int``.

    Accepts ``int`` (and numpy integers); rejects ``bool``, floats, strings and negative values
    (and zero when ``allow_zero`` is false) with a ``ValueError`` naming ``field``, the value and
    the rule.
    """
    if not _is_int(value):
        raise ValueError(
            f"{field}={value!r} must be an integer number of centavos "
            f"(got {type(value).__name__}; floats never hold money)"
        )
    v = int(value)  # type: ignore[call-overload]
    if v < 0 or (v == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{field}={v} must be {rule}")
    return v


def cents_to_token_units(cents: int) -> int:
    """Centavos -> token base units: ``cents * 10**16`` (exact).

    Raises ``ValueError`` for a negative or non-integer amount.
    """
    return check_cents(cents, "cents") * CENTAVO_UNITS


def token_units_to_cents(units: int) -> int:
    """Token base units -> centavos (exact).

    Raises ``ValueError`` when ``units`` is negative, not an integer, or not a whole number of
    centavos (not a multiple of ``10**16``), e.g.
    ``units=10000000000000001 is not a whole number of centavos (1 centavo = 10**16 base units;
    remainder 1)``.
    """
    if not _is_int(units):
        raise ValueError(
            f"units={units!r} must be an integer number of token base units "
            f"(got {type(units).__name__})"
        )
    u = int(units)  # type: ignore[call-overload]
    if u < 0:
        raise ValueError(f"units={u} must be >= 0")
    q, r = divmod(u, CENTAVO_UNITS)
    if r:
        raise ValueError(
            f"units={u} is not a whole number of centavos "
            f"(1 centavo = 10**16 base units; remainder {r})"
        )
    return q


def _to_fraction(x: object, field: str) -> Fraction:
    """Exact rational value of ``x`` (int, float, Decimal or Fraction); rejects NaN/inf/others."""
    if isinstance(x, bool):
        raise ValueError(f"{field}={x!r} must be a number, not a bool")
    if isinstance(x, numbers.Integral):
        return Fraction(int(x))
    if isinstance(x, Fraction):
        return x
    if isinstance(x, Decimal):
        if not x.is_finite():
            raise ValueError(f"{field}={x!r} must be finite")
        return Fraction(x)  # exact
    if isinstance(x, numbers.Real):  # float, numpy floats
        f = float(x)
        if not math.isfinite(f):
            raise ValueError(f"{field}={x!r} must be finite")
        return Fraction(f)  # exact binary value: no second rounding
    raise ValueError(f"{field}={x!r} must be an int, float, Decimal or Fraction")


def round_half_even(x: int | float | Decimal | Fraction) -> int:
    """Round a number to the nearest integer, ties to even ("banker's rounding").

    Accepts ``int``, ``float`` (incl. numpy floats), ``Decimal`` and ``Fraction``. The rounding is
    done on the **exact** value of the argument: a float is taken as the binary number it really
    is, so ``round_half_even(2.5) == 2`` and ``round_half_even(3.5) == 4``, but
    ``round_half_even(0.5000000000000001) == 1``. To round an amount built from decimal
    quantities without binary noise, pass a ``Decimal`` or ``Fraction`` (or use
    :func:`div_round_half_even` for an integer ratio). NaN and infinities raise ``ValueError``.
    """
    return round(_to_fraction(x, "x"))  # Fraction.__round__ rounds half to even, exactly


def div_round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even, in exact integer arithmetic.

    ``denominator`` must be a non-zero integer.
    """
    if not (_is_int(numerator) and _is_int(denominator)):
        raise ValueError(
            f"div_round_half_even needs integers, got numerator={numerator!r}, "
            f"denominator={denominator!r}"
        )
    if denominator == 0:
        raise ValueError("denominator=0 must be non-zero")
    return round(Fraction(int(numerator), int(denominator)))


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` for integers, exact (``denominator > 0``)."""
    if not (_is_int(numerator) and _is_int(denominator)):
        raise ValueError(
            f"ceil_div needs integers, got numerator={numerator!r}, denominator={denominator!r}"
        )
    if denominator <= 0:
        raise ValueError(f"denominator={denominator} must be > 0")
    return -(-int(numerator) // int(denominator))


def format_brl(cents: int) -> str:
    """Format centavos the Brazilian way: ``123456789 -> 'R$ 1.234.567,89'`` (negatives allowed).

    For display only; never parse this back into money.
    """
    if not _is_int(cents):
        raise ValueError(f"cents={cents!r} must be an integer number of centavos")
    c = int(cents)
    sign = "-" if c < 0 else ""
    reais, cv = divmod(abs(c), 100)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{cv:02d}"

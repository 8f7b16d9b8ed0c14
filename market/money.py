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

Everything here is pure integer / rational arithmetic: no floats are produced.  Amounts are
checked with the rules :data:`CENTS` (``>= 0``) and :data:`POSITIVE_CENTS` (``> 0``) of
:mod:`market.validation`: ``CENTS.check("balance_cents", x)``.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from market.validation import FieldError, Integer, Rational

__all__ = [
    "CENTAVO_UNITS",
    "CENTS",
    "POSITIVE_CENTS",
    "TOKEN_DECIMALS",
    "ceil_div",
    "cents_to_token_units",
    "div_round_half_even",
    "format_brl",
    "round_half_even",
    "token_units_to_cents",
]

TOKEN_DECIMALS = 18
"""Decimals of the on-chain BRL token."""

CENTAVO_UNITS = 10**16
"""Token base units in one centavo (10**18 units per real, 100 centavos per real)."""


#: an amount of money: an integer number of centavos (floats never hold money), >= 0 or > 0
CENTS = Integer(0, text="must be a whole number of centavos >= 0 (floats never hold money)")
POSITIVE_CENTS = Integer(1, text="must be a whole number of centavos > 0 (floats never hold money)")
_UNITS = Integer(0, text="must be a whole number of token base units >= 0")
_INTEGER = Integer()
_POSITIVE = Integer(1)
#: a real number, exactly (a float as the binary number it is)
_EXACT = Rational(decimal_floats=False, text="must be a finite int, float, Decimal or Fraction")


def cents_to_token_units(cents: int) -> int:
    """Centavos -> token base units: ``cents * 10**16`` (exact).

    Raises ``ValueError`` for a negative or non-integer amount.
    """
    return CENTS.check("cents", cents) * CENTAVO_UNITS


def token_units_to_cents(units: int) -> int:
    """Token base units -> centavos (exact).

    Raises ``ValueError`` when ``units`` is negative, not an integer, or not a whole number of
    centavos (not a multiple of ``10**16``), e.g.
    ``units=10000000000000001: must be a whole number of centavos (1 centavo = 10**16;
    remainder 1)``.
    """
    u = _UNITS.check("units", units)
    q, r = divmod(u, CENTAVO_UNITS)
    if r:
        raise FieldError(
            "units", u, f"must be a whole number of centavos (1 centavo = 10**16; remainder {r})"
        )
    return q


def round_half_even(x: int | float | Decimal | Fraction) -> int:
    """Round a number to the nearest integer, ties to even ("banker's rounding").

    Accepts ``int``, ``float`` (incl. numpy floats), ``Decimal`` and ``Fraction``. The rounding is
    done on the **exact** value of the argument: a float is taken as the binary number it really
    is, so ``round_half_even(2.5) == 2`` and ``round_half_even(3.5) == 4``, but
    ``round_half_even(0.5000000000000001) == 1``. To round an amount built from decimal
    quantities without binary noise, pass a ``Decimal`` or ``Fraction`` (or use
    :func:`div_round_half_even` for an integer ratio). NaN and infinities raise ``ValueError``.
    """
    return round(_EXACT.check("x", x))  # Fraction.__round__ rounds half to even, exactly


def div_round_half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-even, in exact integer arithmetic.

    ``denominator`` must be a non-zero integer.
    """
    n = _INTEGER.check("numerator", numerator)
    d = _INTEGER.check("denominator", denominator)
    if d == 0:
        raise FieldError("denominator", d, "must be non-zero")
    return round(Fraction(n, d))


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` for integers, exact (``denominator > 0``)."""
    n = _INTEGER.check("numerator", numerator)
    return -(-n // _POSITIVE.check("denominator", denominator))


def format_brl(cents: int) -> str:
    """Format centavos the Brazilian way: ``123456789 -> 'R$ 1.234.567,89'`` (negatives allowed).

    For display only; never parse this back into money.
    """
    c = _INTEGER.check("cents", cents)
    sign = "-" if c < 0 else ""
    reais, cv = divmod(abs(c), 100)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{cv:02d}"

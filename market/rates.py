"""Rate conventions: basis points, CDI (252 business days) <-> APR (365 calendar days), monthly.

Conventions (spec/money.md):

* A quoted rate is an **effective annual rate on a 365-day calendar basis** (APR-365), held as an
  integer number of basis points at every boundary (``rate_bps``; 1 bp = 0.0001). Internally a
  rate may be a ``float`` for the math.
* **CDI** is an effective annual rate over **252 business days**: its daily factor is
  ``(1 + cdi) ** (1/252)``.
* Over a period with ``du`` business days (DU, from :mod:`market.calendar`) and ``dc`` calendar
  days (DC), a CDI rate ``c`` and an APR-365 rate ``a`` are equivalent when
  ``(1 + c) ** (du/252) == (1 + a) ** (dc/365)``.
* The monthly effective rate of an APR-365 ``a`` is ``i = (1 + a) ** (1/12) - 1`` (used by the
  Price schedule).

Powers are evaluated as ``expm1(log1p(r) * e)``, which keeps full relative precision for small
rates and periods. All functions are pure.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from market.calendar import business_days_between, calendar_days_between
from market.validation import FieldError, Integer, Number, OneOf, Rational

__all__ = [
    "BPS_PER_UNIT",
    "BPS_SNAP",
    "apr_to_cdi",
    "bps_to_rate",
    "cdi_daily_factor",
    "cdi_to_apr",
    "cdi_to_apr_between",
    "ceil_bps",
    "exact_rate",
    "monthly_rate",
    "rate_to_bps",
]

BPS_PER_UNIT = 10_000
"""Basis points in a rate of 1.0 (100 %)."""

BPS_SNAP = Fraction(1, 10**6)
"""Rounding *up* to bps first snaps a value within 1e-6 bp of an integer to that integer, so float
noise from arithmetic on rates (``0.1 + 0.2 == 0.30000000000000004``) never costs a basis point
(or a whole tick)."""


_INTEGER = Integer()
_DAYS = Integer(0)
_DAYS_POSITIVE = Integer(1)
#: a rate r for the math: finite with a growth factor 1 + r > 0
_RATE = Number(-1, lo_open=True, text="must be a finite number > -1 (1 + rate > 0)")
#: a rate read exactly: a float as its shortest round-tripping decimal
_EXACT_RATE = Rational(text="must be a finite int, float, Decimal or Fraction")
_ROUNDING = OneOf(("half_even", "up"))


def exact_rate(rate: float | int | Decimal | Fraction, field: str = "rate") -> Fraction:
    """The exact rational a rate denotes. A float is read as its shortest round-tripping decimal
    (``repr``), so ``0.0007`` means exactly 7/10000 and not the binary number nearest to it."""
    return _EXACT_RATE.check(field, rate)


def bps_to_rate(bps: int) -> float:
    """Basis points -> rate as a float: ``bps / 10000`` (correctly rounded)."""
    return _INTEGER.check("bps", bps) / BPS_PER_UNIT


def rate_to_bps(
    rate: float | Decimal | Fraction, *, rounding: Literal["half_even", "up"] = "half_even"
) -> int:
    """Rate -> integer basis points, rounded half-even (default) or ``"up"`` (toward +inf).

    Floats are read as their shortest decimal (:func:`exact_rate`), so
    ``rate_to_bps(bps_to_rate(b), rounding=r) == b`` for every int ``b`` and both modes, and
    ``rate_to_bps(0.0007, rounding="up") == 7`` (not 8 from binary noise). ``"up"`` uses
    :func:`ceil_bps` (snaps values within :data:`BPS_SNAP` of an integer).
    """
    _ROUNDING.check("rounding", rounding)
    x = exact_rate(rate) * BPS_PER_UNIT
    return round(x) if rounding == "half_even" else ceil_bps(x)


def ceil_bps(x_bps: Fraction) -> int:
    """Ceiling of an exact bps value, except that a value within :data:`BPS_SNAP` (1e-6 bp) of
    an integer is that integer: ``ceil_bps(Fraction(30000000000000004, 10**13)) == 3000``."""
    nearest = round(x_bps)
    if abs(x_bps - nearest) <= BPS_SNAP:
        return nearest
    return math.ceil(x_bps)


def _pow_minus_one(rate: float, exponent: float) -> float:
    """``(1 + rate) ** exponent - 1`` with full relative precision."""
    return math.expm1(math.log1p(rate) * exponent)


def cdi_daily_factor(cdi: float) -> float:
    """Daily CDI accrual factor ``(1 + cdi) ** (1/252)``."""
    c = _RATE.check("cdi", cdi)
    return math.exp(math.log1p(c) / 252)


def cdi_to_apr(cdi: float, du: int, dc: int) -> float:
    """APR-365 equivalent to CDI-252 rate ``cdi`` over a period of ``du`` business days and
    ``dc`` calendar days: ``a = (1 + cdi) ** (du * 365 / (252 * dc)) - 1``.

    ``du >= 0`` (``du == 0`` gives ``0.0``: nothing accrues), ``dc >= 1``, ``du <= dc``.
    """
    c = _RATE.check("cdi", cdi)
    du_, dc_ = _check_period(du, dc, du_rule=_DAYS)
    return _pow_minus_one(c, (du_ * 365) / (252 * dc_))


def apr_to_cdi(apr: float, du: int, dc: int) -> float:
    """CDI-252 rate equivalent to APR-365 ``apr`` over ``du`` business / ``dc`` calendar days:
    ``c = (1 + apr) ** (252 * dc / (365 * du)) - 1``. Inverse of :func:`cdi_to_apr`.

    ``du >= 1`` (no CDI rate is defined by a period without business days), ``dc >= du``.
    """
    a = _RATE.check("apr", apr)
    du_, dc_ = _check_period(du, dc, du_rule=_DAYS_POSITIVE)
    return _pow_minus_one(a, (252 * dc_) / (365 * du_))


def _check_period(du: int, dc: int, *, du_rule: Integer) -> tuple[int, int]:
    du_ = du_rule.check("du", du)
    dc_ = _DAYS_POSITIVE.check("dc", dc)
    if du_ > dc_:
        raise FieldError("du", du_, f"must be <= dc={dc_} (business days are calendar days)")
    return du_, dc_


def cdi_to_apr_between(cdi: float, start: date, end: date) -> float:
    """:func:`cdi_to_apr` over ``[start, end)`` with DU from the Brazilian calendar and DC =
    ``end - start`` (``end > start``; years 2020-2035)."""
    dc = calendar_days_between(start, end)
    if dc <= 0:
        raise FieldError("end", end.isoformat(), f"must be after start={start.isoformat()}")
    return cdi_to_apr(cdi, business_days_between(start, end), dc)


def monthly_rate(apr: float) -> float:
    """Monthly effective rate of an APR-365: ``i = (1 + apr) ** (1/12) - 1``."""
    return _pow_minus_one(_RATE.check("apr", apr), 1 / 12)

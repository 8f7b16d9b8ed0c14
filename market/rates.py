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
import numbers
from datetime import date
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from market.calendar import business_days_between, calendar_days_between

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


def _check_int(value: object, field: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{field}={value!r} must be an int")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{field}={v} must be >= {minimum}")
    return v


def _check_rate(value: object, field: str) -> float:
    """A finite rate > -1 (a growth factor 1 + r > 0), as float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real | Decimal):
        raise ValueError(f"{field}={value!r} must be a real number")
    r = float(value)
    if not math.isfinite(r) or r <= -1.0:
        raise ValueError(f"{field}={value!r} must be finite and > -1 (1 + rate > 0)")
    return r


def exact_rate(rate: float | int | Decimal | Fraction, field: str = "rate") -> Fraction:
    """The exact rational a rate denotes. A float is read as its shortest round-tripping decimal
    (``repr``), so ``0.0007`` means exactly 7/10000 and not the binary number nearest to it."""
    if isinstance(rate, bool):
        raise ValueError(f"{field}={rate!r} must be a number, not a bool")
    if isinstance(rate, numbers.Integral):
        return Fraction(int(rate))
    if isinstance(rate, Fraction):
        return rate
    if isinstance(rate, Decimal):
        if not rate.is_finite():
            raise ValueError(f"{field}={rate!r} must be finite")
        return Fraction(rate)
    if isinstance(rate, numbers.Real):
        f = float(rate)
        if not math.isfinite(f):
            raise ValueError(f"{field}={rate!r} must be finite")
        return Fraction(Decimal(repr(f)))
    raise ValueError(f"{field}={rate!r} must be an int, float, Decimal or Fraction")


def bps_to_rate(bps: int) -> float:
    """Basis points -> rate as a float: ``bps / 10000`` (correctly rounded)."""
    return _check_int(bps, "bps") / BPS_PER_UNIT


def rate_to_bps(
    rate: float | Decimal | Fraction, *, rounding: Literal["half_even", "up"] = "half_even"
) -> int:
    """Rate -> integer basis points, rounded half-even (default) or ``"up"`` (toward +inf).

    Floats are read as their shortest decimal (:func:`exact_rate`), so
    ``rate_to_bps(bps_to_rate(b), rounding=r) == b`` for every int ``b`` and both modes, and
    ``rate_to_bps(0.0007, rounding="up") == 7`` (not 8 from binary noise). ``"up"`` uses
    :func:`ceil_bps` (snaps values within :data:`BPS_SNAP` of an integer).
    """
    if rounding not in ("half_even", "up"):
        raise ValueError(f"rounding={rounding!r} must be 'half_even' or 'up'")
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
    c = _check_rate(cdi, "cdi")
    return math.exp(math.log1p(c) / 252)


def cdi_to_apr(cdi: float, du: int, dc: int) -> float:
    """APR-365 equivalent to CDI-252 rate ``cdi`` over a period of ``du`` business days and
    ``dc`` calendar days: ``a = (1 + cdi) ** (du * 365 / (252 * dc)) - 1``.

    ``du >= 0`` (``du == 0`` gives ``0.0``: nothing accrues), ``dc >= 1``, ``du <= dc``.
    """
    c = _check_rate(cdi, "cdi")
    du_, dc_ = _check_period(du, dc, du_min=0)
    return _pow_minus_one(c, (du_ * 365) / (252 * dc_))


def apr_to_cdi(apr: float, du: int, dc: int) -> float:
    """CDI-252 rate equivalent to APR-365 ``apr`` over ``du`` business / ``dc`` calendar days:
    ``c = (1 + apr) ** (252 * dc / (365 * du)) - 1``. Inverse of :func:`cdi_to_apr`.

    ``du >= 1`` (no CDI rate is defined by a period without business days), ``dc >= du``.
    """
    a = _check_rate(apr, "apr")
    du_, dc_ = _check_period(du, dc, du_min=1)
    return _pow_minus_one(a, (252 * dc_) / (365 * du_))


def _check_period(du: int, dc: int, *, du_min: int) -> tuple[int, int]:
    du_ = _check_int(du, "du", minimum=du_min)
    dc_ = _check_int(dc, "dc", minimum=1)
    if du_ > dc_:
        raise ValueError(f"du={du_} must be <= dc={dc_} (business days are calendar days)")
    return du_, dc_


def cdi_to_apr_between(cdi: float, start: date, end: date) -> float:
    """:func:`cdi_to_apr` over ``[start, end)`` with DU from the Brazilian calendar and DC =
    ``end - start`` (``end > start``; years 2020-2035)."""
    dc = calendar_days_between(start, end)
    if dc <= 0:
        raise ValueError(f"end={end} must be after start={start}")
    return cdi_to_apr(cdi, business_days_between(start, end), dc)


def monthly_rate(apr: float) -> float:
    """Monthly effective rate of an APR-365: ``i = (1 + apr) ** (1/12) - 1``."""
    return _pow_minus_one(_check_rate(apr, "apr"), 1 / 12)

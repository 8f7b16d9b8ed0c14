"""Tests for market.rates: bps, CDI-252 <-> APR-365, monthly rate."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from market.rates import (
    BPS_SNAP,
    apr_to_cdi,
    bps_to_rate,
    cdi_daily_factor,
    cdi_to_apr,
    cdi_to_apr_between,
    ceil_bps,
    exact_rate,
    monthly_rate,
    rate_to_bps,
)

RATES = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)
ROUND_TRIP_REL_TOL = 1e-12  # stated tolerance for CDI <-> APR round trips


@st.composite
def periods(draw: st.DrawFn) -> tuple[int, int]:
    """(du, dc) with 1 <= du <= dc, roughly 5/7 of calendar days being business days."""
    dc = draw(st.integers(1, 3653))
    lo = max(1, (dc * 5) // 7 - dc // 30 - 2)
    hi = min(dc, (dc * 5) // 7 + 3)
    du = draw(st.integers(min(lo, hi), hi))
    return du, dc


def test_bps_examples() -> None:
    assert bps_to_rate(1200) == 0.12
    assert bps_to_rate(7) == 0.0007
    assert rate_to_bps(0.12) == 1200
    assert rate_to_bps(0.0007, rounding="up") == 7  # 0.0007 * 10000 == 7.000000000000001
    assert rate_to_bps(0.12345) == 1234  # 1234.5 ties to even
    assert rate_to_bps(0.12355) == 1236
    assert rate_to_bps(0.12341, rounding="up") == 1235
    assert rate_to_bps(Fraction(1, 3)) == 3333
    assert rate_to_bps(Fraction(1, 3), rounding="up") == 3334
    assert rate_to_bps(Decimal("0.05")) == 500
    assert rate_to_bps(0.1 + 0.2, rounding="up") == 3000  # 0.30000000000000004: snapped
    assert rate_to_bps(Fraction(30_000_001, 10**8), rounding="up") == 3001  # 1e-4 bp: real


def test_ceil_bps() -> None:
    assert ceil_bps(Fraction(3000)) == 3000
    assert ceil_bps(Fraction(3000) + BPS_SNAP) == 3000
    assert ceil_bps(Fraction(3000) + 2 * BPS_SNAP) == 3001
    assert ceil_bps(Fraction(3000) - BPS_SNAP) == 3000
    assert ceil_bps(Fraction(-3, 2)) == -1


@given(st.integers(-(10**9), 10**9))
def test_bps_round_trip(bps: int) -> None:
    r = bps_to_rate(bps)
    assert isinstance(r, float)
    assert rate_to_bps(r) == bps
    assert rate_to_bps(r, rounding="up") == bps


@given(st.floats(-10.0, 10.0, allow_nan=False))
def test_rate_to_bps_bounds(r: float) -> None:
    he, up = rate_to_bps(r), rate_to_bps(r, rounding="up")
    x = exact_rate(r) * 10000
    assert abs(x - he) <= Fraction(1, 2)
    assert up - 1 < x <= up + BPS_SNAP
    assert up == ceil_bps(x)


def test_rate_to_bps_rejects() -> None:
    with pytest.raises(ValueError, match='rounding="down": must be one of half_even, up'):
        rate_to_bps(0.1, rounding="down")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rate=nan"):
        rate_to_bps(float("nan"))
    with pytest.raises(ValueError, match=r"bps=1\.5"):
        bps_to_rate(1.5)  # type: ignore[arg-type]


def test_cdi_apr_worked_example() -> None:
    # 2025: 252 DU in 365 DC -> CDI and APR coincide over the year
    assert cdi_to_apr(0.1415, 252, 365) == pytest.approx(0.1415, rel=1e-15)
    # one month with 21 DU / 31 DC at CDI 14.15 %: (1.1415)^(21/252) = (1+a)^(31/365)
    a = cdi_to_apr(0.1415, 21, 31)
    assert (1 + a) ** (31 / 365) == pytest.approx(1.1415 ** (21 / 252), rel=1e-14)
    assert a == pytest.approx(1.1415 ** (21 * 365 / (252 * 31)) - 1, rel=1e-13)
    assert a < 0.1415  # fewer DU per DC than the 252/365 average
    # over a period with more DU than average the APR is higher
    assert cdi_to_apr(0.1415, 23, 31) > 0.1415
    assert cdi_to_apr(0.1415, 0, 3) == 0.0  # a weekend: nothing accrues


def test_cdi_to_apr_between_uses_calendar() -> None:
    # 2025-03-01 .. 2025-04-01: Carnival Mon/Tue off -> 19 DU, 31 DC
    assert cdi_to_apr_between(0.12, date(2025, 3, 1), date(2025, 4, 1)) == cdi_to_apr(0.12, 19, 31)
    with pytest.raises(ValueError, match='end="2025-03-01": must be after start=2025-03-01'):
        cdi_to_apr_between(0.12, date(2025, 3, 1), date(2025, 3, 1))


@given(RATES, periods())
def test_cdi_apr_round_trip(cdi: float, period: tuple[int, int]) -> None:
    du, dc = period
    a = cdi_to_apr(cdi, du, dc)
    back = apr_to_cdi(a, du, dc)
    assert math.isclose(back, cdi, rel_tol=ROUND_TRIP_REL_TOL, abs_tol=1e-300)
    c = apr_to_cdi(cdi, du, dc)
    assert math.isclose(cdi_to_apr(c, du, dc), cdi, rel_tol=ROUND_TRIP_REL_TOL, abs_tol=1e-300)


@given(RATES, RATES, periods())
def test_cdi_apr_monotone(c1: float, c2: float, period: tuple[int, int]) -> None:
    du, dc = period
    assume(c1 < c2)
    assert cdi_to_apr(c1, du, dc) <= cdi_to_apr(c2, du, dc)
    assert apr_to_cdi(c1, du, dc) <= apr_to_cdi(c2, du, dc)


@given(RATES, periods())
def test_cdi_apr_equivalence_definition(cdi: float, period: tuple[int, int]) -> None:
    du, dc = period
    a = cdi_to_apr(cdi, du, dc)
    # (1 + c)^(du/252) == (1 + a)^(dc/365), compared in logs
    lhs = math.log1p(cdi) * du / 252
    rhs = math.log1p(a) * dc / 365
    assert math.isclose(lhs, rhs, rel_tol=1e-12, abs_tol=1e-300)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: cdi_to_apr(0.1, 5, 4), r"du=5: must be <= dc=4"),
        (lambda: cdi_to_apr(0.1, -1, 4), r"du=-1: must be an integer >= 0"),
        (lambda: cdi_to_apr(0.1, 1, 0), r"dc=0: must be an integer >= 1"),
        (lambda: apr_to_cdi(0.1, 0, 3), r"du=0: must be an integer >= 1"),
        (lambda: cdi_to_apr(-1.0, 1, 1), r"cdi=-1\.0: must be a finite number > -1"),
        (lambda: apr_to_cdi(float("inf"), 1, 1), r"apr=inf: must be a finite number"),
        (lambda: cdi_to_apr(0.1, 2.0, 3), r"du=2\.0: must be an integer"),
        (lambda: monthly_rate("0.1"), r'apr="0\.1": must be a finite number'),
    ],
)
def test_conversion_errors(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()


def test_monthly_rate() -> None:
    assert monthly_rate(0.12) == pytest.approx(1.12 ** (1 / 12) - 1, rel=1e-14)
    assert monthly_rate(0.0) == 0.0
    assert (1 + monthly_rate(0.2682)) ** 12 == pytest.approx(1.2682, rel=1e-14)
    assert cdi_daily_factor(0.1415) ** 252 == pytest.approx(1.1415, rel=1e-13)


@given(RATES, RATES)
def test_monthly_rate_monotone(a: float, b: float) -> None:
    assume(a < b)
    assert monthly_rate(a) <= monthly_rate(b)

"""Tests for market.cet: the CET solver and the spec's worked check."""

from __future__ import annotations

import math
from datetime import date
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy.optimize import brentq

from market.cet import (
    MONTH_DAYS,
    cet_annual,
    cet_monthly,
    cet_percent,
    percent_2dp,
    schedule_payments,
)
from market.schedule import monthly_due_dates, price_schedule

SPEC_PAYMENTS = [(j * MONTH_DAYS, 20573) for j in range(1, 6)]  # 5 x R$205.73, d_j = j*365/12


def _residual(received: int, payments: list, x: float) -> float:
    pv = math.fsum(c * (1 + x) ** (-float(d) / 365) for d, c in payments)
    return pv - received


def test_spec_check_r1000_12pct_5x20573_with_r60_fees() -> None:
    x = cet_annual(94_000, SPEC_PAYMENTS)
    # spec: "near 3.08 % a month, 43.9 % a year"; tolerance: the spec's own rounding
    assert abs(x - 0.439) < 0.0005
    assert abs(cet_monthly(x) - 0.0308) < 0.00005
    assert cet_percent(94_000, SPEC_PAYMENTS) == "43.93"
    assert percent_2dp(cet_monthly(x)) == "3.08"
    # independent check: the monthly IRR of 940 = sum 205.73 / (1+m)^j, compounded to a year
    m = brentq(lambda r: sum(205.73 / (1 + r) ** j for j in range(1, 6)) - 940, 0, 1, xtol=1e-15)
    assert cet_monthly(x) == pytest.approx(m, rel=1e-10)
    assert x == pytest.approx((1 + m) ** 12 - 1, rel=1e-10)


def test_spec_check_other_day_counts_do_not_give_43_9() -> None:
    # integer days round(j*365/12) = 30, 61, 91, 122, 152
    int_days = [(round(j * 365 / 12), 20573) for j in range(1, 6)]
    assert [d for d, _ in int_days] == [30, 61, 91, 122, 152]
    assert cet_percent(94_000, int_days) == "43.96"
    # real calendar months from 2025-06-01: 30, 61, 92, 122, 153 days
    start = date(2025, 6, 1)
    cal = [((d - start).days, 20573) for d in monthly_due_dates(start, 5)]
    assert [d for d, _ in cal] == [30, 61, 92, 122, 153]
    assert cet_percent(94_000, cal) == "43.74"


def test_schedule_payments_reproduce_spec() -> None:
    s = price_schedule(100_000, 1200, 5)
    pays = schedule_payments(s)
    assert pays == SPEC_PAYMENTS
    assert cet_percent(94_000, pays) == "43.93"
    assert cet_percent(100_000, pays) == "12.00"  # no fees: CET ~ the APR


@given(
    st.integers(100, 10**10),
    st.integers(0, 20_000),
    st.integers(1, 360),
)
def test_zero_fee_cet_equals_apr(p: int, bps: int, n: int) -> None:
    """With d_j = j*365/12 and no fees, the CET is the APR up to the centavo roundings.

    The schedule's PV at the APR is P + sum_k e_k v^k with |e_k| <= 1/2 (interest roundings), so
    |f(a)| <= n/2; since every t_j >= 1/12, |f'| >= (P - n/2) / (12 (1 + x)) between a and the
    CET, hence |CET - a| <= 6 n (1 + max(a, CET)) / (P - n/2) (mean value theorem).
    """
    assume(2 * p > n)
    a = bps / 10_000
    x = cet_annual(p, schedule_payments(price_schedule(p, bps, n)))
    tol = 6 * n * (1 + max(a, x)) / (p - n / 2) + 1e-12
    assert abs(x - a) <= tol


def test_zero_fee_cet_tight_for_real_loan() -> None:
    for bps in (0, 500, 1200, 3150, 9000):
        x = cet_annual(5_000_000, schedule_payments(price_schedule(5_000_000, bps, 36)))
        assert abs(x - bps / 10_000) < 2e-6  # under 0.02 bp for a R$50k loan


PAYMENTS = st.lists(
    st.tuples(st.integers(28, 3650), st.integers(0, 10**9)), min_size=1, max_size=24
).filter(lambda ps: sum(c for _, c in ps) > 0)


@st.composite
def loans(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """(received, payments) with total payments within 10x of received either way, so the CET
    (|ln(1+x)| <= ln(10) * 365/28 ~ 30) is a normal float."""
    payments = draw(PAYMENTS)
    total = sum(c for _, c in payments)
    received = draw(st.integers(max(1, -(-total // 10)), 10 * total))
    return received, payments


@given(loans())
def test_cet_solves_the_equation(loan: tuple[int, list[tuple[int, int]]]) -> None:
    received, payments = loan
    x = cet_annual(received, payments)
    assert x > -1
    total = sum(c for _, c in payments)
    # the sign of the CET follows total payments vs received
    if total > received:
        assert x > 0
    elif total < received:
        assert x < 0
    else:
        assert abs(x) < 1e-12
    if x > -0.9:  # nearer -100 % the float x cannot carry 1 + x to full precision
        assert abs(_residual(received, payments, x)) <= 1e-9 * max(received, total)


@given(loans(), st.integers(1, 10**6))
def test_cet_monotone_in_fees_and_payments(
    loan: tuple[int, list[tuple[int, int]]], extra: int
) -> None:
    received, payments = loan
    assume(received - extra >= max(1, sum(c for _, c in payments) // 10))
    # non-decreasing up to the solver's precision on y = ln(1 + x) (~1e-15 relative)
    base = math.log1p(cet_annual(received, payments))
    tol = 1e-12 * max(1.0, abs(base))
    assert math.log1p(cet_annual(received - extra, payments)) >= base - tol  # more fees
    bumped = [(payments[0][0], payments[0][1] + extra), *payments[1:]]
    assert math.log1p(cet_annual(received, bumped)) >= base - tol  # higher payments


def test_cet_extremes() -> None:
    # 1 cent back a day after receiving R$10: 1 + x = 1e-3 ** 365 underflows -> -1.0
    assert cet_annual(1_000, [(1, 1)]) == -1.0
    # R$9.33 back a day after receiving 1 cent: x = 933 ** 365 - 1 is beyond any float
    with pytest.raises(ValueError, match="exceeds the float range"):
        cet_annual(1, [(1, 933)])
    # a very high but representable CET: doubling in 30 days
    x = cet_annual(100_000, [(30, 200_000)])
    assert x == pytest.approx(2 ** (365 / 30) - 1, rel=1e-10)


def test_cet_with_fractional_and_day_zero_flows() -> None:
    # a day-0 charge paid back at once is the same as receiving less
    a = cet_annual(100_000, [(0, 6_000), *SPEC_PAYMENTS])
    assert a == pytest.approx(cet_annual(94_000, SPEC_PAYMENTS), rel=1e-12)
    assert cet_annual(100_000, [(Fraction(365), 110_000)]) == pytest.approx(0.10, rel=1e-12)
    assert cet_annual(100_000, [(365.0, 110_000)]) == pytest.approx(0.10, rel=1e-12)
    assert cet_annual(100_000, [(730, 121_000)]) == pytest.approx(0.10, rel=1e-12)
    assert cet_annual(100_000, [(365, 50_000)]) == pytest.approx(-0.5, rel=1e-12)


@pytest.mark.parametrize(
    ("received", "payments", "match"),
    [
        (0, [(30, 100)], r"received_cents=0: must be a whole number of centavos > 0"),
        (100, [], r"payments=\[\]: must be a non-empty sequence"),
        (100, [(30, 0)], r"payments=\[\(30, 0\)\]: must pay something after day 0"),
        (100, [(0, 100), (30, 5)], r"received_cents=100: must exceed the 100 cents paid on day 0"),
        (100, [(-1, 100)], r"payments\[0\]\.days=-1: must be a finite number of days >= 0"),
        (100, [(30, 1.5)], r"payments\[0\]\.cents=1\.5: must be a whole number of centavos"),
        (100, [(30, 100, 1)], r"payments\[0\]=\(30, 100, 1\): must be a \(days, cents\) pair"),
        (100, [("30", 100)], r'payments\[0\]\.days="30": must be a finite number of days'),
        (100.0, [(30, 100)], r"received_cents=100\.0: must be a whole number of centavos"),
    ],
)
def test_cet_validation(received: object, payments: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        cet_annual(received, payments)  # type: ignore[arg-type]


def test_percent_format() -> None:
    assert percent_2dp(0.12) == "12.00"
    assert percent_2dp(0.0) == "0.00"
    assert percent_2dp(-0.05) == "-5.00"
    assert percent_2dp(2.5) == "250.00"
    assert percent_2dp(0.000049) == "0.00"
    with pytest.raises(ValueError, match="rate=nan"):
        percent_2dp(float("nan"))
    assert cet_monthly(0.0) == 0.0

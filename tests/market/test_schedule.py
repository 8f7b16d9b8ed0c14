"""Tests for market.schedule: Price schedule, prepayment, pro-rata distribution."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.rates import monthly_rate
from market.schedule import (
    Installment,
    Prepayment,
    ProRata,
    _amortise,
    _amortise_decimal,
    distribute_pro_rata,
    monthly_due_dates,
    monthly_rate_decimal,
    prepayment,
    price_schedule,
    price_schedule_decimal,
    schedule_columns,
)

PRINCIPAL = st.integers(1, 10**11)  # up to R$ 1 billion
APR = st.integers(0, 20_000)  # 0 .. 200 % a.a.
TERM = st.integers(1, 360)


def test_spec_example_r1000_12pct_5_months() -> None:
    s = price_schedule(100_000, 1200, 5)
    assert [x.payment_cents for x in s] == [20573] * 5  # R$205.73 as in money.md
    assert [x.interest_cents for x in s] == [949, 763, 575, 385, 193]
    assert [x.principal_cents for x in s] == [19624, 19810, 19998, 20188, 20380]
    assert [x.balance_cents for x in s] == [80376, 60566, 40568, 20380, 0]
    assert s[0] == Installment(1, 20573, 949, 19624, 80376)


def test_zero_rate_schedule() -> None:
    s = price_schedule(100_000, 0, 3)
    assert [x.payment_cents for x in s] == [33333, 33333, 33334]
    assert all(x.interest_cents == 0 for x in s)
    # P/n = 1.5 rounds half-even to 2; the clamp keeps the balance >= 0
    s = price_schedule(9, 0, 6)
    assert [x.principal_cents for x in s] == [2, 2, 2, 2, 1, 0]


def test_pmt_matches_float_formula() -> None:
    p, bps, n = 25_000_000, 3150, 48
    i = monthly_rate(bps / 10_000)
    expected = p * i / (1 - (1 + i) ** -n)
    s = price_schedule(p, bps, n)
    assert abs(s[0].payment_cents - expected) <= 0.5 + 1e-6
    assert float(monthly_rate_decimal(bps)) == pytest.approx(i, rel=1e-15)


@given(PRINCIPAL, APR, TERM)
def test_schedule_invariants(p: int, bps: int, n: int) -> None:
    s = price_schedule(p, bps, n)
    assert len(s) == n
    assert [x.number for x in s] == list(range(1, n + 1))
    assert sum(x.principal_cents for x in s) == p
    assert s[-1].balance_cents == 0
    i = monthly_rate_decimal(bps)
    prev = p
    for x in s:
        assert x.payment_cents == x.interest_cents + x.principal_cents
        assert x.interest_cents >= 0 and x.principal_cents >= 0
        assert 0 <= x.balance_cents == prev - x.principal_cents
        # interest is the half-even rounding of balance * i, exactly
        exact = Fraction(prev) * Fraction(i)
        assert abs(exact - x.interest_cents) <= Fraction(1, 2)
        prev = x.balance_cents


@given(st.integers(100_000, 10**11), APR, TERM)
def test_schedule_level_payments_for_real_loans(p: int, bps: int, n: int) -> None:
    s = price_schedule(p, bps, n)
    pmt = s[0].payment_cents
    # rounding drift D_k = (1+i) D_{k-1} + e_k with |e_k| <= 1 (PMT and interest roundings), so
    # |D_k| <= B = sum_{j<n} (1+i)^j and the last installment is within (1+i) B + 1 of PMT
    g = 1 + float(monthly_rate_decimal(bps))
    bound = sum(g**j for j in range(n))
    assert abs(s[-1].payment_cents - pmt) <= g * bound + 1
    if 8 * bound < pmt:  # drift small against the installment: the clamp never binds
        assert all(x.payment_cents == pmt for x in s[:-1])


def test_long_high_rate_drift_lands_on_last_installment() -> None:
    # 60 months at 200 % a.a.: PMT rounding compounds at 9.6 %/month into the last installment
    s = price_schedule(1_000_000, 20_000, 60)
    pmt = s[0].payment_cents
    assert all(x.payment_cents == pmt for x in s[:-1])
    assert s[-1].payment_cents != pmt
    assert sum(x.principal_cents for x in s) == 1_000_000


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 1200, 12), r"principal_cents=0: must be a whole number of centavos > 0"),
        ((-5, 1200, 12), r"principal_cents=-5: must be a whole number of centavos > 0"),
        ((1000.0, 1200, 12), r"principal_cents=1000\.0: must be a whole number of centavos"),
        ((1000, -1, 12), r"apr_bps=-1: must be an integer >= 0"),
        ((1000, 12.5, 12), r"apr_bps=12\.5: must be an integer >= 0"),
        ((1000, 1200, 0), r"term_months=0: must be an integer >= 1"),
        ((1000, 1200, True), r"term_months=true: must be an integer >= 1"),
    ],
)
def test_schedule_validation(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        price_schedule(*args)


def test_prepayment_examples() -> None:
    s = price_schedule(100_000, 1200, 5)
    bal = s[0].balance_cents  # 80376 after the first installment
    assert prepayment(bal, 1200, 0, 30) == Prepayment(bal, 0, bal)
    full = prepayment(bal, 1200, 30, 30)
    assert full.interest_cents == s[1].interest_cents == 763  # a full period = the month's interest
    half = prepayment(bal, 1200, 15, 30)
    assert half.interest_cents == 381  # 762.66.../2 = 381.33 -> 381
    assert half.total_cents == bal + 381
    assert prepayment(0, 1200, 10, 30).total_cents == 0


@given(PRINCIPAL, APR, TERM, st.data())
def test_prepayment_properties(p: int, bps: int, n: int, data: st.DataObject) -> None:
    s = price_schedule(p, bps, n)
    k = data.draw(st.integers(0, n - 1))
    balance = p if k == 0 else s[k - 1].balance_cents
    period = data.draw(st.integers(28, 31))
    days = data.draw(st.integers(0, period))
    pre = prepayment(balance, bps, days, period)
    assert pre.principal_cents == balance
    assert pre.total_cents == pre.principal_cents + pre.interest_cents
    # no penalty: never more interest than the full month's, monotone in days
    assert 0 <= pre.interest_cents <= prepayment(balance, bps, period, period).interest_cents
    if days < period:
        assert pre.interest_cents <= prepayment(balance, bps, days + 1, period).interest_cents
    assert prepayment(balance, bps, period, period).interest_cents == s[k].interest_cents


def test_prepayment_validation() -> None:
    with pytest.raises(ValueError, match=r"days_since_due=31: must be <= days_in_period=30"):
        prepayment(1000, 1200, 31, 30)
    with pytest.raises(ValueError, match=r"days_in_period=0: must be an integer >= 1"):
        prepayment(1000, 1200, 0, 0)
    with pytest.raises(ValueError, match=r"days_since_due=-1: must be an integer >= 0"):
        prepayment(1000, 1200, -1, 30)
    with pytest.raises(
        ValueError, match=r"balance_cents=-1: must be a whole number of centavos >= 0"
    ):
        prepayment(-1, 1200, 1, 30)


def test_distribute_examples() -> None:
    assert distribute_pro_rata(100, {"b": 1, "a": 1, "c": 1}) == {"b": 33, "a": 34, "c": 33}
    assert list(distribute_pro_rata(100, {"b": 1, "a": 1, "c": 1})) == ["b", "a", "c"]
    assert distribute_pro_rata(20573, {"l1": 400_000, "l2": 600_000}) == {"l1": 8229, "l2": 12344}
    assert distribute_pro_rata(5, {"x": 0, "y": 3}) == {"x": 0, "y": 5}
    assert distribute_pro_rata(0, {"x": 1, "y": 3}) == {"x": 0, "y": 0}
    # largest remainder wins over key order: 7 * (1, 2, 4) / 7 has no remainder; 10 does
    assert distribute_pro_rata(10, {"a": 1, "b": 2, "c": 4}) == {"a": 1, "b": 3, "c": 6}


WEIGHTS = st.dictionaries(
    st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=4),
    st.integers(0, 10**9),
    min_size=1,
    max_size=12,
).filter(lambda w: sum(w.values()) > 0)


@given(st.integers(0, 10**12), WEIGHTS)
def test_distribute_properties(amount: int, weights: dict[str, int]) -> None:
    parts = distribute_pro_rata(amount, weights)
    assert list(parts) == list(weights)
    assert sum(parts.values()) == amount
    total = sum(weights.values())
    for key, w in weights.items():
        share = Fraction(amount * w, total)
        assert abs(parts[key] - share) < 1
        assert parts[key] >= 0
        if w == 0:
            assert parts[key] == 0
    # independent of the mapping's order
    rev = distribute_pro_rata(amount, dict(reversed(list(weights.items()))))
    assert rev == parts


@given(st.integers(1, 10**6), st.integers(2, 9))
def test_distribute_ties_by_key(amount: int, k: int) -> None:
    keys = [f"l{j}" for j in range(k)]
    parts = distribute_pro_rata(amount, dict.fromkeys(reversed(keys), 1))
    q, r = divmod(amount, k)
    assert [parts[x] for x in keys] == [q + 1] * r + [q] * (k - r)


@pytest.mark.parametrize(
    ("amount", "weights", "match"),
    [
        (-1, {"a": 1}, r"amount_cents=-1: must be a whole number of centavos >= 0"),
        (10, {}, r"weights=\{\}: must be a non-empty mapping"),
        (10, {"a": 0}, r"sum\(weights\)=0: must be > 0"),
        (10, {"a": -1, "b": 2}, r"weights\['a'\]=-1: must be a whole number of centavos >= 0"),
        (10, {"a": 1.5}, r"weights\['a'\]=1\.5: must be a whole number of centavos"),
        (10, {1: 1}, r"weights key=1: must be a string"),
        (Decimal(10), {"a": 1}, r"amount_cents=Decimal\('10'\)"),
    ],
)
def test_distribute_validation(amount: object, weights: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        distribute_pro_rata(amount, weights)  # type: ignore[arg-type]


def test_monthly_due_dates() -> None:
    assert monthly_due_dates(date(2025, 1, 31), 4) == (
        date(2025, 2, 28),
        date(2025, 3, 31),
        date(2025, 4, 30),
        date(2025, 5, 31),
    )
    assert monthly_due_dates(date(2025, 11, 15), 3)[-1] == date(2026, 2, 15)
    with pytest.raises(ValueError, match="term_months=0"):
        monthly_due_dates(date(2025, 1, 1), 0)


def _schedule_uncached(p: int, bps: int, n: int) -> list[tuple[int, int, int, int]]:
    """The Price rule recomputed from scratch in 50-digit Decimal (no memoised parts)."""
    from decimal import ROUND_HALF_EVEN, Context, Decimal

    ctx = Context(prec=50)
    one = Decimal(1)
    i = Decimal(0)
    if bps:
        g = ctx.add(one, ctx.divide(Decimal(bps), Decimal(10_000)))
        i = ctx.subtract(ctx.power(g, ctx.divide(one, Decimal(12))), one)
    if i == 0:
        q, r = divmod(p, n)
        pmt = q + (1 if 2 * r > n or (2 * r == n and q % 2) else 0)
    else:
        disc = ctx.subtract(one, ctx.power(ctx.add(one, i), -n))
        x = ctx.divide(ctx.multiply(Decimal(p), i), disc)
        pmt = int(x.to_integral_value(rounding=ROUND_HALF_EVEN))
    out, bal = [], p
    for k in range(1, n + 1):
        x = ctx.multiply(Decimal(bal), i)
        interest = int(x.to_integral_value(rounding=ROUND_HALF_EVEN))
        prin = bal if k == n else min(max(pmt - interest, 0), bal)
        bal -= prin
        out.append((interest + prin, interest, prin, bal))
    return out


@given(
    p=st.integers(1, 10**10),
    bps=st.integers(0, 20_000),
    n=st.integers(1, 60),
)
def test_memoised_schedule_equals_recomputation(p: int, bps: int, n: int) -> None:
    for _ in range(2):  # the second call is served from the caches
        got = [
            (x.payment_cents, x.interest_cents, x.principal_cents, x.balance_cents)
            for x in price_schedule(p, bps, n)
        ]
        assert got == _schedule_uncached(p, bps, n)


# ----------------------------------------------------------------------------- fast path


@given(
    p=st.one_of(st.integers(1, 10**11), st.integers(2**49 - 10**6, 10**16)),
    bps=st.integers(0, 20_000),
    n=st.integers(1, 360),
)
def test_fast_schedule_equals_decimal_reference(p: int, bps: int, n: int) -> None:
    ref = price_schedule_decimal(p, bps, n)
    assert price_schedule(p, bps, n) == ref
    cols = schedule_columns(p, bps, n)
    assert cols == tuple(
        [getattr(x, f) for x in ref]
        for f in ("payment_cents", "interest_cents", "principal_cents", "balance_cents")
    )


def _tie_rate(a: int, c: int, j: int, t: int, s: int = 48) -> tuple[int, Decimal]:
    """A balance ``b = 2**a * 5**c`` and a rate ``i`` with ``b * i`` exactly ``j / 2`` (a
    rounding tie for odd ``j``) plus ``b * t * 10**-s``: off the tie by less than the float
    product can resolve (and, for ``s`` near 48, by less than the 50-digit product keeps)."""
    b = 2**a * 5**c
    i = Decimal(j) / Decimal(2 * b) + Decimal(t).scaleb(-s)
    return b, i


@given(
    a=st.integers(0, 14),
    c=st.integers(0, 10),
    j=st.integers(0, 5 * 10**6).map(lambda k: 2 * k + 1),
    n=st.integers(1, 3),
    pmt=st.integers(0, 10**9),
)
def test_fast_interest_equals_decimal_at_rounding_ties(
    a: int, c: int, j: int, n: int, pmt: int
) -> None:
    # the float product b * float(i) lands within rounding noise of a tie: the fast path must
    # defer to the 50-digit product, which rounds half-even (or to the side t pushes it)
    for s in (*range(14, 21), 30, 40, 47, 48):
        for t in range(-9, 10):
            b, i = _tie_rate(a, c, j, t, s)
            if i > 0:
                assert _amortise(b, n, pmt, i, float(i)) == _amortise_decimal(b, n, pmt, i)


def test_fast_interest_tie_examples_round_half_even() -> None:
    # 2.5 -> 2, 3.5 -> 4 (ties to even), exactly as the Decimal rule
    assert _amortise(250, 1, 0, Decimal("0.01"), 0.01)[1] == [2]
    assert _amortise(350, 1, 0, Decimal("0.01"), 0.01)[1] == [4]
    b, i = _tie_rate(3, 2, 12345, 0)  # 200 * i = 6172.5 exactly
    assert _amortise(b, 1, 0, i, float(i))[1] == [6172]


@given(st.integers(0, 10**12), WEIGHTS, st.integers(0, 10**12))
def test_pro_rata_reuses_validated_weights(
    amount: int, weights: dict[str, int], other: int
) -> None:
    pro = ProRata(weights)
    assert pro.keys == tuple(weights) and pro.total == sum(weights.values())
    for a in (amount, other, amount):  # the tie order is made once and reused
        assert dict(zip(pro.keys, pro.split(a), strict=True)) == distribute_pro_rata(a, weights)


def test_pro_rata_validation_and_numpy_weights() -> None:
    import numpy as np

    pro = ProRata({"b": np.int64(1), "a": 1})
    assert pro.weights == (1, 1) and all(type(w) is int for w in pro.weights)
    assert pro.split(3) == (1, 2)  # the spare centavo goes to the smallest key on a tie
    with pytest.raises(
        ValueError, match=r"weights\['a'\]=-1: must be a whole number of centavos >= 0"
    ):
        ProRata({"a": -1})
    with pytest.raises(ValueError, match=r"weights key=1: must be a string"):
        ProRata({1: 1})  # type: ignore[dict-item]
    with pytest.raises(
        ValueError, match=r"amount_cents=-1: must be a whole number of centavos >= 0"
    ):
        pro.split(-1)
    with pytest.raises(ValueError, match=r"amount_cents=1\.5: must be a whole number of centavos"):
        pro.split(1.5)  # type: ignore[arg-type]


def test_schedule_columns_takes_numpy_integers_and_keeps_the_argument_rules() -> None:
    import numpy as np

    from market.schedule import schedule_columns

    want = schedule_columns(1_234_567, 2_345, 18)
    assert schedule_columns(np.int64(1_234_567), np.int32(2_345), np.int64(18)) == want
    assert schedule_columns(1_000, 0, 3) == (
        [333, 333, 334],
        [0, 0, 0],
        [333, 333, 334],
        [667, 334, 0],
    )
    with pytest.raises(ValueError, match=r"apr_bps=true: must be an integer >= 0"):
        schedule_columns(1_000, True, 3)

"""Tests for sim/engine/loans.py: the postings of a loan's life (exactly the documented ones),
multi-tranche loans, the behaviour draws and the schedule kept as columns."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from market.schedule import distribute_pro_rata, price_schedule, schedule_columns
from sim.engine.loans import (
    BEHAVIOUR_BLOCK,
    DAY_S,
    LoanBook,
    _geometric,
    build_tranches,
    due_times,
)
from sim.ledger.book import Ledger


def _book(env, ledger, rows, *, prepay=0.0, rng_seed=0, pool=None, on_pool=None):
    return LoanBook(
        env, ledger, rows.append, lgd=0.6, default_dpd=90, recovery_delay_days=10,
        prepayment_hazard=prepay, rng=np.random.default_rng(rng_seed), pool_account=pool,
        on_pool_principal=on_pool or (lambda t, d: None), start_date=date(2025, 3, 3),
    )  # fmt: skip


def _funded_ledger(allocs: list[tuple[str, int, int]]) -> Ledger:
    led = Ledger()
    led.allow_negative("debt:")
    for acct, cents, _ in allocs:
        led.deposit(0.0, acct, cents, "deposit", acct)
    return led


def _expected_installment_postings(
    allocs: list[tuple[str, int, int]], term: int, t_s: list[float], lid: int, borrower: str
) -> list[tuple]:
    """The documented postings of a loan paid in full, built from the public rules."""
    by_rate: dict[int, dict[str, int]] = {}
    for acct, cents, rate in allocs:
        by_rate.setdefault(rate, {})[acct] = by_rate.get(rate, {}).get(acct, 0) + cents
    scheds = {r: price_schedule(sum(w.values()), r, term) for r, w in by_rate.items()}
    cash, debt, prin = f"borrower:{borrower}", f"debt:{borrower}", f"loan:{lid}:principal"
    out = []
    for k in range(term):
        total = sum(s[k].payment_cents for s in scheds.values())
        out.append((t_s[k], "external", cash, total, "income", str(lid)))
        for rate in sorted(by_rate):
            parts = distribute_pro_rata(scheds[rate][k].payment_cents, by_rate[rate])
            out += [(t_s[k], cash, a, c, "installment", str(lid)) for a, c in parts.items() if c]
        principal = sum(s[k].principal_cents for s in scheds.values())
        out.append((t_s[k], prin, debt, principal, "amortise", str(lid)))
    return out


@pytest.mark.parametrize(
    "allocs",
    [
        [("lender:a:free", 300_000, 2400), ("lender:b:free", 700_001, 2400)],
        # pay-as-bid: three rates, a lender in two tranches, the pool in one
        [
            ("lender:a:free", 250_000, 1800),
            ("pool:p", 333_333, 2100),
            ("lender:b:free", 120_017, 1800),
            ("lender:a:free", 99_999, 2500),
            ("lender:c:free", 5_000, 2100),
        ],
    ],
)
def test_repaid_loan_posts_exactly_the_documented_postings(allocs) -> None:
    env, rows, pool_deltas = simpy.Environment(), [], []
    led = _funded_ledger(allocs)
    book = _book(env, led, rows, pool="pool:p", on_pool=lambda t, d: pool_deltas.append(d))
    env.run(until=1_000.0)
    loan = book.originate(
        loan_id=9, request_id=9, borrower="b9", allocations=allocs, fee_cents=0,
        term_months=7, pd_model=0.0, hazard_true=0.0,
    )  # fmt: skip
    env.run()
    got = led.rows()
    n0 = len(allocs) + 1  # deposits, then the origination
    cols = ("t_s", "src", "dst", "amount_cents", "kind", "ref")
    posted = list(zip(*(got[c] for c in cols), strict=True))
    assert posted[n0 - 1][1:5] == ("debt:b9", "loan:9:principal", loan.principal_cents, "originate")
    assert posted[n0:] == _expected_installment_postings(allocs, 7, loan.due_s, 9, "b9")
    assert loan.status == "REPAID" and loan.balance_cents == 0 and len(rows) == 7
    assert [r[5] for r in rows] == [loan.installment(k)[0] for k in range(1, 8)]
    assert [r[8] for r in rows][-1] == 0 and [r[1] for r in rows] == list(range(7))
    pool_total = sum(c for a, c, _ in allocs if a == "pool:p")
    assert sum(pool_deltas) == 0  # deployed at origination, all repaid
    assert pool_deltas[:1] == ([pool_total] if pool_total else [])
    led.check()


def test_tranche_columns_are_the_price_schedule() -> None:
    (t,) = build_tranches([("lender:a:free", 500_000, 3100)], 12)
    assert t.schedule == price_schedule(500_000, 3100, 12)
    cols = tuple(map(list, (t.payment_cents, t.interest_cents, t.principal_parts, t.balance_cents)))
    assert cols == schedule_columns(500_000, 3100, 12)
    ts = build_tranches([("x", 10, 900), ("y", 20, 100), ("x", 5, 900)], 3)
    assert [(u.rate_bps, u.principal_cents, u.weights) for u in ts] == [
        (100, 20, {"y": 20}),
        (900, 15, {"x": 15}),
    ]


def test_prepayment_and_default_with_several_tranches_keep_the_books() -> None:
    allocs = [("lender:a:free", 400_000, 2000), ("lender:b:free", 600_000, 2600)]
    for prepay, hazard, status in ((0.999999, 0.0, "PREPAID"), (0.0, 1.0, "WRITTEN_OFF")):
        env, rows = simpy.Environment(), []
        led = _funded_ledger(allocs)
        loan = _book(env, led, rows, prepay=prepay).originate(
            loan_id=1, request_id=1, borrower="b1", allocations=allocs, fee_cents=0,
            term_months=12, pd_model=0.1, hazard_true=hazard,
        )  # fmt: skip
        env.run()
        assert loan.status == status and len(rows) == 1
        kind = rows[0][3]
        paid = led.balance("lender:a:free") + led.balance("lender:b:free") - 1_000_000
        assert paid == rows[0][5]  # (the ledger was funded with the allocations)
        if status == "PREPAID":
            assert kind == "prepayment" and rows[0][7] == 1_000_000
            assert led.balance("loan:1:principal") == 0 and led.balance("debt:b1") == 0
        else:
            assert kind == "recovery" and rows[0][5] == 400_000  # (1 - lgd) of 1,000,000
            assert led.balance("lender:a:free") == 400_000 + 160_000  # by tranche principal
            assert led.balance("defaulted") == 600_000
        led.check()


def test_due_times_same_day_each_month() -> None:
    t0 = 10 * DAY_S + 3600.0
    got = due_times(t0, date(2025, 1, 31), 3)
    assert list(got) == [t0 + 28 * DAY_S, t0 + 59 * DAY_S, t0 + 89 * DAY_S]
    assert due_times(t0, date(2025, 1, 31), 3) == got  # memoised offsets, fresh array
    assert got is not due_times(t0, date(2025, 1, 31), 3)


@given(st.floats(0.0, 1.0, exclude_max=True), st.floats(1e-9, 1.0))
def test_geometric_inversion_is_the_least_k(u: float, h: float) -> None:
    k = _geometric(u, h)
    assert k >= 1
    if h < 1.0 and k < 1 << 30:
        # (1 - h) ** k <= 1 - u < (1 - h) ** (k - 1), up to float rounding at the boundary
        def survival(j: int) -> float:
            return math.exp(j * math.log1p(-h))

        assert survival(k) <= (1 - u) * (1 + 1e-9)
        if k > 1:
            assert (1 - u) <= survival(k - 1) * (1 + 1e-9)


def test_geometric_edges() -> None:
    assert _geometric(0.5, 0.0) == 1 << 30 and _geometric(0.5, -1.0) == 1 << 30
    assert _geometric(0.999, 1.0) == 1 and _geometric(0.0, 0.3) == 1
    assert _geometric(1 - 1e-16, 1e-300) == 1 << 30  # capped at "never"


def test_behaviour_draws_follow_the_geometric_law() -> None:
    env, led = simpy.Environment(), Ledger()
    book = _book(env, led, [], prepay=0.05, rng_seed=7)
    h = 0.1
    draws = np.array([book._behaviour(h) for _ in range(4 * BEHAVIOUR_BLOCK + 3)])
    d, p, frac = draws[:, 0], draws[:, 1], draws[:, 2]
    n = len(draws)
    # mean 1/h with sd sqrt(1-h)/h/sqrt(n): 5 sd bounds
    assert abs(d.mean() - 1 / h) < 5 * math.sqrt(1 - h) / h / math.sqrt(n)
    assert abs(p.mean() - 1 / 0.05) < 5 * math.sqrt(0.95) / 0.05 / math.sqrt(n)
    assert abs(np.mean(d == 1) - h) < 5 * math.sqrt(h * (1 - h) / n)
    assert frac.min() >= 0.0 and frac.max() < 1.0 and abs(frac.mean() - 0.5) < 0.03
    # the three uniforms of a loan are consecutive draws of the generator, in loan order
    u = np.random.default_rng(7).random(3 * BEHAVIOUR_BLOCK)
    assert draws[0, 2] == u[2] and draws[1, 2] == u[5]
    assert draws[0, 0] == _geometric(float(u[0]), h)
    again = _book(simpy.Environment(), Ledger(), [], prepay=0.05, rng_seed=7)
    assert [again._behaviour(h) for _ in range(n)] == [tuple(x) for x in draws.tolist()]

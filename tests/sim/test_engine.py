"""Unit tests of the simulated engine's parts: agents, pricing, loans, tables, CET, and small
end-to-end runs that exercise one rule each (policy cap, NO_PRICE, INSUFFICIENT_FUNDS)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from market.calendar import DAY_S
from market.cet import cet_annual
from market.oracle.aggregator import FALLBACK_TWAP, NO_PRICE, OK, OracleAnswer
from market.schedule import price_schedule
from sim.agents.borrowers import arrival_times, hourly_rates
from sim.agents.lenders import LenderBook
from sim.agents.pool import Pool
from sim.config import load_scenario
from sim.config.market import (
    BorrowersConfig,
    EngineConfig,
    KpiTargets,
    LenderGroup,
    LendersConfig,
    PoolConfig,
)
from sim.config.scenario import REPO_ROOT
from sim.engine.cet_fast import cet_annual_many
from sim.engine.loans import LoanBook
from sim.engine.pricing import FundingCurve, answer_valid_at, price
from sim.ledger.book import DEFAULTED, Ledger
from sim.run.simulation import simulate
from sim.tables.events import SCHEMAS, build_frame

MODELS = REPO_ROOT / "models"
TINY = [
    "horizon_days=0.6",
    "borrowers.arrivals_per_day=300",
    "engine.runoff_days=0",
    "auction.ttl_s=3600",
]


def tiny(*extra: str):
    return load_scenario("small", [*TINY, *extra])


# ----------------------------------------------------------------------------- config


def test_config_rejects_bad_values_with_field_and_rule() -> None:
    with pytest.raises(ValueError, match="daily_profile has 23 weights: must have exactly 24"):
        BorrowersConfig(daily_profile=(1.0,) * 23)
    with pytest.raises(ValueError, match=r"amount_caps\[1\].pd_max=0.05: must be >"):
        EngineConfig(
            amount_caps=[
                {"pd_max": 0.1, "max_amount_cents": 10},
                {"pd_max": 0.05, "max_amount_cents": 10},
            ]
        )
    with pytest.raises(ValueError, match="group names must be unique"):
        LendersConfig(groups=[LenderGroup(name="a"), LenderGroup(name="a")])
    with pytest.raises(ValueError, match="extra"):
        PoolConfig(capital=5)


def test_kpi_targets_shape() -> None:
    t = KpiTargets().to_targets()
    assert t["ttvp_ms_p75"] == {"max": 500.0}
    assert t["pool_utilisation"] == {"min": 0.65}
    assert t["calibration_ratio"] == {"min": 0.75, "max": 1.33}
    assert "approval_rate" not in t


def test_amount_cap_bands() -> None:
    e = EngineConfig()
    assert e.amount_cap_cents(0.01) == 5_000_000
    assert e.amount_cap_cents(0.07) == 2_500_000
    assert EngineConfig(amount_caps=[]).amount_cap_cents(0.5) is None


# ----------------------------------------------------------------------------- borrowers


def test_arrivals_sorted_in_horizon_and_seasonal() -> None:
    cfg = BorrowersConfig(arrivals_per_day=2000)
    t = arrival_times(cfg, date(2025, 3, 3), 7 * DAY_S, np.random.default_rng(1))
    assert np.all(np.diff(t) >= 0) and t[0] >= 0 and t[-1] < 7 * DAY_S
    assert abs(len(t) - 14_000) < 5 * math.sqrt(14_000)
    hours = (t // 3600).astype(int) % 24
    night, noon = np.sum(hours == 3), np.sum(hours == 12)
    assert noon > 5 * night  # daily profile 1.55 vs 0.08
    lam = hourly_rates(cfg, date(2025, 3, 3), 24 * 7)
    assert lam.sum() == pytest.approx(2000 * 7)


def test_arrivals_deterministic() -> None:
    cfg = BorrowersConfig()
    a = arrival_times(cfg, date(2025, 1, 6), 3 * DAY_S, np.random.default_rng(5))
    b = arrival_times(cfg, date(2025, 1, 6), 3 * DAY_S, np.random.default_rng(5))
    assert a.tobytes() == b.tobytes()


# ----------------------------------------------------------------------------- lenders / pool


@given(
    seed=st.integers(0, 2**32 - 1),
    amount=st.integers(100_000, 5_000_000),
    reserve=st.integers(1500, 6000).map(lambda x: x - x % 5),
    pd=st.floats(0.0, 0.3),
    free=st.integers(0, 50_000_000),
)
def test_lender_plans_respect_reserve_tick_sizes_and_room(seed, amount, reserve, pd, free):
    book = LenderBook(LendersConfig(), np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    plans = book.plan(
        t0=100.0, ttl_s=3600, amount_cents=amount, max_rate_bps=reserve, pd=pd, lgd=0.6,
        cdi_apr=0.15, tick_bps=5, min_offer_cents=1000, free_cents=lambda a: free, rng=rng,
    )  # fmt: skip
    opened: dict[int, int] = {}
    for p in plans:
        assert p.rate_bps % 5 == 0 and p.rate_bps <= reserve
        assert p.amount_cents >= 1000 and p.amount_cents <= free
        if p.at is not None:
            assert p.at >= 100.0
        opened[p.index] = opened.get(p.index, 0) + p.amount_cents
    for i, total in opened.items():
        assert total <= free * book._f["overcommit"][i] + 1e-6
        assert book.open_cents[i] == total
    book.release(plans)
    assert not book.open_cents.any()


def test_truthful_bids_reservation_shader_adds_margin() -> None:
    groups = [
        LenderGroup(name="t", count=1, participation=1.0, noise_bps=0,
                    reservation_spread={"mean_bps": 300, "sd_bps": 0}),
        LenderGroup(name="s", count=1, participation=1.0, noise_bps=0, strategy="shading",
                    shade_bps=150, reservation_spread={"mean_bps": 300, "sd_bps": 0}),
    ]  # fmt: skip
    book = LenderBook(LendersConfig(groups=groups), np.random.default_rng(0))
    plans = book.plan(
        t0=0.0, ttl_s=10**9, amount_cents=1_000_000, max_rate_bps=9000, pd=0.1, lgd=0.5,
        cdi_apr=0.12, tick_bps=5, min_offer_cents=1000, free_cents=lambda a: 10**9,
        rng=np.random.default_rng(1),
    )  # fmt: skip
    r_res = (0.12 + 0.03 + 0.05) / 0.9 * 1e4  # 2222.2 bps
    by = {p.strategy: p.rate_bps for p in plans}
    assert by["truthful"] == 2225
    assert by["shading"] == 2225 + 150 == math.ceil((r_res + 150) / 5) * 5


def test_pool_plan_and_utilisation_integral() -> None:
    pool = Pool(PoolConfig(capital_cents=1_000_000, max_share_per_loan=0.5))
    pool.deposit(1_000_000)
    c = pool.plan(
        t0=10.0, amount_cents=300_000, max_rate_bps=4000, pd=0.05, lgd=0.6, cdi_apr=0.15,
        tick_bps=5, min_offer_cents=1000, free_cents=1_000_000, rng=np.random.default_rng(0),
    )  # fmt: skip
    assert c is not None and c.amount_cents == 150_000 and c.at == 40.0
    assert pool.open_cents == 150_000
    pool.release([c])
    pool.add_deployed(10.0, 500_000)  # half deployed from t=10
    pool.add_deployed(60.0, -500_000)  # repaid at t=60
    assert pool.utilisation(100.0) == pytest.approx(0.5 * 50 / 100)
    assert pool.nav_per_token(1_000_000) == 1.0


# ----------------------------------------------------------------------------- pricing


def _answer(status: str, price_: float | None, age: float | None, as_of: float) -> OracleAnswer:
    return OracleAnswer(status, price_, (), age, as_of)


def test_answer_validity_at_build_time() -> None:
    assert answer_valid_at(_answer(OK, 0.149, 29.0, 100.0), 100.5, 30.0, 300.0)
    assert not answer_valid_at(_answer(OK, 0.149, 29.9, 100.0), 100.5, 30.0, 300.0)
    assert answer_valid_at(_answer(FALLBACK_TWAP, 0.149, 200.0, 100.0), 101.0, 30.0, 300.0)
    assert not answer_valid_at(_answer(FALLBACK_TWAP, 0.149, 299.9, 0.0), 1.0, 30.0, 300.0)
    assert not answer_valid_at(_answer(NO_PRICE, None, None, 0.0), 0.0, 30.0, 300.0)


def test_price_declines_above_policy_cap_and_rounds_reserve_to_tick() -> None:
    cfg = EngineConfig(policy_cap_bps=4500, headroom_bps=500)
    curve = FundingCurve()
    ok = price(0.05, 0.149, date(2025, 3, 3), 12, cfg, 5, curve)
    assert ok.quote.approved and ok.quote.max_rate_bps % 5 == 0
    assert ok.quote.max_rate_bps >= ok.quote.r_min_bps + 500
    assert ok.k == pytest.approx(ok.funding_apr + 0.05)
    # a one-year period has DU ~ 250 business days: the APR is close to the CDI
    assert abs(ok.funding_apr - 0.149) < 0.01
    bad = price(0.4, 0.149, date(2025, 3, 3), 12, cfg, 5, curve)
    assert not bad.quote.approved and bad.quote.reason == "ABOVE_POLICY_CAP"


# ----------------------------------------------------------------------------- loans


def _loan_book(env, ledger, rows, *, hazard_prepay=0.0, lgd=0.6, rng_seed=0):
    return LoanBook(
        env, ledger, rows.append, lgd=lgd, default_dpd=90, recovery_delay_days=10,
        prepayment_hazard=hazard_prepay, rng=np.random.default_rng(rng_seed),
        pool_account=None, on_pool_principal=lambda t, d: None, start_date=date(2025, 3, 3),
    )  # fmt: skip


def _fund(ledger: Ledger, allocs: dict[str, int]) -> None:
    for acct, cents in allocs.items():
        ledger.deposit(0.0, acct, cents, "deposit", acct)


def test_loan_repaid_in_full_distributes_every_installment() -> None:
    env, ledger, rows = simpy.Environment(), Ledger(), []
    ledger.allow_negative("debt:")
    allocs = {"lender:a:free": 300_000, "lender:b:free": 700_000}
    book = _loan_book(env, ledger, rows)
    loan = book.originate(
        loan_id=1, request_id=1, borrower="b1",
        allocations=[(a, c, 2400) for a, c in allocs.items()], fee_cents=0, term_months=6,
        pd_model=0.0, hazard_true=0.0,
    )  # fmt: skip
    env.run()
    sched = price_schedule(1_000_000, 2400, 6)
    assert loan.status == "REPAID" and len(rows) == 6
    assert [r[5] for r in rows] == [i.payment_cents for i in sched]
    total = sum(i.payment_cents for i in sched)
    assert ledger.balance("lender:a:free") + ledger.balance("lender:b:free") == total
    assert ledger.balance("loan:1:principal") == 0 and ledger.balance("debt:b1") == 0
    ledger.check()


def test_default_writes_off_loss_and_distributes_recovery() -> None:
    env, ledger, rows = simpy.Environment(), Ledger(), []
    ledger.allow_negative("debt:")
    book = _loan_book(env, ledger, rows, lgd=0.6)
    loan = book.originate(
        loan_id=7, request_id=7, borrower="b7",
        allocations=[("lender:a:free", 250_000, 3000), ("lender:b:free", 750_000, 3000)],
        fee_cents=0, term_months=12, pd_model=0.5, hazard_true=1.0,  # misses installment 1
    )  # fmt: skip
    env.run()
    assert loan.status == "WRITTEN_OFF" and loan.paid == 0
    assert loan.written_off_at - loan.missed_at == 90 * DAY_S
    recover = round(0.4 * 1_000_000)
    assert loan.written_off_cents == 1_000_000 - recover and loan.recovered_cents == recover
    assert ledger.balance(DEFAULTED) == 600_000
    assert ledger.balance("lender:a:free") == 100_000
    assert ledger.balance("lender:b:free") == 300_000
    assert ledger.balance("loan:7:principal") == 0
    assert ledger.balance("debt:b7") == -600_000
    assert [r[3] for r in rows] == ["recovery"]
    ledger.check()


def test_prepayment_settles_balance_plus_pro_rata_interest() -> None:
    env, ledger, rows = simpy.Environment(), Ledger(), []
    ledger.allow_negative("debt:")
    book = _loan_book(env, ledger, rows, hazard_prepay=0.999999)  # prepaid in month 1
    loan = book.originate(
        loan_id=3, request_id=3, borrower="b3",
        allocations=[("lender:a:free", 500_000, 2000)], fee_cents=0, term_months=12,
        pd_model=0.0, hazard_true=0.0,
    )  # fmt: skip
    env.run()
    assert loan.status == "PREPAID" and rows[-1][3] == "prepayment"
    assert (
        rows[-1][7] == 500_000
        and 0 <= rows[-1][6] <= price_schedule(500_000, 2000, 12)[0].interest_cents
    )
    assert ledger.balance("lender:a:free") == rows[-1][5]
    ledger.check()


# ----------------------------------------------------------------------------- tables, CET


def test_build_frame_schema_and_sort() -> None:
    rows = [(2, 1, 5.0, "installment", 1, 10, 2, 8, 0), (1, 0, 4.0, "installment", 1, 10, 2, 8, 0)]
    df = build_frame("payments", rows)
    assert list(df.columns) == [c for c, _ in SCHEMAS["payments"]]
    assert df["loan_id"].tolist() == [1, 2]
    assert str(df["amount_cents"].dtype) == "int64"
    empty = build_frame("offers", [])
    assert len(empty) == 0 and str(empty["paid_rate_bps"].dtype) == "Int64"
    with pytest.raises(ValueError, match="payments row 0 has 2 values"):
        build_frame("payments", [(1, 2)])


def test_vectorised_cet_matches_market_cet() -> None:
    rng = np.random.default_rng(3)
    rec, pays, days, ref = [], np.zeros((12, 24)), np.zeros((12, 24)), []
    for i in range(12):
        p, r, n = (
            int(rng.integers(10_000, 3_000_000)),
            int(rng.integers(0, 8000)),
            int(rng.choice([3, 6, 12, 24])),
        )
        s = price_schedule(p, r, n)
        d = np.cumsum(rng.integers(28, 32, n))
        pays[i, :n] = [x.payment_cents for x in s]
        days[i, :n] = d
        rec.append(p - p // 100)
        ref.append(
            cet_annual(p - p // 100, [(int(a), x.payment_cents) for a, x in zip(d, s, strict=True)])
        )
    got = cet_annual_many(np.array(rec), pays, days)
    assert np.max(np.abs(got - np.array(ref))) < 1e-9


# ----------------------------------------------------------------------------- small runs


@pytest.mark.slow
def test_everything_above_policy_cap_is_declined() -> None:
    res = simulate(tiny("engine.policy_cap_bps=500"), models_dir=MODELS)
    d = res.tables["decisions"]
    assert len(d) > 0 and (d["decision"] == "DECLINED").all()
    assert set(d["reason"]) <= {"ABOVE_POLICY_CAP", "PD_ABOVE_MAX"}
    assert len(res.tables["auctions"]) == 0 and len(res.tables["loans"]) == 0


def _outage_until(end_s: int) -> str:
    feeders = ("p1", "p2", "p3", "p4", "p5", "s1", "s2", "s3")
    items = ", ".join(f"{{feeder: {f}, kind: outage, start_s: 0, end_s: {end_s}}}" for f in feeders)
    return f"oracles.cdi.faults=[{items}]"


@pytest.mark.slow
def test_no_price_declines_or_defers_never_prices() -> None:
    out = _outage_until(40_000)  # every CDI feeder dark from t=0: no TWAP, no failover
    res = simulate(tiny(out, "engine.no_price_action=decline"), models_dir=MODELS)
    req, d, pe = res.tables["requests"], res.tables["decisions"], res.tables["pricing_events"]
    early = req.loc[req["t_s"] < 39_000, "request_id"]
    d, pe = d[d["request_id"].isin(early)], pe[pe["request_id"].isin(early)]
    assert len(d) > 10 and (d["reason"] == "NO_PRICE").all()
    assert (pe["oracle_status"] == "NO_PRICE").all() and not pe["valid"].any()
    assert d["ttvp_ms"].isna().all() and (pe["attempt"] == 1).all()
    assert not res.tables["auctions"]["request_id"].isin(early).any()
    res = simulate(
        tiny(out, "engine.no_price_retry_s=20", "engine.no_price_max_retries=3"),
        models_dir=MODELS,
    )
    req, d, pe = res.tables["requests"], res.tables["decisions"], res.tables["pricing_events"]
    early = req.loc[req["t_s"] < 39_000, "request_id"]
    d, pe = d[d["request_id"].isin(early)], pe[pe["request_id"].isin(early)]
    assert (d["attempts"] == 4).all() and (d["reason"] == "NO_PRICE").all()
    assert set(pe["outcome"]) == {"DEFERRED", "NO_PRICE"}
    assert len(pe) == 4 * len(d)
    # after the outage, requests are priced again (from valid inputs only)
    late = res.tables["decisions"][~res.tables["decisions"]["request_id"].isin(early)]
    assert (late["oracle_status"] != "NO_PRICE").any()


@pytest.mark.slow
def test_insufficient_funds_reclears_without_overdraft() -> None:
    res = simulate(
        tiny(
            "borrowers.arrivals_per_day=600",
            "lenders.groups[0].overcommit=20",
            "lenders.groups[0].participation=0.9",
            "lenders.groups[0].capital_cents=400000",
            "lenders.groups[1].count=1",
            "pool.enabled=false",
        ),
        models_dir=MODELS,
    )
    a, o = res.tables["auctions"], res.tables["offers"]
    assert a["insufficient_funds"].sum() > 0
    dropped = o[o["outcome"] == "INSUFFICIENT_FUNDS"]
    assert len(dropped) == a["insufficient_funds"].sum()
    assert (dropped["allocated_cents"] == 0).all()
    funded = a[a["final_status"] == "FUNDED"]
    alloc = o[o["outcome"] == "ALLOCATED"].groupby("auction_id")["allocated_cents"].sum()
    assert (alloc.reindex(funded["auction_id"]).to_numpy() == funded["filled_cents"]).all()
    lk = res.tables["ledger"]
    assert lk[lk["kind"] == "lock"]["amount_cents"].sum() == funded["filled_cents"].sum()


# ----------------------------------------------------------------------------- auction runner


def test_auction_closes_at_the_reveal_deadline_despite_float_rounding() -> None:
    """A commit never revealed makes the runner sleep until ``close_at + reveal_window_s``.
    With these times ``now + (deadline - now)`` rounds one ulp *below* the deadline; the
    close must still happen (it used to raise "cannot close auction" and kill the run)."""
    from types import SimpleNamespace

    from market.auction.commitment import lender_address
    from market.auction.types import AuctionRules
    from sim.agents.lenders import PlannedCommit
    from sim.engine.auctions import AuctionCtx, auction_process

    t0, t_commit = 834.5315057779801, 886.9474155073044
    rules = AuctionRules(ttl_s=3600, reveal_window_s=600)
    deadline = t0 + rules.ttl_s + rules.reveal_window_s
    assert t_commit + (deadline - t_commit) < deadline  # the rounding this test is about
    plans = [
        PlannedCommit(
            lender=lender,
            account=f"lender:{lender}:free",
            address=lender_address(lender),
            amount_cents=600_000,
            rate_bps=rate,
            at=t_commit,
            lead_s=0.0,
            reveal_after_s=rv,
            strategy="truthful",
            index=index,
        )
        for index, (lender, rate, rv) in enumerate((("a", 2000, 5.0), ("b", 2100, None)))
    ]
    funded: list[tuple] = []
    eng = SimpleNamespace(
        env=simpy.Environment(initial_time=t0),
        rules=rules,
        engine_cfg=SimpleNamespace(lgd=0.6, confirmation_delay_s=60.0),
        lender_cdi_apr=lambda t, term: 0.15,
        lenders=SimpleNamespace(plan=lambda **kw: list(plans)),
        pool=None,
        ledger=SimpleNamespace(balance=lambda acct: 10**9),
        rng_lenders=None,
        rng_salts=np.random.default_rng(0),
        account_of={"a": "lender:a:free", "b": "lender:b:free"},
        record_clearing=lambda ctx, result, stage: None,
        release=lambda ctx: None,
        fund=lambda ctx, state, debits: funded.append((ctx.auction_id, dict(debits))),
    )
    ctx = AuctionCtx(7, 7, "b7", t0, 500_000, 2500, 12, 0.02, 0.149, 0.147)
    eng.env.process(auction_process(eng, ctx))
    eng.env.run()
    assert ctx.state.phase == "CONFIRMED" and ctx.final_status == "FUNDED"
    assert ctx.cleared_at >= ctx.state.close_at + rules.reveal_window_s - 1e-6
    assert funded == [(7, {"a": 500_000})]


def test_answer_expired_before_the_price_is_built_is_deferred_with_its_reason() -> None:
    """Pricing slower than the staleness bound: every OK answer read is too old once the
    quote would be built. Nothing is priced, and every attempt records why."""
    res = simulate(
        tiny("horizon_days=0.05", "latency.pricing.median_ms=40000", "latency.pricing.sigma=0"),
        models_dir=MODELS,
    )
    pe, dec = res.tables["pricing_events"], res.tables["decisions"]
    assert len(pe) > 0 and not pe["valid"].any()
    assert set(pe["oracle_status"]) == {"OK"}
    assert pe["oracle_reason"].notna().all()
    assert pe["oracle_reason"].str.contains("staleness_s=30").all()
    assert (dec["decision"] == "DECLINED").all() and (dec["reason"] == "NO_PRICE").all()
    assert len(res.tables["auctions"]) == 0


def test_pool_utilisation_is_measured_over_the_horizon_even_without_run_off() -> None:
    """With ``runoff_days: 0`` the run stops at the horizon itself; utilisation over
    ``[0, horizon]`` must still be reported, and equal the one of a run that goes on."""
    short = simulate(tiny("horizon_days=0.3"), models_dir=MODELS)
    longer = simulate(tiny("horizon_days=0.3", "engine.runoff_days=1"), models_dir=MODELS)
    u = short.kpis["pool_utilisation"]
    assert u is not None and 0.0 < u <= 1.0
    assert u == longer.kpis["pool_utilisation"]

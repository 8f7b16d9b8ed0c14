"""Behaviour of the engine in small versions of the shipped scenarios: sniping triggers
extensions, an oracle outage never yields an OK price from stale data, a CDI shock moves
clearing rates up."""

from __future__ import annotations

import numpy as np
import pytest

from sim.config import load_scenario
from sim.config.scenario import REPO_ROOT
from sim.run.simulation import simulate

MODELS = REPO_ROOT / "models"
pytestmark = pytest.mark.slow


def test_sniping_triggers_extensions_and_offer_limits() -> None:
    # the shipped lender groups as they are: the scenario itself must show both rejections
    sc = load_scenario("sniping", ["horizon_days=0.5", "engine.runoff_days=1"])
    res = simulate(sc, models_dir=MODELS)
    a, o = res.tables["auctions"], res.tables["offers"]
    rules = sc.auction
    assert (a["extensions"] > 0).mean() > 0.3
    assert a["extensions"].max() <= rules.max_extensions
    # the close moved by exactly the extensions granted
    np.testing.assert_allclose(
        a["close_at"] - a["opened_at"], rules.ttl_s + a["extensions"] * rules.snipe_extension_s
    )
    # every extension was caused by an accepted commit inside the snipe window
    acc = o[o["accepted"]].merge(a[["auction_id", "close_at", "extensions"]], on="auction_id")
    snipes = acc[acc["strategy"] == "late_sniper"]
    assert len(snipes) > 0
    assert ((snipes["close_at"] - snipes["committed_at"]) > 0).all()
    rej = o["reject_reason"].value_counts()
    assert rej.get("COOLDOWN", 0) > 0 and rej.get("MAX_OFFERS", 0) > 0
    # per lender and auction, never more accepted commits than max_offers_per_lender
    per = o[o["accepted"]].groupby(["auction_id", "lender"]).size()
    assert per.max() <= rules.max_offers_per_lender


def test_oracle_outage_falls_back_and_never_prices_from_stale_data() -> None:
    sc = load_scenario(
        "oracle_outage",
        ["horizon_days=1.6", "borrowers.arrivals_per_day=200", "engine.runoff_days=0",
         "oracles.usdbrl.faults=[]"],
    )  # fmt: skip
    res = simulate(sc, models_dir=MODELS)
    pe = res.tables["pricing_events"]
    agg = sc.oracles.cdi.aggregator
    statuses = set(pe["oracle_status"])
    assert {"OK", "FAILOVER", "NO_PRICE"} <= statuses
    # a price is built only from valid inputs: OK/FAILOVER fresh, TWAP within its max age
    priced = pe[pe["valid"]]
    assert (priced["oracle_status"] != "NO_PRICE").all()
    fresh = priced[priced["oracle_status"].isin(["OK", "FAILOVER"])]
    assert (fresh["oracle_age_s"] <= agg.staleness_s).all()
    twap = priced[priced["oracle_status"] == "FALLBACK_TWAP"]
    assert (twap["oracle_age_s"] <= agg.twap_max_age_s).all()
    # inside the window where every feeder is dark, nothing is priced
    dark = pe[(pe["t_s"] > 124_200 + agg.twap_max_age_s + agg.staleness_s) & (pe["t_s"] < 126_000)]
    assert len(dark) > 0 and not dark["valid"].any()
    assert set(dark["outcome"]) <= {"DEFERRED", "NO_PRICE"}
    dec = res.tables["decisions"]
    declined = dec[dec["reason"] == "NO_PRICE"]
    assert len(declined) > 0 and declined["ttvp_ms"].isna().all()
    assert not res.tables["auctions"]["request_id"].isin(declined["request_id"]).any()


def test_rate_shock_moves_clearing_rates_up() -> None:
    sc = load_scenario(
        "rate_shock",
        ["horizon_days=1", "borrowers.arrivals_per_day=300", "engine.runoff_days=1",
         "exogenous.cdi.shocks=[{at_day: 0.5, delta_bps: 300}]"],
    )  # fmt: skip
    res = simulate(sc, models_dir=MODELS)
    a = res.tables["auctions"]
    f = a[a["final_status"] == "FUNDED"]
    after = f["opened_at"] >= 0.5 * 86_400 + 60  # priced after the shock reached the oracles
    before = f["opened_at"] < 0.5 * 86_400
    assert after.sum() > 20 and before.sum() > 20
    rise = f.loc[after, "clearing_rate_bps"].mean() - f.loc[before, "clearing_rate_bps"].mean()
    assert rise > 150  # ~300 bps of funding cost passes through
    d = res.tables["decisions"].merge(res.tables["requests"][["request_id", "t_s"]],
                                      on="request_id", suffixes=("", "_req"))  # fmt: skip
    ok = d[d["decision"] == "APPROVED"]
    r_before = ok.loc[ok["t_s_req"] < 43_200, "max_rate_bps"].mean()
    r_after = ok.loc[ok["t_s_req"] > 43_300, "max_rate_bps"].mean()
    assert r_after - r_before > 200


def test_shipped_rate_shock_is_not_starved_of_capital_before_the_shock() -> None:
    """The shipped lenders can fund the whole horizon: fill rate holds and clearing rates stay
    flat before the shock, so the rise after it is the shock's, not capital running out."""
    sc = load_scenario("rate_shock", ["horizon_days=12", "engine.runoff_days=0"])
    shock_day = sc.exogenous.cdi.shocks[0].at_day
    res = simulate(sc, models_dir=MODELS)
    a = res.tables["auctions"]
    day = (a["opened_at"] // 86_400).astype(int)
    fill = (a["final_status"] == "FUNDED").groupby(day).mean()
    assert (fill >= 0.75).all(), fill.to_dict()
    f = a[a["final_status"] == "FUNDED"]
    fday = (f["opened_at"] // 86_400).astype(int)
    r = f.groupby(fday)["clearing_rate_bps"].mean()
    early, late = r.loc[0:2].mean(), r.loc[shock_day - 3 : shock_day - 1].mean()
    assert abs(late - early) < 100, r.to_dict()
    assert r.loc[shock_day:].mean() - late > 150, r.to_dict()

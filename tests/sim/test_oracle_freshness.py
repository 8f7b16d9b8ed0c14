"""Freshness by observation time on a real scenario: every CDI feeder frozen, a CDI shock
inside the freeze. Frozen feeders keep republishing the pre-shock value on heartbeat; no
request may be priced from it once its observation is older than the rules allow."""

from __future__ import annotations

import pytest

from sim.config import load_scenario
from sim.config.scenario import REPO_ROOT
from sim.run.simulation import simulate

MODELS = REPO_ROOT / "models"
pytestmark = pytest.mark.slow

FREEZE_AT, SHOCK_AT, THAW_AT = 32_400, 36_000, 43_200  # 09:00, 10:00, 12:00
FEEDERS = ("p1", "p2", "p3", "p4", "p5", "s1", "s2", "s3")


def test_frozen_oracles_never_price_a_request_at_the_pre_shock_cdi() -> None:
    freeze = ", ".join(
        f"{{feeder: {f}, kind: freeze, start_s: {FREEZE_AT}, end_s: {THAW_AT}}}" for f in FEEDERS
    )
    sc = load_scenario(
        "oracle_outage",
        [
            "horizon_days=0.6",
            "borrowers.arrivals_per_day=800",
            "engine.runoff_days=0",
            f"oracles.cdi.faults=[{freeze}]",
            "oracles.usdbrl.faults=[]",
            f"exogenous.cdi.shocks=[{{at_day: {SHOCK_AT / 86_400!r}, delta_bps: 300}}]",
        ],
    )
    agg = sc.oracles.cdi.aggregator
    res = simulate(sc, models_dir=MODELS)
    pe, dec = res.tables["pricing_events"], res.tables["decisions"]
    ticks = res.tables["oracle_ticks"]
    cdi = ticks[ticks["feed"] == "cdi"]
    pub = cdi[(cdi["kind"] == "publish") & (cdi["t_s"] > SHOCK_AT) & (cdi["t_s"] < THAW_AT)]
    before = float(cdi.loc[cdi["t_s"] < FREEZE_AT, "true_price"].iloc[-1])
    after = float(cdi.loc[cdi["t_s"] > SHOCK_AT, "true_price"].iloc[0])
    assert after == pytest.approx(before + 0.03)
    # the frozen feeders republished the pre-shock value all along, on heartbeat
    assert len(pub) > 1_000 and (pub["price"] == before).all()
    assert (pub["value_t_s"] < FREEZE_AT).all()
    # answers: OK only while the frozen observation is fresh, the TWAP while young enough
    answers = cdi[cdi["kind"] == "answer"]
    ok = answers[answers["status"] == "OK"]
    assert (ok["age_s"] <= agg.staleness_s).all()
    frozen = answers[(answers["t_s"] > FREEZE_AT) & (answers["t_s"] < THAW_AT)]
    assert len(frozen) > 50
    stale = frozen[frozen["t_s"] > FREEZE_AT + agg.staleness_s]
    assert (stale["status"] != "OK").all()
    dark = frozen[frozen["t_s"] > FREEZE_AT + agg.twap_max_age_s]
    assert len(dark) > 40 and (dark["status"] == "NO_PRICE").all()
    # requests: none priced at the pre-shock CDI once the shock is older than staleness_s
    priced = pe[pe["valid"]]
    late = priced[priced["t_s"] > SHOCK_AT + agg.staleness_s]
    assert len(late) > 20 and (late["oracle_price"] == after).all()
    assert not ((priced["t_s"] > FREEZE_AT + agg.twap_max_age_s) & (priced["t_s"] < THAW_AT)).any()
    # the requests of the dark window were deferred, then declined NO_PRICE or priced after
    waited = pe[(pe["t_s"] > FREEZE_AT + agg.twap_max_age_s) & (pe["t_s"] < THAW_AT)]
    assert len(waited) > 40 and set(waited["outcome"]) <= {"DEFERRED", "NO_PRICE"}
    declined = dec[dec["reason"] == "NO_PRICE"]
    assert len(declined) > 20 and (declined["oracle_status"] == "NO_PRICE").all()

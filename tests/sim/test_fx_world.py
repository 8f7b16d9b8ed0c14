"""The FX world of a run with ``fx.enabled``: venues quoting around the true USD/BRL path and
filling from a book that orders consume, noise and informed traders, the VPIN of every venue's
flow and the toxicity filter; and the ``fx_toxicity`` scenario, whose toxic venue is seen."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import simpy

from market.fx import BUY, SELL, VpinMeter
from sim.cli import main
from sim.config import load_scenario
from sim.seeds import SeedTree
from sim.tables.rows import FX_TABLES
from sim.world import build_world
from sim.world.fx_venues import make_venues

#: a cheap model: the FX world does not depend on it
CHEAP = ("model.train_size=500", "model.gbm_n_estimators=5", "chain.backend=off")


def _world(until: float, *sets: str):
    sc = load_scenario("fx_toxicity", sets)
    env = simpy.Environment()
    rows: dict[str, list] = {name: [] for name in FX_TABLES}
    world = build_world(sc, env, SeedTree(sc.seed), rows=rows)
    env.run(until=until)
    return sc, world, rows


def test_fx_is_built_only_when_enabled() -> None:
    _, world, rows = _world(60.0, "fx.enabled=false")
    assert world.fx_venues == {} and world.fx_traders is None
    assert rows == {"fx_quotes": [], "fx_trades": []}


def test_venues_quote_on_their_grid_around_the_true_path() -> None:
    sc, world, rows = _world(600.0)
    q = pd.DataFrame(rows["fx_quotes"])
    for v in sc.fx.venues:
        mine = q[q["venue"] == v.id]
        step = v.quote_interval_s
        assert mine["t_s"].tolist() == [k * step for k in range(len(mine))]
        assert len(mine) == math.ceil(600.0 / step)
    assert (q["bid"] < q["mid"]).all() and (q["mid"] < q["ask"]).all()
    true = [world.paths.usdbrl_at(t) for t in q["t_s"]]
    assert np.array_equal(q["true_mid"].to_numpy(), np.array(true))
    first = q[q["t_s"] == 0.0]
    assert (first["mid"] == first["true_mid"]).all()  # no flow yet: no skew
    spread = (q["ask"] - q["bid"]) / q["mid"] * 1e4
    want = q["venue"].map({v.id: v.spread_bps for v in sc.fx.venues})
    assert np.allclose(spread, want, rtol=1e-6)


def test_a_fill_takes_only_the_book_left_and_moves_the_venue_with_the_flow() -> None:
    sc = load_scenario("fx_toxicity")
    env = simpy.Environment()
    world = build_world(sc, env, SeedTree(sc.seed))
    rows: dict[str, list] = {name: [] for name in FX_TABLES}
    venue = make_venues(sc.fx, world.paths, rows)["toxic"]
    depth = sum(venue.cfg.levels_usd_cents)
    q = venue.requote(0.0)
    assert venue.execute(0.0, "noise", BUY, depth + 123) == depth
    assert venue.execute(0.0, "noise", BUY, 1) == 0  # the asks are gone until the next quote
    (trade,) = rows["fx_trades"]
    assert q.asks[0].price < trade.price < q.asks[-1].price
    assert trade.size_usd_cents == depth and trade.side == BUY
    assert venue.skew_bps == pytest.approx(venue.cfg.impact_bps)
    half = venue.cfg.impact_half_life_s
    q2 = venue.requote(half)
    true_mid = world.paths.usdbrl_at(half)
    assert q2.mid / true_mid - 1.0 == pytest.approx(venue.cfg.impact_bps / 2 / 1e4, rel=1e-6)
    assert venue.execute(half, "informed", SELL, depth) == depth
    assert venue.skew_bps == pytest.approx(venue.cfg.impact_bps / 2 - venue.cfg.impact_bps)


def test_trades_carry_the_vpin_of_one_bar_per_trade_and_informed_flow_leads_the_path() -> None:
    sc, world, rows = _world(4 * 3600.0)
    t = pd.DataFrame(rows["fx_trades"])
    assert t["trade_id"].tolist() == list(range(len(t)))
    assert set(t["trader"]) == {"noise", "informed"}
    assert ((t["buy_volume"] >= 0) & (t["buy_volume"] <= t["size_usd_cents"])).all()
    vp = sc.fx.vpin
    for venue, mine in t.groupby("venue"):
        meter = VpinMeter(vp.bucket_volume_usd_cents, vp.n_buckets, vp.sigma)
        again = [
            meter.update(p, s) for p, s in zip(mine["price"], mine["size_usd_cents"], strict=True)
        ]
        got = mine["vpin"].to_numpy()
        want = np.array([np.nan if x is None else x for x in again])
        assert np.array_equal(got, want, equal_nan=True), venue
        assert ((got[~np.isnan(got)] >= 0) & (got[~np.isnan(got)] <= 1)).all()
    informed = t[t["trader"] == "informed"]
    assert len(informed) > 10
    lead = sc.fx.traders.informed.lead_s
    latency = {v.id: v.latency_s for v in sc.fx.venues}
    for row in informed.itertuples():
        sent = row.t_s - latency[row.venue]
        up = world.paths.usdbrl_at(sent + lead) > world.paths.usdbrl_at(sent)
        assert row.side == (BUY if up else SELL)


def test_the_fx_world_is_a_function_of_the_seed() -> None:
    _, _, a = _world(1800.0)
    _, _, b = _world(1800.0)
    _, _, c = _world(1800.0, "seed=12")
    assert a == b and a["fx_trades"] != c["fx_trades"]


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _run(out: Path, models: Path, capsys, *sets: str) -> Path:
    argv = ["run", "fx_toxicity", "--quiet", "--out", str(out), "--models", str(models)]
    for s in (*CHEAP, *sets):
        argv += ["--set", s]
    assert main(argv) == 0
    return Path(capsys.readouterr().out.strip().splitlines()[-1]) / "events"


def test_fx_toxicity_shows_the_toxic_venue_and_excludes_it_part_of_the_time(
    tmp_path: Path, models: Path, capsys
) -> None:
    events = _run(tmp_path / "on", models, capsys)
    trades = pd.read_parquet(events / "fx_trades.parquet")
    quotes = pd.read_parquet(events / "fx_quotes.parquet")
    assert set(quotes["venue"]) == set(trades["venue"]) == {"toxic", "calm_a", "calm_b"}
    informed = trades[trades["trader"] == "informed"]["venue"].value_counts(normalize=True)
    assert informed["toxic"] > 0.6
    vpin = trades.groupby("venue")["vpin"].mean()
    excluded = trades.groupby("venue")["excluded"].mean()
    for calm in ("calm_a", "calm_b"):
        assert vpin["toxic"] > vpin[calm] + 0.05
        assert excluded[calm] == 0.0
    assert 0.0 < excluded["toxic"] < 0.5
    # excluded exactly while the VPIN after the last completed bucket is above the threshold
    toxic = trades[trades["venue"] == "toxic"]
    assert (toxic.loc[toxic["excluded"], "vpin"] > 0.45).all()
    off = _run(tmp_path / "off", models, capsys, "fx.toxicity_filter=false")
    assert not pd.read_parquet(off / "fx_trades.parquet")["excluded"].any()


def test_a_run_without_fx_writes_no_fx_table(tmp_path: Path, models: Path, capsys) -> None:
    events = _run(tmp_path / "x", models, capsys, "fx.enabled=false")
    assert not list(events.glob("fx_*")) and (events / "requests.parquet").exists()

"""Feeders (deviation / heartbeat / faults) and the oracle service (fallback chain, freshness by
observation time, the primary/secondary cross-check, ticks)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import simpy
from hypothesis import event, given, settings
from hypothesis import strategies as st

from market.oracle.aggregator import (
    PRIMARY_SECONDARY_DISAGREE,
    OracleConfig,
    SourceState,
    aggregate,
)
from sim.agents.feeders import Feeder, Publication, deviation_thresholds, reference_publications
from sim.config.scenario import scenario_from_mapping
from sim.config.world import FaultConfig, FeederConfig
from sim.seeds import SeedTree
from sim.world import build_world
from sim.world.oracle_service import TICK_COLUMNS

# ----------------------------------------------------------------------------- feeders


def _walk(seed: int, n: int, step: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 5.0 * np.exp(np.cumsum(rng.normal(0.0, step, n)))


def _feeder(
    cfg: FeederConfig,
    faults,
    path: np.ndarray,
    end_s: float,
    chunk_s: float,
    *,
    shortcuts: bool = False,
) -> Feeder:
    """A feeder of ``path`` (one value per second, held). ``shortcuts``: also hand it the exact
    grid-slice and constant-path functions, as ``make_feeders`` does for the real paths."""

    def path_many(t: np.ndarray) -> np.ndarray:
        return path[np.clip(t.astype(np.int64), 0, len(path) - 1)]

    def path_grid(t0: float, step: float, n: int) -> np.ndarray | None:
        last = t0 + (n - 1) * step
        if not (t0.is_integer() and step.is_integer()) or t0 < 0 or last >= len(path):
            return None
        return path[int(t0) : int(last) + 1 : int(step)]

    def path_const(t0: float, t1: float) -> float | None:
        seg = path[int(t0) : min(int(t1), len(path) - 1) + 1]
        return float(seg[0]) if len(seg) and (seg == seg[0]).all() else None

    return Feeder(
        "usdbrl",
        cfg,
        "primary",
        faults,
        path_many,
        np.random.default_rng(0),
        end_s,
        chunk_s=chunk_s,
        path_grid=path_grid if shortcuts else None,
        path_const=path_const if shortcuts else None,
    )


def _steps(seed: int, n: int, jumps: int, size: float) -> np.ndarray:
    """A step path (like the CDI): ``jumps`` relative moves of about ``size`` at random times."""
    rng = np.random.default_rng(seed)
    out = np.full(n, 0.149)
    for at in np.sort(rng.integers(1, n, jumps)):
        out[at:] *= 1.0 + rng.choice([-1.0, 1.0]) * size * rng.uniform(0.2, 2.0)
    return out


@st.composite
def _fault_plans(draw, end_s: float) -> list[FaultConfig]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["outage", "freeze", "lag", "lie"]))
        a = draw(st.floats(0, end_s))
        b = a + draw(st.floats(1, end_s / 2))
        extra = {}
        if kind == "lie":
            extra["bias"] = draw(st.floats(-0.2, 0.2))
        if kind == "lag":
            extra["lag_s"] = draw(st.floats(1, 200))
        out.append(FaultConfig(feeder="f", kind=kind, start_s=a, end_s=b, **extra))
    return out


@settings(max_examples=120)
@given(
    heartbeat=st.sampled_from([1.0, 2.0, 5.0, 15.0, 16.5, 60.0]),
    poll=st.sampled_from([1.0, 2.0, 5.0]),
    deviation=st.sampled_from([0.0005, 0.002, 0.01]),
    step=st.sampled_from([0.0, 0.0002, 0.001, 0.004]),
    noise=st.sampled_from([0.0, 0.0, 0.0003, 0.002]),
    steps=st.booleans(),
    phase=st.one_of(st.floats(0, 10), st.integers(0, 10).map(float)),
    delay=st.one_of(st.floats(0, 5), st.integers(0, 5).map(float)),
    chunk=st.sampled_from([97.0, 500.0, 3600.0]),
    seed=st.integers(0, 1000),
    faults=_fault_plans(4000.0),
    scan=st.sampled_from(["auto", "filter", "rows"]),
)
def test_chunked_vectorised_feeder_equals_the_poll_by_poll_rule(
    heartbeat, poll, deviation, step, noise, steps, phase, delay, chunk, seed, faults, scan
) -> None:
    if heartbeat < poll:
        heartbeat = poll
    end = 4000.0
    cfg = FeederConfig(
        id="f",
        heartbeat_s=heartbeat,
        poll_s=poll,
        deviation=deviation,
        phase_s=phase,
        delay_s=delay,
        noise=noise,
    )
    path = _steps(seed, 6000, 6, deviation) if steps else _walk(seed, 6000, step)
    fast = _feeder(cfg, faults, path, end, chunk, shortcuts=True)
    # the scan method is chosen by the running deviation count; force either one
    fast._deviations = {"auto": 0.0, "filter": 1e300, "rows": -1e300}[scan]
    fast.advance_to(end)
    got = fast.publications(end)
    # the specification: every poll observed at once, then the plain loop
    spec = _feeder(cfg, faults, path, end, chunk_s=1e9)
    k = np.arange(0, int((end - phase) // poll) + 1)
    t = phase + k * poll
    t = t[t <= end]
    v, vt, up, code = spec._observe(t)
    want = reference_publications(cfg, t, v, up)
    assert np.array_equal(got["t_s"], t[want])
    assert np.array_equal(got["value"], v[want])
    assert np.array_equal(got["value_t_s"], vt[want])
    assert np.array_equal(got["fault"], code[want])


@settings(max_examples=200)
@given(
    deviation=st.one_of(
        st.sampled_from([0.0025, 0.0005, 0.01, 0.1, 0.5, 0.75]),
        st.floats(1e-12, 0.999, allow_nan=False),
    ),
    x=st.floats(allow_nan=True, allow_infinity=True),
    ulps=st.integers(-3, 3),
)
def test_deviation_thresholds_decide_exactly_like_the_rule(deviation, x, ulps) -> None:
    lo, hi = deviation_thresholds(deviation)
    candidates = [x, lo, hi, 1.0 + deviation, 1.0 - deviation, math.inf, -math.inf, 1.0]
    for c in candidates:
        for _ in range(abs(ulps)):
            c = math.nextafter(c, math.inf if ulps > 0 else -math.inf)
        assert (abs(c - 1.0) >= deviation) == (c <= lo or c >= hi)
    assert lo < 1.0 < hi


def test_deviation_thresholds_reject_a_bad_deviation() -> None:
    with pytest.raises(ValueError, match=r"deviation=0\.0: must be a finite number > 0"):
        deviation_thresholds(0.0)


def test_step_path_without_noise_publishes_on_heartbeats_and_at_each_step() -> None:
    path = np.full(20_000, 0.149)
    path[7_008:] = 0.1465  # -1.7 % at t = 7008, first seen by the poll at 7010 (delay 1 s)
    cfg = FeederConfig(id="f", heartbeat_s=15.0, poll_s=5.0)
    f = _feeder(cfg, [], path, 14_400.0, 3600.0, shortcuts=True)
    f.advance_to(14_400.0)
    pub = f.publications()
    # heartbeats up to 7005, the deviation at 7010, then heartbeats from there
    want = np.concatenate([np.arange(0.0, 7006.0, 15.0), np.arange(7010.0, 14_401.0, 15.0)])
    assert np.array_equal(pub["t_s"], want)
    assert np.array_equal(pub["value"], np.where(want < 7010.0, 0.149, 0.1465))
    assert np.array_equal(pub["value_t_s"], np.maximum(want - 1.0, 0.0))


def test_flat_path_without_noise_publishes_exactly_every_heartbeat() -> None:
    cfg = FeederConfig(id="f", heartbeat_s=15.0, poll_s=1.0)
    f = _feeder(cfg, [], np.full(10_000, 5.4), 7200.0, 3600.0)
    f.advance_to(7200.0)
    t = f.publications()["t_s"]
    assert np.array_equal(t, np.arange(0.0, 7201.0, 15.0))


def test_deviation_publishes_immediately() -> None:
    path = np.full(1000, 5.0)
    path[100:] = 5.02  # +0.4 % > 0.25 %
    cfg = FeederConfig(id="f", heartbeat_s=60.0, poll_s=1.0, delay_s=0.0)
    f = _feeder(cfg, [], path, 400.0, 3600.0)
    f.advance_to(400.0)
    assert f.publications()["t_s"].tolist() == [0.0, 60.0, 100.0, 160.0, 220.0, 280.0, 340.0, 400.0]


# ----------------------------------------------------------------------------- service


def _world(oracles: dict, horizon_days: float = 0.25, seed: int = 5, exogenous: dict | None = None):
    oracles = {"tail_s": 0.0, **oracles}
    doc = {"name": "t", "horizon_days": horizon_days, "oracles": oracles}
    if exogenous:
        doc["exogenous"] = exogenous
    sc = scenario_from_mapping(doc)
    env = simpy.Environment()
    return sc, env, build_world(sc, env, SeedTree(seed))


def _observed(f: Feeder, now: float) -> float:
    """When the value of ``f``'s newest publication at or before ``now`` was observed, read
    from its publication record (``value_t_s``)."""
    return float(f.publications(now)["value_t_s"][-1])


def _outage(feeders, a: float, b: float) -> list[dict]:
    return [{"feeder": f, "kind": "outage", "start_s": a, "end_s": b} for f in feeders]


PRIMARY = ["p1", "p2", "p3", "p4", "p5"]
SECONDARY = ["s1", "s2", "s3"]


def test_outage_walks_the_fallback_chain_in_order() -> None:
    faults = _outage(PRIMARY, 3600, 9000) + _outage(SECONDARY, 5400, 7200)
    _, _, w = _world({"usdbrl": {"faults": faults}})
    seen = []
    for t in np.arange(3000.0, 9600.0, 5.0):
        a = w.oracles.read("usdbrl", float(t))
        if not seen or seen[-1] != a.status:
            seen.append(a.status)
    assert seen == ["OK", "FALLBACK_TWAP", "FAILOVER", "NO_PRICE", "FAILOVER", "OK"]


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["outage", "freeze", "lag"]),
    start=st.floats(0, 8000),
    length=st.floats(1, 6000),
    sec_kind=st.sampled_from(["outage", "freeze", "lag"]),
    sec_start=st.floats(0, 10000),
    sec_length=st.one_of(st.just(0.0), st.floats(1, 6000)),
    n_out=st.integers(1, 5),
    reads=st.lists(st.floats(0, 14000), min_size=5, max_size=40),
)
def test_never_an_ok_answer_from_stale_data(
    kind, start, length, sec_kind, sec_start, sec_length, n_out, reads
):
    """Whatever silences the primaries — they stop (outage), republish an old value (freeze)
    or observe late (lag, 300 s) — no OK answer uses a value observed more than
    ``staleness_s`` ago, however recently it was published."""

    def faults_of(feeders, kind, a, b):
        extra = {"lag_s": 300.0} if kind == "lag" else {}
        return [{"feeder": f, "kind": kind, "start_s": a, "end_s": b, **extra} for f in feeders]

    faults = faults_of(PRIMARY[:n_out], kind, start, start + length)
    if sec_length > 0:
        faults += faults_of(SECONDARY, sec_kind, sec_start, sec_start + sec_length)
    sc, _, w = _world({"cdi": {"faults": faults}}, horizon_days=0.2)
    cfg = sc.oracles.cdi.aggregator
    for now in sorted(reads):
        a = w.oracles.read("cdi", now)
        if a.status in ("OK", "FAILOVER"):
            assert a.age_s is not None and a.age_s <= cfg.staleness_s
            assert len(a.sources) >= (3 if a.status == "OK" else 2)
            assert set(a.sources) <= set(PRIMARY if a.status == "OK" else SECONDARY)
            # every used source OBSERVED its value within staleness_s of now (on the feeders)
            observed = [
                _observed(f, now) for f in w.feeders if f.feed == "cdi" and f.id in a.sources
            ]
            assert all(0 <= now - o <= cfg.staleness_s for o in observed)
            assert a.age_s == now - min(observed)
        elif a.status == "FALLBACK_TWAP":
            assert a.age_s is not None and a.age_s <= cfg.twap_max_age_s
        else:
            assert a.status == "NO_PRICE" and a.price is None
        # a faulty feeder observes nothing new inside its fault (lag: 300 s late)
        if start + cfg.staleness_s < now < start + length and a.status == "OK":
            assert not set(a.sources) & set(PRIMARY[:n_out])
        if n_out >= 3 and start + cfg.staleness_s < now < start + length:
            assert a.status != "OK"


def _faults(feeders, kind: str, a: float, b: float, **extra) -> list[dict]:
    return [{"feeder": f, "kind": kind, "start_s": a, "end_s": b, **extra} for f in feeders]


def _shock(at_s: float, delta_bps: int) -> dict:
    return {"cdi": {"shocks": [{"at_day": at_s / 86_400, "delta_bps": delta_bps}]}}


def test_every_feeder_frozen_goes_stale_then_twap_then_no_price() -> None:
    """Frozen feeders republish their old value on heartbeat: it looks recent but was observed
    at the freeze's start. OK while that observation is fresh, the TWAP while its newest input
    is young enough, then nothing — never the frozen (pre-shock) value as OK."""
    freeze_at, shock_at, thaw_at = 3600.0, 5400.0, 9000.0
    faults = _faults(PRIMARY + SECONDARY, "freeze", freeze_at, thaw_at)
    sc, _, w = _world({"cdi": {"faults": faults}}, seed=3, exogenous=_shock(shock_at, 300))
    cfg = sc.oracles.cdi.aggregator
    truth = w.paths.at("cdi")
    before, after = truth(shock_at - 1.0), truth(shock_at + 1.0)
    assert after == pytest.approx(before + 0.03)
    seen = []
    for now in np.arange(3000.0, 10_000.0, 5.0):
        a = w.oracles.read("cdi", float(now))
        if not seen or seen[-1][0] != a.status:
            seen.append((a.status, float(now)))
        if a.status == "OK":
            assert a.age_s <= cfg.staleness_s
            assert not freeze_at + cfg.staleness_s < now < thaw_at  # observed >= 1 s before
        if a.status == "FALLBACK_TWAP":
            assert a.age_s <= cfg.twap_max_age_s and now <= freeze_at + cfg.twap_max_age_s
        if a.priced and now >= shock_at + 60.0:  # once the feeders can have seen the shock
            assert a.price == after
    assert [s for s, _ in seen] == ["OK", "FALLBACK_TWAP", "NO_PRICE", "OK"]
    assert [t for _, t in seen][1:] == [3630.0, 3900.0, 9000.0]
    # the frozen feeders kept publishing the pre-shock value, on heartbeat, all along
    fr = w.oracles.ticks_frame(upto=thaw_at - 1.0)
    pub = fr[(fr.kind == "publish") & (fr.feed == "cdi") & (fr.t_s > shock_at)]
    assert len(pub) > 8 * 200 and (pub.price == before).all() and (pub.fault == "freeze").all()
    assert (pub.value_t_s < freeze_at).all() and (pub.age_s > 1800.0).all()


@st.composite
def _any_faults(draw, end_s: float) -> list[dict]:
    """Up to four faults, each on a random group of feeders (both roles) at once."""
    out = []
    for _ in range(draw(st.integers(0, 4))):
        group = draw(st.sets(st.sampled_from(PRIMARY + SECONDARY), min_size=1))
        kind = draw(st.sampled_from(["outage", "freeze", "lag", "lie"]))
        a = draw(st.floats(0, end_s))
        b = a + draw(st.floats(1, end_s / 2))
        extra = {}
        if kind == "lie":
            extra["bias"] = draw(st.sampled_from([-0.05, 0.003, 0.02, 0.2]))
        if kind == "lag":
            extra["lag_s"] = draw(st.floats(1, 400))
        out += _faults(sorted(group), kind, a, b, **extra)
    return out


@settings(max_examples=60, deadline=None)
@given(
    faults=_any_faults(12_000.0),
    reads=st.lists(st.floats(0, 14_000), min_size=5, max_size=40),
    seed=st.integers(0, 20),
)
def test_every_answer_follows_its_rule_whatever_the_faults(faults, reads, seed) -> None:
    """For any publications (random outages, freezes, lags and lies on any feeders): an OK or
    FAILOVER answer uses only values observed within ``staleness_s``, a FALLBACK_TWAP one a
    TWAP whose newest input was observed within ``twap_max_age_s`` (its age is the age of an
    actual observation), and a contested answer is one the secondary set contradicts."""
    sc, _, w = _world({"usdbrl": {"faults": faults}}, horizon_days=0.2, seed=seed)
    agg = sc.oracles.usdbrl.aggregator
    feeders = {f.id: f for f in w.feeders if f.feed == "usdbrl"}

    def alone(ids, now):  # one set aggregated on its own, quorum a majority of the set
        cfg = OracleConfig(quorum=len(ids) // 2 + 1)
        pubs = [(i, feeders[i].state_at(now)) for i in ids]
        return aggregate([SourceState(i, p.value, p.observed_at) for i, p in pubs if p], now, cfg)

    for now in sorted(reads):
        a = w.oracles.read("usdbrl", now)
        event(a.status if a.status != "NO_PRICE" else (a.reason or "")[:26])
        if a.status in ("OK", "FAILOVER"):
            observed = [_observed(feeders[i], now) for i in a.sources]
            assert all(0 <= now - o <= agg.staleness_s for o in observed)
            assert a.age_s == now - min(observed)
        elif a.status == "FALLBACK_TWAP":
            assert 0 <= a.age_s <= agg.twap_max_age_s
            obs = np.concatenate([feeders[i].publications(now)["value_t_s"] for i in PRIMARY])
            assert np.abs(obs - (now - a.age_s)).min() < 1e-6
        elif (a.reason or "").startswith(PRIMARY_SECONDARY_DISAGREE):
            p, s = alone(PRIMARY, now), alone(SECONDARY, now)
            assert p.status == s.status == "OK"
            assert abs(p.price - s.price) / min(p.price, s.price) > agg.divergence
            assert now >= agg.divergence_for_s


def test_a_lying_majority_is_refused_once_the_secondaries_contradict_it_for_the_hold() -> None:
    """Three of five primaries +5 %: the median is the lie and no outlier is dropped that
    matters. The secondary set disagrees; after ``divergence_for_s`` the answer is NO_PRICE
    (reason ``primary_secondary_disagree``) until the lie ends."""
    lie_at, lie_end = 1000.0, 4000.0
    faults = _faults(PRIMARY[:3], "lie", lie_at, lie_end, bias=0.05)
    sc, _, w = _world({"usdbrl": {"faults": faults}}, seed=4)
    agg = sc.oracles.usdbrl.aggregator
    truth = w.paths.at("usdbrl")
    first_refused = None
    for now in np.arange(500.0, 5000.0, 5.0):
        a = w.oracles.read("usdbrl", float(now))
        if now < lie_at or now >= lie_end:
            assert a.status == "OK" and abs(a.price / truth(now) - 1) < 0.005
        elif a.status == "OK":  # undetectable within the hold: the median lies
            assert now < lie_at + agg.divergence_for_s + agg.round_s + 5.0
            assert a.price / truth(now) > 1.04
        else:
            assert a.status == "NO_PRICE" and a.price is None
            assert a.reason.startswith(PRIMARY_SECONDARY_DISAGREE + ": primary ")
            first_refused = first_refused or float(now)
    assert first_refused is not None
    assert lie_at + agg.divergence_for_s <= first_refused <= lie_at + 90.0


def test_a_lying_minority_is_dropped_and_an_all_lying_oracle_is_not_detected() -> None:
    one = _faults(PRIMARY[:1], "lie", 1000.0, 4000.0, bias=0.05)
    _, _, w = _world({"usdbrl": {"faults": one}}, seed=4)
    for now in np.arange(1000.0, 4000.0, 30.0):
        a = w.oracles.read("usdbrl", float(now))
        assert a.status == "OK" and "p1" not in a.sources
    # every primary and secondary lying consistently: nothing disagrees, the answer is the lie
    every = _faults(PRIMARY + SECONDARY, "lie", 1000.0, 4000.0, bias=0.05)
    _, _, w = _world({"usdbrl": {"faults": every}}, seed=4)
    truth = w.paths.at("usdbrl")
    for now in np.arange(1100.0, 4000.0, 30.0):
        a = w.oracles.read("usdbrl", float(now))
        assert a.status == "OK" and a.price / truth(now) > 1.04


@pytest.mark.parametrize("at_s", [3599.0, 3600.0, 3601.0, 3602.0, 3603.0])
def test_a_cdi_step_seen_a_poll_apart_by_the_two_sets_is_not_contested(at_s) -> None:
    """Secondaries see a step a second later than the primaries (delay 2 s vs 1 s), so for up
    to one poll the sets disagree by 2 %. That is timing, not a lie: never refused."""
    _, _, w = _world({}, seed=2, exogenous=_shock(at_s, 300))
    for now in np.arange(at_s - 30.0, at_s + 120.0, 1.0):
        assert w.oracles.read("cdi", float(now)).status == "OK"


def test_freeze_lie_and_lag_are_visible_in_the_ticks() -> None:
    faults = [
        {"feeder": "p1", "kind": "freeze", "start_s": 1000, "end_s": 4000},
        {"feeder": "p2", "kind": "lie", "start_s": 1000, "end_s": 4000, "bias": 0.05},
        {"feeder": "p3", "kind": "lag", "start_s": 1000, "end_s": 4000, "lag_s": 300},
    ]
    _, _, w = _world({"usdbrl": {"faults": faults}}, seed=9)
    answers = [w.oracles.read("usdbrl", float(t)) for t in range(1100, 4000, 60)]
    # p1 (its frozen value) and p3 (300 s late) observed too long ago, p2 (+5 %) is an outlier:
    # two usable primaries < quorum 3, so the TWAP of the rounds before, then the secondaries
    statuses = [a.status for a in answers]
    assert statuses[0] == "FALLBACK_TWAP" and set(statuses[6:]) == {"FAILOVER"}
    assert all(a.status != "OK" and not {"p1", "p2", "p3"} & set(a.sources) for a in answers)
    truth = w.paths.at("usdbrl")
    assert all(abs(a.price / truth(a.as_of) - 1) < 0.01 for a in answers)
    assert w.oracles.divergence_red("usdbrl")  # and the watch sees the liar
    fr = w.oracles.ticks_frame(upto=4000.0)
    pub = fr[(fr.kind == "publish") & (fr.feed == "usdbrl") & (fr.t_s >= 1100) & (fr.t_s < 4000)]
    p1, p2, p3 = (pub[pub.source == s] for s in ("p1", "p2", "p3"))
    assert (p1.fault == "freeze").all() and p1.price.nunique() == 1
    assert (p1.value_t_s == p1.value_t_s.iloc[0]).all() and p1.age_s.iloc[-1] > 2500
    assert (p2.fault == "lie").all()
    assert np.allclose(p2.price / p2.true_price, 1.05, atol=0.01)
    assert (p3.fault == "lag").all() and np.allclose(p3.age_s, 301.0)
    honest = pub[pub.source == "p4"]
    assert (honest.fault == "").all() and np.allclose(honest.age_s, 1.0)


def test_reads_are_cached_per_instant_and_independent_of_history() -> None:
    faults = _outage(PRIMARY, 2000, 5000)
    _, _, w1 = _world({"usdbrl": {"faults": faults}})
    _, _, w2 = _world({"usdbrl": {"faults": faults}})
    for t in range(0, 2200, 7):
        w1.oracles.read("usdbrl", float(t))
    a1 = w1.oracles.read("usdbrl", 2200.0)
    assert w1.oracles.read("usdbrl", 2200.0) is a1
    a2 = w2.oracles.read("usdbrl", 2200.0)
    assert a1 == a2 and a1.status == "FALLBACK_TWAP"
    n = w1.oracles.answers_count()
    w1.oracles.read("usdbrl", 2200.0)
    assert w1.oracles.answers_count() == n


def test_ticks_tables_agree_and_are_ordered() -> None:
    _, env, w = _world({}, horizon_days=0.05)
    env.run(until=600.0)
    w.oracles.read("cdi", 300.0)
    w.oracles.read("usdbrl")  # default now = env.now
    cols = w.oracles.ticks_columns()
    rows = w.oracles.ticks_rows()
    fr = w.oracles.ticks_frame()
    assert list(cols) == list(TICK_COLUMNS) == list(fr.columns)
    assert len(rows) == len(fr) == len(cols["t_s"])
    assert np.all(np.diff(cols["t_s"]) >= 0) and cols["t_s"].max() <= 600.0
    answers = [r for r in rows if r["kind"] == "answer"]
    assert [(r["feed"], r["t_s"], r["status"]) for r in answers] == [
        ("cdi", 300.0, "OK"),
        ("usdbrl", 600.0, "OK"),
    ]
    assert answers[0]["n_fresh"] == 5 and answers[0]["sources"] == "p1,p2,p3,p4,p5"
    pubs = [r for r in rows if r["kind"] == "publish"]
    assert {r["role"] for r in pubs} == {"primary", "secondary"}
    assert all(r["n_fresh"] == -1 and r["status"] == "" for r in pubs)
    assert fr["feed"].astype(str).tolist() == cols["feed"].tolist()
    assert math.isnan(fr.value_t_s[fr.kind == "answer"].iloc[0])


def test_bad_feed_name() -> None:
    _, _, w = _world({}, horizon_days=0.05)
    with pytest.raises(ValueError, match="oracle feed='eurbrl': must be one of cdi, usdbrl"):
        w.oracles.read("eurbrl", 1.0)


def test_publications_can_be_left_out_of_the_ticks() -> None:
    _, env, w = _world({"record_publications": False}, horizon_days=0.05)
    env.run(until=600.0)
    w.oracles.read("cdi", 300.0)
    fr = w.oracles.ticks_frame()
    assert fr.kind.astype(str).tolist() == ["answer"]


@settings(max_examples=25, deadline=None)
@given(
    reads=st.lists(
        st.tuples(st.sampled_from(["cdi", "usdbrl"]), st.integers(0, 2400).map(lambda x: x * 5.0)),
        max_size=30,
    ),
    upto=st.sampled_from([3000.0, 6000.0, 12_000.0]),
    seed=st.integers(0, 50),
)
def test_ticks_table_equals_a_plain_sort_of_publications_and_answers(reads, upto, seed) -> None:
    faults = [
        *_outage(["p1", "p2", "p3"], 2000, 5000),
        {"feeder": "p4", "kind": "freeze", "start_s": 1000, "end_s": 4000},
        {"feeder": "s1", "kind": "lie", "start_s": 500, "end_s": 9000, "bias": 0.1},
    ]
    _, _, w = _world({"usdbrl": {"faults": faults}, "cdi": {"faults": faults}}, seed=seed)
    for feed, now in reads:  # unsorted, repeated, on the publication grid (ties)
        w.oracles.read(feed, now)
    cols = w.oracles.ticks_columns(upto=upto)
    # the specification: every row as a tuple, sorted by (t, feeder order / read order)
    rows = []
    for order, f in enumerate(w.feeders):
        p = f.publications(upto)
        for i in range(len(p["t_s"])):
            t = float(p["t_s"][i])
            true = w.paths.at(f.feed)(t)
            fault = ("", "freeze", "lag", "lie")[int(p["fault"][i])]
            rows.append(
                (
                    (t, order, i),
                    (
                        f.feed,
                        "publish",
                        f.id,
                        f.role,
                        float(p["value"][i]),
                        true,
                        t - float(p["value_t_s"][i]),
                        fault,
                        "",
                        -1,
                    ),
                )
            )
    for j, a in enumerate(w.oracles._answers):
        now, feed, price, true, age, status, _, n_fresh, _, _ = a
        rows.append(
            (
                (now, len(w.feeders), j),
                (feed, "answer", "", "", price, true, age, "", status, n_fresh),
            )
        )
    rows.sort(key=lambda r: r[0])
    assert cols["t_s"].tolist() == [r[0][0] for r in rows]
    names = (
        "feed",
        "kind",
        "source",
        "role",
        "price",
        "true_price",
        "age_s",
        "fault",
        "status",
        "n_fresh",
    )
    for k, name in enumerate(names):
        got = cols[name].tolist()
        want = [r[1][k] for r in rows]
        assert len(got) == len(want)
        for g, x in zip(got, want, strict=True):
            assert g == x or (isinstance(x, float) and math.isnan(x) and math.isnan(g)), name


@settings(max_examples=40)
@given(
    times=st.lists(st.floats(-10, 9000), min_size=1, max_size=60),
    monotone=st.booleans(),
    deviation=st.sampled_from([0.0025, 0.0004]),
)
def test_state_at_is_the_newest_publication_whatever_the_read_order(times, monotone, deviation):
    cfg = FeederConfig(id="f", heartbeat_s=15.0, poll_s=1.0, noise=0.0003, deviation=deviation)
    outage = FaultConfig(feeder="f", kind="outage", start_s=3000.0, end_s=3500.0)
    f = _feeder(cfg, [outage], _walk(3, 12_000, 0.0002), 8000.0, 600.0)
    if monotone:
        times = sorted(times)
    for now in times:
        got = f.state_at(now)
        f.advance_to(now)
        t = f.t.view
        i = int(np.searchsorted(t, now, side="right")) - 1
        if i < 0:
            assert got is None
        else:
            assert got == Publication(float(f.value.view[i]), float(t[i]), float(f.value_t.view[i]))


@settings(max_examples=15, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 21_000), min_size=1, max_size=5, unique=True).map(sorted),
    seed=st.integers(0, 20),
)
def test_ticks_taken_in_blocks_equal_the_whole_table_and_reads_do_not_change(cuts, seed) -> None:
    """A run takes the ticks block by block and lets the feeders forget old publications:
    the blocks, read back as one table, are the table built at once, and every answer is the
    one a service that never forgets gives (the TWAP history stays within what is kept)."""
    faults = {"faults": _outage(PRIMARY, 6000, 15000) + _outage(["s1"], 9000, 12000)}
    oracles = {"usdbrl": faults, "cdi": faults}
    sc, _, streamed = _world(oracles, seed=seed)
    whole = _world(oracles, seed=seed)[2]
    end = 21_600.0
    blocks, answers, last_cut = [], [], 0.0
    for now in [*np.arange(0.0, end, 300.0), end]:
        for w in (streamed, whole):
            for f in w.feeders:
                f.advance_to(now)
        if cuts and now >= cuts[0]:
            blocks.append(streamed.oracles.take_ticks(float(now)).arrow())
            cuts, last_cut = [c for c in cuts if c > now], float(now)
        for feed in ("cdi", "usdbrl"):
            got = streamed.oracles.read(feed, float(now))
            assert got == whole.oracles.read(feed, float(now))
            answers.append(got)
    blocks.append(streamed.oracles.take_ticks(end, final=True).arrow())
    got = pa.concat_tables(blocks).to_pandas()
    want = whole.oracles.ticks_frame(upto=end)
    assert len(got) == len(want) and streamed.oracles.answers_count() == len(answers)
    for c in TICK_COLUMNS:
        if isinstance(want[c].dtype, pd.CategoricalDtype):
            assert list(got[c].astype(str)) == list(want[c].astype(str)), c
            assert list(got[c].cat.categories) == list(want[c].cat.categories), c
        else:
            np.testing.assert_array_equal(got[c].to_numpy(), want[c].to_numpy(), err_msg=c)
    for f in streamed.feeders:  # forgotten as it went: all but one kept row are recent
        agg = getattr(sc.oracles, f.feed).aggregator
        keep = last_cut - agg.twap_window_s - agg.twap_max_age_s - agg.round_s
        assert (f.t.view[1:] >= keep).all()
    with pytest.raises(ValueError, match="were forgotten"):
        streamed.feeders[0].state_at(0.0)

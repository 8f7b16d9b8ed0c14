"""World: seed tree, exogenous paths, calendar, build_world wiring."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import numpy as np
import pytest
import simpy
from hypothesis import given
from hypothesis import strategies as st

from market.calendar import DAY_S
from sim.config import load_scenario
from sim.config.scenario import ScenarioError, scenario_from_mapping
from sim.config.world import ExogenousConfig
from sim.seeds import SeedTree, spawn_key
from sim.world import build_paths, build_world

# ----------------------------------------------------------------------------- seeds


def test_seed_streams_are_stable_and_independent_of_call_order() -> None:
    a = SeedTree(42)
    x1 = a.rng("borrowers").random(5)
    y1 = a.rng("lenders").random(5)
    b = SeedTree(42)
    y2 = b.rng("lenders").random(5)
    x2 = b.rng("borrowers").random(5)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, y1)
    assert not np.array_equal(SeedTree(43).rng("borrowers").random(5), x1)


def test_seed_stream_is_the_same_in_another_process() -> None:
    code = "from sim.seeds import SeedTree; print(SeedTree(7).rng('oracles.cdi.p1').integers(0, 2**62))"
    here = int(SeedTree(7).rng("oracles.cdi.p1").integers(0, 2**62))
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
    )
    assert int(out.stdout) == here


def test_seed_tree_manifest_and_validation() -> None:
    t = SeedTree(5)
    t.rng("b")
    t.rng("a")
    d = t.as_dict()
    assert d["seed"] == 5
    assert list(d["components"]) == ["a", "b"]
    assert d["components"]["a"] == list(spawn_key("a"))
    with pytest.raises(ValueError, match="seed=-1: must be an integer >= 0"):
        SeedTree(-1)
    with pytest.raises(ValueError, match="component=''"):
        t.rng("")


# ----------------------------------------------------------------------------- paths


def _paths(exo: dict, days: float = 400.0, seed: int = 1):
    cfg = ExogenousConfig.model_validate(exo)
    tree = SeedTree(seed)
    return build_paths(
        cfg,
        date(2025, 1, 6),
        min(days, 3.0) * DAY_S,
        days * DAY_S,
        tree.rng("world.cdi"),
        tree.rng("world.usdbrl"),
    )


@given(
    start=st.integers(300, 3000),
    drift=st.floats(-2, 2),
    vol=st.floats(0, 3),
    interval=st.floats(10, 90),
    seed=st.integers(0, 2**32),
)
def test_cdi_moves_only_at_meetings_by_multiples_of_25(
    start: int, drift: float, vol: float, interval: float, seed: int
) -> None:
    p = _paths(
        {
            "cdi": {
                "start_bps": start,
                "drift_steps": drift,
                "vol_steps": vol,
                "meeting_interval_days": interval,
                "first_meeting_day": interval,
            }
        },
        seed=seed,
    )
    meetings = p.policy_meetings
    assert len(meetings) == int((400 - interval) // interval) + 1
    grid = np.arange(0, 400 * DAY_S, 3600.0)
    rates = p.cdi_bps_at_many(grid)
    changes = grid[1:][np.diff(rates) != 0]
    meeting_t = {m.t_s for m in meetings}
    for t in changes:  # every change of the hourly sampled path sits right after a meeting
        assert any(t - 3600.0 < mt <= t for mt in meeting_t)
    prev = start
    for m in meetings:
        assert m.delta_bps % 25 == 0 and m.rate_bps - prev == m.delta_bps
        assert m.rate_bps >= 200  # floor
        assert p.cdi_bps_at(m.t_s) == m.rate_bps
        assert p.cdi_bps_at(m.t_s - 1e-6) == prev
        prev = m.rate_bps
    assert p.cdi_bps_at(0.0) == start
    assert p.cdi_at(0.0) == start / 10_000


def test_rate_shock_adds_300_bps_at_its_day() -> None:
    sc = load_scenario("rate_shock")
    w = build_world(sc, simpy.Environment(), SeedTree(sc.seed))
    at = sc.exogenous.cdi.shocks[0].at_day * DAY_S
    assert w.paths.cdi_bps_at(at - 1) == 1490
    assert w.paths.cdi_bps_at(at) == 1790
    assert w.paths.cdi_bps_at(sc.horizon_s) == 1790
    kinds = [(m.kind, m.delta_bps) for m in w.paths.policy_meetings if m.t_s <= sc.horizon_s]
    assert kinds == [("extraordinary", 300)]


def test_cdi_cut_stops_at_the_floor_in_whole_steps() -> None:
    p = _paths(
        {"cdi": {"start_bps": 290, "floor_bps": 200, "shocks": [{"at_day": 1, "delta_bps": -500}]}}
    )
    m = p.policy_meetings[0]
    assert m.kind == "extraordinary" and m.delta_bps == -75 and m.rate_bps == 215


def test_explicit_meeting_dates() -> None:
    p = _paths({"cdi": {"meeting_dates": ["2025-01-29", "2025-03-19"], "vol_steps": 3}})
    assert [m.date.isoformat() for m in p.policy_meetings] == ["2025-01-29", "2025-03-19"]
    assert p.policy_meetings[0].t_s == 23 * DAY_S


def test_usdbrl_positive_with_jumps_and_cheap_queries() -> None:
    p = _paths(
        {
            "usdbrl": {
                "start": 5.0,
                "vol_annual": 0.2,
                "jump_intensity_per_year": 1000,
                "jump_sd": 0.02,
            }
        },
        days=10.0,
    )
    t = np.arange(0, 10 * DAY_S, 7.0)
    v = p.usdbrl_at_many(t)
    assert (v > 0).all() and p.usdbrl_at(0.0) == 5.0
    jt, jl = p.usdbrl_jumps
    assert 12 < len(jt) < 50  # ~27 expected over 10 days
    assert np.all(np.diff(jt) > 0) and np.abs(jl).max() > 0.01
    # a jump is visible in the path as a log move far above diffusion noise
    i = int(np.argmax(np.abs(jl)))
    before, after = p.usdbrl_at(jt[i] - 1.0), p.usdbrl_at(jt[i])
    assert abs(np.log(after / before) - jl[i]) < 0.005
    for x in (0.0, 1.5, 3 * DAY_S + 0.5, 9.9 * DAY_S, 20 * DAY_S, -5.0):  # scalar == vector
        assert p.usdbrl_at(x) == p.usdbrl_at_many(np.array([x]))[0]
    assert _paths({"usdbrl": {"jump_intensity_per_year": 0}}, days=3).usdbrl_jumps[0].size == 0


def test_usdbrl_volatility_matches_config() -> None:
    p = _paths({"usdbrl": {"vol_annual": 0.3, "jump_intensity_per_year": 0}}, days=3.0)
    r = np.diff(np.log(p.usdbrl_at_many(np.arange(0, 3 * DAY_S, 60.0))))
    ann = r.std() * np.sqrt(365 * 24 * 60)
    assert 0.27 < ann < 0.33


@given(
    grid=st.sampled_from([1.0, 2.5]),
    t=st.lists(st.floats(-50, 6 * DAY_S, allow_nan=False), min_size=1, max_size=40),
)
def test_usdbrl_vectorised_path_equals_the_scalar_one(grid, t) -> None:
    p = _paths({"usdbrl": {"grid_s": grid}}, days=5.0)
    assert p.usdbrl_at_many(np.array(t)).tolist() == [p.usdbrl_at(x) for x in t]


@given(
    grid=st.sampled_from([1.0, 2.0, 5.0, 0.5]),
    t0=st.one_of(st.integers(-10, 3 * 86_400).map(float), st.floats(0, 3 * 86_400)),
    step=st.sampled_from([1.0, 2.0, 3.0, 5.0, 10.0, 2.5]),
    n=st.integers(0, 5_000),
)
def test_usdbrl_grid_slices_are_the_vectorised_path_or_none(grid, t0, step, n) -> None:
    p = _paths({"usdbrl": {"grid_s": grid}}, days=5.0)
    got = p.usdbrl_on_grid(t0, step, n)
    exact = (
        n > 0
        and t0 >= 0
        and t0.is_integer()
        and grid.is_integer()
        and (step / grid).is_integer()
        and t0 + (n - 1) * step <= 3 * DAY_S
    )
    if not exact:
        assert got is None
        return
    assert got is not None and not got.flags.writeable
    assert np.array_equal(got, p.usdbrl_at_many(t0 + np.arange(n) * step))


@given(t0=st.floats(0, 400 * DAY_S), span=st.floats(0, 30 * DAY_S), seed=st.integers(0, 99))
def test_cdi_constant_on_says_when_the_step_path_is_flat(t0, span, seed) -> None:
    p = _paths({"cdi": {"meeting_interval_days": 20, "vol_steps": 2}}, seed=seed)
    got = p.cdi_constant_on(t0, t0 + span)
    if any(t0 < m.t_s <= t0 + span for m in p.policy_meetings):
        assert got is None  # a decision inside (even a zero one): not provably flat
    else:
        assert got == p.cdi_at(t0) == p.cdi_at(t0 + span)
        assert np.all(p.cdi_at_many(np.linspace(t0, t0 + span, 50)) == got)
    m = p.policy_meetings[0]  # a decision takes effect at its t_s, exactly
    assert p.cdi_constant_on(m.t_s - 100.0, m.t_s) is None
    assert p.cdi_constant_on(m.t_s, m.t_s + 100.0) == m.rate_bps / 10_000


@pytest.mark.parametrize(
    ("exo", "days", "section"),
    [
        # parameters at their bounds over a long run-off drive USD/BRL far above 1e6
        ({"usdbrl": {"drift_annual": 0.5, "jump_intensity_per_year": 1000, "jump_mean": 0.2}},
         400.0, "exogenous.usdbrl"),
        ({"usdbrl": {"drift_annual": -0.5, "jump_intensity_per_year": 1000, "jump_mean": -0.2}},
         400.0, "exogenous.usdbrl"),
        # a daily meeting raising the CDI by 1000 bps takes it past 1000 % a year
        ({"cdi": {"drift_steps": 8, "max_steps": 40, "meeting_interval_days": 1,
                  "first_meeting_day": 1}}, 1000.0, "exogenous.cdi"),
    ],
)  # fmt: skip
def test_paths_out_of_range_stop_the_build_with_one_line(exo, days, section) -> None:
    from sim.world.paths import PathError

    with pytest.raises(PathError) as info:
        _paths(exo, days=days)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(section + ": ") and "must stay" in msg, msg
    assert isinstance(info.value, ScenarioError)  # ce run: exit 2, one line, no run dir


@given(
    start=st.floats(1.0, 20.0),
    drift=st.floats(-0.2, 0.2),
    vol=st.floats(0.0, 0.5),
    intensity=st.floats(0.0, 50.0),
    jump_mean=st.floats(-0.02, 0.02),
    jump_sd=st.floats(0.0, 0.05),
    days=st.floats(1.0, 800.0),
    seed=st.integers(0, 2**32),
)
def test_ordinary_usdbrl_settings_stay_inside_the_range(
    start, drift, vol, intensity, jump_mean, jump_sd, days, seed
) -> None:
    """Settings as wild as the BRL's worst years, over two years with run-off, never leave
    USDBRL_RANGE (the check is for extreme settings only)."""
    from sim.world.paths import USDBRL_RANGE

    usdbrl = {"start": start, "drift_annual": drift, "vol_annual": vol, "jump_sd": jump_sd,
              "jump_intensity_per_year": intensity, "jump_mean": jump_mean}  # fmt: skip
    p = _paths({"usdbrl": usdbrl}, days=days, seed=seed)
    v = p.usdbrl_at_many(np.arange(0.0, days * DAY_S, 600.0))
    assert USDBRL_RANGE[0] <= v.min() and v.max() <= USDBRL_RANGE[1]


# ----------------------------------------------------------------------------- world


def test_build_world_is_deterministic_and_wired() -> None:
    sc = load_scenario("small")
    w1 = build_world(sc, simpy.Environment(), SeedTree(3))
    w2 = build_world(sc, simpy.Environment(), SeedTree(3))
    w3 = build_world(sc, simpy.Environment(), SeedTree(4))
    t = np.arange(0, sc.horizon_s, 13.0)
    assert np.array_equal(w1.paths.usdbrl_at_many(t), w2.paths.usdbrl_at_many(t))
    assert not np.array_equal(w1.paths.usdbrl_at_many(t), w3.paths.usdbrl_at_many(t))
    assert len(w1.feeders) == 16
    assert w1.calendar_date(0) == date(2025, 3, 3)
    assert w1.calendar_date(DAY_S - 0.001) == date(2025, 3, 3)
    assert w1.calendar_date(DAY_S * 1.5) == date(2025, 3, 4)
    a1 = w1.oracles.read("usdbrl", 600.0)
    a2 = w2.oracles.read("usdbrl", 600.0)
    assert a1 == a2 and a1.status == "OK"
    assert w1.oracles.read("cdi", 600.0).price == pytest.approx(sc.exogenous.cdi.start_bps / 1e4)
    # the run-off after the horizon still has paths (hourly FX, CDI meetings)
    assert w1.paths.usdbrl_at(sc.horizon_s + 50 * DAY_S) > 0


def test_feeders_run_as_simpy_processes() -> None:
    sc = scenario_from_mapping({"name": "t", "horizon_days": 0.5})
    env = simpy.Environment()
    w = build_world(sc, env, SeedTree(1))
    env.run(until=3 * 3600.0)
    f = w.feeders[0]
    assert f.generated_until > 3 * 3600.0
    n = len(f.publications(env.now)["t_s"])
    assert n == pytest.approx(3 * 3600 / 15, abs=2)
    env.run()  # the processes end after horizon + tail
    assert env.now <= sc.horizon_s + sc.oracles.tail_s + 6 * 3600.0

"""Scenario loading: shipped files, overrides, error messages, hashing."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.config import ScenarioError, available_scenarios, load_scenario
from sim.config.scenario import Scenario, scenario_from_mapping

SHIPPED = ("small", "baseline", "oracle_outage", "sniping", "rate_shock")


def _write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _error(path: Path | str, overrides: tuple[str, ...] = ()) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str) -> None:
    s = load_scenario(name)
    assert s.name == name
    assert s.source_path is not None and s.source_path.name == f"{name}.yaml"
    assert s.description
    assert set(SHIPPED) <= set(available_scenarios())


def test_shipped_scenarios_have_a_comment_header() -> None:
    root = Path(__file__).resolve().parents[2] / "scenarios"
    for name in SHIPPED:
        first = (root / f"{name}.yaml").read_text().splitlines()[0]
        assert first.startswith(f"# {name} "), first


def test_baseline_and_rate_shock_demonstrate_what_they_claim() -> None:
    base = load_scenario("baseline")
    assert base.horizon_days >= 14
    assert base.horizon_days * base.borrowers.arrivals_per_day >= 3000
    shock = load_scenario("rate_shock")
    assert [s.delta_bps for s in shock.exogenous.cdi.shocks] == [300]
    assert 0 < shock.exogenous.cdi.shocks[0].at_day < shock.horizon_days
    out = load_scenario("oracle_outage")
    kinds = {f.kind for f in out.oracles.usdbrl.faults}
    assert {"outage", "freeze", "lie", "lag"} <= kinds
    snip = load_scenario("sniping")
    assert any(g.strategy == "late_sniper" for g in snip.lenders.groups)


def test_minimal_file_gets_defaults_and_name_from_stem(tmp_path: Path) -> None:
    s = load_scenario(_write(tmp_path, "seed: 3\n", "tiny.yaml"))
    assert s.name == "tiny" and s.seed == 3
    assert s.chain.backend == "off"
    assert s.oracles.cdi.primary[0].poll_s == 5.0  # feed-specific defaults
    assert s.oracles.usdbrl.primary[0].noise > 0


def test_yaml12_scalars(tmp_path: Path) -> None:
    # 'off' stays a string (YAML 1.1 would make it False); 1e3 is a float
    s = load_scenario(
        _write(tmp_path, "chain: {backend: off}\nhorizon_days: 1e1\nstart_date: 2025-02-03\n")
    )
    assert s.chain.backend == "off"
    assert s.horizon_days == 10.0
    assert s.start_date.isoformat() == "2025-02-03"


# ----------------------------------------------------------------------------- errors


def test_unknown_top_level_key(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "horizon_dayz: 3\n"))
    assert msg.startswith(str(tmp_path / "x.yaml").lstrip("/")) or "x.yaml: " in msg
    assert "horizon_dayz: unknown key" in msg
    assert "horizon_days" in msg  # lists the allowed keys


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("oracles:\n  cdi:\n    aggregatr: {}\n", "oracles.cdi.aggregatr: unknown key"),
        (
            "oracles:\n  usdbrl:\n    primary:\n      - {id: a}\n      - {id: b, nosie: 1}\n",
            "oracles.usdbrl.primary[1].nosie: unknown key (allowed: delay_s, deviation",
        ),
        (
            "exogenous:\n  cdi:\n    shocks:\n      - {at_day: 1, delta_bps: 25, x: 1}\n",
            "exogenous.cdi.shocks[0].x: unknown key",
        ),
        ("chain:\n  batch: 3\n", "chain.batch: unknown key"),
    ],
)
def test_unknown_keys_at_depth(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in _error(_write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("horizon_days: soon\n", 'horizon_days="soon": must be a number'),
        ("seed: 1.5\n", "seed=1.5: must be a whole number"),
        ("horizon_days: -2\n", "horizon_days=-2: must be > 0"),
        ("chain: {batch_size: 0}\n", "chain.batch_size=0: must be >= 1"),
        ("chain: {backend: ganache}\n", "chain.backend=\"ganache\": must be one of 'off', "),
        (
            "exogenous: {cdi: {shocks: [{at_day: 1, delta_bps: 30}]}}\n",
            "exogenous.cdi.shocks[0].delta_bps=30: must be a multiple of 25 bps",
        ),
        (
            "exogenous: {usdbrl: {vol_annual: -0.1}}\n",
            "exogenous.usdbrl.vol_annual=-0.1: must be >= 0",
        ),
        ("start_date: 2025-02-30\n", 'start_date="2025-02-30": must be a date (YYYY-MM-DD)'),
        (
            "oracles: {cdi: {faults: [{feeder: p9, kind: outage, start_s: 0, end_s: 5}]}}\n",
            "faults[0].feeder='p9' is not a feeder of this feed",
        ),
        (
            "oracles: {cdi: {faults: [{feeder: p1, kind: lie, start_s: 0, end_s: 5}]}}\n",
            "oracles.cdi.faults[0]: kind=lie needs bias",
        ),
        (
            "oracles: {cdi: {faults: [{feeder: p1, kind: outage, start_s: 9, end_s: 5}]}}\n",
            "end_s=5.0 must be > start_s=9.0",
        ),
        (
            "oracles: {cdi: {faults: [{feeder: p1, kind: flood, start_s: 0, end_s: 5}]}}\n",
            'oracles.cdi.faults[0].kind="flood": must be one of',
        ),
        ("chain: {backend: rpc}\n", "chain: backend=rpc needs rpc_url"),
        (
            "horizon_days: 5\nexogenous: {cdi: {shocks: [{at_day: 9, delta_bps: 25}]}}\n",
            "exogenous.cdi.shocks[0].at_day=9.0 is beyond horizon_days=5.0",
        ),
        (
            "lenders: {groups: [{name: a, capital_cents: -5}]}\n",
            "lenders.groups[0].capital_cents=-5: must be > 0",
        ),
        ("oracles: {cdi: {primary: []}}\n", "oracles.cdi.primary: must have at least 1 items"),
        # non-finite numbers and numbers beyond what the engine holds (sim.config.limits)
        (
            "engine: {confirmation_delay_s: .inf}\n",
            "engine.confirmation_delay_s=inf: must be a finite",
        ),
        (
            "borrowers: {weekly_profile: [1, 1, 1, .nan, 1, 1, 1]}\n",
            "borrowers.weekly_profile[3]=nan: must be a finite number",
        ),
        (
            "lenders: {groups: [{name: a, capital_cents: 100000000000000000000}]}\n",
            "lenders.groups[0].capital_cents=100000000000000000000: must be <= 10000000000000",
        ),
        (
            "model: {training_seed: 18446744073709551616}\n",
            "model.training_seed=18446744073709551616: must be < 9223372036854775808",
        ),
        (
            "horizon_days: 1\noracles: {cdi: {faults: [{feeder: p1, kind: outage, start_s: 9e4, "
            "end_s: 1e5}]}}\n",
            "faults[0].start_s=90000.0 is beyond the horizon (horizon_days=1.0 = 86400 s)",
        ),
        ("- 1\n- 2\n", "(top level): must be a mapping of keys"),
    ],
)
def test_bad_values_name_key_value_and_rule(tmp_path: Path, text: str, needle: str) -> None:
    msg = _error(_write(tmp_path, text))
    assert "x.yaml: " in msg
    assert needle in msg, msg


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "seed: 1\nchain:\n  backend: [off\nname: x\n"))
    assert "x.yaml:4:" in msg and "YAML syntax error" in msg


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    msg = _error(_write(tmp_path, "seed: 1\nseed: 2\n"))
    assert "x.yaml:2:1: YAML syntax error: duplicate key 'seed' (first at line 1)" in msg


def test_missing_file_and_unknown_name(tmp_path: Path) -> None:
    assert _error(tmp_path / "nope.yaml").endswith("nope.yaml: file not found")
    msg = _error("no_such_scenario")
    assert msg.startswith("unknown scenario 'no_such_scenario'; available: ")
    assert "baseline" in msg and "small" in msg


# ----------------------------------------------------------------------------- overrides


def test_overrides_apply_before_validation() -> None:
    s = load_scenario(
        "small",
        [
            "seed=99",
            "exogenous.cdi.start_bps=1300",
            "oracles.usdbrl.primary[0].noise=0.01",  # indexes the default feeder list
            "lenders.groups[1].count=3",
            "exogenous.cdi.shocks=[{at_day: 1, delta_bps: -50}]",
            "chain.backend=off",
        ],
    )
    assert s.seed == 99
    assert s.exogenous.cdi.start_bps == 1300
    assert s.oracles.usdbrl.primary[0].noise == 0.01
    assert s.oracles.usdbrl.primary[1].noise == 0.0003  # untouched default
    assert s.lenders.groups[1].count == 3
    assert s.exogenous.cdi.shocks[0].delta_bps == -50


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("seed", "override 'seed': expected key.path=value"),
        ("a..b=1", "empty segment in key path"),
        ("lenders.groups[9].count=3", "lenders.groups[9]: index out of range (list has 4 items)"),
        ("seed=[1", "override 'seed=[1'"),
        ("engine.lgd=2", "engine.lgd=2: must be <= 1"),
        ("bogus.key=1", "bogus: unknown key"),
        ("oracles.cdi.aggregator.quorum=9", "aggregator.quorum=9 exceeds the 5 primary feeders"),
        ("horizon_days=abc", 'horizon_days="abc": must be a number (set by override)'),
    ],
)
def test_bad_overrides(override: str, needle: str) -> None:
    msg = _error("small", (override,))
    assert msg.startswith("scenarios/small.yaml: ") or "small.yaml: " in msg
    assert needle in msg, msg


# ----------------------------------------------------------------------------- hashing


def test_config_hash_is_stable_and_sensitive() -> None:
    a = load_scenario("small")
    b = load_scenario("small")
    assert a.config_hash() == b.config_hash()
    assert len(a.config_hash()) == 64
    c = load_scenario("small", ["oracles.cdi.aggregator.staleness_s=31"])
    assert c.config_hash() != a.config_hash()
    # stating a default explicitly does not change the hash
    d = load_scenario("small", ["oracles.cdi.aggregator.staleness_s=30"])
    assert d.config_hash() == a.config_hash()


def test_canonical_dict_round_trips() -> None:
    s = load_scenario("oracle_outage")
    again = scenario_from_mapping(s.canonical_dict())
    assert again.canonical_dict() == s.canonical_dict()
    assert again.config_hash() == s.config_hash()
    assert s.canonical_dict()["start_date"] == "2025-03-03"


def test_scenario_is_frozen() -> None:
    s = load_scenario("small")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen error type
        s.seed = 5  # type: ignore[misc]
    assert isinstance(s, Scenario)


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("start_date=2040-01-01", "start_date=2040-01-01"),
        ("start_date=2019-06-01", "start_date=2019-06-01"),
        # starts inside the calendar, but a 36-month loan priced at the horizon ends in 2038
        ("start_date=2035-06-02", "start_date=2035-06-02"),
    ],
)
def test_start_date_outside_the_business_day_calendar_is_a_scenario_error(
    override: str, needle: str
) -> None:
    msg = _error("small", (override,))
    assert msg.startswith("scenarios/small.yaml: ")
    assert needle in msg and "2020-2035" in msg and "terms_months" in msg


def test_latest_start_date_inside_the_calendar_loads() -> None:
    s = load_scenario("small", ("start_date=2032-06-01", "population.terms_months=[6, 12]",
                                "population.term_weights=[0.5, 0.5]"))  # fmt: skip
    assert s.start_date.year == 2032


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_have_capital_for_their_demand(name: str) -> None:
    """Lenders plus pool hold at least 1.25x the principal requested over the horizon, so no
    shipped scenario shows a fill-rate collapse from capital running out (capital stays
    locked for the loans' whole term) instead of what it is meant to demonstrate."""
    import numpy as np

    from sim.agents.population import sample_borrowers

    s = load_scenario(name)
    capital = sum(g.count * g.capital_cents for g in s.lenders.groups)
    capital += s.pool.capital_cents if s.pool.enabled else 0
    mean_amount = float(
        sample_borrowers(s.population, np.random.default_rng(0), 20_000).amount_cents.mean()
    )
    demand = s.horizon_days * s.borrowers.arrivals_per_day * mean_amount
    assert capital >= 1.25 * demand, (capital, demand)


def test_feeder_noise_is_bounded_so_observations_stay_prices() -> None:
    with pytest.raises(ValueError, match=r"noise"):
        load_scenario("small", ["oracles.usdbrl.primary[0].noise=0.5"])
    ok = load_scenario("small", ["oracles.usdbrl.primary[0].noise=0.1"])
    assert ok.oracles.usdbrl.primary[0].noise == 0.1

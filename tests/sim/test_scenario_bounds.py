"""Every number a scenario accepts is one the engine can hold, and every accepted scenario
replays from the ``scenario.yaml`` its run writes.

The numeric fields are found by walking ``Scenario.model_fields`` (nested sections, list items,
optional values); each is tried at and beyond its bounds and at values no engine holds (``inf``,
``nan``, ``2**63``, ``2**64``, ``-1``). A value is either refused with one ``ScenarioError`` line
naming the field, or accepted; an accepted scenario holds only finite numbers inside int64, its
money sums leave int64 room for interest, and its resolved YAML (written as
``sim.run.rundir.RunStage.write_result`` writes it) loads back to the same scenario. A few real
runs of ``small`` at the extremes end in exit 0 with finite tables or exit 2 with one line.
"""

from __future__ import annotations

import copy
import math
import tempfile
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types as at
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from sim.cli import main
from sim.config.fx import FxConfig
from sim.config.scenario import Scenario, ScenarioError, load_scenario, scenario_from_mapping

INT64 = 2**63
#: the largest amount of money one field may hold (R$ 100 billion)
MAX = 10**13
#: numeric fields that need no lower or upper bound, with the reason (none today)
UNBOUNDED: dict[str, str] = {}
#: list fields whose length is fixed by a validator instead of ``max_length``
FIXED_LENGTH = {
    "borrowers.daily_profile": "exactly 24 weights (one per hour)",
    "borrowers.weekly_profile": "exactly 7 weights (one per weekday)",
}

# ----------------------------------------------------------------------------- the walk


class Leaf(typing.NamedTuple):
    """A numeric field: its key path (list items as index 0), type and bounds."""

    path: tuple[str | int, ...]
    kind: type
    lo: Any
    hi: Any

    @property
    def name(self) -> str:
        return ".".join(str(t) if isinstance(t, str) else f"[{t}]" for t in self.path).replace(
            ".[", "["
        )

    @property
    def key(self) -> str:
        """The last key of the path (what an error line must name)."""
        return next(t for t in reversed(self.path) if isinstance(t, str))


def _bounds(metadata: list[Any]) -> tuple[Any, Any]:
    lo = hi = None
    for m in metadata:
        if isinstance(m, FieldInfo):
            mlo, mhi = _bounds(m.metadata)
            lo, hi = lo or mlo, hi or mhi
        elif isinstance(m, at.Ge | at.Gt):
            lo = m
        elif isinstance(m, at.Le | at.Lt):
            hi = m
    return lo, hi


def _leaves(ann: Any, metadata: list[Any], path: tuple[str | int, ...]) -> Iterator[Leaf]:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        base, *more = typing.get_args(ann)
        yield from _leaves(base, [*metadata, *more], path)
    elif isinstance(ann, type) and issubclass(ann, BaseModel):
        for name, info in ann.model_fields.items():
            yield from _leaves(info.annotation, list(info.metadata), (*path, name))
    elif ann in (int, float):
        yield Leaf(path, ann, *_bounds(metadata))
    elif origin in (tuple, list):
        for arg in typing.get_args(ann):
            if arg is not Ellipsis:
                yield from _leaves(arg, [], (*path, 0))
    else:  # a union: Optional[...] or a model | None
        for arg in typing.get_args(ann):
            if arg is not type(None):
                yield from _leaves(arg, metadata, path)


def _lists(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every list-valued field (``prefix`` + name) with its FieldInfo."""
    for name, info in model.model_fields.items():
        ann = info.annotation
        union = typing.get_origin(ann) in (typing.Union, types.UnionType)
        for a in [x for x in typing.get_args(ann) if x is not type(None)] if union else [ann]:
            if typing.get_origin(a) in (tuple, list):
                yield prefix + name, info
            for inner in [a, *typing.get_args(a)]:
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    yield from _lists(inner, f"{prefix}{name}.")


LEAVES = sorted(_leaves(Scenario, [], ()), key=lambda leaf: leaf.name)


def _base() -> dict[str, Any]:
    """``small`` with every section written out, plus one item in every list that is empty by
    default and a value in every optional number, so every leaf has a place in the mapping."""
    raw = copy.deepcopy(load_scenario("small").canonical_dict())
    raw["exogenous"]["cdi"]["shocks"] = [{"at_day": 1.0, "delta_bps": 25}]
    raw["oracles"]["cdi"]["faults"] = [
        {"feeder": "p1", "kind": "lag", "start_s": 10.0, "end_s": 20.0, "lag_s": 5.0}
    ]
    raw["oracles"]["usdbrl"]["faults"] = [
        {"feeder": "p2", "kind": "lie", "start_s": 10.0, "end_s": 20.0, "bias": 0.01}
    ]
    for feed in ("cdi", "usdbrl"):
        raw["oracles"][feed]["aggregator"].update(quorum=3, secondary_quorum=2)
    raw["kpi_targets"].update(
        approval_rate_min=0.5, lender_return_annual_min=0.0, attest_inclusion_s_p95_max=3600.0
    )
    raw["fx"] = FxConfig().model_dump(mode="json")
    for kind, venue in (("noise", "v1"), ("informed", "v2")):
        raw["fx"]["traders"][kind]["venues"] = [{"venue": venue, "weight": 1.0}]
    raw["fx"]["vpin"]["sigma"] = 0.01
    raw["fx"]["toxicity"]["threshold"] = 0.8
    return raw


BASE = _base()


def _set(raw: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = raw
    for tok in path[:-1]:
        node = node[tok]
    node[path[-1]] = value


def _value(bound: Any, default: float) -> Any:
    """The number of an annotated_types bound (``default`` for no bound)."""
    if bound is None:
        return default
    return next(getattr(bound, a) for a in ("ge", "gt", "le", "lt") if hasattr(bound, a))


def _edge_values(leaf: Leaf) -> list[Any]:
    """The bounds, just beyond them, and values no engine holds."""
    out: list[Any] = [-1, 0, 1, INT64 - 1, INT64, 2**64, -INT64 - 1, 10**20]
    out += [math.inf, -math.inf, math.nan, 1e308, -1e308, 5e-324]
    for bound in (leaf.lo, leaf.hi):
        if bound is None:
            continue
        v = _value(bound, 0)
        if leaf.kind is int:
            out += [v - 1, v, v + 1]
        else:
            out += [math.nextafter(v, -math.inf), v, math.nextafter(v, math.inf)]
    return out


# ----------------------------------------------------------------------------- the property


def _check_holdable(sc: Scenario) -> None:
    """Every number of an accepted scenario is finite and inside int64, and the money sums
    the engine forms keep int64 room for interest."""

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list | tuple):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")
        elif isinstance(node, float):
            assert math.isfinite(node), f"{where}={node} accepted"
        elif isinstance(node, int) and not isinstance(node, bool):
            assert -INT64 <= node < INT64, f"{where}={node} accepted"

    walk(sc.model_dump(), "scenario")
    capital = sum(g.count * g.capital_cents for g in sc.lenders.groups) + sc.pool.capital_cents
    assert capital * 1000 < INT64, f"total capital {capital} leaves no room for interest"
    # a loan repays at most ~42x its principal (1000 %/yr over 15 years, monthly Price table)
    demand = sc.borrowers.arrivals_per_day * sc.horizon_days * sc.population.amount_max_cents
    assert demand * 42 < INT64, f"expected requested principal {demand:.3g}"


def _replays(sc: Scenario) -> None:
    """The run's ``scenario.yaml`` (written as RunStage writes it) loads back to ``sc``."""
    resolved = dict(sc.canonical_dict())
    resolved["seed"] = int(sc.seed)
    text = yaml.safe_dump(resolved, sort_keys=True, default_flow_style=False, width=100)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_text(text, encoding="utf-8")
        again = load_scenario(path)
    assert again.model_dump() == sc.model_dump()
    assert again.config_hash() == sc.config_hash()


def _outcome(raw: dict[str, Any], keys: set[str]) -> Scenario | None:
    """Validate ``raw``: a refusal must be one line naming one of ``keys``; returns the
    accepted scenario (checked holdable) or None."""
    try:
        sc = scenario_from_mapping(raw, where="x.yaml")
    except ScenarioError as err:
        msg = str(err)
        assert "\n" not in msg and msg.startswith("x.yaml: "), msg
        assert any(k in msg for k in keys), msg
        return None
    _check_holdable(sc)
    return sc


def test_every_numeric_field_has_both_bounds() -> None:
    assert len(LEAVES) > 150  # the walk reaches every section
    missing = [
        f"{leaf.name} ({leaf.kind.__name__}): lo={leaf.lo} hi={leaf.hi}"
        for leaf in LEAVES
        if (leaf.lo is None or leaf.hi is None) and leaf.name not in UNBOUNDED
    ]
    assert not missing, "numeric fields without a bound:\n" + "\n".join(missing)


def test_every_list_field_has_a_length_bound() -> None:
    unbounded = [
        name
        for name, info in _lists(Scenario)
        if not any(isinstance(m, at.MaxLen) for m in info.metadata) and name not in FIXED_LENGTH
    ]
    assert not unbounded, unbounded


def test_every_field_at_and_beyond_its_bounds_is_refused_in_one_line_or_holdable() -> None:
    assert _outcome(copy.deepcopy(BASE), set()) is not None
    for leaf in LEAVES:
        for value in _edge_values(leaf):
            raw = copy.deepcopy(BASE)
            _set(raw, leaf.path, value)
            _outcome(raw, {leaf.key})


@st.composite
def _changes(draw: st.DrawFn) -> list[tuple[Leaf, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        leaf = draw(st.sampled_from(LEAVES))
        lo, hi = (_value(b, default) for b, default in ((leaf.lo, -1e6), (leaf.hi, 1e6)))
        if leaf.kind is int:
            anywhere = st.integers(-(2**65), 2**65)
            inside = st.integers(math.ceil(lo), math.floor(hi))
        else:
            anywhere = st.floats(allow_nan=True, allow_infinity=True)
            inside = st.floats(lo, hi)
        out.append((leaf, draw(st.one_of(st.sampled_from(_edge_values(leaf)), anywhere, inside))))
    return out


@given(changes=_changes())
def test_accepted_scenarios_hold_their_values_and_replay(changes) -> None:
    raw = copy.deepcopy(BASE)
    for leaf, value in changes:
        _set(raw, leaf.path, value)
    sc = _outcome(raw, {leaf.key for leaf, _ in changes})
    event("accepted" if sc is not None else "refused")
    if sc is not None:
        _replays(sc)


def _refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ScenarioError) as err:
        scenario_from_mapping({"name": "t", **raw})
    assert "\n" not in str(err.value)
    return str(err.value)


def test_money_sums_beyond_int64_room_are_refused() -> None:
    groups = [{"name": f"g{i}", "count": 100_000, "capital_cents": MAX} for i in range(3)]
    assert "capital_cents" in _refusal({"lenders": {"groups": groups}})
    # R$ 10 trillion in all is accepted: 99 lenders and the pool at R$ 100 billion each
    at_cap = {"lenders": {"groups": [{"count": 99, "capital_cents": MAX}]}}
    _check_holdable(scenario_from_mapping({"name": "t", **at_cap, "pool": {"capital_cents": MAX}}))
    demand = {"borrowers": {"arrivals_per_day": 1e7}, "population": {"amount_max_cents": 10**8}}
    msg = _refusal({**demand, "horizon_days": 365})
    assert "amount_max_cents" in msg and "arrivals_per_day" in msg
    _check_holdable(scenario_from_mapping({"name": "t", **demand, "horizon_days": 36}))


# ----------------------------------------------------------------------------- seeds


def test_seeds_outside_the_schema_are_refused_in_one_line(tmp_path: Path, capsys) -> None:
    for seed in (2**64, 2**63, -1):
        code = main(["run", "small", "--seed", str(seed), "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and f"--seed={seed}: must be" in err[0], err
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    msg = _refusal({"model": {"training_seed": 2**64}})
    assert "model.training_seed=18446744073709551616: must be < 9223372036854775808" in msg
    from sim.config.scenario import check_seed

    assert check_seed("--seed", INT64 - 1) == INT64 - 1


# ----------------------------------------------------------------------------- real runs

#: a short run with a cheap model: the extremes are in the values, not in the run's length
RUN = (
    "horizon_days=0.5",
    "engine.runoff_days=5",
    "chain.backend=off",
    "model.train_size=500",
    "model.gbm_n_estimators=5",
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _run(out: Path, models: Path, capsys, *sets: str) -> int:
    """``ce run small`` with ``sets``: exit 0 with finite tables, or exit 2 with one line on
    stderr and no run directory; returns the exit code."""
    argv = ["run", "small", "--quiet", "--out", str(out), "--models", str(models)]
    for s in (*RUN, *sets):
        argv += ["--set", s]
    code = main(argv)
    cap = capsys.readouterr()
    if code == 2:
        lines = cap.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ce run: error: "), cap.err
        assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
        return code
    assert code == 0, cap.err
    run_dir = Path(cap.out.strip().splitlines()[-1])
    for table in sorted((run_dir / "events").glob("*.parquet")):
        df = pd.read_parquet(table)
        for col in df.columns:
            if df[col].dtype.kind == "f":
                assert not np.isinf(df[col].to_numpy()).any(), f"{table.name}.{col}"
    ticks = pd.read_parquet(run_dir / "events" / "oracle_ticks.parquet")
    fx = ticks[ticks["feed"] == "usdbrl"]
    for col in ("price", "true_price"):
        v = ticks[col].dropna().to_numpy()
        assert (v > 0).all() and np.isfinite(v).all(), col
        v = fx[col].dropna().to_numpy()  # inside sim.world.paths.USDBRL_RANGE
        assert ((v >= 1e-4 * 0.9) & (v <= 1e6 * 1.1)).all(), (col, v.min(), v.max())
    return code


def test_capital_at_its_bound_runs_and_beyond_it_is_refused(tmp_path, models, capsys) -> None:
    at_max = [f"lenders.groups[{i}].capital_cents={MAX}" for i in range(4)]
    assert _run(tmp_path / "a", models, capsys, *at_max, f"pool.capital_cents={MAX}") == 0
    assert _run(tmp_path / "b", models, capsys, f"lenders.groups[0].capital_cents={10**20}") == 2


@pytest.mark.parametrize("sign", [1, -1])
def test_usdbrl_jumps_at_their_bounds_run_or_stop_in_one_line(
    tmp_path, models, capsys, sign: int
) -> None:
    at_bounds = (
        f"exogenous.usdbrl.jump_mean={0.2 * sign}",
        "exogenous.usdbrl.jump_sd=0.2",
        "exogenous.usdbrl.jump_intensity_per_year=1000",
        "exogenous.usdbrl.vol_annual=1",
        f"exogenous.usdbrl.drift_annual={0.5 * sign}",
    )
    # the old bounds gave infinite prices (or zero ones and a ZeroDivisionError)
    old = (
        f"exogenous.usdbrl.jump_mean={sign}",
        "exogenous.usdbrl.jump_sd=1",
        "exogenous.usdbrl.jump_intensity_per_year=100000",
    )
    _run(tmp_path / "a", models, capsys, *old)
    _run(tmp_path / "b", models, capsys, *at_bounds)
    # over a long run-off the same parameters leave the range: exit 2, one line, no run dir
    assert _run(tmp_path / "c", models, capsys, *at_bounds, "engine.runoff_days=5000") == 2


def test_tiny_and_huge_amounts_run_and_beyond_is_refused(tmp_path, models, capsys) -> None:
    huge = (
        *(f"lenders.groups[{i}].capital_cents={MAX}" for i in range(4)),
        f"population.amount_min_cents={MAX}",
        f"population.amount_max_cents={MAX}",
        f"engine.amount_caps=[{{pd_max: 1.0, max_amount_cents: {MAX}}}]",
    )
    assert _run(tmp_path / "a", models, capsys, *huge) == 0
    tiny = ("population.amount_min_cents=1", "population.amount_max_cents=2000")
    assert _run(tmp_path / "b", models, capsys, *tiny, "auction.min_offer_cents=1") == 0
    beyond = f"population.amount_max_cents={2**64}"
    assert _run(tmp_path / "c", models, capsys, beyond, "auction.min_offer_cents=1") == 2

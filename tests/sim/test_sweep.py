"""Sweep files, expansion, KPI flattening and the results table (no simulation needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.sweep import (
    RunOutcome,
    RunSpec,
    SweepError,
    expand,
    flatten_kpis,
    load_sweep,
    prepare,
    results_table,
)

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return p


def test_shipped_sweep_is_valid_and_expands() -> None:
    cfg, ref = load_sweep(REPO / "scenarios" / "sweeps" / "headroom_small.yaml")
    assert ref == "small"
    specs = expand(cfg, ref)
    assert len(specs) == len(cfg.seeds) * len(next(iter(cfg.grid.values())))
    assert len(cfg.seeds) == 2


def test_expansion_order_and_override_rendering(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        "scenario: small\ngrid:\n  a.b: [1, 2]\n  c: [x, 0.5]\nseeds: [3, 4]\n",
    )
    cfg, _ = load_sweep(p)
    specs = expand(cfg, "small")
    assert [(s.params, s.seed) for s in specs][:3] == [
        ((("a.b", 1), ("c", "x")), 3),
        ((("a.b", 1), ("c", "x")), 4),
        ((("a.b", 1), ("c", 0.5)), 3),
    ]
    assert specs[0].overrides == ("a.b=1", 'c="x"')
    assert len(specs) == 8


def test_scenario_path_is_relative_to_the_sweep_file(tmp_path: Path) -> None:
    (tmp_path.parent / "scen").mkdir(exist_ok=True)
    (tmp_path.parent / "scen" / "x.yaml").write_text("name: x\n")
    p = _write(tmp_path, "scenario: ../scen/x.yaml\nseeds: [1]\n")
    _, ref = load_sweep(p)
    assert ref == str((tmp_path.parent / "scen" / "x.yaml").resolve())


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("scenario: small\nseeds: [1]\ngird: {}\n", "gird: unknown key"),
        ("scenario: small\n", "seeds: Field required"),
        ("scenario: small\nseeds: [1, 1]\n", "must be distinct"),
        ("scenario: small\nseeds: [-1]\n", r"seeds\[0\]=-1: must be >= 0"),
        (  # the scenario schema's seed rule: a seed every run's scenario.yaml can replay
            "scenario: small\nseeds: [1, 18446744073709551616]\n",
            r"seeds\[1\]=18446744073709551616: must be < 9223372036854775808",
        ),
        ("scenario: small\nseeds: [1]\ngrid: {a.b: []}\n", "a.b: needs at least one value"),
        ("scenario: small\nseeds: [1]\ngrid: {seed: [1]}\n", "under `seeds`"),
        ("- 1\n", "must be a mapping"),
        ("scenario: [\n", "YAML syntax error"),
        ("scenario: small\nscenario: small\nseeds: [1]\n", "duplicate key 'scenario'"),
        ("scenario: &s small\nseeds: [1]\n", "anchors"),
    ],
)
def test_bad_sweep_files_give_one_line_errors(tmp_path: Path, text: str, match: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(SweepError, match=match) as info:
        load_sweep(p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="cannot read"):
        load_sweep(tmp_path / "nope.yaml")


def test_bad_combination_stops_before_running(tmp_path: Path) -> None:
    specs = [RunSpec("small", ("engine.headroom_bps=-5",), (("engine.headroom_bps", -5),), 1)]
    with pytest.raises(SweepError, match=r"engine\.headroom_bps"):
        prepare(specs, tmp_path)


def test_flatten_kpis() -> None:
    flat = flatten_kpis({"b": {"y": 1, "x": float("nan")}, "a": [1, 2], "c": "s"})
    assert flat == {"kpi.a": "[1, 2]", "kpi.b.x": None, "kpi.b.y": 1, "kpi.c": "s"}


def test_results_table_has_one_row_per_run_and_keeps_failures() -> None:
    s1 = RunSpec("small", ("k=1",), (("k", 1),), 1)
    s2 = RunSpec("small", ("k=2",), (("k", 2),), 1)
    ok = RunOutcome(s1, "small-1-abc", "/r/small-1-abc", "ok", None, {"fill": 0.5}, 1.0)
    bad = RunOutcome(s2, "", None, "failed", "ValueError: boom", {}, 1.0)
    t = results_table([ok, bad])
    assert t.num_rows == 2
    assert t.column_names == ["run", "run_dir", "status", "error", "seed", "param.k", "kpi.fill"]
    rows = t.to_pylist()
    assert rows[0]["kpi.fill"] == 0.5 and rows[1]["kpi.fill"] is None
    assert rows[1]["status"] == "failed" and rows[1]["error"] == "ValueError: boom"


def test_mixed_type_columns_become_text() -> None:
    s1 = RunSpec("small", (), (("k", 1),), 1)
    s2 = RunSpec("small", (), (("k", "x"),), 2)
    a = RunOutcome(s1, "a", "a", "ok", None, {"v": 1.0}, 0.0)
    b = RunOutcome(s2, "b", "b", "ok", None, {"v": "n/a"}, 0.0)
    t = results_table([a, b])
    assert t.column("param.k").to_pylist() == ["1", '"x"']


def test_a_missing_relative_scenario_says_where_it_was_looked_for(tmp_path: Path) -> None:
    sub = tmp_path / "sweeps"
    sub.mkdir()
    p = _write(sub, "scenario: scenarios/small.yaml\nseeds: [1]\n")
    with pytest.raises(SweepError, match="resolves against the sweep file's folder") as info:
        load_sweep(p)
    assert str(sub / "scenarios" / "small.yaml") in str(info.value)

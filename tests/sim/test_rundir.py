"""Run directories: atomic commit, crash leaves nothing complete, manifest hashes, determinism."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from sim.config.scenario import Scenario, load_scenario
from sim.run.rundir import (
    RunStage,
    canonical_json_bytes,
    run_config_hash,
    run_dir_name,
    write_parquet,
)

SCEN = Scenario(name="unit", horizon_days=1.0)


@dataclass
class _Result:
    """The fields of ``SimResult`` the writer reads."""

    tables: dict[str, pd.DataFrame]
    kpis: dict[str, Any]
    targets: dict[str, Any] = field(default_factory=dict)
    seed_tree: dict[str, Any] = field(default_factory=lambda: {"seed": 1})
    model: dict[str, Any] = field(default_factory=lambda: {"sha256": "ab" * 32})
    stats: dict[str, Any] = field(default_factory=lambda: {"events": 10, "wall_s": 0.5})


def _result(k: float = 0.25) -> _Result:
    return _Result(
        tables={
            "requests": pd.DataFrame(
                {"request_id": np.arange(5, dtype=np.int64), "amount_cents": [1, 2, 3, 4, 5]}
            ),
            "decisions": pd.DataFrame({"reason": ["OK", None, "NO_PRICE"], "pd": [0.1, 0.2, 0.3]}),
        },
        kpis={"fill_rate": k, "approval_rate": np.float64(0.5), "nested": {"b": 1, "a": np.nan}},
        targets={"fill_rate": {"op": ">=", "value": 0.9}},
    )


def _write(root: Path, result: _Result, seed: int = 1) -> Path:
    with RunStage(root, run_dir_name(SCEN, seed)) as stage:
        stage.write_result(SCEN, seed, result, overrides=["a.b=1"])
    return stage.final_path


def test_commit_writes_complete_directory_with_matching_hashes(tmp_path: Path) -> None:
    final = _write(tmp_path, _result())
    assert final.name == f"unit-1-{run_config_hash(SCEN)[:8]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]  # no staging left
    manifest = json.loads((final / "manifest.json").read_text())
    files = sorted(
        p.relative_to(final).as_posix()
        for p in final.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    )
    assert sorted(manifest["artefacts"]) == files
    assert files == [
        "events/decisions.parquet",
        "events/requests.parquet",
        "kpis.json",
        "scenario.yaml",
    ]
    for rel, meta in manifest["artefacts"].items():
        data = (final / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == meta["sha256"]
        assert len(data) == meta["bytes"]
    assert manifest["seed"] == 1 and manifest["scenario"]["overrides"] == ["a.b=1"]
    assert manifest["scenario"]["run_config_hash"] == run_config_hash(SCEN)
    assert len(manifest["trace_id"]) == 32 and len(manifest["audit_id"]) == 32
    assert manifest["git"]["commit"]
    assert "wall_s" in manifest["run_info"]
    kpis = json.loads((final / "kpis.json").read_text())
    assert kpis["kpis"] == {"approval_rate": 0.5, "fill_rate": 0.25, "nested": {"a": None, "b": 1}}
    back = pd.read_parquet(final / "events" / "decisions.parquet")
    assert list(back.columns) == ["reason", "pd"] and back["reason"].isna().sum() == 1


def test_scenario_yaml_replays_the_resolved_scenario(tmp_path: Path) -> None:
    final = _write(tmp_path, _result(), seed=7)
    raw = yaml.safe_load((final / "scenario.yaml").read_text())
    assert raw["seed"] == 7
    again = load_scenario(final / "scenario.yaml")
    assert run_config_hash(again) == run_config_hash(SCEN)
    assert again.seed == 7


def test_same_inputs_give_identical_bytes(tmp_path: Path) -> None:
    a = _write(tmp_path / "a", _result())
    b = _write(tmp_path / "b", _result())
    for rel in ("kpis.json", "events/requests.parquet", "events/decisions.parquet"):
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    ma = json.loads((a / "manifest.json").read_text())
    mb = json.loads((b / "manifest.json").read_text())
    ma.pop("run_info"), mb.pop("run_info")
    assert ma == mb  # everything outside run_info is deterministic too


def test_exception_leaves_old_directory_and_no_staging(tmp_path: Path) -> None:
    final = _write(tmp_path, _result(0.25))
    before = (final / "kpis.json").read_bytes()
    with pytest.raises(RuntimeError, match="boom"), RunStage(tmp_path, final.name) as stage:
        stage.write_result(SCEN, 1, _result(0.75))
        raise RuntimeError("boom")
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]
    assert (final / "kpis.json").read_bytes() == before


def test_rerun_replaces_existing_directory(tmp_path: Path) -> None:
    final = _write(tmp_path, _result(0.25))
    (final / "stray.txt").write_text("from an older run")
    _write(tmp_path, _result(0.75))
    assert sorted(p.name for p in tmp_path.iterdir()) == [final.name]
    assert json.loads((final / "kpis.json").read_text())["kpis"]["fill_rate"] == 0.75
    assert not (final / "stray.txt").exists()


def test_commit_before_complete_is_refused(tmp_path: Path) -> None:
    stage = RunStage(tmp_path, "x-1-deadbeef")
    with pytest.raises(RuntimeError, match="commit"):
        stage.commit()
    stage.abort()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="run name"):
        RunStage(tmp_path, ".hidden")


def test_hard_crash_mid_write_leaves_only_staging(tmp_path: Path) -> None:
    """A process killed while writing leaves a .staging-* dir and nothing complete-looking."""
    script = textwrap.dedent(
        f"""
        import os, pandas as pd
        import sim.run.rundir as rd
        from sim.config.scenario import Scenario
        real = rd.write_parquet
        calls = []
        def dying(df, path):
            real(df, path)
            calls.append(path)
            if len(calls) == 1:
                os._exit(9)   # killed after the first table, no cleanup runs
        rd.write_parquet = dying
        s = Scenario(name="unit", horizon_days=1.0)
        class R:
            tables = {{"a": pd.DataFrame({{"x": [1]}}), "b": pd.DataFrame({{"x": [2]}})}}
            kpis = {{"k": 1.0}}; targets = {{}}; seed_tree = {{}}; model = {{}}; stats = {{}}
        with rd.RunStage({str(tmp_path)!r}, rd.run_dir_name(s, 1)) as st:
            st.write_result(s, 1, R())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    staging = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(staging) == 1 and staging[0].name.startswith(".staging-unit-1-")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        staging[0].name,
        staging[0].name + ".lock",  # the lock file of its dead owner
    ]
    assert not (staging[0] / "manifest.json").exists()
    assert not (tmp_path / run_dir_name(SCEN, 1)).exists()


def test_canonical_json_formatting() -> None:
    out = canonical_json_bytes({"b": 0.1 + 0.2, "a": [np.int64(3), float("inf"), -0.0], "c": ()})
    assert out == b'{\n  "a": [\n    3,\n    null,\n    0.0\n  ],\n  "b": 0.3,\n  "c": []\n}\n'
    with pytest.raises(TypeError, match="object"):
        canonical_json_bytes({"x": object()})


def test_parquet_bytes_do_not_depend_on_pandas_index(tmp_path: Path) -> None:
    df = pd.DataFrame({"x": [3, 1, 2], "s": ["a", "b", None]})
    write_parquet(df, tmp_path / "a.parquet")
    write_parquet(df.set_axis([10, 20, 30]), tmp_path / "b.parquet")
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    import pyarrow.parquet as pq

    assert pq.read_schema(tmp_path / "a.parquet").metadata in (None, {}) or all(
        k != b"pandas" for k in pq.read_schema(tmp_path / "a.parquet").metadata
    )

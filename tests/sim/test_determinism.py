"""Same scenario + overrides + seed => byte-identical kpis.json and event tables: across two
``ce run`` processes, in-process, and inside a ``ce sweep`` with 2 workers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.cli import main

REPO = Path(__file__).resolve().parents[2]
OVERRIDE = "engine.headroom_bps=400"
SEED = 3

pytestmark = pytest.mark.slow


def _artefacts(run_dir: Path) -> dict[str, bytes]:
    files = {"kpis.json": (run_dir / "kpis.json").read_bytes()}
    for p in sorted((run_dir / "events").glob("*.parquet")):
        files[f"events/{p.name}"] = p.read_bytes()
    return files


def _ce(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("det")
    out: dict[str, Path] = {}
    # 1: a separate process
    proc = _ce("run", "small", "--seed", str(SEED), "--set", OVERRIDE, "--quiet",
               "--out", str(root / "a"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out["a"] = Path(proc.stdout.strip().splitlines()[-1])
    # 2: a second separate process
    proc = _ce("run", "small", "--seed", str(SEED), "--set", OVERRIDE, "--quiet",
               "--out", str(root / "b"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out["b"] = Path(proc.stdout.strip().splitlines()[-1])
    # 3: a sweep with 2 workers (spawned processes) containing the same combination
    sweep = root / "det.yaml"
    sweep.write_text(
        "scenario: small\ngrid:\n  engine.headroom_bps: [400, 650]\nseeds: [3]\n", "utf-8"
    )
    proc = _ce("sweep", str(sweep), "--workers", "2", "--out", str(root / "sweep"))
    assert proc.returncode == 0, proc.stderr
    out["results"] = Path(proc.stdout.strip().splitlines()[-1])
    out["sweep"] = out["results"].parent
    return out


def test_two_processes_give_identical_bytes(runs: dict[str, Path]) -> None:
    a, b = _artefacts(runs["a"]), _artefacts(runs["b"])
    assert runs["a"].name == runs["b"].name
    assert len(a) >= 5  # kpis.json and the event tables
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], f"{name} differs between two runs"
    # the manifests agree on every artefact hash, too
    ma = json.loads((runs["a"] / "manifest.json").read_text())
    mb = json.loads((runs["b"] / "manifest.json").read_text())
    assert ma["artefacts"] == mb["artefacts"]
    assert ma["trace_id"] == mb["trace_id"] and ma["audit_id"] == mb["audit_id"]


def test_sweep_with_two_workers_reproduces_the_single_run(runs: dict[str, Path]) -> None:
    in_sweep = runs["sweep"] / runs["a"].name
    assert in_sweep.is_dir()
    a, s = _artefacts(runs["a"]), _artefacts(in_sweep)
    assert a.keys() == s.keys()
    for name in a:
        assert a[name] == s[name], f"{name} differs inside the sweep"


def test_sweep_results_have_one_row_per_run(runs: dict[str, Path]) -> None:
    rows = pq.read_table(runs["results"]).to_pylist()
    assert [r["param.engine.headroom_bps"] for r in rows] == [400, 650]
    assert all(r["status"] == "ok" and r["seed"] == SEED for r in rows)
    assert rows[0]["run_dir"].endswith(runs["a"].name)
    kpis = json.loads((runs["a"] / "kpis.json").read_text())["kpis"]
    assert rows[0]["kpi.fill_rate"] == pytest.approx(kpis["fill_rate"])
    assert rows[0]["run"] != rows[1]["run"]  # different config hash


def test_in_process_run_matches(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    code = main(["run", "small", "--seed", str(SEED), "--set", OVERRIDE, "--quiet",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    a, c = _artefacts(runs["a"]), _artefacts(path)
    for name in a:
        assert a[name] == c[name], f"{name} differs in-process"


def test_other_seed_differs(runs: dict[str, Path], tmp_path: Path, capsys) -> None:
    code = main(["run", "small", "--seed", str(SEED + 1), "--set", OVERRIDE, "--quiet",
                 "--out", str(tmp_path)])  # fmt: skip
    assert code == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert path.name.split("-")[2] == runs["a"].name.split("-")[2]  # same config hash
    assert (path / "events" / "requests.parquet").read_bytes() != (
        runs["a"] / "events" / "requests.parquet"
    ).read_bytes()

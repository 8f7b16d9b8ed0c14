"""``ce run`` / ``ce sweep`` / ``ce model train`` command lines: output shape and clean errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import sim.sweep.runner
from sim.cli import main
from sim.cli.run import _Progress


def test_run_prints_kpi_table_and_path_last(tmp_path: Path, capsys) -> None:
    code = main(["run", "small", "--seed", "5", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out.strip().splitlines()
    path = Path(out[-1])
    assert path.parent == tmp_path and path.name.startswith("small-5-")
    assert (path / "manifest.json").is_file()
    assert out[0].split()[:2] == ["KPI", "value"]
    assert any(line.startswith("ttvp_ms_p95") for line in out)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["seed"] == 5 and manifest["model"]["sha256"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no staging left behind


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["run", "no_such_scenario"], "no_such_scenario"),
        (["run", "small", "--set", "engine.headroom_bps=-3"], "engine.headroom_bps=-3"),
        (["run", "small", "--set", "engine.no_such_key=1"], "no_such_key"),
        (["run", "small", "--seed", "-1"], "--seed=-1"),
        (["model", "train", "--scenario", "no_such_scenario"], "no_such_scenario"),
    ],
)
def test_errors_are_one_line_exit_2_and_write_nothing(
    argv: list[str], match: str, tmp_path: Path, capsys
) -> None:
    code = main([*argv, "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0] and lines[0].startswith("ce ")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_sweep_bad_file_is_one_line(tmp_path: Path, capsys) -> None:
    p = tmp_path / "s.yaml"
    p.write_text("scenario: small\nseeds: [1]\ngrid: {engine.headroom_bps: [-1]}\n")
    code = main(["sweep", str(p), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "engine.headroom_bps" in err[-1] and err[-1].startswith("ce sweep")


def test_sweep_keeps_going_when_a_run_fails(
    tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sim.sweep.runner.run_one

    def flaky(spec, out_root, **kw):
        if spec.seed == 2:
            raise RuntimeError("simulated crash in run seed=2")
        return real(spec, out_root, **kw)

    monkeypatch.setattr(sim.sweep.runner, "run_one", flaky)
    p = tmp_path / "s.yaml"
    p.write_text("scenario: small\nseeds: [1, 2]\n")
    code = main(["sweep", str(p), "--workers", "1", "--out", str(tmp_path / "o")])
    cap = capsys.readouterr()
    assert code == 1
    assert "simulated crash in run seed=2" in cap.err
    results = Path(cap.out.strip().splitlines()[-1])
    rows = pq.read_table(results).to_pylist()
    assert [(r["seed"], r["status"]) for r in rows] == [(1, "ok"), (2, "failed")]
    assert rows[1]["error"] == "RuntimeError: simulated crash in run seed=2"
    assert Path(rows[0]["run_dir"], "kpis.json").is_file()
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.name.startswith(".")) == []


def test_progress_is_throttled_and_silent_for_short_runs(monkeypatch) -> None:
    clock = [100.0]
    monkeypatch.setattr("sim.cli.run.time.monotonic", lambda: clock[0])
    buf = io.StringIO()
    p = _Progress("x", stream=buf)
    p(0.1)
    clock[0] += 0.5
    p(1.0)  # finished within 2 s: nothing printed
    assert buf.getvalue() == ""
    q = _Progress("y", stream=buf)
    for _ in range(30):  # 30 calls over 3 s
        clock[0] += 0.1
        q(0.5)
    lines = buf.getvalue().splitlines()
    assert 1 <= len(lines) <= 3 and "50.0%" in lines[0]
    q(1.0)
    assert "100.0%" in buf.getvalue().splitlines()[-1]


@pytest.mark.slow
def test_run_with_chain_keeps_bridge_state_in_the_run_dir(tmp_path: Path, capsys) -> None:
    argv = ["run", "small", "--set", "chain.backend=eth-tester", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    manifest = json.loads((path / "manifest.json").read_text())
    chain_files = [k for k in manifest["artefacts"] if k.startswith("chain/")]
    assert chain_files, "the bridge wrote no state into <run>/chain"
    kpis = json.loads((path / "kpis.json").read_text())["kpis"]
    assert any(k.startswith("attest") for k in kpis)
    from sim.cli import main as ce

    assert ce(["chain", "verify", str(path)]) == 0  # the committed run dir verifies

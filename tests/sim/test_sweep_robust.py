"""Sweeps never lose work: failing runs are rows, finished rows are journaled as they end and
reused by a rerun, a run that kills its worker is the only one blamed, and workers die with
the sweep's process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sim.sweep.runner as runner
from sim.sweep import RunOutcome, RunSpec, run_sweep
from sim.sweep.journal import JOURNAL_FILE, Journal

REPO = Path(__file__).resolve().parents[2]
TINY = ("horizon_days=0.1", "engine.runoff_days=3", "chain.backend=off", "model.train_size=2000")


def _specs(seeds: list[int], extra: tuple[str, ...] = ()) -> list[RunSpec]:
    return [RunSpec("small", (*TINY, *extra), (), s) for s in seeds]


# -- tasks run in spawned workers (module-level, so that they pickle by reference) -----------


def sleepy_task(spec: RunSpec, out: str, models_dir: str) -> RunOutcome:
    time.sleep(60)
    raise AssertionError("unreachable")


def killer_task(spec: RunSpec, out: str, models_dir: str) -> RunOutcome:
    if spec.seed == 13:
        os._exit(3)  # the worker process dies
    time.sleep(0.5)
    return RunOutcome(spec, f"r{spec.seed}", None, "ok", None, {}, 0.5)


# -- tests -------------------------------------------------------------------------------------


def test_a_failing_run_is_a_row_and_the_rest_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runner.run_one

    def overflowing(spec: RunSpec, out_root, **kw):  # type: ignore[no-untyped-def]
        if spec.seed == 2:
            raise OverflowError("Python int too large to convert to C long")
        return real(spec, out_root, **kw)

    monkeypatch.setattr(runner, "run_one", overflowing)
    outcome = run_sweep(_specs([1, 2, 3]), tmp_path, workers=1)
    assert [o.status for o in outcome.outcomes] == ["ok", "failed", "ok"]
    table = pd.read_parquet(outcome.results_path)
    assert list(table["status"]) == ["ok", "failed", "ok"]
    assert table["error"][1].startswith("OverflowError")
    lines = (tmp_path / JOURNAL_FILE).read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[1])["status"] == "failed"
    assert "OverflowError" in (tmp_path / runner.FAILURES_FILE).read_text()


def test_a_rerun_keeps_finished_runs_and_redoes_the_rest(tmp_path: Path) -> None:
    specs = _specs([1, 2])
    first = run_sweep(specs, tmp_path, workers=1)
    before = first.results_path.read_bytes()
    again = run_sweep(specs, tmp_path, workers=1)
    assert again.reused == 2
    assert again.results_path.read_bytes() == before
    # a run directory that lost its manifest is not complete: that run alone runs again
    (Path(first.outcomes[1].run_dir) / "manifest.json").unlink()
    third = run_sweep(specs, tmp_path, workers=1)
    assert third.reused == 1 and third.results_path.read_bytes() == before
    fresh = run_sweep(specs, tmp_path, workers=1, resume=False)
    assert fresh.reused == 0 and fresh.results_path.read_bytes() == before


def test_a_torn_journal_line_is_ignored_and_not_merged(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    spec = _specs([5])[0]
    journal.path.write_text('{"key": ["small", [], 1], "stat')  # a crash mid-write
    journal.append(RunOutcome(spec, "r", None, "failed", "boom", {}, 1.0))
    entries = journal.entries()
    assert len(entries) == 1
    assert next(iter(entries.values()))["error"] == "boom"


def test_only_the_run_that_kills_its_worker_fails() -> None:
    specs = _specs([11, 13, 17, 19])
    got: dict[int, RunOutcome] = {}
    runner._run_in_pools(
        specs, range(4), "unused", "unused", 2, lambda i, o: got.__setitem__(i, o), killer_task
    )
    assert sorted(got) == [0, 1, 2, 3]
    assert got[1].status == "failed" and "worker process died" in (got[1].error or "")
    assert [got[i].status for i in (0, 2, 3)] == ["ok", "ok", "ok"]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the workers")
def test_workers_die_with_a_killed_sweep() -> None:
    code = (  # run from the repository root, which `python -c` puts on sys.path
        "from tests.sim.test_sweep_robust import sleepy_task, _specs\n"
        "import sim.sweep.runner as r\n"
        "r._run_in_pools(_specs([1, 2]), [0, 1], 'x', 'x', 2, lambda i, o: None, sleepy_task)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            kids = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
            workers = [int(x) for x in kids.read_text().split()] if kids.exists() else []
            # the spawn context also starts a resource tracker: keep the pool's workers
            workers = [w for w in workers if "resource_tracker" not in _cmdline(w)]
        assert len(workers) >= 2, "the pool's workers never started"
        time.sleep(1.0)  # let the workers run their initializer
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.1)
        assert not any(_alive(w) for w in workers), "workers outlived the killed sweep"
    finally:
        if parent.poll() is None:
            parent.kill()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""

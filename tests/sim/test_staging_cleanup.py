"""Leftovers of interrupted runs (sim/run/staging.py): the next run into the same parent removes
the staging folders of dead runs — killed mid-run, or inside the commit window — and never one
that a live run (another process, or a sweep's other worker) still owns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sim.cli import main
from sim.run.rundir import RunStage
from sim.run.staging import OLD_PREFIX, STAGING_PREFIX, StageLock, remove_stale
from sim.sweep import RunSpec, run_sweep
from tests.sim._killed_run import kill_a_streaming_run

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
TINY = ("horizon_days=0.1", "engine.runoff_days=3", "chain.backend=off", "model.train_size=2000")

#: a process that owns one stage: ``python -c STAGE parent name mode kpi``. It prints the staging
#: path, then (mode ``hold``) waits for a line on stdin and commits, printing the final path; the
#: other modes kill it with SIGKILL at one point of the stage's life.
STAGE = textwrap.dedent(
    """
    import os, shutil, signal, sys
    import pandas as pd
    import sim.run.rundir as rd
    from sim.config.scenario import Scenario

    parent, name, mode, kpi = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])

    def die(*_):
        os.kill(os.getpid(), signal.SIGKILL)

    class Result:
        tables = {"t": pd.DataFrame({"x": [1, 2]})}
        kpis = {"k": kpi}; targets = {}; seed_tree = {}; model = {}; stats = {}

    stage = rd.RunStage(parent, name)
    print(stage.path, flush=True)
    if mode == "hold":
        sys.stdin.readline()
    elif mode == "mid-run":
        die()
    real_rename, real_rmtree = os.rename, shutil.rmtree
    def rename(src, dst):
        if mode == "before-commit":
            die()
        real_rename(src, dst)
        if mode == "between-renames" and os.path.basename(dst).startswith(".old-"):
            die()
    def rmtree(path, **kw):
        if mode == "before-old-removed" and os.path.basename(path).startswith(".old-"):
            die()
        real_rmtree(path, **kw)
    os.rename, shutil.rmtree = rename, rmtree
    with stage:
        stage.write_result(Scenario(name="unit", horizon_days=1.0), 1, Result())
    print(stage.final_path, flush=True)
    """
)


def _start(parent: Path, name: str, mode: str, kpi: float = 1.0) -> tuple[subprocess.Popen, Path]:
    proc = subprocess.Popen(
        [sys.executable, "-c", STAGE, str(parent), name, mode, str(kpi)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline().strip()
    assert line, f"the stage process failed (exit {proc.wait()})"
    return proc, Path(line)


def _dead(parent: Path, name: str, mode: str, kpi: float = 1.0) -> Path:
    proc, staging = _start(parent, name, mode, kpi)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    return staging


def _finish(proc: subprocess.Popen) -> Path:
    out, _ = proc.communicate("go\n", timeout=120)
    assert proc.returncode == 0
    return Path(out.strip())


def _kpi(run: Path) -> float:
    return json.loads((run / "kpis.json").read_text())["kpis"]["k"]


def _hidden(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


def _next_run(parent: Path) -> None:
    """What the next run into ``parent`` does before it writes anything."""
    RunStage(parent, "next-1-00000000").abort()


def _commit(parent: Path, name: str, kpi: float) -> Path:
    proc, _ = _start(parent, name, "commit", kpi)
    return _finish(proc)


def _killed_replacement(parent: Path, mode: str) -> tuple[Path, Path, Path]:
    """Run ``r-1`` committed with kpi 1.0, then a run replacing it with kpi 2.0 killed at
    ``mode``: the run's final folder, the killed run's staging folder and its ``.old-`` copy."""
    final = _commit(parent, "r-1-00000000", 1.0)
    staging = _dead(parent, "r-1-00000000", mode, 2.0)
    old = parent / staging.name.replace(STAGING_PREFIX, OLD_PREFIX, 1)
    return final, staging, old


# ----------------------------------------------------------------------------- tests


def test_a_killed_ce_run_is_cleaned_by_the_next_run_and_a_live_stage_is_kept(
    tmp_path: Path,
) -> None:
    """SIGKILL a real ``ce run`` while it streams; another process owns a live stage in the same
    parent. The next ``ce run`` there removes the killed run's folder, not the live one."""
    live, live_staging = _start(tmp_path, "other-1-00000000", "hold")
    kill_a_streaming_run(tmp_path)
    assert len([p for p in tmp_path.glob(".staging-small-*") if p.is_dir()]) == 1

    args = ["run", "small", "--quiet", "--out", str(tmp_path), "--models", str(MODELS)]
    assert main([*args, *(f"--set={o}" for o in TINY)]) == 0
    assert not any(tmp_path.glob(".staging-small-*"))
    assert _hidden(tmp_path) == sorted([live_staging.name, live_staging.name + ".lock"])
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("small-")]) == 1
    assert _kpi(_finish(live)) == 1.0  # the live run was untouched and commits
    assert _hidden(tmp_path) == []


def test_stages_of_live_processes_are_kept_and_a_dead_one_is_removed(tmp_path: Path) -> None:
    """Two live stages (as two workers of a sweep writing into one parent) and a dead one: a new
    stage removes only the dead one, and both live ones still commit."""
    a, a_staging = _start(tmp_path, "r-1-00000000", "hold", 1.0)
    b, b_staging = _start(tmp_path, "r-2-00000000", "hold", 2.0)
    dead = _dead(tmp_path, "r-3-00000000", "mid-run")
    assert dead.is_dir()
    with RunStage(tmp_path, "r-4-00000000") as own:
        assert not dead.exists() and not Path(f"{dead}.lock").exists()
        assert a_staging.is_dir() and b_staging.is_dir()
        assert remove_stale(tmp_path) == []  # three live stages now, this process's included
        own.abort()
    assert _kpi(_finish(a)) == 1.0 and _kpi(_finish(b)) == 2.0
    assert _hidden(tmp_path) == []


def test_a_sweep_with_two_workers_removes_a_dead_stage_and_keeps_its_own(tmp_path: Path) -> None:
    dead = _dead(tmp_path, "small-1-00000000", "mid-run")
    specs = [RunSpec("small", TINY, (), seed) for seed in (1, 2, 3)]
    outcome = run_sweep(specs, tmp_path, workers=2, models_dir=MODELS)
    assert [o.status for o in outcome.outcomes] == ["ok", "ok", "ok"]
    assert not dead.exists()
    assert _hidden(tmp_path) == []


def test_a_complete_stage_killed_before_its_commit_is_removed(tmp_path: Path) -> None:
    """Killed after its manifest was written, before the rename: the hidden folder holds a full
    manifest; the run never reported success, so it is removed (the old run stays)."""
    final, staging, _ = _killed_replacement(tmp_path, "before-commit")
    assert (staging / "manifest.json").is_file()
    _next_run(tmp_path)
    assert _hidden(tmp_path) == [] and _kpi(final) == 1.0


def test_a_kill_between_the_two_renames_restores_the_run_it_was_replacing(tmp_path: Path) -> None:
    final, staging, old = _killed_replacement(tmp_path, "between-renames")
    assert not final.exists()  # moved aside: the only complete copies are hidden
    assert _kpi(old) == 1.0 and _kpi(staging) == 2.0
    _next_run(tmp_path)
    assert _hidden(tmp_path) == [] and _kpi(final) == 1.0


def test_a_kill_before_the_replaced_run_is_deleted_keeps_the_new_one(tmp_path: Path) -> None:
    final, _, old = _killed_replacement(tmp_path, "before-old-removed")
    assert _kpi(old) == 1.0 and _kpi(final) == 2.0
    _next_run(tmp_path)
    assert _hidden(tmp_path) == [] and _kpi(final) == 2.0


def test_an_old_copy_without_its_run_or_staging_is_left_alone(tmp_path: Path) -> None:
    """Only someone deleting the run by hand leaves this: the copy may be the only one."""
    final, _, old = _killed_replacement(tmp_path, "before-old-removed")
    for p in sorted(final.rglob("*"), reverse=True):
        p.rmdir() if p.is_dir() else p.unlink()
    final.rmdir()
    _next_run(tmp_path)
    assert _hidden(tmp_path) == [old.name] and _kpi(old) == 1.0


def test_folders_without_a_lock_are_removed_only_when_their_pid_is_gone(tmp_path: Path) -> None:
    """Staging folders of versions before locks carry only a pid: a live pid keeps them."""
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f".staging-r-1-00000000-{int(gone.stdout)}-0123abcd"
    alive = tmp_path / f".staging-r-1-00000000-{os.getpid()}-0123abcd"
    foreign = [tmp_path / ".staging-notes", tmp_path / ".old-r-1-00000000-1-nothex00"]
    for p in (dead, alive, *foreign):
        (p / "events").mkdir(parents=True)
    assert remove_stale(tmp_path) == [dead.name.removeprefix(".staging-")]
    assert _hidden(tmp_path) == sorted(p.name for p in (alive, *foreign))


def test_a_dead_stage_whose_pid_was_reused_is_still_removed(tmp_path: Path) -> None:
    """The lock decides, not the pid: a dead owner's pid now taken by a live process (here:
    this one, by renaming the leftovers to carry its pid) does not keep the folder."""
    dead = _dead(tmp_path, "r-1-00000000", "mid-run")
    reused = tmp_path / f".staging-r-1-00000000-{os.getpid()}-0123abcd"
    os.rename(f"{dead}.lock", f"{reused}.lock")
    os.rename(dead, reused)
    assert remove_stale(tmp_path) == [reused.name.removeprefix(".staging-")]
    assert _hidden(tmp_path) == []


def test_a_lock_is_released_with_its_stage(tmp_path: Path) -> None:
    lock = StageLock(tmp_path, "r-1-00000000")
    assert lock.path.is_file() and str(os.getpid()) in lock.key
    assert remove_stale(tmp_path) == []  # held, even by this very process
    lock.release()
    assert list(tmp_path.iterdir()) == []
    with RunStage(tmp_path, "r-1-00000000"):
        pass  # leaving without a result aborts: nothing is left
    assert list(tmp_path.iterdir()) == []

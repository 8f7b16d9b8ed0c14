"""A real ``ce run`` killed with SIGKILL while it streams its tables (nothing can clean up): what
an interrupted run leaves behind, for the tests of streaming and of the staging clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"


def kill_a_streaming_run(parent: Path) -> None:
    """Start ``ce run small`` into ``parent`` in a child process (chain off, 200 days of run-off,
    so it streams for a while) and SIGKILL it once its ledger table is on disk."""
    code = "import sys; from sim.cli import main; sys.exit(main())"
    args = ["run", "small", "--quiet", "--out", str(parent), "--models", str(MODELS),
            "--set", "chain.backend=off", "--set", "engine.runoff_days=200"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=REPO)
    try:
        deadline = time.monotonic() + 120
        while not any(parent.glob(".staging-small-*/events/ledger.parquet")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the run never started streaming"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()

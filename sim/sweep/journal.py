"""A sweep's journal: one JSON line per finished run, appended and fsynced as each run ends.

A sweep that dies (killed, out of memory, machine lost) therefore keeps the row of every run
that finished, and a rerun into the same folder resumes: a run whose last journal line says
``ok`` and whose run directory is complete (its ``manifest.json`` is written last) is taken from
there instead of being run again; failed runs are run again.

File ``<out>/sweep.journal.jsonl``; one line per finished run::

    {"key": [scenario, [overrides...], seed], "run": ..., "run_dir": ..., "status": "ok"|"failed",
     "error": ..., "wall_s": ...}

The key is what defines a run (scenario reference, overrides, seed), not its index, so a sweep
file whose grid was extended resumes the combinations it still contains. A line torn by a
crash (no final newline, or not JSON) is ignored.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sim.sweep.config import RunSpec
from sim.sweep.results import RunOutcome

__all__ = ["JOURNAL_FILE", "Journal", "spec_key"]

JOURNAL_FILE = "sweep.journal.jsonl"


def spec_key(spec: RunSpec) -> str:
    """The journal key of a run: its scenario reference, overrides and seed, as JSON text."""
    return json.dumps([spec.scenario, list(spec.overrides), spec.seed], ensure_ascii=True)


class Journal:
    """The journal of the sweep in ``out`` (see the module docstring)."""

    def __init__(self, out: str | Path) -> None:
        self.path = Path(out) / JOURNAL_FILE

    def entries(self) -> dict[str, dict[str, Any]]:
        """The last complete line of every key, by key."""
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for line in text.split("\n")[:-1]:  # the part after the last newline may be torn
            try:
                entry = json.loads(line)
                out[json.dumps(entry["key"], ensure_ascii=True)] = entry
            except (ValueError, KeyError, TypeError):
                continue
        return out

    def reusable(self, spec: RunSpec, entries: dict[str, dict[str, Any]]) -> RunOutcome | None:
        """The outcome of ``spec`` from an earlier sweep, when it finished ok and its run
        directory is complete; else None."""
        entry = entries.get(spec_key(spec))
        if not entry or entry.get("status") != "ok" or not entry.get("run_dir"):
            return None
        run_dir = Path(entry["run_dir"])
        if not (run_dir / "manifest.json").is_file():
            return None
        try:
            kpis = json.loads((run_dir / "kpis.json").read_text(encoding="utf-8"))["kpis"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return RunOutcome(
            spec=spec,
            run=str(entry.get("run") or run_dir.name),
            run_dir=str(run_dir),
            status="ok",
            error=None,
            kpis=kpis,
            wall_s=float(entry.get("wall_s") or 0.0),
        )

    def append(self, outcome: RunOutcome) -> None:
        """Append ``outcome``'s line and make it durable before returning."""
        line = json.dumps(
            {
                "key": json.loads(spec_key(outcome.spec)),
                "run": outcome.run or None,
                "run_dir": outcome.run_dir,
                "status": outcome.status,
                "error": outcome.error,
                "wall_s": outcome.wall_s if outcome.wall_s == outcome.wall_s else None,
            },
            ensure_ascii=True,
            sort_keys=True,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as fh:
            if fh.tell() > 0:  # a line torn by an earlier crash must not swallow this one
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write((line + "\n").encode("ascii"))
            fh.flush()
            os.fsync(fh.fileno())

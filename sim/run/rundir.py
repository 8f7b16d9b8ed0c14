"""Run directories ``runs/<scenario>-<seed>-<confighash8>/``, written atomically.

Layout::

    <name>/
      manifest.json        audit pack, written last (see below)
      kpis.json            {"format_version", "kpis", "targets"}: sorted keys, floats to 12
                           significant digits, NaN/inf as null
      scenario.yaml        the resolved scenario (overrides applied, seed = the run's seed);
                           ``ce run runs/<name>/scenario.yaml`` replays the run
      events/<table>.parquet   one file per event table (deterministic bytes, see below)
      chain/               the attestation bridge's state (only with a chain backend)

``confighash8`` is :func:`run_config_hash` — the sha256 of the scenario's canonical JSON
*without* its seed — so runs that differ only in seed share it.

Atomicity: everything is built in ``<out>/.staging-<name>-<pid>-<hex8>/`` (same parent, so
the final rename is atomic), every file is fsynced, the manifest is written last, then the
directory is renamed into place. An existing directory of the same name is moved aside only
once the new one is complete, and deleted after the swap. An interrupted run therefore leaves
at most a ``.staging-*`` (or, if killed between the two renames, a ``.old-*``) directory, never
something that looks complete; a Python exception inside :class:`RunStage` removes the staging
directory. The stage holds a lock for its lifetime (:mod:`sim.run.staging`), and every new
stage first removes the leftovers of dead runs in its parent, never those of a live one.

Determinism contract: the same scenario + overrides + seed give byte-identical ``kpis.json``
and ``events/*.parquet`` (same library versions), in one process or many. Parquet is written
from Arrow with no pandas index or pandas metadata, zstd level 3, dictionary encoding,
statistics, format 2.6, data page v1 — no timestamps. ``manifest.json`` is deterministic too
except its ``run_info`` section (wall time, wall-clock start/end, host platform), which is
outside the contract; ``chain/`` files depend on the chain backend.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sim.run.staging import StageLock, remove_stale

__all__ = [
    "FORMAT_VERSION",
    "RunStage",
    "canonical_json_bytes",
    "git_commit",
    "package_versions",
    "run_config_hash",
    "run_dir_name",
    "sha256_file",
    "write_parquet",
]

FORMAT_VERSION = 1
_REPO_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "pyarrow",
    "simpy",
    "pydantic",
    "pyyaml",
    "onnxruntime",
    "onnx",
    "skl2onnx",
    "scikit-learn",
    "web3",
    "eth-tester",
    "py-evm",
)


# ----------------------------------------------------------------------------- names, hashes


def run_config_hash(scenario: Any) -> str:
    """sha256 hex of the scenario's canonical JSON without ``seed`` (the run's config)."""
    doc = dict(scenario.canonical_dict())
    doc.pop("seed", None)
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_dir_name(scenario: Any, seed: int) -> str:
    """``<scenario>-<seed>-<confighash8>``."""
    return f"{scenario.name}-{int(seed)}-{run_config_hash(scenario)[:8]}"


def _plain(obj: Any) -> Any:
    """JSON-able copy: numpy scalars/arrays to Python, floats to 12 significant digits,
    non-finite floats to None, tuples to lists, mapping keys to str."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, bool | int | str) or obj is None:
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            return None
        out = float(f"{obj:.12g}")
        return 0.0 if out == 0 else out  # no "-0.0"
    if isinstance(obj, Path):
        return obj.as_posix()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"cannot write {type(obj).__name__} value {obj!r} to JSON")


def canonical_json_bytes(obj: Any) -> bytes:
    """Deterministic JSON (sorted keys, 2-space indent, fixed float format, trailing newline)."""
    text = json.dumps(_plain(obj), sort_keys=True, indent=2, ensure_ascii=True, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit(repo_root: Path = _REPO_ROOT) -> dict[str, Any]:
    """``{"commit": sha or "unknown", "dirty": bool | None}`` of the code that ran."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
    return {"commit": commit or "unknown", "dirty": bool(status.strip())}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on ("not installed" if absent)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in _PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


# ----------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def write_parquet(df: Any, path: Path) -> None:
    """Write a pandas DataFrame (or Arrow table) as Parquet with deterministic bytes (the
    writer options of :data:`sim.tables.stream.PARQUET_OPTIONS`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.tables.stream import PARQUET_OPTIONS

    table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pq.write_table(table, fh, **PARQUET_OPTIONS)
        fh.flush()
        os.fsync(fh.fileno())


# ----------------------------------------------------------------------------- the stage


class RunStage:
    """Build a run directory in a staging folder and move it into place atomically.

    Use as a context manager: on a clean exit after :meth:`write_result` the directory is
    committed (:attr:`final_path` then exists); on an exception the staging folder is removed
    and an existing run directory of the same name is left untouched.
    """

    def __init__(self, out_root: str | Path, name: str) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"run name={name!r}: must be a plain, non-hidden directory name")
        self._root = Path(out_root)
        self._root.mkdir(parents=True, exist_ok=True)
        self._name = name
        remove_stale(self._root)
        self._lock = StageLock(self._root, name)
        self._staging = self._lock.staging
        try:
            self._staging.mkdir()
        except BaseException:
            self._lock.release()
            raise
        self._complete = False
        self._committed = False
        self._t0 = time.perf_counter()
        self._started = datetime.now(UTC)

    @property
    def path(self) -> Path:
        """The staging directory (write here)."""
        return self._staging

    @property
    def chain_dir(self) -> Path:
        """Where the attestation bridge keeps its state (``state_dir`` of ``make_sink``)."""
        return self._staging / "chain"

    @property
    def final_path(self) -> Path:
        return self._root / self._name

    def __enter__(self) -> RunStage:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None and self._complete and not self._committed:
            self.commit()
        elif not self._committed:
            self.abort()

    # --------------------------------------------------------------- writing
    def write_result(
        self,
        scenario: Any,
        seed: int,
        result: Any,
        *,
        overrides: Sequence[str] = (),
        run_info: Mapping[str, Any] | None = None,
    ) -> None:
        """Write events, kpis.json, scenario.yaml and, last, manifest.json for ``result``
        (a ``SimResult``: ``tables``, ``kpis``, ``targets``, ``seed_tree``, ``model``,
        ``stats``). Tables that ``simulate(..., out_dir=stage.path)`` streamed into this
        stage's ``events/`` stay as written."""
        from sim.config.yaml_io import dump_yaml

        events = self._staging / "events"
        events.mkdir(exist_ok=True)
        streamed = Path(getattr(result.tables, "events_dir", "")) == events
        for table_name in sorted(result.tables):
            if not table_name.replace("_", "").isalnum():
                raise ValueError(f"event table name {table_name!r}: must be [A-Za-z0-9_]")
            if not streamed:  # tables a run streamed into this stage are already in place
                write_parquet(result.tables[table_name], events / f"{table_name}.parquet")
        kpis = {"format_version": FORMAT_VERSION, "kpis": result.kpis, "targets": result.targets}
        _write_bytes(self._staging / "kpis.json", canonical_json_bytes(kpis))
        resolved = dict(scenario.canonical_dict())
        resolved["seed"] = int(seed)
        _write_bytes(self._staging / "scenario.yaml", dump_yaml(resolved).encode("utf-8"))
        self._write_manifest(scenario, seed, result, overrides, run_info or {})
        self._complete = True

    def _write_manifest(
        self,
        scenario: Any,
        seed: int,
        result: Any,
        overrides: Sequence[str],
        run_info: Mapping[str, Any],
    ) -> None:
        artefacts = {}
        for p in sorted(self._staging.rglob("*")):
            if p.is_file():
                rel = p.relative_to(self._staging).as_posix()
                artefacts[rel] = {"sha256": sha256_file(p), "bytes": p.stat().st_size}
        for d in sorted({p.parent for p in self._staging.rglob("*")} | {self._staging}):
            _fsync_dir(d)
        cfg_hash = run_config_hash(scenario)
        model = dict(result.model or {})
        model_sha = str(model.get("sha256", "none"))
        ident = f"{cfg_hash}|{int(seed)}|{model_sha}"
        source = scenario.source_path
        if source is not None:
            try:
                source = Path(source).resolve().relative_to(_REPO_ROOT).as_posix()
            except ValueError:
                source = Path(source).as_posix()
        stats = dict(result.stats or {})
        info = {
            "wall_s": time.perf_counter() - self._t0,
            "started_at_utc": self._started.isoformat(timespec="seconds"),
            "finished_at_utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "platform": sys.platform,
            "stats": stats,
            **dict(run_info),
        }
        manifest = {
            "format_version": FORMAT_VERSION,
            "run": self._name,
            "scenario": {
                "name": scenario.name,
                "source": source,
                "overrides": list(overrides),
                "run_config_hash": cfg_hash,
                "config_hash": scenario.model_copy(update={"seed": int(seed)}).config_hash(),
            },
            "seed": int(seed),
            "seed_tree": result.seed_tree,
            "model": model,
            "trace_id": hashlib.sha256(f"trace|{ident}".encode()).hexdigest()[:32],
            "audit_id": hashlib.sha256(f"audit|{ident}".encode()).hexdigest()[:32],
            "git": git_commit(),
            "packages": package_versions(),
            "artefacts": artefacts,
            "determinism": "kpis.json and events/*.parquet are byte-identical for the same "
            "scenario, overrides, seed and package versions; run_info is not",
            "run_info": info,
        }
        _write_bytes(self._staging / "manifest.json", canonical_json_bytes(manifest))
        _fsync_dir(self._staging)

    # --------------------------------------------------------------- commit / abort
    def commit(self) -> Path:
        """Move the complete staging directory to :attr:`final_path` (replacing an old one)."""
        if not self._complete:
            raise RuntimeError(f"run {self._name}: commit() before write_result() finished")
        final = self.final_path
        old: Path | None = None
        if final.exists():
            old = self._lock.old
            os.rename(final, old)
        os.rename(self._staging, final)
        _fsync_dir(self._root)
        self._committed = True
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        self._lock.release()
        return final

    def abort(self) -> None:
        """Remove the staging directory (the final directory, if any, is untouched)."""
        shutil.rmtree(self._staging, ignore_errors=True)
        self._lock.release()

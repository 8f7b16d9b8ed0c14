"""One run end to end: ``simulate``, the atomic run directory it is written to, and the audit
of a run directory against its manifest."""

from __future__ import annotations

from sim.run.atomic import (
    atomic_target,
    atomic_write_bytes,
)
from sim.run.audit import AuditFailure, AuditResult, verify_run
from sim.run.rundir import (
    FORMAT_VERSION,
    RunStage,
    canonical_json_bytes,
    git_commit,
    package_versions,
    run_config_hash,
    run_dir_name,
    sha256_file,
    write_parquet,
)
from sim.run.simulation import (
    SimResult,
    simulate,
)

__all__ = [
    "FORMAT_VERSION",
    "AuditFailure",
    "AuditResult",
    "RunStage",
    "SimResult",
    "atomic_target",
    "atomic_write_bytes",
    "canonical_json_bytes",
    "git_commit",
    "package_versions",
    "run_config_hash",
    "run_dir_name",
    "sha256_file",
    "simulate",
    "verify_run",
    "write_parquet",
]

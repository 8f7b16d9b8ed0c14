"""Verify a run directory against its own ``manifest.json`` (``ce audit verify RUN_DIR``).

Checks, in order; the first failure is the answer:

1. ``manifest.json`` is readable JSON of a known ``format_version`` with the expected fields;
2. every artefact it lists exists, has its recorded size and sha256, and is a plain file
   inside the run directory; no file of the run directory is missing from the list (a
   ``chain/`` folder swapped in from another run, or any added file, is unlisted or differs);
3. the run's ``scenario.yaml`` is a valid scenario whose hashes, seed and name are the ones
   the manifest records, the run's ``trace_id`` and ``audit_id`` are the ones derived from
   them and the model's hash, and the seed tree is the one the seed derives.

What this cannot see, by design: a consistent rewrite of the artefacts *and* the manifest,
since nothing outside the directory anchors the manifest (a run attested on chain is anchored
there: ``ce chain verify`` binds the attested records to the run's event tables); and edits
of the manifest's informational fields, which nothing derives: ``run_info`` (wall times,
host), ``git``, ``packages`` and the model's training metrics.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.run.rundir import FORMAT_VERSION, run_config_hash, run_dir_name, sha256_file
from sim.seeds import spawn_key

__all__ = ["AuditFailure", "AuditResult", "verify_run"]

MANIFEST = "manifest.json"
_FIELDS = (
    "format_version",
    "run",
    "scenario",
    "seed",
    "model",
    "trace_id",
    "audit_id",
    "artefacts",
)


class AuditFailure(Exception):
    """The first discrepancy found, as one line."""


@dataclass(frozen=True)
class AuditResult:
    """A run directory that matches its manifest: how many artefacts and bytes were checked."""

    run: str
    artefacts: int
    bytes: int


def verify_run(run_dir: str | Path) -> AuditResult:
    """Check ``run_dir`` against its manifest (see the module docstring); raise
    :class:`AuditFailure` with the first discrepancy."""
    root = Path(run_dir)
    manifest = _read_manifest(root / MANIFEST)
    listed = manifest["artefacts"]
    total = 0
    for rel in sorted(listed):
        total += _check_artefact(root, rel, listed[rel])
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and rel != MANIFEST and rel not in listed:
            raise AuditFailure(f"{rel}: not listed in {MANIFEST} (added or swapped in)")
        if path.is_symlink():
            raise AuditFailure(f"{rel}: a symbolic link (a run directory holds plain files)")
    _check_identity(root, manifest)
    return AuditResult(run=str(manifest["run"]), artefacts=len(listed), bytes=total)


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AuditFailure(f"{MANIFEST}: missing (not a complete run directory)") from None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AuditFailure(f"{MANIFEST}: not readable JSON ({err})") from None
    if not isinstance(manifest, dict):
        raise AuditFailure(f"{MANIFEST}: must be a JSON object")
    for field in _FIELDS:
        if field not in manifest:
            raise AuditFailure(f"{MANIFEST}: {field}: missing")
    if manifest["format_version"] != FORMAT_VERSION:
        raise AuditFailure(
            f"{MANIFEST}: format_version={manifest['format_version']!r}: must be {FORMAT_VERSION}"
        )
    if not isinstance(manifest["artefacts"], dict):
        raise AuditFailure(f"{MANIFEST}: artefacts: must be an object")
    return manifest


def _check_artefact(root: Path, rel: Any, entry: Any) -> int:
    if not isinstance(rel, str) or not rel or rel.startswith("/") or ".." in rel.split("/"):
        raise AuditFailure(f"{MANIFEST}: artefact {rel!r}: must be a relative path inside the run")
    if not isinstance(entry, dict) or not {"sha256", "bytes"} <= entry.keys():
        raise AuditFailure(f"{MANIFEST}: artefacts[{rel!r}]: must have sha256 and bytes")
    path = root / rel
    if path.is_symlink() or not path.is_file():
        raise AuditFailure(f"{rel}: missing (listed in {MANIFEST})")
    size = path.stat().st_size
    if size != entry["bytes"]:
        raise AuditFailure(f"{rel}: bytes={size}: manifest says {entry['bytes']!r}")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise AuditFailure(f"{rel}: sha256={digest}: manifest says {entry['sha256']!r}")
    return size


def _check_identity(root: Path, manifest: dict[str, Any]) -> None:
    from sim.config.scenario import ScenarioError, scenario_from_mapping
    from sim.config.yaml_io import YamlError, read_yaml_file

    try:
        raw = read_yaml_file(root / "scenario.yaml", "scenario.yaml")
        scenario = scenario_from_mapping(raw, where="scenario.yaml")
    except (YamlError, ScenarioError) as err:
        raise AuditFailure(f"scenario.yaml: not a valid scenario ({err})") from None
    recorded = manifest["scenario"] if isinstance(manifest["scenario"], dict) else {}
    seed = scenario.seed
    expected = {
        "seed": (manifest["seed"], seed),
        "scenario.run_config_hash": (recorded.get("run_config_hash"), run_config_hash(scenario)),
        "scenario.config_hash": (recorded.get("config_hash"), scenario.config_hash()),
        "scenario.name": (recorded.get("name"), scenario.name),
        "run": (manifest["run"], run_dir_name(scenario, seed)),
    }
    model = manifest["model"] if isinstance(manifest["model"], dict) else {}
    ident = f"{run_config_hash(scenario)}|{seed}|{model.get('sha256', 'none')}"
    expected["trace_id"] = (
        manifest["trace_id"],
        hashlib.sha256(f"trace|{ident}".encode()).hexdigest()[:32],
    )
    expected["audit_id"] = (
        manifest["audit_id"],
        hashlib.sha256(f"audit|{ident}".encode()).hexdigest()[:32],
    )
    tree = manifest.get("seed_tree")
    components = tree.get("components") if isinstance(tree, dict) else None
    if not isinstance(components, dict) or tree.get("seed") != seed:
        raise AuditFailure(f"{MANIFEST}: seed_tree: must be the tree of seed={seed}")
    for name, key in components.items():
        if key != list(spawn_key(name)):
            raise AuditFailure(
                f"{MANIFEST}: seed_tree.components.{name}={key!r}: the name derives "
                f"{list(spawn_key(name))}"
            )
    for field, (found, derived) in expected.items():
        if found != derived:
            raise AuditFailure(
                f"{MANIFEST}: {field}={found!r}: scenario.yaml and the model give {derived!r}"
            )

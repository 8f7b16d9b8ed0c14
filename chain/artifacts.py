"""Committed contract artefacts: load ABI/bytecode by name, check they match the sources.

The artefacts in ``contracts_sol/artifacts/<Name>.json`` are produced by ``python -m
chain.compile`` (pinned solc-js, see ``contracts_sol/package.json``) and committed, so running the
chain side never needs Node. Each artefact records the sha256 of every source unit it was compiled
from (its own ``src/*.sol`` files and the imported OpenZeppelin files); :func:`stale_sources`
re-hashes those files to tell whether an artefact is out of date (fast: no compiler involved).

Source unit names are resolved exactly as the compiler shim ``contracts_sol/bin/solc`` resolves
imports: ``@scope/...`` under ``contracts_sol/node_modules``, anything else under
``contracts_sol/`` (falling back to ``node_modules``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "contracts_sol"
SRC_DIR = CONTRACTS_DIR / "src"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
NODE_MODULES = CONTRACTS_DIR / "node_modules"
MANIFEST_NAME = "manifest.json"

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS_DIR",
    "Artifact",
    "StaleArtifactsError",
    "artifact_names",
    "check_fresh",
    "load_artifact",
    "load_manifest",
    "resolve_source",
    "sha256_file",
    "stale_sources",
]


class StaleArtifactsError(RuntimeError):
    """Committed artefacts do not match the Solidity sources; run ``make contracts``."""


@dataclass(frozen=True)
class Artifact:
    """One compiled contract as committed: ABI, creation and runtime bytecode (0x-hex)."""

    name: str
    source_name: str
    abi: tuple[Mapping[str, Any], ...]
    bytecode: str
    deployed_bytecode: str
    compiler_version: str
    settings: Mapping[str, Any]
    sources: Mapping[str, str]  # source unit name -> sha256 hex of its bytes


def sha256_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolve_source(unit_name: str, root: Path = CONTRACTS_DIR) -> Path:
    """File of a source unit name, resolved like the compiler shim does (may not exist)."""
    if unit_name.startswith("@"):
        return root / "node_modules" / unit_name
    local = root / unit_name
    if local.is_file():
        return local
    nm = root / "node_modules" / unit_name
    return nm if nm.is_file() else local


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"contract artefact {path} is missing; run `make contracts` to compile"
        ) from None


@cache
def load_manifest(artifacts_dir: Path = ARTIFACTS_DIR) -> Mapping[str, Any]:
    """The artefact manifest: compiler version, settings, contract -> source, source hashes."""
    return _read_json(artifacts_dir / MANIFEST_NAME)


def artifact_names(artifacts_dir: Path = ARTIFACTS_DIR) -> tuple[str, ...]:
    """Names of all committed contracts (sorted)."""
    return tuple(sorted(load_manifest(artifacts_dir)["contracts"]))


@cache
def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS_DIR) -> Artifact:
    """Load the committed artefact of contract ``name`` (e.g. ``"Attestor"``)."""
    path = artifacts_dir / f"{name}.json"
    if not path.is_file():
        known = ", ".join(artifact_names(artifacts_dir))
        raise ValueError(
            f"contract name={name!r} has no artefact in {artifacts_dir} (known: {known})"
        )
    raw = _read_json(path)
    return Artifact(
        name=raw["contractName"],
        source_name=raw["sourceName"],
        abi=tuple(raw["abi"]),
        bytecode=raw["bytecode"],
        deployed_bytecode=raw["deployedBytecode"],
        compiler_version=raw["compiler"]["version"],
        settings=raw["compiler"]["settings"],
        sources=raw["sources"],
    )


def stale_sources(
    artifacts_dir: Path = ARTIFACTS_DIR, root: Path = CONTRACTS_DIR, *, check_imports: bool = True
) -> list[str]:
    """Reasons the committed artefacts are stale; empty when they match the sources.

    Checks every ``.sol`` file under ``src/`` is covered by the manifest with the same sha256,
    and (when ``check_imports`` and ``node_modules`` is installed) that every imported file still
    has its recorded hash. Imported files are skipped without Node modules installed: they are
    pinned by ``package-lock.json``, whose hash is checked instead.
    """
    manifest = load_manifest(artifacts_dir)
    recorded: Mapping[str, str] = manifest["sources"]
    problems: list[str] = []
    local = {p.relative_to(root).as_posix(): p for p in sorted((root / "src").rglob("*.sol"))}
    for unit, path in local.items():
        if unit not in recorded:
            problems.append(f"{unit} is not compiled into the artefacts")
        elif sha256_file(path) != recorded[unit]:
            problems.append(f"{unit} changed since the artefacts were compiled")
    for unit, digest in recorded.items():
        if unit in local:
            continue
        path = resolve_source(unit, root)
        if unit.startswith("src/"):
            problems.append(f"{unit} is recorded but no longer exists")
        elif check_imports and (root / "node_modules").is_dir():
            if not path.is_file():
                problems.append(f"imported {unit} is missing from node_modules")
            elif sha256_file(path) != digest:
                problems.append(f"imported {unit} changed since the artefacts were compiled")
    lock = root / "package-lock.json"
    if lock.is_file() and sha256_file(lock) != manifest["package_lock_sha256"]:
        problems.append("package-lock.json changed since the artefacts were compiled")
    return problems


def check_fresh(artifacts_dir: Path = ARTIFACTS_DIR, root: Path = CONTRACTS_DIR) -> None:
    """Raise :class:`StaleArtifactsError` listing every mismatch, if any."""
    problems = stale_sources(artifacts_dir, root)
    if problems:
        raise StaleArtifactsError(
            "contract artefacts are stale (run `make contracts`): " + "; ".join(problems)
        )

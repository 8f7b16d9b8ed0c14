"""Compile ``contracts_sol/src`` with the pinned solc-js and write the committed artefacts.

One standard-json call compiles every contract (solc-js costs about the same for one contract as
for all of them). The compiler is the npm package ``solc`` pinned in
``contracts_sol/package-lock.json``, presented to py-solc-x as an executable by the Node shim
``contracts_sol/bin/solc``. Settings are fixed (optimizer on, 200 runs, EVM ``cancun``, default
metadata) so the same sources always give the same bytecode.

Run as ``python -m chain.compile`` (``make contracts`` runs ``npm ci`` first); ``--check``
recompiles into memory and exits 1 when the committed artefacts differ. Outputs per contract
``artifacts/<Name>.json`` (abi, bytecode, deployedBytecode, compiler version and settings, sha256 of
every source unit incl. imported OpenZeppelin files) and ``artifacts/manifest.json``; every file
is written atomically.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chain.artifacts import (
    ARTIFACTS_DIR,
    CONTRACTS_DIR,
    MANIFEST_NAME,
    resolve_source,
    sha256_file,
)
from chain.state import atomic_write_text

SHIM = CONTRACTS_DIR / "bin" / "solc"

#: Compiler settings baked into every artefact (outputSelection is added per call).
SETTINGS: Mapping[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "metadata": {"bytecodeHash": "ipfs"},
    "remappings": [],
}
_OUTPUTS = ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"]

__all__ = ["SETTINGS", "SHIM", "CompileError", "compile_artifacts", "main", "write_artifacts"]


class CompileError(RuntimeError):
    """The pinned compiler is unavailable or rejected the sources."""


def _source_units(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted((root / "src").rglob("*.sol"))}


def standard_input(root: Path = CONTRACTS_DIR) -> dict[str, Any]:
    """The standard-json input: every ``src/**/*.sol`` by content, fixed settings."""
    units = _source_units(root)
    if not units:
        raise CompileError(f"no Solidity sources under {root / 'src'}")
    return {
        "language": "Solidity",
        "sources": {u: {"content": p.read_text(encoding="utf-8")} for u, p in units.items()},
        "settings": {**SETTINGS, "outputSelection": {"*": {"*": _OUTPUTS}}},
    }


def _check_toolchain(root: Path) -> Path:
    shim = root / "bin" / "solc"
    if shutil.which("node") is None:
        raise CompileError("`node` is not on PATH; the pinned solc-js needs Node.js >= 18")
    if not (root / "node_modules" / "solc").is_dir():
        raise CompileError(f"solc-js is not installed: run `npm ci` in {root}")
    if not os.access(shim, os.X_OK):
        raise CompileError(f"compiler shim {shim} is missing or not executable")
    return shim


def compile_artifacts(root: Path = CONTRACTS_DIR) -> dict[str, dict[str, Any]]:
    """Compile all sources in one call; return ``{file name: JSON-able content}`` of the artefacts.

    Contracts without bytecode (interfaces, abstract contracts) and everything outside ``src/``
    (OpenZeppelin) get no artefact of their own.
    """
    import solcx
    from solcx.exceptions import SolcError

    shim = _check_toolchain(root)
    version = solcx.wrapper.get_version_str_from_solc_binary(shim)
    try:
        out = solcx.compile_standard(standard_input(root), solc_binary=shim)
    except SolcError as exc:
        detail = exc.message if exc.message else (exc.stderr_data or "").strip()
        raise CompileError(f"solc {version} rejected the sources:\n{detail}") from None
    for err in out.get("errors", ()):
        if err.get("severity") == "warning":
            print(err.get("formattedMessage", err.get("message")), file=sys.stderr)

    all_hashes: dict[str, str] = {}

    def source_hash(unit: str) -> str:
        if unit not in all_hashes:
            path = resolve_source(unit, root)
            if not path.is_file():
                raise CompileError(f"compiled source {unit} not found at {path}")
            all_hashes[unit] = sha256_file(path)
        return all_hashes[unit]

    settings = dict(SETTINGS)
    files: dict[str, dict[str, Any]] = {}
    contracts: dict[str, str] = {}
    for unit in sorted(out["contracts"]):
        if not unit.startswith("src/"):
            continue
        for name, c in sorted(out["contracts"][unit].items()):
            bytecode = c["evm"]["bytecode"]["object"]
            if not bytecode:
                continue
            if name in contracts:
                raise CompileError(f"contract name {name} defined in {contracts[name]} and {unit}")
            contracts[name] = unit
            used = sorted(json.loads(c["metadata"])["sources"])
            files[f"{name}.json"] = {
                "contractName": name,
                "sourceName": unit,
                "compiler": {"version": version, "settings": settings},
                "sources": {u: source_hash(u) for u in used},
                "abi": c["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
            }
    for unit in _source_units(root):
        source_hash(unit)
    lock = root / "package-lock.json"
    files[MANIFEST_NAME] = {
        "compiler": {"version": version, "settings": settings, "shim": "contracts_sol/bin/solc"},
        "contracts": dict(sorted(contracts.items())),
        "sources": dict(sorted(all_hashes.items())),
        "package_lock_sha256": sha256_file(lock) if lock.is_file() else None,
    }
    return files


def _dumps(content: Any) -> str:
    return json.dumps(content, indent=1, sort_keys=True) + "\n"


def write_artifacts(files: Mapping[str, Any], out_dir: Path = ARTIFACTS_DIR) -> list[Path]:
    """Write artefacts atomically (manifest last); remove artefacts of deleted contracts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for fname in sorted(files, key=lambda f: (f == MANIFEST_NAME, f)):
        path = out_dir / fname
        atomic_write_text(path, _dumps(files[fname]))
        written.append(path)
    for old in out_dir.glob("*.json"):
        if old.name not in files:
            old.unlink()
    dir_fd = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return written


def diff_artifacts(files: Mapping[str, Any], out_dir: Path = ARTIFACTS_DIR) -> list[str]:
    """File names whose committed content differs from ``files`` (or is missing / extra)."""
    differ = []
    for fname, content in sorted(files.items()):
        path = out_dir / fname
        if not path.is_file() or path.read_text(encoding="utf-8") != _dumps(content):
            differ.append(fname)
    differ += sorted(p.name for p in out_dir.glob("*.json") if p.name not in files)
    return differ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chain.compile",
        description="Compile contracts_sol/src with the pinned solc-js and write the artefacts.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="recompile without writing; exit 1 if the committed artefacts differ",
    )
    args = parser.parse_args(argv)
    try:
        files = compile_artifacts()
    except CompileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    version = files[MANIFEST_NAME]["compiler"]["version"]
    if args.check:
        differ = diff_artifacts(files)
        if differ:
            print(f"stale artefacts (solc {version}): {', '.join(differ)}", file=sys.stderr)
            return 1
        print(f"artefacts up to date (solc {version}, {len(files) - 1} contracts)")
        return 0
    write_artifacts(files)
    for fname, content in sorted(files.items()):
        if fname == MANIFEST_NAME:
            continue
        size = (len(content["deployedBytecode"]) - 2) // 2
        print(f"{content['contractName']:<22} {size:>6} bytes runtime  {content['sourceName']}")
    print(f"wrote {len(files)} files to {ARTIFACTS_DIR} (solc {version})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

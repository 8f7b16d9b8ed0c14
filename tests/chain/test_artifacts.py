"""Committed artefacts match the sources (fast) and the pinned compiler reproduces them (slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from chain import artifacts
from chain.artifacts import (
    ARTIFACTS_DIR,
    CONTRACTS_DIR,
    artifact_names,
    load_artifact,
    load_manifest,
    stale_sources,
)

EXPECTED = {
    "Attestor",
    "BRLToken",
    "FeatureFlags",
    "FundingEscrow",
    "HedgeSettlement",
    "LoanNote",
    "HookedToken",
    "ReentrantLender",
}


def test_every_contract_has_an_artefact_with_bytecode_and_abi():
    assert set(artifact_names()) == EXPECTED
    for name in EXPECTED:
        art = load_artifact(name)
        assert art.name == name
        assert art.bytecode.startswith("0x6") and len(art.bytecode) > 100
        assert art.deployed_bytecode.startswith("0x") and len(art.deployed_bytecode) > 100
        assert art.abi, name
        assert art.sources[art.source_name] == load_manifest()["sources"][art.source_name]
        # every artefact records its OpenZeppelin imports too
        assert any(u.startswith("@openzeppelin/") for u in art.sources), name
        assert art.compiler_version == load_manifest()["compiler"]["version"]


def test_pinned_versions_agree():
    package = json.loads((CONTRACTS_DIR / "package.json").read_text())
    lock = json.loads((CONTRACTS_DIR / "package-lock.json").read_text())
    solc = package["dependencies"]["solc"]
    oz = package["dependencies"]["@openzeppelin/contracts"]
    assert solc[0].isdigit() and oz[0].isdigit(), "versions must be exact, not ranges"
    assert lock["packages"]["node_modules/solc"]["version"] == solc
    assert lock["packages"]["node_modules/@openzeppelin/contracts"]["version"] == oz
    assert load_manifest()["compiler"]["version"].startswith(solc + "+commit.")


def test_source_hashes_match_committed_artefacts():
    assert stale_sources() == []


def test_staleness_check_notices_an_edited_source(tmp_path):
    root = tmp_path / "contracts_sol"
    shutil.copytree(CONTRACTS_DIR / "src", root / "src")
    shutil.copy(CONTRACTS_DIR / "package-lock.json", root / "package-lock.json")
    assert stale_sources(ARTIFACTS_DIR, root) == []
    target = root / "src" / "Attestor.sol"
    target.write_text(target.read_text() + "\n// edited\n")
    (root / "src" / "Extra.sol").write_text("// new\n")
    problems = stale_sources(ARTIFACTS_DIR, root)
    assert "src/Attestor.sol changed since the artefacts were compiled" in problems
    assert "src/Extra.sol is not compiled into the artefacts" in problems
    with pytest.raises(artifacts.StaleArtifactsError, match="make contracts"):
        artifacts.check_fresh(ARTIFACTS_DIR, root)


def test_unknown_artefact_name_is_a_clear_error():
    with pytest.raises(ValueError, match="name='Nope' has no artefact"):
        load_artifact("Nope")


def _ensure_node_modules() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm are not installed: cannot run the pinned solc-js compiler")
    if not (CONTRACTS_DIR / "node_modules" / "solc").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"],
            cwd=CONTRACTS_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )


@pytest.mark.slow
def test_recompiling_reproduces_the_committed_artefacts_exactly():
    _ensure_node_modules()
    from chain.compile import compile_artifacts, diff_artifacts

    files = compile_artifacts()
    assert diff_artifacts(files) == [], "committed artefacts are stale: run `make contracts`"
    for name in EXPECTED:
        art = load_artifact(name)
        assert files[f"{name}.json"]["bytecode"] == art.bytecode
        assert files[f"{name}.json"]["deployedBytecode"] == art.deployed_bytecode
    # and the OpenZeppelin files the compiler read are the ones recorded
    assert stale_sources() == []


@pytest.mark.slow
def test_shim_answers_version_and_standard_json(tmp_path: Path):
    _ensure_node_modules()
    import solcx

    shim = CONTRACTS_DIR / "bin" / "solc"
    version = solcx.wrapper.get_solc_version(shim, with_commit_hash=True)
    assert str(version).startswith(load_manifest()["compiler"]["version"].split("+")[0])
    bad = subprocess.run([str(shim), "--bin", "x.sol"], capture_output=True, text=True)
    assert bad.returncode == 1 and "unrecognised option" in bad.stderr
    source = 'pragma solidity ^0.8.24; import "../etc/passwd"; contract A {}'
    # imports may not escape contracts_sol
    proc = subprocess.run(
        [str(shim), "--standard-json"],
        input=json.dumps(
            {
                "language": "Solidity",
                "sources": {"a.sol": {"content": source}},
                "settings": {"outputSelection": {"*": {"*": ["abi"]}}},
            }
        ),
        capture_output=True,
        text=True,
        check=True,
    )
    errors = json.loads(proc.stdout)["errors"]
    assert any("not found" in e["message"] or "rejected" in e["message"] for e in errors)

"""``ce chain verify RUN_DIR``: a run's attestation evidence, bound to the run it sits in.

:func:`verify_attested_run` checks, in order, and answers the first discrepancy in one line:

1. ``chain/``'s files, for form (:func:`chain.evidence.read_evidence`), and against each other:
   payload hashes, each batch's root and the stored proofs rebuilt from the records
   (:func:`chain.verify.check_files`);
2. **the run**: the bridge's settings (``bridge.json``: backend, mode, ``batch_size``,
   ``batch_interval_s``, node URL) are the ``chain`` section of the run's ``scenario.yaml``, and
   the attested records are exactly the records the run's event tables say it made, each once,
   in time order (:mod:`sim.run.attested`: re-derived from ``pricing_events``, ``decisions``,
   ``requests``, ``auctions`` and ``offers``, clearings re-run under the scenario's auction
   rules); the tables' final auction state is the last attested clearing;
3. ``manifest.json``: every file of ``chain/``, those event tables and ``scenario.yaml`` have
   the size and sha256 it lists, and it lists no ``chain/`` file that is not there;
4. **the chain** (:func:`chain.verify.verify_on_chain`): the saved eth-tester chain or the rpc
   node holds every batch's root, a sample of proofs verify on chain.

So a ``chain/`` folder from another run fails at step 2 (its records are not this run's) even
when the manifest was rewritten to match, and records rewritten with the tables fail at step 4.
What stays undetectable, by design: for eth-tester the chain is a file of the run, so whoever
rewrites the run *and* re-runs the bridge to a new chain state is not caught without an outside
record of ``chain.json``'s head block hash; table columns that are not attested (see
:mod:`sim.run.attested`); and the informational fields of ``chain/`` (``batches.jsonl``:
``tx_hash``, ``gas_used``, ``sealed_at``; ``bridge.json``: ``deploy_receipts``, ``stats`` but
its counts, ``sim_time_closed_s``, ``settlements``), checked for form only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chain.evidence import Evidence, EvidenceError, read_evidence
from chain.strict import parse_json, plain_file, read_small
from chain.verify import VerifyReport, check_files, check_sample, verify_on_chain

__all__ = ["verify_attested_run"]

MANIFEST = "manifest.json"
CHAIN_DIR = "chain"
MAX_MANIFEST_BYTES = 16 << 20
#: the event tables step 2 reads
_TABLES = ("pricing_events", "decisions", "requests", "auctions", "offers")


def _run_of(path: Path) -> Path:
    """The run directory of ``path``: itself, or the run whose ``chain/`` folder it is."""
    if not path.is_dir():
        raise FileNotFoundError(f"RUN_DIR={str(path)!r}: not a directory")
    if path.name == CHAIN_DIR and (path.parent / MANIFEST).is_file():
        return path.parent
    return path


def _read_manifest(run: Path) -> dict[str, Any]:
    manifest = parse_json(read_small(run / MANIFEST, MANIFEST, MAX_MANIFEST_BYTES), MANIFEST)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artefacts"), dict):
        raise EvidenceError(f"{MANIFEST}: artefacts: must be an object of file -> digest")
    return manifest


def _scenario(run: Path) -> Any:
    from sim.config.scenario import ScenarioError, scenario_from_mapping
    from sim.config.yaml_io import YamlError, read_yaml_file

    plain_file(run / "scenario.yaml", "scenario.yaml")
    try:
        raw = read_yaml_file(run / "scenario.yaml", "scenario.yaml")
        return scenario_from_mapping(raw, where="scenario.yaml")
    except (YamlError, ScenarioError, OSError) as err:
        raise EvidenceError(f"scenario.yaml: not a valid scenario ({err})") from None


def _check_settings(ev: Evidence, scenario: Any) -> None:
    """The bridge ran with the settings of the run's scenario."""
    cfg = scenario.chain
    bridge = ev.bridge
    pairs = (
        ("backend", bridge.backend, cfg.backend),
        ("mode", bridge.mode, cfg.mode),
        ("batch_size", bridge.batch_size, cfg.batch_size),
        ("batch_interval_s", bridge.batch_interval_s, float(cfg.batch_interval_s)),
    )
    if cfg.backend == "rpc":
        pairs += (("backend.url", bridge.rpc_url, cfg.rpc_url),)
    for name, found, want in pairs:
        if found != want:
            raise EvidenceError(
                f"{ev.where('bridge.json')}: {name}={found!r}: scenario.yaml says chain."
                f"{name.removeprefix('backend.').replace('url', 'rpc_url')}={want!r}"
            )


def _check_manifest(run: Path, manifest: dict[str, Any], files: list[str]) -> None:
    from sim.run.rundir import sha256_file

    listed = manifest["artefacts"]
    for rel in sorted(set(files) | {k for k in listed if k.startswith(f"{CHAIN_DIR}/")}):
        entry = listed.get(rel)
        path = run / rel
        if ".." in rel.split("/"):
            raise EvidenceError(f"{MANIFEST}: artefact {rel!r}: must be a path inside the run")
        if not isinstance(entry, dict):
            raise EvidenceError(f"{rel}: not listed in {MANIFEST} (added or swapped in)")
        plain_file(path, rel)
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise EvidenceError(f"{rel}: bytes={size}: {MANIFEST} says {entry.get('bytes')!r}")
        digest = sha256_file(path)
        if digest != entry.get("sha256"):
            raise EvidenceError(f"{rel}: sha256={digest}: {MANIFEST} says {entry.get('sha256')!r}")


def _chain_files(run: Path) -> list[str]:
    folder = run / CHAIN_DIR
    return sorted(
        p.relative_to(run).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )


def verify_attested_run(
    run_dir: str | Path, rpc_url: str | None = None, sample: int = 32
) -> VerifyReport:
    """Verify the attestations of the run at ``run_dir`` (or its ``chain/`` folder) and bind
    them to the run (see the module docstring).

    Raises ``FileNotFoundError`` when ``run_dir`` is not a directory or holds no attestation
    (no ``chain/`` folder and none in its manifest), :class:`chain.verify.UsageError` for a bad
    argument and :class:`chain.verify.ChainUnavailable` when the rpc node does not answer;
    every discrepancy is in the report."""
    from sim.run.attested import bind_records, expected_records

    check_sample(sample)
    run = _run_of(Path(run_dir))
    state_dir = run / CHAIN_DIR
    report = VerifyReport(state_dir=str(state_dir))
    try:
        found = (run / MANIFEST).exists() or (run / MANIFEST).is_symlink()
        manifest = _read_manifest(run) if found else None
        listed = manifest["artefacts"] if manifest else {}
        attested = any(str(k).startswith(f"{CHAIN_DIR}/") for k in listed)
        if not state_dir.exists() and not attested:
            raise FileNotFoundError(
                f"RUN_DIR={str(run)!r}: no {CHAIN_DIR}/ folder and none in its manifest: not "
                "an attested run (made with chain.backend=off?)"
            )
        if manifest is None:
            raise EvidenceError(f"{MANIFEST}: missing (not a complete run directory)")
        report.run = run.name
        ev = read_evidence(state_dir)
        leaves = check_files(ev)
        report.records, report.batches = len(ev.records), len(ev.batches)
        scenario = _scenario(run)
        _check_settings(ev, scenario)
        rules = scenario.auction.to_rules()
        tables = expected_records(run, rules, float(scenario.engine.confirmation_delay_s))
        bind_records(ev.records, tables, ev.where("records.jsonl"))
        tables.check_final_state()
        read = [f"events/{t}.parquet" for t in _TABLES] + ["scenario.yaml"]
        _check_manifest(run, manifest, _chain_files(run) + read)
        verify_on_chain(ev, leaves, report, rpc_url, sample)
    except EvidenceError as err:
        report.discrepancy = str(err)
    return report

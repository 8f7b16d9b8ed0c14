"""Check a bridge folder's attestations: against its own files, then against the chain itself.

:func:`verify_evidence` takes the :class:`chain.evidence.Evidence` of a bridge folder (its files
read and checked for form) and

1. re-hashes every record's payload text and rebuilds its leaf (the stored ``payload_hash``
   must equal keccak256 of the stored payload);
2. rebuilds every batch's Merkle tree from its records: its root must be the one in
   ``batches.jsonl`` and its node array and leaf positions the ones in ``proofs.bin`` -- so
   *every* stored proof proves its record against that root;
3. opens the chain -- the saved eth-tester chain reloaded from ``chain_state.bin``
   (:mod:`chain.state`: its sha256, entry count and head block are ``chain.json``'s), or the
   JSON-RPC node for rpc runs -- and checks that its chain id is ``chain.json``'s, that the
   Attestor answers at ``chain.json``'s address, that every batch's root, first seq and count
   are in the Attestor's storage (``Attestor.batch(id)``), that an eth-tester chain holds
   exactly the run's batches, and verifies a deterministic sample of proofs on chain with
   ``Attestor.verify(leaf, proof, batchId)``. Transaction hashes and gas are not looked up:
   eth-tester finds a transaction by scanning every block (0.5 s each on ``small``).

It stops at the first discrepancy, an :class:`chain.evidence.EvidenceError` of one line.
:func:`verify_run` does all of it for a bridge folder; binding the records to the run they sit
in (its event tables and manifest) is ``sim.run.chain_audit``'s, since only ``sim`` knows what
the engine records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.evidence import Evidence, EvidenceError, read_evidence
from chain.merkle import build_tree, keccak256, leaf_hash, proof_from_nodes
from chain.records import KINDS

__all__ = [
    "ChainUnavailable",
    "UsageError",
    "VerifyReport",
    "check_files",
    "check_on_chain",
    "check_sample",
    "find_state_dir",
    "open_chain",
    "verify_evidence",
    "verify_on_chain",
    "verify_run",
]


class UsageError(ValueError):
    """A bad argument to a verification (not a discrepancy of the run); one line."""


class ChainUnavailable(Exception):
    """The run's chain cannot be reached (an rpc node that does not answer): nothing was
    verified against it; one line."""


@dataclass
class VerifyReport:
    """Outcome of a verification; ``ok`` is False when ``discrepancy`` is set.

    ``run`` names the run the records were bound to (``sim.run.chain_audit``), None when only
    the bridge folder was checked."""

    state_dir: str
    backend: str = ""
    chain_id: int | None = None
    records: int = 0
    batches: int = 0
    proofs_checked: int = 0
    discrepancy: str | None = None
    run: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return self.discrepancy is None

    def summary(self) -> str:
        """One line for the terminal."""
        if self.discrepancy is not None:
            return f"FAILED: {self.discrepancy}"
        whose = (
            f" are {self.run}'s own (re-derived from its event tables; chain/, the tables and "
            "scenario.yaml match manifest.json) and"
            if self.run
            else ""
        )
        return (
            f"ok: {self.records} records in {self.batches} batches{whose} match the Attestor's "
            f"roots on chain {self.chain_id} ({self.backend}); {self.proofs_checked} proofs "
            "verified on chain"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the report."""
        return {
            "ok": self.ok,
            "run": self.run,
            "state_dir": self.state_dir,
            "backend": self.backend,
            "chain_id": self.chain_id,
            "records": self.records,
            "batches": self.batches,
            "proofs_checked": self.proofs_checked,
            "discrepancy": self.discrepancy,
        }


def find_state_dir(run_dir: Path) -> Path:
    """The bridge folder of ``run_dir``: itself or the one subfolder (depth <= 2) with
    ``bridge.json``.  ``FileNotFoundError`` naming ``run_dir`` when there is none."""
    from chain.bridge import BRIDGE_FILE

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run_dir={str(run_dir)!r} is not a directory")
    if (run_dir / BRIDGE_FILE).is_file():
        return run_dir
    found = sorted(
        {
            p.parent
            for pattern in (f"*/{BRIDGE_FILE}", f"*/*/{BRIDGE_FILE}")
            for p in run_dir.glob(pattern)
        }
    )
    if not found:
        raise FileNotFoundError(
            f"run_dir={str(run_dir)!r} has no {BRIDGE_FILE}: was the run made with chain on?"
        )
    if len(found) > 1:
        raise FileNotFoundError(
            f"run_dir={str(run_dir)!r} has {len(found)} bridge folders "
            f"({', '.join(str(p) for p in found)}); pass one of them"
        )
    return found[0]


def check_files(ev: Evidence) -> list[bytes]:
    """Steps 1 and 2 of the module docstring (no chain needed); returns the records' leaves."""
    where = ev.where("records.jsonl")
    leaves: list[bytes] = []
    for r in ev.records:
        computed = keccak256(r.payload.encode("ascii"))
        if computed != r.payload_hash:
            raise EvidenceError(
                f"{where} line {r.seq + 1}: payload_hash=0x{r.payload_hash.hex()}: is not "
                f"keccak256 of its payload (0x{computed.hex()}); the record was changed"
            )
        leaves.append(leaf_hash(r.seq, KINDS[r.kind], computed, r.sim_time))
    for b, (bid, nodes, positions) in zip(ev.batches, ev.trees, strict=True):
        tree = build_tree(leaves[b.first_seq : b.first_seq + b.count], proofs=False)
        if tree.root != b.root:
            raise EvidenceError(
                f"{ev.where('batches.jsonl')}: batch {bid}: root=0x{b.root.hex()}: the records "
                f"seq {b.first_seq}..{b.first_seq + b.count - 1} give 0x{tree.root.hex()}"
            )
        if tuple(positions) != tuple(tree.positions) or tuple(nodes) != tuple(tree.nodes):
            raise EvidenceError(
                f"{ev.where('proofs.bin')}: batch {bid}: stored tree differs from the tree "
                "rebuilt from its records; its proofs are not the records' proofs"
            )
    return leaves


def open_chain(ev: Evidence, rpc_url: str | None = None) -> Any:
    """The run's chain as a :class:`chain.backends.Backend`.

    eth-tester: the saved chain, reloaded (``EvidenceError`` when it is not the one
    ``chain.json`` describes).  rpc: the node at ``rpc_url`` or ``chain.json``'s URL
    (:class:`ChainUnavailable` when it does not answer).  :class:`UsageError` for ``rpc_url``
    with an eth-tester run."""
    meta = ev.chain
    where = ev.where("chain.json")
    if meta.backend == "eth-tester":
        if rpc_url is not None:
            raise UsageError(
                f"--rpc={rpc_url!r}: this run's chain is its saved eth-tester state; "
                "--rpc is for runs attested on a node"
            )
        return _load_saved_chain(ev)
    from chain.backends import rpc_backend

    url = rpc_url or meta.rpc_url
    try:
        backend = rpc_backend(url)
    except ValueError as err:
        raise ChainUnavailable(
            f"{err}; pass --rpc URL of the node holding the run's chain"
        ) from None
    if backend.chain_id != meta.chain_id:
        backend.close()
        raise EvidenceError(
            f"{where}: chain_id={meta.chain_id}: the node at {url} has chain id {backend.chain_id}"
        )
    return backend


def _load_saved_chain(ev: Evidence) -> Any:
    from chain.evidence import plain_file
    from chain.state import STATE_FILE, ChainStateError, load_chain_state

    where = ev.where(STATE_FILE)
    plain_file(ev.state_dir / STATE_FILE, where)
    try:
        backend, _ = load_chain_state(ev.state_dir)
    except ChainStateError as err:
        raise EvidenceError(f"{where}: {err}") from None
    except Exception as err:  # py-evm reading a state it cannot make sense of
        raise EvidenceError(
            f"{where}: cannot be reloaded as a chain ({type(err).__name__}: {err})"
        ) from None
    head = backend.client.head()
    meta = ev.chain
    checks = (
        ("chain_id", meta.chain_id, backend.chain_id),
        ("head_block_number", meta.head_block_number, head.number),
        ("head_state_root", meta.head_state_root, "0x" + head.state_root.hex()),
        ("backend.deployer", ev.bridge.deployer, backend.deployer.address),
    )
    for name, want, got in checks:
        if want != got:
            file = "bridge.json" if name.startswith("backend.") else "chain.json"
            raise EvidenceError(f"{ev.where(file)}: {name}={want}: the saved chain has {got}")
    return backend


def _read(attestor: Any, where: str, fn: str, *args: Any) -> Any:
    """``attestor.call(fn, *args)``; a call that fails or answers nonsense is a discrepancy."""
    try:
        return attestor.call(fn, *args)
    except Exception as err:  # a reverted call, no contract there (empty answer), a node error
        raise EvidenceError(
            f"{where}: contracts.Attestor.address={attestor.address}: {fn} fails there "
            f"({type(err).__name__}); no Attestor of this run answers at that address"
        ) from None


def check_on_chain(ev: Evidence, leaves: list[bytes], backend: Any, sample: int) -> int:
    """Step 3 of the module docstring on an open ``backend``; returns how many proofs were
    verified on chain."""
    from chain.deploy import attach

    where = ev.where("chain.json")
    attestor = attach(backend, {"Attestor": ev.chain.contracts["Attestor"]})["Attestor"]
    count = _read(attestor, where, "batchCount")
    if not isinstance(count, int):
        raise EvidenceError(f"{where}: the Attestor's batchCount={count!r} is not a count")
    for b in ev.batches:
        if b.batch_id >= count:
            raise EvidenceError(
                f"{ev.where('batches.jsonl')}: batch_id={b.batch_id}: not on chain (the "
                f"Attestor holds {count} batches)"
            )
        root, first, n = _read(attestor, where, "batch", b.batch_id)
        if (bytes(root), int(first), int(n)) != (b.root, b.first_seq, b.count):
            raise EvidenceError(
                f"{ev.where('batches.jsonl')}: batch {b.batch_id}: root=0x{b.root.hex()}, "
                f"first_seq={b.first_seq}, count={b.count}: the Attestor holds "
                f"0x{bytes(root).hex()}, {first}, {n}"
            )
    if ev.chain.backend == "eth-tester" and count != len(ev.batches):
        raise EvidenceError(
            f"{where}: the saved chain's Attestor holds {count} batches, batches.jsonl "
            f"{len(ev.batches)}"
        )
    return _check_proofs(attestor, where, ev, leaves, sample)


def _check_proofs(attestor: Any, where: str, ev: Evidence, leaves: list[bytes], sample: int):
    """Verify ``sample`` stored proofs on chain with ``Attestor.verify``; returns how many."""
    n = len(leaves)
    if sample == 0 or n == 0:
        return 0
    k = min(sample, n)
    wanted = sorted({(i * (n - 1)) // max(k - 1, 1) for i in range(k)})
    batch_at = {}
    for b, (_, nodes, positions) in zip(ev.batches, ev.trees, strict=True):
        for i in range(b.count):
            batch_at[b.first_seq + i] = (b.batch_id, nodes, positions[i])
    for seq in wanted:
        bid, nodes, pos = batch_at[seq]
        proof = list(proof_from_nodes(nodes, pos))
        if _read(attestor, where, "verify", leaves[seq], proof, bid) is not True:
            raise EvidenceError(
                f"{ev.where('proofs.bin')}: record seq={seq}: its proof does not verify on chain "
                f"in batch {bid}"
            )
    return len(wanted)


def verify_evidence(
    ev: Evidence, report: VerifyReport, rpc_url: str | None = None, sample: int = 32
) -> None:
    """Every step of the module docstring on ``ev``, filling ``report``; raises
    :class:`EvidenceError` (a discrepancy), :class:`ChainUnavailable` or :class:`UsageError`."""
    leaves = check_files(ev)
    report.records, report.batches = len(ev.records), len(ev.batches)
    verify_on_chain(ev, leaves, report, rpc_url, sample)


def verify_on_chain(
    ev: Evidence, leaves: list[bytes], report: VerifyReport, rpc_url: str | None, sample: int
) -> None:
    """Step 3 of the module docstring: open the run's chain (:func:`open_chain`), check it
    (:func:`check_on_chain`) and close it, filling ``report``'s backend, chain id and proofs
    checked."""
    backend = open_chain(ev, rpc_url)
    try:
        report.backend, report.chain_id = backend.kind, backend.chain_id
        report.proofs_checked = check_on_chain(ev, leaves, backend, sample)
    finally:
        backend.close()


def check_sample(sample: Any) -> int:
    """``sample`` as a count of proofs to check on chain; :class:`UsageError` unless an
    int >= 0."""
    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise UsageError(f"sample={sample!r}: must be an int >= 0")
    return sample


def verify_run(run_dir: Path, rpc_url: str | None = None, sample: int = 32) -> VerifyReport:
    """Verify a bridge folder (``run_dir`` itself or the one below it holding ``bridge.json``)
    against itself and the chain; the records are not bound to any run here.

    ``sample`` is the number of proofs checked on chain (spread evenly over the records; 0 skips
    the on-chain proof check).  Raises ``FileNotFoundError`` when there is no bridge folder,
    :class:`ChainUnavailable` when the node does not answer, :class:`UsageError` for a bad argument;
    every discrepancy is in the report."""
    check_sample(sample)
    state_dir = find_state_dir(Path(run_dir))
    report = VerifyReport(state_dir=str(state_dir))
    try:
        verify_evidence(read_evidence(state_dir), report, rpc_url, sample)
    except EvidenceError as err:
        report.discrepancy = str(err)
    return report

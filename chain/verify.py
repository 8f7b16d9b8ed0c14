"""``ce chain verify``: re-check a run's attestations against the chain itself.

:func:`verify_run` reads the bridge files of a run (``records.jsonl``, ``batches.jsonl``,
``proofs.bin``, ``chain.json``; see :mod:`chain.bridge`), then

1. re-hashes every record's payload text and rebuilds its leaf (nothing stored is trusted:
   the stored ``payload_hash`` must equal keccak256 of the stored payload);
2. rebuilds every batch's Merkle root from its records and compares it with the root in
   ``batches.jsonl`` **and** with the root read from the Attestor's storage
   (``Attestor.batch(id)``) on the chain -- the saved eth-tester chain reloaded from
   ``chain_state.bin`` (:mod:`chain.state`), or the JSON-RPC node for rpc runs;
3. checks that the chain holds exactly the run's batches (``batchCount``);
4. checks that ``proofs.bin`` holds exactly those batches, each with the node array and leaf
   positions of the tree rebuilt from its records -- so *every* stored proof proves its record
   against the Attestor's root -- and verifies a deterministic sample of them on chain with
   ``Attestor.verify(leaf, proof, batchId)``.

It stops at the first discrepancy and reports it in one line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chain.merkle import build_tree, keccak256, leaf_hash, proof_from_nodes
from chain.records import KINDS

__all__ = ["VerifyReport", "find_state_dir", "verify_run"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_run`; ``ok`` is False when ``discrepancy`` is set."""

    state_dir: str
    backend: str = ""
    chain_id: int | None = None
    records: int = 0
    batches: int = 0
    proofs_checked: int = 0
    discrepancy: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return self.discrepancy is None

    def summary(self) -> str:
        """One line for the terminal."""
        if self.discrepancy is not None:
            return f"FAILED: {self.discrepancy}"
        return (
            f"ok: {self.records} records in {self.batches} batches match the Attestor's roots "
            f"on chain {self.chain_id} ({self.backend}); {self.proofs_checked} proofs verified "
            "on chain"
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict of the report."""
        return {
            "ok": self.ok,
            "state_dir": self.state_dir,
            "backend": self.backend,
            "chain_id": self.chain_id,
            "records": self.records,
            "batches": self.batches,
            "proofs_checked": self.proofs_checked,
            "discrepancy": self.discrepancy,
        }


class _Discrepancy(Exception):
    pass


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


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise _Discrepancy(f"{path.name} line {lineno} is not JSON: {err.msg}") from None
            if not isinstance(row, dict):
                raise _Discrepancy(f"{path.name} line {lineno} is not a JSON object")
            rows.append(row)
    return rows


def _is_int(value: Any) -> bool:
    """True for a JSON integer (not a bool, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _hex32(value: Any, where: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise _Discrepancy(f"{where}={value!r} is not a 0x-prefixed 32-byte hex string")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _Discrepancy(f"{where}={value!r} is not hex") from None


def _record_leaf(row: dict[str, Any], expected_seq: int) -> tuple[int, bytes]:
    """Check one records.jsonl row; return ``(batch_id, leaf)``."""
    seq = row.get("seq")
    if not _is_int(seq) or seq != expected_seq:
        raise _Discrepancy(f"records.jsonl: expected seq={expected_seq}, found seq={seq!r}")
    kind = row.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise _Discrepancy(f"record seq={seq}: kind={kind!r} is not a record kind")
    text = row.get("payload")
    if not isinstance(text, str):
        raise _Discrepancy(f"record seq={seq}: payload is not a canonical JSON text")
    computed = keccak256(text.encode("utf-8"))
    stored = _hex32(row.get("payload_hash"), f"record seq={seq}: payload_hash")
    if computed != stored:
        raise _Discrepancy(
            f"record seq={seq}: payload_hash 0x{stored.hex()} is not keccak256 of its payload "
            f"(0x{computed.hex()}); the record was changed"
        )
    sim_time = row.get("sim_time")
    if not _is_int(sim_time) or not 0 <= sim_time < 1 << 64:
        raise _Discrepancy(f"record seq={seq}: sim_time={sim_time!r} is not a uint64")
    batch_id = row.get("batch_id")
    if not _is_int(batch_id):
        raise _Discrepancy(f"record seq={seq}: batch_id={batch_id!r} is not an int")
    return batch_id, leaf_hash(seq, KINDS[kind], computed, sim_time)


def _open_chain(state_dir: Path, rpc_url: str | None) -> tuple[Any, dict[str, Any]]:
    from chain.backends import rpc_backend
    from chain.state import load_chain_state, read_chain_meta

    meta = read_chain_meta(state_dir)
    if rpc_url is not None or meta.get("backend") == "rpc":
        url = rpc_url or meta.get("rpc_url")
        if not url:
            raise _Discrepancy("chain.json names an rpc backend without a URL; pass --rpc URL")
        backend = rpc_backend(url)
        if backend.chain_id != meta.get("chain_id"):
            raise _Discrepancy(
                f"the node at {url} has chain id {backend.chain_id}, the run used "
                f"{meta.get('chain_id')}"
            )
        return backend, meta
    return load_chain_state(state_dir)


def verify_run(run_dir: Path, rpc_url: str | None = None, sample: int = 32) -> VerifyReport:
    """Verify the run's attestations against the chain (see the module docstring).

    ``sample`` is the number of proofs checked on chain (spread evenly over the records;
    0 skips the on-chain proof check).  Raises ``FileNotFoundError`` when ``run_dir`` has no
    bridge files; every other problem is a discrepancy in the report.
    """
    from chain.bridge import BATCHES_FILE, RECORDS_FILE, read_proofs
    from chain.deploy import attach
    from chain.state import ChainStateError

    if isinstance(sample, bool) or not isinstance(sample, int) or sample < 0:
        raise ValueError(f"sample={sample!r} must be an int >= 0")
    state_dir = find_state_dir(Path(run_dir))
    report = VerifyReport(state_dir=str(state_dir))
    try:
        for name in (RECORDS_FILE, BATCHES_FILE):
            if not (state_dir / name).is_file():
                raise _Discrepancy(f"{name} is missing from {state_dir}")
        records = _read_jsonl(state_dir / RECORDS_FILE)
        batches = _read_jsonl(state_dir / BATCHES_FILE)
        leaves: list[bytes] = []
        batch_of: list[int] = []
        for i, row in enumerate(records):
            bid, leaf = _record_leaf(row, i)
            batch_of.append(bid)
            leaves.append(leaf)
        report.records = len(records)
        try:
            backend, meta = _open_chain(state_dir, rpc_url)
        except (ChainStateError, ValueError) as err:
            raise _Discrepancy(str(err)) from None
        report.backend, report.chain_id = backend.kind, backend.chain_id
        addresses = {n: c["address"] for n, c in meta.get("contracts", {}).items()}
        if "Attestor" not in addresses:
            raise _Discrepancy("chain.json lists no Attestor contract")
        attestor = attach(backend, {"Attestor": addresses["Attestor"]})["Attestor"]
        on_chain_count = int(attestor.call("batchCount"))
        expected_seq = 0
        trees: list[tuple[int, tuple[bytes, ...], tuple[int, ...]]] = []
        for k, b in enumerate(batches):
            bid, first, count = b.get("batch_id"), b.get("first_seq"), b.get("count")
            if not _is_int(bid):
                raise _Discrepancy(f"batches.jsonl row {k}: batch_id={bid!r} is not an int")
            if not _is_int(first) or first != expected_seq or not _is_int(count) or count < 1:
                raise _Discrepancy(
                    f"batches.jsonl row {k}: first_seq={first!r}, count={count!r} do not "
                    f"continue the records at seq {expected_seq}"
                )
            if first + count > len(leaves):
                raise _Discrepancy(
                    f"batch {bid}: covers seq {first}..{first + count - 1} but records.jsonl "
                    f"has only {len(leaves)} records"
                )
            wrong = next((s for s in range(first, first + count) if batch_of[s] != bid), None)
            if wrong is not None:
                raise _Discrepancy(
                    f"record seq={wrong}: batch_id={batch_of[wrong]} but batch {bid} covers it"
                )
            tree = build_tree(leaves[first : first + count], proofs=False)
            trees.append((bid, tree.nodes, tree.positions))
            root = tree.root
            stored = _hex32(b.get("root"), f"batch {bid}: root")
            if not isinstance(bid, int) or not 0 <= bid < on_chain_count:
                raise _Discrepancy(
                    f"batch {bid!r} is not on chain (the Attestor holds {on_chain_count} batches)"
                )
            chain_root, chain_first, chain_count = attestor.call("batch", bid)
            chain_root = bytes(chain_root)
            if root != chain_root:
                raise _Discrepancy(
                    f"batch {bid}: root rebuilt from the records 0x{root.hex()} differs from the "
                    f"Attestor's root 0x{chain_root.hex()}"
                )
            if stored != chain_root:
                raise _Discrepancy(
                    f"batch {bid}: root in batches.jsonl 0x{stored.hex()} differs from the "
                    f"Attestor's root 0x{chain_root.hex()}"
                )
            if (int(chain_first), int(chain_count)) != (first, count):
                raise _Discrepancy(
                    f"batch {bid}: the Attestor has first_seq={chain_first}, count={chain_count}; "
                    f"batches.jsonl has {first}, {count}"
                )
            expected_seq = first + count
        if expected_seq != len(leaves):
            raise _Discrepancy(
                f"records seq {expected_seq}..{len(leaves) - 1} are in no batch of batches.jsonl"
            )
        distinct = len({b["batch_id"] for b in batches})
        if distinct != on_chain_count:
            raise _Discrepancy(
                f"the Attestor holds {on_chain_count} batches, the run has {distinct}"
            )
        report.batches = len(batches)
        stored_trees = _check_stored_trees(state_dir, trees, read_proofs)
        report.proofs_checked = _check_proofs(attestor, leaves, batches, stored_trees, sample)
    except _Discrepancy as err:
        report.discrepancy = str(err)
    return report


def _check_stored_trees(state_dir, trees, read_proofs) -> list[tuple]:
    """Every batch of ``proofs.bin`` must be the tree rebuilt from its records, in order.

    ``trees`` are the rebuilt ``(batch_id, nodes, positions)`` whose roots matched the chain;
    equal node arrays and positions mean every stored proof proves its record against the
    Attestor's root (checked offline for all records; a sample is then checked on chain).
    """
    try:
        stored = list(read_proofs(state_dir))
    except (OSError, ValueError) as err:
        raise _Discrepancy(f"proofs.bin: {err}") from None
    if len(stored) != len(trees):
        raise _Discrepancy(f"proofs.bin has {len(stored)} batches, batches.jsonl {len(trees)}")
    for (bid, nodes, positions), (s_bid, s_nodes, s_positions) in zip(trees, stored, strict=True):
        if s_bid != bid:
            raise _Discrepancy(f"proofs.bin: found batch {s_bid} where batch {bid} belongs")
        if tuple(s_positions) != tuple(positions) or tuple(s_nodes) != tuple(nodes):
            raise _Discrepancy(
                f"proofs.bin: batch {bid}: stored tree differs from the tree rebuilt from its "
                "records; its proofs are not the records' proofs"
            )
    return stored


def _check_proofs(attestor, leaves, batches, stored_trees, sample) -> int:
    """Check ``sample`` stored proofs on chain with ``Attestor.verify``; returns how many."""
    n = len(leaves)
    if sample == 0 or n == 0:
        return 0
    k = min(sample, n)
    wanted = sorted({(i * (n - 1)) // max(k - 1, 1) for i in range(k)})
    trees = {bid: (nodes, positions) for bid, nodes, positions in stored_trees}
    first_of = {b["batch_id"]: b["first_seq"] for b in batches}
    seq_batch = []
    for b in batches:
        seq_batch.extend([b["batch_id"]] * b["count"])
    checked = 0
    for seq in wanted:
        bid = seq_batch[seq]
        nodes, positions = trees[bid]
        pos = positions[seq - first_of[bid]]
        proof = list(proof_from_nodes(nodes, pos))
        if not attestor.call("verify", leaves[seq], proof, bid):
            raise _Discrepancy(
                f"record seq={seq}: its proof does not verify on chain in batch {bid}"
            )
        checked += 1
    return checked

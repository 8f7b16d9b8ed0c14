"""The attestation evidence a bridge leaves in its folder, read and checked for form.

:func:`read_evidence` reads ``records.jsonl``, ``batches.jsonl``, ``proofs.bin``,
``chain.json`` and ``bridge.json`` (written by :mod:`chain.bridge` and :mod:`chain.state`) into
an :class:`Evidence`, or raises :class:`EvidenceError` with the first file, line, field, value
and rule that does not hold. Nothing in the folder is trusted: every file is read by
:mod:`chain.strict` (plain files, ASCII, size caps -- a line of ``records.jsonl`` or
``batches.jsonl``: 1 MiB; ``chain.json``: 64 KiB; ``bridge.json``: 64 MiB --, strict JSON in
its writer's canonical form), and

- every field has its type and range, and no field is missing or unknown; ``seq`` counts
  0, 1, 2, ... in order; batches cover the records one after the other, each record naming its
  batch, each batch at most ``batch_size`` records; ``proofs.bin`` holds those batches in that
  order; addresses are EIP-55;
- ``chain.json`` and ``bridge.json`` agree on the backend, the node URL, the chain id, the mode
  and every contract's address (and its deployment receipt), and ``bridge.json``'s record and
  batch counts are those of the files.

What the records *mean* -- roots, the chain, the run they belong to -- is checked by
:mod:`chain.verify` and ``sim.run.chain_audit``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.bridge import BATCHES_FILE, BRIDGE_FILE, MODES, PROOFS_FILE, RECORDS_FILE, read_proofs
from chain.records import KINDS
from chain.state import META_FILE, STATE_FILE
from chain.strict import (
    EvidenceError,
    address_field,
    check_canonical,
    check_keys,
    fail,
    hex_field,
    int_field,
    is_int,
    number_field,
    parse_json,
    plain_file,
    read_lines,
    read_small,
    text_field,
)

__all__ = [
    "BatchRow",
    "BridgeMeta",
    "ChainMeta",
    "Evidence",
    "EvidenceError",
    "RecordRow",
    "parse_json",
    "plain_file",
    "read_evidence",
]

MAX_CHAIN_JSON_BYTES = 64 << 10
MAX_BRIDGE_JSON_BYTES = 64 << 20
_BACKENDS = ("eth-tester", "rpc")
_RECORD_KEYS = frozenset({"seq", "kind", "payload", "payload_hash", "sim_time", "batch_id"})
_BATCH_KEYS = frozenset(
    {
        "batch_id",
        "root",
        "first_seq",
        "count",
        "tx_hash",
        "gas_used",
        "sealed_at",
        "already_attested",
    }
)
_CHAIN_KEYS = frozenset(
    {
        "format",
        "backend",
        "rpc_url",
        "chain_id",
        "head_block_number",
        "head_block_hash",
        "head_state_root",
        "contracts",
        "extra",
    }
)
_STATE_KEYS = frozenset({"state_file", "state_sha256", "state_entries"})
_BRIDGE_KEYS = frozenset(
    {
        "mode",
        "batch_size",
        "batch_interval_s",
        "backend",
        "contracts",
        "deploy_receipts",
        "sim_time_closed_s",
        "stats",
        "settlements",
    }
)
_BRIDGE_BACKEND_KEYS = frozenset({"backend", "url", "chain_id", "deployer", "accounts"})
_STATS_KEYS = frozenset(
    {
        "records",
        "batches",
        "transactions",
        "gas_total",
        "gas_per_record",
        "inclusion_latency_s_p50",
        "inclusion_latency_s_p95",
        "inclusion_latency_s_max",
        "already_attested_batches",
    }
)
_RECEIPT_KEYS = frozenset({"label", "tx_hash", "block_number", "gas_used", "status"})


@dataclass(frozen=True, slots=True)
class RecordRow:
    """One line of ``records.jsonl``: ``payload`` is the canonical JSON text as stored."""

    seq: int
    kind: str
    payload: str
    payload_hash: bytes
    sim_time: int
    batch_id: int


@dataclass(frozen=True, slots=True)
class BatchRow:
    """One line of ``batches.jsonl`` (``tx_hash`` is None for an already attested root)."""

    batch_id: int
    root: bytes
    first_seq: int
    count: int
    tx_hash: str | None
    gas_used: int
    sealed_at: float
    already_attested: bool


@dataclass(frozen=True, slots=True)
class ChainMeta:
    """``chain.json``: where the chain is and what it held when the run closed.

    ``state_sha256`` and ``state_entries`` describe ``chain_state.bin`` (eth-tester only)."""

    backend: str
    rpc_url: str | None
    chain_id: int
    head_block_number: int
    head_block_hash: str
    head_state_root: str
    contracts: dict[str, str]
    mode: str
    state_sha256: str | None
    state_entries: int | None


@dataclass(frozen=True, slots=True)
class BridgeMeta:
    """``bridge.json``: the bridge's settings and its deployment receipts."""

    mode: str
    batch_size: int
    batch_interval_s: float
    backend: str
    rpc_url: str | None
    deployer: str
    deploy_receipts: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything a bridge folder holds, checked for form (see the module docstring)."""

    state_dir: Path
    records: tuple[RecordRow, ...]
    batches: tuple[BatchRow, ...]
    #: per batch of ``proofs.bin``: ``(batch_id, nodes, positions)``
    trees: tuple[tuple[int, tuple[bytes, ...], tuple[int, ...]], ...]
    chain: ChainMeta
    bridge: BridgeMeta

    def where(self, name: str) -> str:
        """``name`` as the user sees it: ``<bridge folder>/<name>``."""
        return f"{self.state_dir.name}/{name}"


_dump_line = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode
_dump_batch = json.JSONEncoder(sort_keys=True, allow_nan=False).encode
_dump_meta = json.JSONEncoder(sort_keys=True, indent=1, allow_nan=False).encode


def _read_records(path: Path, where: str) -> list[RecordRow]:
    out: list[RecordRow] = []
    for lineno, line in read_lines(path, where):
        at = f"{where} line {lineno}"
        row = check_keys(parse_json(line, at), _RECORD_KEYS, at)
        check_canonical(row, _dump_line, line[:-1], at)
        seq = row["seq"]
        if not is_int(seq) or seq != lineno - 1:
            raise fail(at, "seq", seq, f"must be {lineno - 1} (records count 0, 1, 2, ...)")
        kind = row["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise fail(at, "kind", kind, f"must be one of {', '.join(KINDS)}")
        payload = row["payload"]
        if not isinstance(payload, str) or not payload.isascii():
            raise fail(at, "payload", payload, "must be the payload's canonical JSON text (ASCII)")
        out.append(
            RecordRow(
                seq=seq,
                kind=kind,
                payload=payload,
                payload_hash=hex_field(row, "payload_hash", at),
                sim_time=int_field(row, "sim_time", at),
                batch_id=int_field(row, "batch_id", at),
            )
        )
    return out


def _read_batches(path: Path, where: str, n_records: int) -> list[BatchRow]:
    out: list[BatchRow] = []
    seen: set[int] = set()
    next_seq = 0
    for lineno, line in read_lines(path, where):
        at = f"{where} line {lineno}"
        row = check_keys(parse_json(line, at), _BATCH_KEYS, at)
        check_canonical(row, _dump_batch, line[:-1], at)
        bid = int_field(row, "batch_id", at)
        if bid in seen:
            raise fail(at, "batch_id", bid, "must differ from every other batch's")
        seen.add(bid)
        first = int_field(row, "first_seq", at)
        if first != next_seq:
            raise fail(at, "first_seq", first, f"must be {next_seq} (batches follow each other)")
        count = int_field(row, "count", at, lo=1)
        if first + count > n_records:
            raise fail(
                at, "count", count, f"covers seq {first}..{first + count - 1}, past the records"
            )
        again = row["already_attested"]
        if not isinstance(again, bool):
            raise fail(at, "already_attested", again, "must be true or false")
        tx = None if again else hex_field(row, "tx_hash", at)
        if again and row["tx_hash"] is not None:
            raise fail(at, "tx_hash", row["tx_hash"], "must be null for an already attested root")
        out.append(
            BatchRow(
                batch_id=bid,
                root=hex_field(row, "root", at),
                first_seq=first,
                count=count,
                tx_hash=None if tx is None else "0x" + tx.hex(),
                gas_used=int_field(row, "gas_used", at),
                sealed_at=number_field(row, "sealed_at", at),
                already_attested=again,
            )
        )
        next_seq = first + count
    if next_seq != n_records:
        raise EvidenceError(
            f"{where}: the batches cover seq 0..{next_seq - 1}, records.jsonl has {n_records} "
            "records"
        )
    return out


def _read_chain_meta(path: Path, where: str) -> ChainMeta:
    text = read_small(path, where, MAX_CHAIN_JSON_BYTES)
    meta = parse_json(text, where)
    if not isinstance(meta, dict):
        raise EvidenceError(f"{where}: must be a JSON object, found {type(meta).__name__}")
    backend = meta.get("backend")
    if backend not in _BACKENDS:
        raise fail(where, "backend", backend, f"must be one of {', '.join(_BACKENDS)}")
    state = _STATE_KEYS if backend == "eth-tester" else frozenset()
    check_keys(meta, _CHAIN_KEYS | state, where)
    check_canonical(meta, _dump_meta, text[:-1] if text.endswith("\n") else "\0", where)
    if meta["format"] != 1 or not is_int(meta["format"]):
        raise fail(where, "format", meta["format"], "must be 1")
    extra = check_keys(meta["extra"], frozenset({"mode"}), f"{where}: extra")
    if extra["mode"] not in MODES:
        raise fail(where, "extra.mode", extra["mode"], f"must be one of {', '.join(MODES)}")
    contracts = meta["contracts"]
    if not isinstance(contracts, dict) or "Attestor" not in contracts:
        raise fail(where, "contracts", contracts, "must be an object naming the Attestor")
    addresses: dict[str, str] = {}
    for name, entry in contracts.items():
        at = f"{where}: contracts.{name}"
        check_keys(entry, frozenset({"address", "artifact"}), at)
        if entry["artifact"] != name:
            raise fail(where, f"contracts.{name}.artifact", entry["artifact"], f"must be {name!r}")
        addresses[name] = address_field(entry["address"], where, f"contracts.{name}.address")
    if backend == "eth-tester":
        if meta["state_file"] != STATE_FILE:
            raise fail(where, "state_file", meta["state_file"], f"must be {STATE_FILE!r}")
        if meta["rpc_url"] is not None:
            raise fail(where, "rpc_url", meta["rpc_url"], "must be null for eth-tester")
        sha = meta["state_sha256"]
        if not isinstance(sha, str) or len(sha) != 64 or sha.strip("0123456789abcdef"):
            raise fail(where, "state_sha256", sha, "must be 64 lowercase hex digits")
        entries: int | None = int_field(meta, "state_entries", where, lo=1)
    else:
        text_field(meta, "rpc_url", where)
        sha, entries = None, None
    return ChainMeta(
        backend=backend,
        rpc_url=meta["rpc_url"],
        chain_id=int_field(meta, "chain_id", where, lo=1),
        head_block_number=int_field(meta, "head_block_number", where),
        head_block_hash="0x" + hex_field(meta, "head_block_hash", where).hex(),
        head_state_root="0x" + hex_field(meta, "head_state_root", where).hex(),
        contracts=addresses,
        mode=extra["mode"],
        state_sha256=sha,
        state_entries=entries,
    )


def _read_bridge_meta(
    path: Path,
    where: str,
    chain: ChainMeta,
    records: list[RecordRow],
    batches: list[BatchRow],
) -> BridgeMeta:
    text = read_small(path, where, MAX_BRIDGE_JSON_BYTES)
    meta = check_keys(parse_json(text, where), _BRIDGE_KEYS, where)
    check_canonical(meta, _dump_meta, text[:-1] if text.endswith("\n") else "\0", where)
    mode = meta["mode"]
    if mode != chain.mode:
        raise fail(where, "mode", mode, f"must be chain.json's extra.mode {chain.mode!r}")
    batch_size = int_field(meta, "batch_size", where, lo=1)
    too_big = next((b for b in batches if b.count > batch_size), None)
    if too_big is not None:
        raise fail(
            where, "batch_size", batch_size, f"batch {too_big.batch_id} holds {too_big.count}"
        )
    interval = number_field(meta, "batch_interval_s", where)
    if not interval > 0:
        raise fail(where, "batch_interval_s", interval, "must be > 0")
    backend = check_keys(meta["backend"], _BRIDGE_BACKEND_KEYS, f"{where}: backend")
    pairs = (("backend", chain.backend), ("chain_id", chain.chain_id), ("url", chain.rpc_url))
    for key, want in pairs:
        if backend[key] != want or isinstance(backend[key], bool):
            raise fail(where, f"backend.{key}", backend[key], f"must be chain.json's {want!r}")
    int_field(backend, "accounts", where, lo=1)
    contracts = meta["contracts"]
    if contracts != chain.contracts:
        raise fail(where, "contracts", contracts, "must be chain.json's contracts and addresses")
    receipts = meta["deploy_receipts"]
    if not isinstance(receipts, list):
        raise fail(where, "deploy_receipts", receipts, "must be a list")
    deployed: dict[str, str] = {}
    for i, rec in enumerate(receipts):
        at = f"{where}: deploy_receipts[{i}]"
        check_keys(rec, _RECEIPT_KEYS, at, optional=frozenset({"contract_address"}))
        hex_field(rec, "tx_hash", at)
        int_field(rec, "block_number", at)
        int_field(rec, "gas_used", at)
        if rec["status"] != 1 or not is_int(rec["status"]):
            raise fail(at, "status", rec["status"], "must be 1")
        label = rec["label"]
        if isinstance(label, str) and label.startswith("deploy ") and "contract_address" in rec:
            deployed[label.removeprefix("deploy ")] = address_field(
                rec["contract_address"], at, "contract_address"
            )
    if deployed != chain.contracts:
        raise fail(where, "deploy_receipts", sorted(deployed), "must deploy every contract once")
    number_field(meta, "sim_time_closed_s", where)
    stats = check_keys(meta["stats"], _STATS_KEYS, f"{where}: stats")
    counts = (
        ("records", len(records)),
        ("batches", len(batches)),
        ("already_attested_batches", sum(b.already_attested for b in batches)),
    )
    for key, want in counts:
        if stats[key] != want or not is_int(stats[key]):
            raise fail(where, f"stats.{key}", stats[key], f"must be {want} (the files hold that)")
    for key in sorted(_STATS_KEYS - {k for k, _ in counts}):
        number_field(stats, key, f"{where}: stats")
    if not isinstance(meta["settlements"], list):
        raise fail(where, "settlements", meta["settlements"], "must be a list")
    return BridgeMeta(
        mode=mode,
        batch_size=batch_size,
        batch_interval_s=interval,
        backend=chain.backend,
        rpc_url=chain.rpc_url,
        deployer=address_field(backend["deployer"], where, "backend.deployer"),
        deploy_receipts=tuple(receipts),
    )


def _read_trees(state_dir: Path, where: str, batches: list[BatchRow]):
    plain_file(state_dir / PROOFS_FILE, where)
    try:
        trees = list(read_proofs(state_dir))
    except FileNotFoundError:
        raise EvidenceError(f"{where}: missing") from None
    except (OSError, ValueError) as err:
        raise EvidenceError(f"{where}: {str(err).removeprefix(PROOFS_FILE + ' ')}") from None
    if len(trees) != len(batches):
        raise EvidenceError(f"{where}: holds {len(trees)} batches, batches.jsonl {len(batches)}")
    for k, ((bid, _, positions), batch) in enumerate(zip(trees, batches, strict=True)):
        if bid != batch.batch_id:
            raise fail(where, f"batch #{k}", bid, f"must be batch {batch.batch_id}")
        if len(positions) != batch.count:
            raise fail(where, f"batch {bid} records", len(positions), f"must be {batch.count}")
    return trees


def read_evidence(state_dir: Path) -> Evidence:
    """Read and check the form of every file of the bridge folder ``state_dir`` (see the
    module docstring); :class:`EvidenceError` with the first discrepancy."""
    state_dir = Path(state_dir)

    def where(name: str) -> str:
        return f"{state_dir.name}/{name}"

    records = _read_records(state_dir / RECORDS_FILE, where(RECORDS_FILE))
    batches = _read_batches(state_dir / BATCHES_FILE, where(BATCHES_FILE), len(records))
    for b in batches:
        wrong = next(
            (r for r in records[b.first_seq : b.first_seq + b.count] if r.batch_id != b.batch_id),
            None,
        )
        if wrong is not None:
            raise fail(
                f"{where(RECORDS_FILE)} line {wrong.seq + 1}",
                "batch_id",
                wrong.batch_id,
                f"must be {b.batch_id} (that batch covers seq {wrong.seq})",
            )
    trees = _read_trees(state_dir, where(PROOFS_FILE), batches)
    chain = _read_chain_meta(state_dir / META_FILE, where(META_FILE))
    bridge = _read_bridge_meta(state_dir / BRIDGE_FILE, where(BRIDGE_FILE), chain, records, batches)
    return Evidence(
        state_dir=state_dir,
        records=tuple(records),
        batches=tuple(batches),
        trees=tuple(trees),
        chain=chain,
        bridge=bridge,
    )

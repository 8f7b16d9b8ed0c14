"""The attestation evidence a bridge leaves in its folder, read and checked for form.

:func:`read_evidence` reads ``records.jsonl``, ``batches.jsonl``, ``proofs.bin``,
``chain.json`` and ``bridge.json`` (written by :mod:`chain.bridge` and :mod:`chain.state`) into
an :class:`Evidence`, or raises :class:`EvidenceError` with the first file, line, field, value
and rule that does not hold. Nothing in the folder is trusted:

- every file is ASCII (what the writers write) and below a size cap (a line of
  ``records.jsonl`` or ``batches.jsonl``: 1 MiB; ``chain.json``: 64 KiB; ``bridge.json``:
  64 MiB); JSON never holds ``NaN``/``Infinity`` nor nests deeper than 64 levels (checked
  before parsing: with a raised recursion limit, Python's JSON parser can exhaust the C stack);
- every line and file is in its writer's canonical form (keys sorted, the writer's spacing), so
  an edit that keeps the values (spaces, key order, a duplicated key) is still an edit;
- every field has its type and range, and no field is missing or unknown; ``seq`` counts
  0, 1, 2, ... in order; batches cover the records one after the other, each record naming its
  batch; addresses are EIP-55; ``chain.json`` and ``bridge.json`` agree on the backend, the
  chain id, the mode and every contract's address, and ``bridge.json``'s record and batch
  counts are those of the files.

What the records *mean* -- roots, the chain, the run they belong to -- is checked by
:mod:`chain.verify` and ``sim.run.chain_audit``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.bridge import BATCHES_FILE, BRIDGE_FILE, MODES, PROOFS_FILE, RECORDS_FILE, read_proofs
from chain.records import KINDS
from chain.state import META_FILE, STATE_FILE

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

MAX_LINE_BYTES = 1 << 20
MAX_CHAIN_JSON_BYTES = 64 << 10
MAX_BRIDGE_JSON_BYTES = 64 << 20
#: deepest JSON nesting accepted (the writers nest at most 5 levels)
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_U64_MAX = (1 << 64) - 1
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


class EvidenceError(Exception):
    """The first discrepancy in a run's attestation evidence, as one line."""


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


def _fail(where: str, field: str, value: Any, rule: str) -> EvidenceError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return EvidenceError(f"{where}: {field}={shown}: {rule}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def parse_json(text: str, where: str) -> Any:
    """``text`` parsed as strict JSON (no NaN/Infinity, at most :data:`MAX_JSON_DEPTH` levels
    deep); :class:`EvidenceError` naming ``where`` otherwise."""
    if _too_deep(text):
        raise EvidenceError(f"{where}: not JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        detail = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise EvidenceError(f"{where}: not JSON ({detail or type(err).__name__})") from None


def _canonical(value: Any, dumps: Callable[[Any], str], text: str, where: str) -> None:
    """``text`` must be what the writer writes for ``value``."""
    try:
        again = dumps(value)
    except (ValueError, RecursionError):  # pragma: no cover - parsed JSON always dumps
        again = None
    if again != text:
        raise EvidenceError(
            f"{where}: not in its writer's canonical form (sorted keys, the writer's spacing, "
            "no duplicated key): the file was edited"
        )


def _keys(obj: Any, keys: frozenset[str], where: str, *, optional: frozenset[str] = frozenset()):
    if not isinstance(obj, dict):
        raise EvidenceError(f"{where}: must be a JSON object, found {type(obj).__name__}")
    missing = sorted(keys - obj.keys())
    if missing:
        raise EvidenceError(f"{where}: {missing[0]}: missing")
    unknown = sorted(obj.keys() - keys - optional)
    if unknown:
        raise EvidenceError(f"{where}: {unknown[0]}: not a field of this file")
    return obj


def _is_int(value: Any) -> bool:
    """True for a JSON integer (not a bool, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _int(obj: dict, key: str, where: str, lo: int = 0, hi: int = _U64_MAX) -> int:
    value = obj[key]
    if not _is_int(value) or not lo <= value <= hi:
        raise _fail(where, key, value, f"must be an integer in [{lo}, {hi}]")
    return value


def _number(obj: dict, key: str, where: str) -> float:
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(where, key, value, "must be a finite number")
    if value < 0:
        raise _fail(where, key, value, "must be >= 0")
    return float(value)


def _hex(obj: dict, key: str, where: str, nbytes: int = 32) -> bytes:
    value = obj[key]
    if isinstance(value, str) and value.startswith("0x") and len(value) == 2 + 2 * nbytes:
        digits = value[2:]
        if digits == digits.lower():
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    raise _fail(where, key, value, f"must be 0x and {2 * nbytes} lowercase hex digits")


def _address(value: Any, where: str, field: str) -> str:
    from eth_utils import is_checksum_address

    if not isinstance(value, str) or not is_checksum_address(value):
        raise _fail(where, field, value, "must be a 0x-prefixed EIP-55 checksummed address")
    return value


def _text(obj: dict, key: str, where: str, *, optional: bool = False) -> str | None:
    value = obj[key]
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(where, key, value, "must be a non-empty string")
    return value


def plain_file(path: Path, where: str) -> None:
    """``path`` must be a plain file (not a link, a pipe or a device); :class:`EvidenceError`
    naming ``where`` otherwise."""
    if path.is_symlink():
        raise EvidenceError(f"{where}: a symbolic link (a run directory holds plain files)")
    if not path.exists():
        raise EvidenceError(f"{where}: missing")
    if not path.is_file():
        raise EvidenceError(f"{where}: not a plain file")


def _lines(path: Path, where: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of an ASCII file, each line at most ``MAX_LINE_BYTES``."""
    plain_file(path, where)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, lines streamed
    except FileNotFoundError:
        raise EvidenceError(f"{where}: missing") from None
    except OSError as err:
        raise EvidenceError(f"{where}: cannot be read ({err.strerror})") from None
    with fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise EvidenceError(f"{where} line {lineno}: longer than {MAX_LINE_BYTES} bytes")
            if not raw.endswith(b"\n"):
                raise EvidenceError(f"{where} line {lineno}: truncated (no end of line)")
            try:
                yield lineno, raw.decode("ascii")
            except UnicodeDecodeError as err:
                raise EvidenceError(
                    f"{where} line {lineno}: byte {err.start + 1} is not ASCII"
                ) from None


def _read_small(path: Path, where: str, cap: int) -> str:
    plain_file(path, where)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(cap + 1)
    except FileNotFoundError:
        raise EvidenceError(f"{where}: missing") from None
    except OSError as err:
        raise EvidenceError(f"{where}: cannot be read ({err.strerror})") from None
    if len(raw) > cap:
        raise EvidenceError(f"{where}: larger than {cap} bytes")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise EvidenceError(f"{where}: byte {err.start + 1} is not ASCII") from None


_dump_line = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False).encode
_dump_batch = json.JSONEncoder(sort_keys=True, allow_nan=False).encode
_dump_meta = json.JSONEncoder(sort_keys=True, indent=1, allow_nan=False).encode


def _read_records(path: Path, where: str) -> list[RecordRow]:
    out: list[RecordRow] = []
    for lineno, line in _lines(path, where):
        at = f"{where} line {lineno}"
        row = _keys(parse_json(line, at), _RECORD_KEYS, at)
        _canonical(row, _dump_line, line[:-1], at)
        seq = row["seq"]
        if not _is_int(seq) or seq != lineno - 1:
            raise _fail(at, "seq", seq, f"must be {lineno - 1} (records count 0, 1, 2, ...)")
        kind = row["kind"]
        if not isinstance(kind, str) or kind not in KINDS:
            raise _fail(at, "kind", kind, f"must be one of {', '.join(KINDS)}")
        payload = row["payload"]
        if not isinstance(payload, str):
            raise _fail(at, "payload", payload, "must be the payload's canonical JSON text")
        out.append(
            RecordRow(
                seq=seq,
                kind=kind,
                payload=payload,
                payload_hash=_hex(row, "payload_hash", at),
                sim_time=_int(row, "sim_time", at),
                batch_id=_int(row, "batch_id", at),
            )
        )
    return out


def _read_batches(path: Path, where: str, n_records: int) -> list[BatchRow]:
    out: list[BatchRow] = []
    seen: set[int] = set()
    next_seq = 0
    for lineno, line in _lines(path, where):
        at = f"{where} line {lineno}"
        row = _keys(parse_json(line, at), _BATCH_KEYS, at)
        _canonical(row, _dump_batch, line[:-1], at)
        bid = _int(row, "batch_id", at)
        if bid in seen:
            raise _fail(at, "batch_id", bid, "must differ from every other batch's")
        seen.add(bid)
        first = _int(row, "first_seq", at)
        if first != next_seq:
            raise _fail(at, "first_seq", first, f"must be {next_seq} (batches follow each other)")
        count = _int(row, "count", at, lo=1)
        if first + count > n_records:
            raise _fail(
                at, "count", count, f"covers seq {first}..{first + count - 1}, past the records"
            )
        again = row["already_attested"]
        if not isinstance(again, bool):
            raise _fail(at, "already_attested", again, "must be true or false")
        tx = None if again else _hex(row, "tx_hash", at)
        if again and row["tx_hash"] is not None:
            raise _fail(at, "tx_hash", row["tx_hash"], "must be null for an already attested root")
        out.append(
            BatchRow(
                batch_id=bid,
                root=_hex(row, "root", at),
                first_seq=first,
                count=count,
                tx_hash=None if tx is None else "0x" + tx.hex(),
                gas_used=_int(row, "gas_used", at),
                sealed_at=_number(row, "sealed_at", at),
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
    text = _read_small(path, where, MAX_CHAIN_JSON_BYTES)
    meta = parse_json(text, where)
    if not isinstance(meta, dict):
        raise EvidenceError(f"{where}: must be a JSON object, found {type(meta).__name__}")
    backend = meta.get("backend")
    if backend not in _BACKENDS:
        raise _fail(where, "backend", backend, f"must be one of {', '.join(_BACKENDS)}")
    state = _STATE_KEYS if backend == "eth-tester" else frozenset()
    _keys(meta, _CHAIN_KEYS | state, where)
    _canonical(meta, _dump_meta, text[:-1] if text.endswith("\n") else "\0", where)
    if meta["format"] != 1 or not _is_int(meta["format"]):
        raise _fail(where, "format", meta["format"], "must be 1")
    extra = _keys(meta["extra"], frozenset({"mode"}), f"{where}: extra")
    if extra["mode"] not in MODES:
        raise _fail(where, "extra.mode", extra["mode"], f"must be one of {', '.join(MODES)}")
    contracts = meta["contracts"]
    if not isinstance(contracts, dict) or "Attestor" not in contracts:
        raise _fail(where, "contracts", contracts, "must be an object naming the Attestor")
    addresses: dict[str, str] = {}
    for name, entry in contracts.items():
        at = f"{where}: contracts.{name}"
        _keys(entry, frozenset({"address", "artifact"}), at)
        if entry["artifact"] != name:
            raise _fail(where, f"contracts.{name}.artifact", entry["artifact"], f"must be {name!r}")
        addresses[name] = _address(entry["address"], where, f"contracts.{name}.address")
    if backend == "eth-tester":
        if meta["state_file"] != STATE_FILE:
            raise _fail(where, "state_file", meta["state_file"], f"must be {STATE_FILE!r}")
        if meta["rpc_url"] is not None:
            raise _fail(where, "rpc_url", meta["rpc_url"], "must be null for eth-tester")
        sha = meta["state_sha256"]
        if not isinstance(sha, str) or len(sha) != 64 or sha.strip("0123456789abcdef"):
            raise _fail(where, "state_sha256", sha, "must be 64 lowercase hex digits")
        entries: int | None = _int(meta, "state_entries", where, lo=1)
    else:
        _text(meta, "rpc_url", where)
        sha, entries = None, None
    return ChainMeta(
        backend=backend,
        rpc_url=meta["rpc_url"],
        chain_id=_int(meta, "chain_id", where, lo=1),
        head_block_number=_int(meta, "head_block_number", where),
        head_block_hash="0x" + _hex(meta, "head_block_hash", where).hex(),
        head_state_root="0x" + _hex(meta, "head_state_root", where).hex(),
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
    text = _read_small(path, where, MAX_BRIDGE_JSON_BYTES)
    meta = _keys(parse_json(text, where), _BRIDGE_KEYS, where)
    _canonical(meta, _dump_meta, text[:-1] if text.endswith("\n") else "\0", where)
    mode = meta["mode"]
    if mode != chain.mode:
        raise _fail(where, "mode", mode, f"must be chain.json's extra.mode {chain.mode!r}")
    batch_size = _int(meta, "batch_size", where, lo=1)
    too_big = next((b for b in batches if b.count > batch_size), None)
    if too_big is not None:
        raise _fail(
            where, "batch_size", batch_size, f"batch {too_big.batch_id} holds {too_big.count}"
        )
    interval = _number(meta, "batch_interval_s", where)
    if not interval > 0:
        raise _fail(where, "batch_interval_s", interval, "must be > 0")
    backend = _keys(meta["backend"], _BRIDGE_BACKEND_KEYS, f"{where}: backend")
    pairs = (("backend", chain.backend), ("chain_id", chain.chain_id), ("url", chain.rpc_url))
    for key, want in pairs:
        if backend[key] != want or isinstance(backend[key], bool):
            raise _fail(where, f"backend.{key}", backend[key], f"must be chain.json's {want!r}")
    _int(backend, "accounts", where, lo=1)
    contracts = meta["contracts"]
    if contracts != chain.contracts:
        raise _fail(where, "contracts", contracts, "must be chain.json's contracts and addresses")
    receipts = meta["deploy_receipts"]
    if not isinstance(receipts, list):
        raise _fail(where, "deploy_receipts", receipts, "must be a list")
    deployed: dict[str, str] = {}
    for i, rec in enumerate(receipts):
        at = f"{where}: deploy_receipts[{i}]"
        _keys(rec, _RECEIPT_KEYS, at, optional=frozenset({"contract_address"}))
        _hex(rec, "tx_hash", at)
        _int(rec, "block_number", at)
        _int(rec, "gas_used", at)
        if rec["status"] != 1 or not _is_int(rec["status"]):
            raise _fail(at, "status", rec["status"], "must be 1")
        label = rec["label"]
        if isinstance(label, str) and label.startswith("deploy ") and "contract_address" in rec:
            deployed[label.removeprefix("deploy ")] = _address(
                rec["contract_address"], at, "contract_address"
            )
    if deployed != chain.contracts:
        raise _fail(where, "deploy_receipts", sorted(deployed), "must deploy every contract once")
    _number(meta, "sim_time_closed_s", where)
    stats = _keys(meta["stats"], _STATS_KEYS, f"{where}: stats")
    counts = (
        ("records", len(records)),
        ("batches", len(batches)),
        ("already_attested_batches", sum(b.already_attested for b in batches)),
    )
    for key, want in counts:
        if stats[key] != want or not _is_int(stats[key]):
            raise _fail(where, f"stats.{key}", stats[key], f"must be {want} (the files hold that)")
    for key in sorted(_STATS_KEYS - {k for k, _ in counts}):
        _number(stats, key, f"{where}: stats")
    if not isinstance(meta["settlements"], list):
        raise _fail(where, "settlements", meta["settlements"], "must be a list")
    return BridgeMeta(
        mode=mode,
        batch_size=batch_size,
        batch_interval_s=interval,
        backend=chain.backend,
        rpc_url=chain.rpc_url,
        deployer=_address(backend["deployer"], where, "backend.deployer"),
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
            raise _fail(where, f"batch #{k}", bid, f"must be batch {batch.batch_id}")
        if len(positions) != batch.count:
            raise _fail(where, f"batch {bid} records", len(positions), f"must be {batch.count}")
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
            raise _fail(
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

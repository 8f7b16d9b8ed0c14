"""The attestation bridge: the chain side of the ``AttestationSink`` used by ``ce run``.

The simulation calls ``record(kind, payload, sim_time_s)`` for every engine record; the bridge
hashes the payload (canonical JSON -> keccak256), queues the record and **seals a batch** when
``batch_size`` records are queued or when the oldest queued record is ``batch_interval_s``
simulated seconds old (checked on ``record`` and ``tick``).  Sealing builds the Merkle tree
(:mod:`chain.merkle`), sends **one** ``Attestor.attestBatch(root, firstSeq, count)``
transaction with a fixed gas limit, and keeps the tree, so every record has a proof.

Idempotency: a batch whose root is already on chain (the Attestor reverts with
``RootAlreadyAttested(root, batchId)``, or a lost answer leaves the root findable with
``batchIdOf``) is recorded as attested with the existing batch id and no new transaction;
nothing is attested twice.  Inclusion latency (record -> attested, simulated seconds) is
recorded per record.

In ``mode: full``, ``settle_auction`` also runs each auction on the FundingEscrow (see
:mod:`chain.settlement`); in ``mode: attest`` it is a no-op.

Files written under ``state_dir`` (atomically: streamed to a hidden partial file, fsynced and
renamed at ``close``):

- ``records.jsonl``: ``seq, kind, payload`` (canonical JSON text), ``payload_hash, sim_time``
  (attested whole seconds), ``batch_id``, one line per record in seq order;
- ``batches.jsonl``: ``batch_id, root, first_seq, count, tx_hash, gas_used, sealed_at``
  (simulated seconds) and ``already_attested``;
- ``proofs.bin``: per batch the OpenZeppelin node array and each record's node index, from
  which every proof is read back (:func:`read_proofs`);
- ``bridge.json``: configuration, contract addresses, deployment receipts, stats;
- ``chain.json`` (+ ``chain_state.bin`` for eth-tester): the chain itself (:mod:`chain.state`).
"""

from __future__ import annotations

import json
import math
import os
import struct
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import Any

from chain.backends import Backend, open_backend
from chain.batching import SealRule, check_batching
from chain.deploy import ATTEST_CONTRACTS, FULL_CONTRACTS, Deployment, deploy_all
from chain.merkle import _leaf_hash_unchecked, build_tree, keccak256, proof_from_nodes
from chain.records import KINDS, canonical_json, sim_time_int
from chain.state import atomic_write_text, save_chain_state
from chain.tx import TransientTxError, TxReverted

__all__ = [
    "BATCHES_FILE",
    "BRIDGE_FILE",
    "MODES",
    "PROOFS_FILE",
    "RECORDS_FILE",
    "AttestationBridge",
    "BridgeConfig",
    "check_config",
    "open_attestation_bridge",
    "read_proofs",
]

RECORDS_FILE = "records.jsonl"
BATCHES_FILE = "batches.jsonl"
PROOFS_FILE = "proofs.bin"
BRIDGE_FILE = "bridge.json"
MODES = ("attest", "full")
#: gas limit of one attestBatch (measured ~74k, the first batch ~94k; size-independent)
ATTEST_GAS = 150_000
_PROOFS_MAGIC = b"CEPROOF1"
_BATCH_HEADER = struct.Struct(">QI")


class AttestationBridge:
    """Batches engine records into Merkle roots attested on chain (see the module docstring)."""

    def __init__(
        self,
        backend: Backend,
        deployment: Deployment,
        *,
        mode: str = "attest",
        batch_size: int = 1024,
        batch_interval_s: float = 60.0,
        state_dir: Path,
    ) -> None:
        check_config(mode, batch_size, batch_interval_s)
        self.backend = backend
        self.deployment = deployment
        self.mode = mode
        #: what the engine must build for this sink (see :mod:`sim.attest`)
        self.wants_payloads = True
        self.wants_settlements = mode == "full"
        self.batch_size = int(batch_size)
        self.batch_interval_s = float(batch_interval_s)
        self._rule = SealRule(self.batch_size, self.batch_interval_s)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self._attestor = deployment["Attestor"]
        self._next_batch_id = int(self._attestor.call("batchCount"))
        self._seq = 0
        # pending records (parallel lists; seq = first pending seq + index)
        self._p_kind: list[str] = []
        self._p_hash: list[bytes] = []
        self._p_time: list[float] = []
        self._p_json: list[str] = []
        self._first_pending_seq = 0
        # results
        self._batches: list[dict[str, Any]] = []
        self._trees: list[tuple[int, int, tuple[bytes, ...], tuple[int, ...]]] = []
        self._latency = array("d")
        self._gas_total = 0
        self._transactions = 0
        self._closed_stats: dict[str, Any] | None = None
        self._settlement: Any = None
        # streamed outputs
        self._records_tmp = self.state_dir / f".{RECORDS_FILE}.partial"
        self._proofs_tmp = self.state_dir / f".{PROOFS_FILE}.partial"
        self._records_fh = open(self._records_tmp, "w", encoding="ascii", newline="\n")  # noqa: SIM115
        self._proofs_fh = open(self._proofs_tmp, "wb")  # noqa: SIM115
        self._proofs_fh.write(_PROOFS_MAGIC)

    # -- the sink interface ------------------------------------------------------------------
    def record(self, kind: str, payload: Mapping[str, Any], sim_time_s: float) -> None:
        """Queue one record; may seal a batch (size reached or the oldest one is too old)."""
        if self._closed_stats is not None:
            raise RuntimeError("the attestation bridge is closed; no more records")
        if kind not in KINDS:
            raise ValueError(
                f"kind={kind!r} is not a record kind; choose one of {', '.join(KINDS)}"
            )
        sim_time_int(sim_time_s)  # validates: finite, >= 0, fits uint64
        text = canonical_json(payload)
        if self._rule.due(sim_time_s):
            self._seal(float(sim_time_s))
        self._p_kind.append(kind)
        self._p_hash.append(keccak256(text.encode("ascii")))
        self._p_time.append(float(sim_time_s))
        self._p_json.append(text)
        if self._rule.add(sim_time_s):
            self._seal(float(sim_time_s))

    def tick(self, sim_time_s: float) -> None:
        """Seal the queued records if the oldest is ``batch_interval_s`` old at ``sim_time_s``."""
        if self._rule.due(sim_time_s):
            self._seal(float(sim_time_s))

    def settle_auction(self, auction: Mapping[str, Any]) -> None:
        """``mode: full``: run the auction on the FundingEscrow and reconcile; else a no-op."""
        if self.mode != "full":
            return
        if self._settlement is None:
            from chain.settlement import AuctionSettler

            self._settlement = AuctionSettler(self.deployment)
        self._settlement.settle(auction)

    def abort(self) -> None:
        """The run failed: close the partial files and leave them unfinished (their hidden
        ``.partial`` names never look complete)."""
        for fh in (self._records_fh, self._proofs_fh):
            if not fh.closed:
                fh.close()

    def close(self, sim_time_s: float) -> Mapping[str, Any]:
        """Seal the rest, write every file, return the stats (idempotent)."""
        if self._closed_stats is not None:
            return self._closed_stats
        if self._p_kind:
            self._seal(float(sim_time_s))
        self._finish_streams()
        atomic_write_text(
            self.state_dir / BATCHES_FILE,
            "".join(json.dumps(b, sort_keys=True) + "\n" for b in self._batches),
        )
        stats = self._stats()
        save_chain_state(
            self.backend,
            self.state_dir,
            contracts=self.deployment.addresses,
            extra={"mode": self.mode},
        )
        bridge_meta = {
            "mode": self.mode,
            "batch_size": self.batch_size,
            "batch_interval_s": self.batch_interval_s,
            "backend": self.backend.describe(),
            **self.deployment.to_json(),
            "sim_time_closed_s": float(sim_time_s),
            "stats": stats,
            "settlements": self._settlement.summaries() if self._settlement else [],
        }
        atomic_write_text(
            self.state_dir / BRIDGE_FILE, json.dumps(bridge_meta, indent=1, sort_keys=True) + "\n"
        )
        self._closed_stats = stats
        return stats

    # -- sealing -----------------------------------------------------------------------------
    def _seal(self, sealed_at: float) -> None:
        kinds, hashes, times, texts = self._p_kind, self._p_hash, self._p_time, self._p_json
        n = len(kinds)
        first = self._first_pending_seq
        times_int = [math.floor(t) for t in times]
        leaves = [
            _leaf_hash_unchecked(first + i, KINDS[kinds[i]], hashes[i], times_int[i])
            for i in range(n)
        ]
        tree = build_tree(leaves, proofs=False)
        batch_id, tx_hash, gas, again = self._attest(tree.root, first, n)
        # outputs
        lines = [
            f'{{"batch_id":{batch_id},"kind":"{kinds[i]}","payload":'
            f"{encode_basestring_ascii(texts[i])},"
            f'"payload_hash":"0x{hashes[i].hex()}","seq":{first + i},'
            f'"sim_time":{times_int[i]}}}\n'
            for i in range(n)
        ]
        self._records_fh.write("".join(lines))
        self._proofs_fh.write(_BATCH_HEADER.pack(batch_id, n))
        self._proofs_fh.write(struct.pack(f">{n}I", *tree.positions))
        self._proofs_fh.write(b"".join(tree.nodes))
        self._trees.append((batch_id, first, tree.nodes, tree.positions))
        self._batches.append(
            {
                "batch_id": batch_id,
                "root": "0x" + tree.root.hex(),
                "first_seq": first,
                "count": n,
                "tx_hash": tx_hash,
                "gas_used": gas,
                "sealed_at": sealed_at,
                "already_attested": again,
            }
        )
        self._latency.extend(sealed_at - t for t in times)
        self._first_pending_seq = first + n
        self._p_kind, self._p_hash, self._p_time, self._p_json = [], [], [], []
        self._rule.sealed()

    def _attest(self, root: bytes, first: int, n: int) -> tuple[int, str | None, int, bool]:
        """Attest one root; returns ``(batch_id, tx_hash, gas_used, already_attested)``."""
        try:
            rec = self._attestor.transact(
                "attestBatch", root, first, n, gas=ATTEST_GAS, label=f"attestBatch#{first}"
            )
        except TxReverted as err:
            if err.error_name != "RootAlreadyAttested":
                raise
            self._gas_total += err.gas_used or 0
            self._transactions += 1
            return self._already_attested(root, first, n, int(err.error_args[1]))
        except TransientTxError:
            found, existing = self._attestor.call("batchIdOf", root)
            if not found:
                raise
            return self._already_attested(root, first, n, int(existing))
        batch_id = self._next_batch_id
        self._next_batch_id += 1
        self._gas_total += rec.gas_used
        self._transactions += 1
        return batch_id, rec.tx_hash, rec.gas_used, False

    def _already_attested(
        self, root: bytes, first: int, n: int, batch_id: int
    ) -> tuple[int, str | None, int, bool]:
        on_chain_root, on_first, on_count = self._attestor.call("batch", batch_id)
        if (bytes(on_chain_root), int(on_first), int(on_count)) != (root, first, n):
            raise RuntimeError(
                f"batch {batch_id} on chain is (first_seq={on_first}, count={on_count}), "
                f"not the sealed (first_seq={first}, count={n}) with the same root"
            )
        self._next_batch_id = max(self._next_batch_id, batch_id + 1)
        return batch_id, None, 0, True

    # -- queries -----------------------------------------------------------------------------
    def proof(self, seq: int) -> tuple[int, bytes, tuple[bytes, ...]]:
        """``(batch_id, leaf, proof)`` of an attested record ``seq``."""
        for batch_id, first, nodes, positions in self._trees:
            if first <= seq < first + len(positions):
                pos = positions[seq - first]
                return batch_id, nodes[pos], proof_from_nodes(nodes, pos)
        raise KeyError(f"seq={seq} is not attested yet (pending or unknown)")

    @property
    def batches(self) -> list[dict[str, Any]]:
        """The sealed batches so far (dicts as written to ``batches.jsonl``)."""
        return list(self._batches)

    @property
    def pending(self) -> int:
        """Records queued but not sealed yet."""
        return len(self._p_kind)

    def _stats(self) -> dict[str, Any]:
        n = len(self._latency)
        if n:
            import numpy as np

            lat = np.frombuffer(self._latency, dtype=np.float64)
            p50, p95, mx = (float(x) for x in np.percentile(lat, [50, 95, 100]))
        else:
            p50 = p95 = mx = 0.0
        return {
            "records": n,
            "batches": len(self._batches),
            "transactions": self._transactions,
            "gas_total": self._gas_total,
            "gas_per_record": (self._gas_total / n) if n else 0.0,
            "inclusion_latency_s_p50": p50,
            "inclusion_latency_s_p95": p95,
            "inclusion_latency_s_max": mx,
            "already_attested_batches": sum(1 for b in self._batches if b["already_attested"]),
        }

    def _finish_streams(self) -> None:
        for fh, tmp, final in (
            (self._records_fh, self._records_tmp, RECORDS_FILE),
            (self._proofs_fh, self._proofs_tmp, PROOFS_FILE),
        ):
            fh.flush()
            os.fsync(fh.fileno())
            fh.close()
            os.replace(tmp, self.state_dir / final)

    def __del__(self) -> None:  # pragma: no cover - best effort for abandoned bridges
        for name in ("_records_fh", "_proofs_fh"):
            fh = getattr(self, name, None)
            if fh is not None and not fh.closed:
                fh.close()


def check_config(mode: str, batch_size: int, batch_interval_s: float) -> None:
    """Raise ``ValueError`` unless ``mode`` and the batching settings are valid."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a bridge mode; choose one of {', '.join(MODES)}")
    check_batching(batch_size, batch_interval_s)


@dataclass(frozen=True, slots=True)
class BridgeConfig:
    """How to open an attestation bridge: the backend and its node, the mode and the batching
    (checked here; the backend when it is opened). The inline bridge
    (:func:`open_attestation_bridge`) and the worker (``chain.worker.BridgeWorker``) take it."""

    backend: str
    rpc_url: str | None
    mode: str
    batch_size: int
    batch_interval_s: float

    def __post_init__(self) -> None:
        check_config(self.mode, self.batch_size, self.batch_interval_s)


def open_attestation_bridge(config: BridgeConfig, state_dir: Path) -> AttestationBridge:
    """Open ``config``'s backend, deploy the contracts its mode needs, and return the bridge
    (the sink), writing its evidence into ``state_dir``."""
    chain = open_backend(config.backend, config.rpc_url)
    contracts = FULL_CONTRACTS if config.mode == "full" else ATTEST_CONTRACTS
    deployment = deploy_all(chain, contracts)
    return AttestationBridge(
        chain,
        deployment,
        mode=config.mode,
        batch_size=config.batch_size,
        batch_interval_s=config.batch_interval_s,
        state_dir=Path(state_dir),
    )


def read_proofs(state_dir: Path) -> Iterator[tuple[int, tuple[bytes, ...], tuple[int, ...]]]:
    """Read ``proofs.bin``: yields ``(batch_id, nodes, positions)`` per batch, in seal order.

    ``positions[i]`` is the node index of the batch's i-th record; its proof is
    ``chain.merkle.proof_from_nodes(nodes, positions[i])``.
    """
    data = (Path(state_dir) / PROOFS_FILE).read_bytes()
    if not data.startswith(_PROOFS_MAGIC):
        raise ValueError(f"{PROOFS_FILE} does not start with {_PROOFS_MAGIC!r}")
    i = len(_PROOFS_MAGIC)
    while i < len(data):
        if i + _BATCH_HEADER.size > len(data):
            raise ValueError(f"{PROOFS_FILE} is truncated after byte {i}")
        batch_id, n = _BATCH_HEADER.unpack_from(data, i)
        i += _BATCH_HEADER.size
        if i + 4 * n > len(data):
            raise ValueError(f"{PROOFS_FILE} is truncated in batch {batch_id}")
        positions = struct.unpack_from(f">{n}I", data, i)
        i += 4 * n
        size = 2 * n - 1
        blob = data[i : i + 32 * size]
        if len(blob) != 32 * size or len(positions) != n:
            raise ValueError(f"{PROOFS_FILE} is truncated in batch {batch_id}")
        i += 32 * size
        nodes = tuple(blob[j : j + 32] for j in range(0, len(blob), 32))
        yield int(batch_id), nodes, positions

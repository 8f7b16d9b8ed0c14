"""The one interface between the simulation and the chain: an attestation sink.

The engine calls ``record(kind, payload, sim_time_s)`` for every pricing event, decision and
clearing, ``tick(now)`` as simulated time passes, ``settle_auction(...)`` for each confirmed
auction (full mode) and ``close(now)`` at the end. :func:`make_sink` returns a :class:`NullSink`
for ``chain: {backend: off}`` — which imports no web3 at all — and otherwise the chain side's
bridge, ``chain.bridge.open_attestation_bridge(...)``, imported only then.

``kind`` is one of :data:`KINDS` (uint8 codes 1..5 on chain, in that order). ``payload`` is a
JSON-able mapping with pseudonymous ids only; its hash on chain is ``keccak256`` of
:func:`canonical_json` encoded UTF-8.

A sink may declare what it reads, so that the engine skips building what nobody reads:
``wants_payloads`` (default True; False: ``record`` gets an empty mapping — the record is
still made and counted) and ``wants_settlements`` (default True; False: ``settle_auction``
gets an empty mapping). :class:`NullSink` reads payloads only with ``check_payloads=True`` and
never reads settlements; the bridge reads settlements only in ``mode: full``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from sim.config.world import ChainConfig

__all__ = [
    "KINDS",
    "KIND_CODES",
    "STATS_KEYS",
    "AttestationError",
    "AttestationSink",
    "NullSink",
    "canonical_json",
    "make_sink",
]

#: Record kinds, in the order of their on-chain uint8 codes 1..5.
KINDS = ("price", "decision", "clearing", "fx_fixing", "pm_resolution")
KIND_CODES = {k: i + 1 for i, k in enumerate(KINDS)}
#: Keys every sink's ``close()`` returns.
STATS_KEYS = (
    "records",
    "batches",
    "transactions",
    "gas_total",
    "gas_per_record",
    "inclusion_latency_s_p50",
    "inclusion_latency_s_p95",
    "inclusion_latency_s_max",
)


class AttestationError(RuntimeError):
    """Attestation failed (the chain, its worker process, or a record it rejected): one line."""


@runtime_checkable
class AttestationSink(Protocol):
    """Where the engine's attestable records go (see the module docstring)."""

    def record(self, kind: str, payload: Mapping[str, Any], sim_time_s: float) -> None:
        """Queue one record of ``kind`` made at ``sim_time_s``."""
        ...

    def tick(self, sim_time_s: float) -> None:
        """Seal a batch if ``batch_interval_s`` passed since the last one."""
        ...

    def settle_auction(self, auction: Mapping[str, Any]) -> None:
        """Settle a confirmed auction on chain (full mode only; no-op in attest mode)."""
        ...

    def close(self, sim_time_s: float) -> Mapping[str, Any]:
        """Seal the rest and return the stats (:data:`STATS_KEYS`)."""
        ...

    def abort(self) -> None:
        """The run failed: release everything at once (stop any worker), seal nothing more."""
        ...


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of a payload (sorted keys, no spaces, ASCII); its UTF-8 bytes
    are what the chain side hashes with keccak256."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _check_kind(kind: str) -> None:
    if kind not in KIND_CODES:
        raise ValueError(f"attestation kind={kind!r}: must be one of {', '.join(KINDS)}")


class NullSink:
    """The sink of ``chain: off``: counts records by kind, touches no chain, imports no web3.

    ``check_payloads=True`` also checks that each payload is a mapping that serialises to
    canonical JSON with finite numbers (what the real bridge needs), at some cost per record;
    off by default to keep the engine's hot path lean.
    """

    def __init__(self, *, check_payloads: bool = False) -> None:
        self._check = check_payloads
        #: payloads are read only to check them; settlements never
        self.wants_payloads = bool(check_payloads)
        self.wants_settlements = False
        self._by_kind = dict.fromkeys(KINDS, 0)
        self._settlements = 0
        self._last_t = -math.inf
        self._closed: dict[str, Any] | None = None

    def record(self, kind: str, payload: Mapping[str, Any], sim_time_s: float) -> None:
        """Count one record (and check it when ``check_payloads``)."""
        if self._closed is not None:
            raise RuntimeError("attestation sink is closed")
        _check_kind(kind)
        if self._check:
            if not isinstance(payload, Mapping):
                raise ValueError(f"attestation payload={payload!r}: must be a mapping")
            try:
                json.dumps(payload, sort_keys=True, allow_nan=False)
            except (TypeError, ValueError) as err:
                raise ValueError(
                    f"attestation {kind} payload is not canonical JSON: {err}"
                ) from None
            if not math.isfinite(sim_time_s):
                raise ValueError(f"attestation sim_time_s={sim_time_s!r}: must be finite")
        self._by_kind[kind] += 1
        if sim_time_s > self._last_t:
            self._last_t = sim_time_s

    def tick(self, sim_time_s: float) -> None:
        """Nothing to seal without a chain."""

    def settle_auction(self, auction: Mapping[str, Any]) -> None:
        """Count the settlement (nothing is settled without a chain)."""
        if self._closed is not None:
            raise RuntimeError("attestation sink is closed")
        self._settlements += 1

    @property
    def records(self) -> int:
        """Records received so far."""
        return sum(self._by_kind.values())

    @property
    def records_by_kind(self) -> dict[str, int]:
        """Records received so far, per kind."""
        return dict(self._by_kind)

    def abort(self) -> None:
        """Nothing to release without a chain."""

    def close(self, sim_time_s: float) -> Mapping[str, Any]:
        """Stats with every :data:`STATS_KEYS` key (no batches, no gas, no inclusion latency;
        latencies are None) plus ``backend``, ``records_by_kind`` and ``settlements``.
        Idempotent."""
        if self._closed is None:
            self._closed = {
                "backend": "off",
                "records": self.records,
                "batches": 0,
                "transactions": 0,
                "gas_total": 0,
                "gas_per_record": 0.0,
                "inclusion_latency_s_p50": None,
                "inclusion_latency_s_p95": None,
                "inclusion_latency_s_max": None,
                "records_by_kind": self.records_by_kind,
                "settlements": self._settlements,
            }
        return dict(self._closed)


def make_sink(
    chain_cfg: ChainConfig, state_dir: str | Path, *, rpc_url: str | None = None
) -> AttestationSink:
    """The sink for a scenario's ``chain`` section.

    ``backend: off`` -> :class:`NullSink` (no web3 import). ``eth-tester`` / ``rpc`` ->
    ``chain.worker.BridgeWorker(BridgeConfig(...), state_dir)``, the bridge in a worker
    process, imported here and only here; ``state_dir`` is created.
    ``rpc_url`` overrides the section's (``ce run --rpc URL``) and implies ``backend: rpc``.
    """
    backend = "rpc" if rpc_url else chain_cfg.backend
    url = rpc_url or chain_cfg.rpc_url
    if backend == "off":
        return NullSink()
    if backend == "rpc" and not url:
        raise ValueError("chain.backend='rpc' needs chain.rpc_url (or --rpc URL)")
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    from chain.bridge import BridgeConfig
    from chain.worker import BridgeWorker

    config = BridgeConfig(
        backend=backend,
        rpc_url=url,
        mode=chain_cfg.mode,
        batch_size=chain_cfg.batch_size,
        batch_interval_s=chain_cfg.batch_interval_s,
    )
    return BridgeWorker(config, state, failure=AttestationError)

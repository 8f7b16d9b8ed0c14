"""Engine records as attested on chain: kinds, canonical payload hashing, the record type.

A record is ``(seq, kind, payload, sim_time)``.  On chain only its leaf is committed (see
:mod:`chain.merkle`): ``seq`` (uint256, 0-based, gap-free per run), the kind's uint8 code,
``payloadHash`` = keccak256 of the payload's canonical JSON, and ``simTime`` = the simulated time
in **whole seconds** (uint64; ``floor(sim_time_s)``: the second in which the record happened, the
unit the Attestor and HedgeSettlement contracts use).

The canonical JSON is ``json.dumps(payload, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`` encoded UTF-8 (the rule of COMMON.md), so the same payload hashes to the
same bytes in any process.  Payloads must not carry personal data: pseudonymous ids only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chain.merkle import keccak256, leaf_hash

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "Record",
    "canonical_json",
    "kind_code",
    "payload_hash",
    "sim_time_int",
]

#: record kind -> uint8 code on chain (the order is part of the on-chain format)
KINDS: dict[str, int] = {
    "price": 1,
    "decision": 2,
    "clearing": 3,
    "fx_fixing": 4,
    "pm_resolution": 5,
}
#: uint8 code -> record kind
KIND_NAMES: dict[int, str] = {v: k for k, v in KINDS.items()}

_U64_MAX = (1 << 64) - 1
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
).encode


def kind_code(kind: str) -> int:
    """The uint8 code of ``kind``; ``ValueError`` naming the allowed kinds otherwise."""
    try:
        return KINDS[kind]
    except (KeyError, TypeError):
        raise ValueError(
            f"kind={kind!r} is not a record kind; choose one of {', '.join(KINDS)}"
        ) from None


def canonical_json(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``payload`` (sorted keys, no spaces, ASCII, no NaN)."""
    if not isinstance(payload, Mapping):
        raise ValueError(f"payload={payload!r} is not a mapping; a record payload is a JSON object")
    try:
        return _encode(payload)
    except (TypeError, ValueError) as err:
        raise ValueError(f"payload is not canonical JSON-able: {err}") from None


def payload_hash(payload: Mapping[str, Any] | str) -> bytes:
    """keccak256 of the canonical JSON of ``payload`` (or of an already canonical JSON text)."""
    text = payload if isinstance(payload, str) else canonical_json(payload)
    return keccak256(text.encode("utf-8"))


def sim_time_int(sim_time_s: float) -> int:
    """Simulated seconds -> the attested uint64: whole seconds, rounded down."""
    if isinstance(sim_time_s, bool) or not isinstance(sim_time_s, int | float):
        raise ValueError(f"sim_time_s={sim_time_s!r} is not a number of seconds")
    if not math.isfinite(sim_time_s) or sim_time_s < 0:
        raise ValueError(f"sim_time_s={sim_time_s!r} must be finite and >= 0")
    whole = math.floor(sim_time_s)
    if whole > _U64_MAX:
        raise ValueError(f"sim_time_s={sim_time_s!r} does not fit a uint64 of seconds")
    return whole


@dataclass(frozen=True, slots=True)
class Record:
    """One attested record.

    ``payload_json`` is the canonical JSON text; ``payload_hash`` its keccak256 (32 bytes);
    ``sim_time`` the attested simulated time in whole seconds.
    """

    seq: int
    kind: str
    payload_json: str
    payload_hash: bytes
    sim_time: int

    @classmethod
    def make(cls, seq: int, kind: str, payload: Mapping[str, Any], sim_time_s: float) -> Record:
        """Validate and build a record from engine values."""
        kind_code(kind)
        text = canonical_json(payload)
        return cls(seq, kind, text, keccak256(text.encode("utf-8")), sim_time_int(sim_time_s))

    @property
    def kind_code(self) -> int:
        """The uint8 code of this record's kind."""
        return KINDS[self.kind]

    @property
    def leaf(self) -> bytes:
        """The double-hashed Merkle leaf of this record."""
        return leaf_hash(self.seq, KINDS[self.kind], self.payload_hash, self.sim_time)

    def to_json(self, batch_id: int) -> dict[str, Any]:
        """The row written to ``records.jsonl`` (payload kept as its canonical JSON text)."""
        return {
            "seq": self.seq,
            "kind": self.kind,
            "payload": self.payload_json,
            "payload_hash": "0x" + self.payload_hash.hex(),
            "sim_time": self.sim_time,
            "batch_id": batch_id,
        }

"""Sealed-offer commitments, byte-identical to the Solidity contract.

``commitment_hash(auction_id, lender, amount_cents, rate_bps, salt)`` is
``keccak256(abi.encode(uint256 auction_id, address lender, uint256 amount_cents,
uint256 rate_bps, bytes32 salt))``: five 32-byte ABI words (uints big-endian, the address
left-padded with 12 zero bytes, the salt as is), hashed with Keccak-256 (Ethereum's, not NIST
SHA3-256).  The words are assembled directly (instead of about 47 µs through ``eth_abi.encode``)
and hashed with the C Keccak of ``safe-pysha3`` (``sha3.keccak_256``, about 1.3 µs for the 160
bytes; py-evm already depends on it) when it is importable, else ``eth_hash`` (pycryptodome,
about 12 µs); an address's 20 bytes are parsed once per lender.  The tests check the bytes
against ``eth_abi.encode`` + pycryptodome and a golden constant.

Lenders in the simulation have pseudonymous ids such as ``"l17"``, not addresses;
:func:`lender_address` maps an id to a stable address (an id that already is a ``0x`` address is
used as is) and :func:`offer_commitment` hashes with that mapping applied, so off-chain
commitments are deterministic.  The chain settlement commits from its own derived dev account
per lender and recomputes the commitment with :func:`commitment_hash` and that account's
address; an off-chain commitment therefore matches the on-chain one only when the lender id is
that address (see ``docs/mechanisms.md``).
:func:`new_salt` draws a salt from a caller-supplied ``numpy.random.Generator``.

:func:`offer_commitments` hashes all offers of one auction in one call (checks done once per
auction where they can be). Both it and :func:`offer_commitment` remember the commitments they
computed, keyed by the checked arguments ``(auction_id, lender, amount_cents, rate_bps,
salt)``, in a bounded dictionary (emptied when it holds ``_MEMO_MAX`` entries): the reveal
check of :mod:`market.auction.lifecycle` recomputes an offer's commitment from the revealed values, and
when those are the committed ones that costs a lookup instead of a second Keccak. The memo
only avoids recomputing a pure function (same bytes either way); a reveal with any other
value is a miss and is hashed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

try:  # C Keccak-256 (safe-pysha3, a py-evm dependency): ~10x faster than eth_hash's default
    from sha3 import keccak_256 as _keccak_new
except ImportError:  # pragma: no cover - without safe-pysha3
    from eth_hash.auto import keccak as _eth_hash_keccak

    class _keccak_new:  # stands in for sha3.keccak_256
        """``sha3.keccak_256(data).digest()`` over ``eth_hash``."""

        __slots__ = ("_data",)

        def __init__(self, data: bytes) -> None:
            self._data = data

        def digest(self) -> bytes:
            return _eth_hash_keccak(self._data)


def keccak(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's) of ``data``."""
    return _keccak_new(data).digest()


__all__ = [
    "UINT256_MAX",
    "commitment_hash",
    "lender_address",
    "new_salt",
    "offer_commitment",
    "offer_commitments",
]

UINT256_MAX = 2**256 - 1
_PAD12 = bytes(12)
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
#: domain separator for deriving addresses from lender ids
_LENDER_DOMAIN = b"creditengine.lender:"


def _uint(field: str, value: object) -> int:
    if type(value) is not int or not 0 <= value <= UINT256_MAX:
        raise ValueError(f"{field}={value!r}: must be an integer in [0, 2**256)")
    return value


def commitment_hash(
    auction_id: int, lender: str, amount_cents: int, rate_bps: int, salt: bytes
) -> bytes:
    """32-byte commitment = Solidity ``keccak256(abi.encode(auction_id, lender, amount_cents,
    rate_bps, salt))``.  ``lender`` is a ``0x`` address (any case; not checksum-checked),
    ``salt`` exactly 32 bytes."""
    if not isinstance(salt, bytes | bytearray) or len(salt) != 32:
        raise ValueError(f"salt={salt!r}: must be exactly 32 bytes")
    return _hash_words(auction_id, _address_word(lender), amount_cents, rate_bps, bytes(salt))


_U256 = 1 << 256


def _hash_words(auction_id: int, address_word: bytes, amount: int, rate: int, salt: bytes) -> bytes:
    if not (
        type(auction_id) is int
        and type(amount) is int
        and type(rate) is int
        and 0 <= auction_id < _U256
        and 0 <= amount < _U256
        and 0 <= rate < _U256
    ):
        _uint("auction_id", auction_id)
        _uint("amount_cents", amount)
        _uint("rate_bps", rate)
    return keccak(_preimage(auction_id, address_word, amount, rate, salt))


def _preimage(auction_id: int, address_word: bytes, amount: int, rate: int, salt: bytes) -> bytes:
    """``abi.encode(uint256, address, uint256, uint256, bytes32)`` of checked values."""
    return b"".join(
        (
            auction_id.to_bytes(32, "big"),
            address_word,
            amount.to_bytes(32, "big"),
            rate.to_bytes(32, "big"),
            salt,
        )
    )


@lru_cache(maxsize=1 << 16)
def _address_word(lender: str) -> bytes:
    """The 32-byte ABI word of ``0x`` address ``lender`` (12 zero bytes + its 20 bytes)."""
    if not isinstance(lender, str) or not _ADDRESS.match(lender):
        raise ValueError(f"lender={lender!r}: must be a 0x-prefixed 20-byte hex address")
    return _PAD12 + bytes.fromhex(lender[2:])


@lru_cache(maxsize=1 << 16)
def lender_address(lender: str) -> str:
    """The address used for ``lender`` in commitments: ``lender`` itself (lower-cased) when it
    is a ``0x`` address, otherwise the last 20 bytes of ``keccak256("creditengine.lender:" +
    lender)`` as lower-case hex."""
    if not isinstance(lender, str) or not lender:
        raise ValueError(f"lender={lender!r}: must be a non-empty string")
    if _ADDRESS.match(lender):
        return lender.lower()
    return "0x" + keccak(_LENDER_DOMAIN + lender.encode("utf-8"))[-20:].hex()


def new_salt(rng: np.random.Generator) -> bytes:
    """32 random bytes drawn from ``rng`` (deterministic for a seeded generator)."""
    return rng.bytes(32)


def offer_commitment(
    auction_id: int, lender: str, amount_cents: int, rate_bps: int, salt: bytes
) -> bytes:
    """:func:`commitment_hash` for a lender given by id or address (see :func:`lender_address`).

    Memoised (see the module docstring): checking the reveal of an offer whose commitment was
    made here (or by :func:`offer_commitments`) moments before costs a lookup, not a Keccak."""
    if (
        type(salt) is bytes
        and len(salt) == 32
        and type(auction_id) is int
        and type(amount_cents) is int
        and type(rate_bps) is int
        and 0 <= auction_id < _U256
        and 0 <= amount_cents < _U256
        and 0 <= rate_bps < _U256
    ):
        key = (auction_id, lender, amount_cents, rate_bps, salt)
        got = _MEMO.get(key)
        if got is not None:
            return got
        word = _LENDER_WORDS.get(lender)
        if word is None:
            word = _lender_word(lender)
        got = _keccak_new(_preimage(auction_id, word, amount_cents, rate_bps, salt)).digest()
        if len(_MEMO) >= _MEMO_MAX:
            _MEMO.clear()
        _MEMO[key] = got
        return got
    return commitment_hash(auction_id, lender_address(lender), amount_cents, rate_bps, salt)


def offer_commitments(
    auction_id: int, offers: Iterable[tuple[str, int, int, bytes]]
) -> list[bytes]:
    """:func:`offer_commitment` of each ``(lender, amount_cents, rate_bps, salt)`` of one
    auction, in order (the same bytes; one call for a whole auction's offers)."""
    memo = _MEMO
    if len(memo) >= _MEMO_MAX:
        memo.clear()
    if type(auction_id) is not int or not 0 <= auction_id < _U256:
        _uint("auction_id", auction_id)
    aid_word = auction_id.to_bytes(32, "big")
    words = _LENDER_WORDS
    out = []
    for lender, amount, rate, salt in offers:
        if not (
            type(salt) is bytes
            and len(salt) == 32
            and type(amount) is int
            and type(rate) is int
            and 0 <= amount < _U256
            and 0 <= rate < _U256
        ):
            out.append(offer_commitment(auction_id, lender, amount, rate, salt))  # raises
            continue
        word = words.get(lender)
        if word is None:
            word = _lender_word(lender)
        c = _keccak_new(
            b"".join((aid_word, word, amount.to_bytes(32, "big"), rate.to_bytes(32, "big"), salt))
        ).digest()
        memo[(auction_id, lender, amount, rate, salt)] = c
        out.append(c)
    return out


#: (auction_id, lender, amount_cents, rate_bps, salt) -> commitment, for checked arguments only
#: (so a key never mixes ``1`` with ``1.0`` or ``True``); emptied when it reaches _MEMO_MAX
_MEMO: dict[tuple[int, str, int, int, bytes], bytes] = {}
_MEMO_MAX = 1 << 14
#: lender id -> 32-byte ABI word of its address (see :func:`lender_address`)
_LENDER_WORDS: dict[str, bytes] = {}
_LENDER_WORDS_MAX = 1 << 16


def _lender_word(lender: str) -> bytes:
    word = _address_word(lender_address(lender))
    if len(_LENDER_WORDS) >= _LENDER_WORDS_MAX:
        _LENDER_WORDS.clear()
    _LENDER_WORDS[lender] = word
    return word

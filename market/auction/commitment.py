"""Sealed-offer commitments, byte-identical to the Solidity contract.

``commitment_hash(auction_id, lender, amount_cents, rate_bps, salt)`` is
``keccak256(abi.encode(uint256 auction_id, address lender, uint256 amount_cents,
uint256 rate_bps, bytes32 salt))``: five 32-byte ABI words (uints big-endian, the address
left-padded with 12 zero bytes, the salt as is), hashed with Keccak-256 (Ethereum's, not NIST
SHA3-256).  The words are assembled directly (not through ``eth_abi.encode``) and hashed with
the C Keccak of ``safe-pysha3`` (``sha3.keccak_256``; py-evm already depends on it) when it is
importable, else ``eth_hash``.  The tests check the bytes against ``eth_abi.encode`` +
pycryptodome and a golden constant.

Lenders in the simulation have pseudonymous ids such as ``"l17"``, not addresses;
:func:`lender_address` maps an id to a stable address (an id that already is a ``0x`` address is
used as is) and :func:`offer_commitment` hashes with that mapping applied, so off-chain
commitments are deterministic.  A caller that knows its lenders' addresses already (the
simulation computes each lender's once, with its population) passes ``address_of`` instead of
having each id hashed again.  The chain settlement commits from its own derived dev account
per lender and recomputes the commitment with :func:`commitment_hash` and that account's
address; an off-chain commitment therefore matches the on-chain one only when the lender id is
that address (see ``docs/mechanisms.md``).
:func:`new_salt` draws a salt from a caller-supplied ``numpy.random.Generator``.

Everything here is a pure function: nothing is remembered between calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from market.validation import TEXT, Bytes, Integer, Pattern

try:  # C Keccak-256 (safe-pysha3, a py-evm dependency)
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


__all__ = [
    "UINT256_MAX",
    "address_word",
    "commitment_hash",
    "keccak",
    "lender_address",
    "new_salt",
    "offer_commitment",
    "offer_commitments",
]

UINT256_MAX = 2**256 - 1
_PAD12 = bytes(12)
_UINT256 = Integer(0, UINT256_MAX, text="must be an integer in [0, 2**256)")
_SALT = Bytes(32)
_ADDRESS = Pattern(r"0x[0-9a-fA-F]{40}", "must be a 0x-prefixed 20-byte hex address")
#: domain separator for deriving addresses from lender ids
_LENDER_DOMAIN = b"creditengine.lender:"

#: a lender id -> its ``0x`` address (:func:`lender_address`, or the caller's own table)
AddressOf = Callable[[str], str]


def keccak(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's) of ``data``."""
    return _keccak_new(data).digest()


def address_word(lender: str) -> bytes:
    """The 32-byte ABI word of ``0x`` address ``lender`` (12 zero bytes + its 20 bytes)."""
    return _PAD12 + bytes.fromhex(_ADDRESS.check("lender", lender)[2:])


def commitment_hash(
    auction_id: int, lender: str, amount_cents: int, rate_bps: int, salt: bytes
) -> bytes:
    """32-byte commitment = Solidity ``keccak256(abi.encode(auction_id, lender, amount_cents,
    rate_bps, salt))``.  ``lender`` is a ``0x`` address (any case; not checksum-checked),
    ``salt`` exactly 32 bytes."""
    aid = _UINT256.check("auction_id", auction_id)
    return _commitment(aid.to_bytes(32, "big"), lender, amount_cents, rate_bps, salt)


def _commitment(
    aid_word: bytes, lender: str, amount_cents: int, rate_bps: int, salt: bytes
) -> bytes:
    """:func:`commitment_hash` given the auction id's ABI word; checks the other four."""
    words = (
        aid_word,
        address_word(lender),
        _UINT256.check("amount_cents", amount_cents).to_bytes(32, "big"),
        _UINT256.check("rate_bps", rate_bps).to_bytes(32, "big"),
        _SALT.check("salt", salt),
    )
    return _keccak_new(b"".join(words)).digest()


def lender_address(lender: str) -> str:
    """The address used for ``lender`` in commitments: ``lender`` itself (lower-cased) when it
    is a ``0x`` address, otherwise the last 20 bytes of ``keccak256("creditengine.lender:" +
    lender)`` as lower-case hex."""
    TEXT.check("lender", lender)
    if _ADDRESS.pattern.fullmatch(lender):
        return lender.lower()
    return "0x" + keccak(_LENDER_DOMAIN + lender.encode("utf-8"))[-20:].hex()


def new_salt(rng: np.random.Generator) -> bytes:
    """32 random bytes drawn from ``rng`` (deterministic for a seeded generator)."""
    return rng.bytes(32)


def offer_commitment(
    auction_id: int,
    lender: str,
    amount_cents: int,
    rate_bps: int,
    salt: bytes,
    *,
    address_of: AddressOf = lender_address,
) -> bytes:
    """:func:`commitment_hash` for a lender given by id or address: ``address_of(lender)``
    (default :func:`lender_address`) is the address hashed."""
    return commitment_hash(auction_id, address_of(lender), amount_cents, rate_bps, salt)


def offer_commitments(
    auction_id: int,
    offers: Iterable[tuple[str, int, int, bytes]],
    *,
    address_of: AddressOf = lender_address,
) -> list[bytes]:
    """:func:`offer_commitment` of each ``(lender, amount_cents, rate_bps, salt)`` of one
    auction, in order (the auction id is checked once)."""
    aid = _UINT256.check("auction_id", auction_id).to_bytes(32, "big")
    return [
        _commitment(aid, address_of(lender), amount, rate, salt)
        for lender, amount, rate, salt in offers
    ]

"""Commitment hashes: byte-identical to Solidity ``keccak256(abi.encode(...))``."""

from __future__ import annotations

import numpy as np
import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_abi import encode
from hypothesis import given
from hypothesis import strategies as st

import market.auction.commitment as mc
from market.auction.commitment import (
    commitment_hash,
    lender_address,
    new_salt,
    offer_commitment,
    offer_commitments,
)

ADDR = "0x" + "ab" * 20
SALT = bytes(range(32))
#: keccak256(abi.encode(uint256 7, address 0xabab..ab, uint256 400000, uint256 2400,
#: bytes32 0x000102..1f)), computed once with eth_abi.encode + pycryptodome and frozen here
GOLDEN = "e4325a438a959360a38507b4bb4e97e9bb12e23dc62a13582628df2653b8d3ae"


def keccak_pycryptodome(data: bytes) -> bytes:
    return pycryptodome_keccak.new(digest_bits=256, data=data).digest()


def hand_abi_words(auction_id: int, lender: str, amount: int, rate: int, salt: bytes) -> bytes:
    """Five 32-byte ABI words assembled by hand, independent of the module under test."""
    addr = bytes.fromhex(lender[2:])
    return (
        auction_id.to_bytes(32, "big")
        + b"\x00" * 12
        + addr
        + amount.to_bytes(32, "big")
        + rate.to_bytes(32, "big")
        + salt
    )


def test_golden_vector() -> None:
    assert commitment_hash(7, ADDR, 400000, 2400, SALT).hex() == GOLDEN


def test_hand_words_equal_eth_abi() -> None:
    words = hand_abi_words(7, ADDR, 400000, 2400, SALT)
    assert len(words) == 160
    abi = encode(
        ["uint256", "address", "uint256", "uint256", "bytes32"], [7, ADDR, 400000, 2400, SALT]
    )
    assert words == abi
    assert keccak_pycryptodome(words).hex() == GOLDEN


def test_not_sha3_256() -> None:
    import hashlib

    words = hand_abi_words(7, ADDR, 400000, 2400, SALT)
    assert commitment_hash(7, ADDR, 400000, 2400, SALT) != hashlib.sha3_256(words).digest()


@given(
    auction_id=st.integers(0, 2**256 - 1),
    addr=st.binary(min_size=20, max_size=20),
    amount=st.integers(0, 2**256 - 1),
    rate=st.integers(0, 2**256 - 1),
    salt=st.binary(min_size=32, max_size=32),
    upper=st.booleans(),
)
def test_matches_eth_abi_and_pycryptodome(
    auction_id: int, addr: bytes, amount: int, rate: int, salt: bytes, upper: bool
) -> None:
    lender = "0x" + (addr.hex().upper() if upper else addr.hex())
    expected = keccak_pycryptodome(hand_abi_words(auction_id, lender, amount, rate, salt))
    assert commitment_hash(auction_id, lender, amount, rate, salt) == expected
    abi = encode(
        ["uint256", "address", "uint256", "uint256", "bytes32"],
        [auction_id, "0x" + addr.hex(), amount, rate, salt],
    )
    assert keccak_pycryptodome(abi) == expected


def test_every_field_matters() -> None:
    base = commitment_hash(7, ADDR, 400000, 2400, SALT)
    assert commitment_hash(8, ADDR, 400000, 2400, SALT) != base
    assert commitment_hash(7, "0x" + "ac" * 20, 400000, 2400, SALT) != base
    assert commitment_hash(7, ADDR, 400001, 2400, SALT) != base
    assert commitment_hash(7, ADDR, 400000, 2405, SALT) != base
    assert commitment_hash(7, ADDR, 400000, 2400, bytes(32)) != base


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((-1, ADDR, 1, 1, SALT), "auction_id"),
        ((2**256, ADDR, 1, 1, SALT), "auction_id"),
        ((1, "l1", 1, 1, SALT), "lender"),
        ((1, "0x" + "ab" * 19, 1, 1, SALT), "lender"),
        ((1, ADDR, True, 1, SALT), "amount_cents"),
        ((1, ADDR, 1, 1.0, SALT), "rate_bps"),
        ((1, ADDR, 1, 1, bytes(31)), "salt"),
    ],
)
def test_bad_arguments_name_the_field(args: tuple, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        commitment_hash(*args)


def test_lender_address_is_stable_and_addresses_pass_through() -> None:
    a = lender_address("l1")
    assert a == lender_address("l1") and a != lender_address("l2")
    assert a.startswith("0x") and len(a) == 42 and a == a.lower()
    expected = "0x" + keccak_pycryptodome(b"creditengine.lender:l1")[-20:].hex()
    assert a == expected
    assert lender_address(ADDR.upper().replace("0X", "0x")) == ADDR
    assert offer_commitment(7, "l1", 5, 10, SALT) == commitment_hash(7, a, 5, 10, SALT)


def test_new_salt_is_seeded() -> None:
    s1 = new_salt(np.random.default_rng(3))
    s2 = new_salt(np.random.default_rng(3))
    assert s1 == s2 and len(s1) == 32
    assert new_salt(np.random.default_rng(4)) != s1


@given(
    auction_id=st.integers(0, 2**64),
    offers=st.lists(
        st.tuples(
            st.sampled_from(["l1", "retail-007", "pool-P1", ADDR]),
            st.integers(0, 2**256 - 1),
            st.integers(0, 2**256 - 1),
            st.binary(min_size=32, max_size=32),
        ),
        max_size=6,
    ),
)
def test_batch_and_single_commitments_equal_the_plain_hash(auction_id, offers) -> None:
    expected = [
        keccak_pycryptodome(hand_abi_words(auction_id, lender_address(lr), a, r, s))
        for lr, a, r, s in offers
    ]
    assert offer_commitments(auction_id, offers) == expected
    assert [offer_commitment(auction_id, *o) for o in offers] == expected
    # a caller's own table of addresses gives the same bytes
    table = {lr: lender_address(lr) for lr, _, _, _ in offers}
    assert offer_commitments(auction_id, offers, address_of=table.__getitem__) == expected
    assert [offer_commitment(auction_id, *o, address_of=table.__getitem__) for o in offers] == (
        expected
    )


def test_bad_arguments_of_the_lender_id_forms_name_the_field() -> None:
    for bad, field in (
        ((7, "l1", True, 10, SALT), "amount_cents"),
        ((7, "l1", 1.0, 10, SALT), "amount_cents"),
        ((7.0, "l1", 1, 10, SALT), "auction_id"),
        ((7, "l1", 1, 10, bytearray(SALT)[:31]), "salt"),
        ((7, "", 1, 10, SALT), "lender"),
    ):
        with pytest.raises(ValueError, match=field):
            offer_commitment(*bad)
        with pytest.raises(ValueError, match=field):
            offer_commitments(bad[0], [bad[1:]])
    # numpy integers are integers: the same bytes as the plain ints
    assert offer_commitment(7, "l1", 1, np.int64(10), SALT) == offer_commitment(
        7, "l1", 1, 10, SALT
    )


def test_the_module_remembers_nothing() -> None:
    """Pure functions only: no module-level dict, list or set, no functools cache."""
    import types

    for name, value in vars(mc).items():
        if name.startswith("__"):
            continue
        assert not isinstance(value, dict | list | set), name
        assert not hasattr(value, "cache_info"), name
        if isinstance(value, types.FunctionType):
            assert not hasattr(value, "__wrapped__"), name

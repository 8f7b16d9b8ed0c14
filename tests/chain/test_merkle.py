"""Merkle trees: OpenZeppelin known answers, every proof verifies, any change breaks it."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.merkle import (
    build_tree,
    hash_pair,
    keccak256,
    leaf_hash,
    merkle_root,
    process_proof,
    proof_from_nodes,
    verify_proof,
)
from chain.records import Record, canonical_json, kind_code, payload_hash, sim_time_int

# Known answers produced by @openzeppelin/merkle-tree 1.x:
#   StandardMerkleTree.of(values, ["uint256", "uint8", "bytes32", "uint64"])
# with values[i] = [1000 + i, i % 5 + 1, keccak256("payload-" + i), 1500 * i].
OZ_VECTORS = {
    1: (
        "0xa01cd5d54d644dca70d567d46138113a0e3a477fdc4c4e89ac30186820ea0716",
        [],
    ),
    2: (
        "0x009344bf60f6ee9999979125418be5860b68a57bd72bd7bd99f8badf58336813",
        ["0xa01cd5d54d644dca70d567d46138113a0e3a477fdc4c4e89ac30186820ea0716"],
    ),
    3: (
        "0x13b1d67db9537e77a058b50754e8070301397fe8be17be3a9dcec1249ee43112",
        [
            "0xa01cd5d54d644dca70d567d46138113a0e3a477fdc4c4e89ac30186820ea0716",
            "0xfcd60fc191dec602123e87af94a7b62e0855b13a5547119336600e3a8d129947",
        ],
    ),
    5: (
        "0x2a83d71aad68d3c70302ec55c31e851f1a2efab5aa272bbfdc73b0eabaf74783",
        [
            "0xa01cd5d54d644dca70d567d46138113a0e3a477fdc4c4e89ac30186820ea0716",
            "0xcdd2e1634bda9d334be86a14ad1dc5409942eeb40e0227db094b0037146d2f06",
        ],
    ),
    8: (
        "0x51c979d389af8a68310b6a3638a574e26ac9c1ff09522edcc5b5446eafc92e8d",
        [
            "0x7e5817fbb818bd70e5194100484fc6612ba9bad26feea519bc36411446abbc53",
            "0x2a75b749c9a51eaf835cd9717cb5ac16086991aa5a0a537a5dc9c41ea4c68d27",
            "0xa36a299c2c762d3e2f955012d44e198bdd80dffaeec7281ca974b10594b81ee7",
        ],
    ),
    13: (
        "0x51df1a87550ed0c5a971696bccb27369c58dfb8276af99722142efa195062927",
        [
            "0x4233f231049febc5922a280e6e55dc41e6f4952feb3cfa19c4f9febfa0bc71d4",
            "0x332a3f38338b48a8721b2e66b1402b9cbcace36d26656402ee490a0027dd0c35",
            "0xea37e5fbb2f741cf8eaf043673f24d42cd16bbb53595d2a86aa81c4fb885a345",
            "0xe3b7aab52cd69bc322c92debdebd4e7accc392ed5cc15ae258f1dea0f3e41765",
        ],
    ),
}


def _oz_leaves(n: int) -> list[bytes]:
    return [
        leaf_hash(1000 + i, i % 5 + 1, keccak256(f"payload-{i}".encode()), 1500 * i)
        for i in range(n)
    ]


def test_keccak_known_answer() -> None:
    assert keccak256(b"").hex() == (
        "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    )


@pytest.mark.parametrize("n", sorted(OZ_VECTORS))
def test_matches_openzeppelin_standard_merkle_tree(n: int) -> None:
    root_hex, proof_last = OZ_VECTORS[n]
    tree = build_tree(_oz_leaves(n))
    assert "0x" + tree.root.hex() == root_hex
    assert ["0x" + p.hex() for p in tree.proof(n - 1)] == proof_last


leaves_st = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=80)


@given(leaves_st)
def test_every_proof_verifies(leaves: list[bytes]) -> None:
    tree = build_tree(leaves)
    assert tree.root == merkle_root(leaves)
    lazy = build_tree(leaves, proofs=False)
    assert lazy.root == tree.root and lazy.proofs == ()
    for i, leaf in enumerate(leaves):
        assert verify_proof(leaf, tree.proof(i), tree.root)
        assert lazy.proof(i) == tree.proof(i) == proof_from_nodes(tree.nodes, tree.positions[i])
        # a proof never needs more than ceil(log2(n)) + 1 siblings
        assert len(tree.proof(i)) <= len(leaves).bit_length()


@given(leaves_st, st.data())
def test_changed_leaf_fails(leaves: list[bytes], data: st.DataObject) -> None:
    tree = build_tree(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    other = data.draw(st.binary(min_size=32, max_size=32).filter(lambda b: b not in leaves))
    assert not verify_proof(other, tree.proof(i), tree.root)


@given(
    st.lists(st.binary(min_size=32, max_size=32), min_size=2, max_size=80, unique=True), st.data()
)
def test_changed_proof_fails(leaves: list[bytes], data: st.DataObject) -> None:
    tree = build_tree(leaves)
    i = data.draw(st.integers(0, len(leaves) - 1))
    proof = list(tree.proof(i))
    j = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    flipped = bytearray(proof[j])
    flipped[bit // 8] ^= 1 << (bit % 8)
    proof[j] = bytes(flipped)
    assert not verify_proof(leaves[i], proof, tree.root)
    # dropping a sibling breaks it too (except in the degenerate tree of one leaf)
    assert not verify_proof(leaves[i], tuple(tree.proof(i))[:-1], tree.root)


@given(leaves_st, st.randoms(use_true_random=False))
def test_root_independent_of_leaf_order(leaves: list[bytes], rnd) -> None:
    shuffled = list(leaves)
    rnd.shuffle(shuffled)
    assert merkle_root(leaves) == merkle_root(shuffled)


def test_hash_pair_is_commutative_and_proof_folds() -> None:
    a, b = keccak256(b"a"), keccak256(b"b")
    assert hash_pair(a, b) == hash_pair(b, a) == keccak256(min(a, b) + max(a, b))
    assert process_proof(a, [b]) == hash_pair(a, b)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="leaves is empty"):
        build_tree([])
    with pytest.raises(ValueError, match=r"leaves\[1\] has 3 bytes"):
        build_tree([b"\x00" * 32, b"abc"])
    with pytest.raises(ValueError, match="kind=256 is not a uint8"):
        leaf_hash(0, 256, b"\x00" * 32, 0)
    with pytest.raises(ValueError, match="sim_time=-1 is not a uint64"):
        leaf_hash(0, 1, b"\x00" * 32, -1)


def test_records_canonical_hash_and_kinds() -> None:
    payload = {"b": 1, "a": [1, 2, {"z": "é"}]}
    text = canonical_json(payload)
    assert text == '{"a":[1,2,{"z":"\\u00e9"}],"b":1}'
    assert payload_hash(payload) == keccak256(text.encode()) == payload_hash(text)
    assert [
        kind_code(k) for k in ("price", "decision", "clearing", "fx_fixing", "pm_resolution")
    ] == [
        1,
        2,
        3,
        4,
        5,
    ]
    with pytest.raises(ValueError, match="kind='trade' is not a record kind"):
        kind_code("trade")
    with pytest.raises(ValueError, match="not canonical JSON-able"):
        canonical_json({"x": float("nan")})
    assert sim_time_int(1.9999) == 1 and sim_time_int(0.0) == 0 and sim_time_int(7) == 7
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        sim_time_int(-1.0)
    rec = Record.make(3, "price", {"p": 5}, 1500.75)
    assert rec.leaf == leaf_hash(3, 1, keccak256(b'{"p":5}'), 1500)
    assert rec.to_json(0)["payload"] == '{"p":5}'


@pytest.fixture(scope="module")
def attestor():
    from chain.backends import eth_tester_backend
    from chain.deploy import deploy_all

    return deploy_all(eth_tester_backend())["Attestor"]


@settings(max_examples=25)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 2**64),
            st.integers(1, 5),
            st.binary(min_size=32, max_size=32),
            st.integers(0, 2**64 - 1),
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda r: r[0],
    ),
    st.data(),
)
def test_python_tree_agrees_with_the_attestor_contract(attestor, records, data) -> None:
    """The contract's leafHash equals ours, and our proofs verify under our root on chain."""
    leaves = [leaf_hash(*r) for r in records]
    i = data.draw(st.integers(0, len(records) - 1))
    assert attestor.call("leafHash", *records[i]) == leaves[i]
    tree = build_tree(leaves)
    found, batch_id = attestor.call("batchIdOf", tree.root)
    if not found:
        batch_id = attestor.call("batchCount")
        attestor.transact("attestBatch", tree.root, 0, len(leaves), gas=150_000)
    for j in {0, i, len(leaves) - 1}:
        assert attestor.call("verify", leaves[j], list(tree.proof(j)), batch_id) is True
    other = keccak256(leaves[i])
    assert attestor.call("verify", other, list(tree.proof(i)), batch_id) is False

"""Attestor: batches, idempotency by root, proofs against the Python Merkle tree, every revert."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.merkle import build_tree, keccak256, leaf_hash

ATTEST_GAS = 120_000
#: gas ceiling of one attestBatch (measured ~76.6k: two fresh slots, counter, role check, event)
ATTEST_GAS_CEILING = 80_000


@pytest.fixture(scope="module")
def attestor(chain, roles):
    return chain.deploy("Attestor", roles["admin"], roles["engine"])


def _leaves(n: int, first_seq: int = 0) -> list[bytes]:
    return [
        leaf_hash(first_seq + i, i % 5 + 1, keccak256(b"payload-%d" % i), 1500 * i)
        for i in range(n)
    ]


def _attest(evm, attestor, engine, root: bytes, first_seq: int, count: int):
    return evm.send(attestor.functions.attestBatch(root, first_seq, count), engine, ATTEST_GAS)


def test_attest_stores_sequential_batches_and_emits(evm, attestor, roles):
    engine = roles["engine"]
    roots = [build_tree(_leaves(4, 4 * k)).root for k in range(3)]
    for k, root in enumerate(roots):
        receipt = _attest(evm, attestor, engine, root, 4 * k, 4)
        (ev,) = evm.events(attestor, receipt, "BatchAttested")
        assert ev == {"batchId": k, "root": root, "firstSeq": 4 * k, "count": 4}
        assert receipt.gasUsed <= ATTEST_GAS_CEILING, receipt.gasUsed
    assert attestor.functions.batchCount().call() == 3
    for k, root in enumerate(roots):
        assert attestor.functions.batch(k).call() == (root, 4 * k, 4)
        assert attestor.functions.batchIdOf(root).call() == [True, k]
    assert attestor.functions.batchIdOf(b"\x01" * 32).call() == [False, 0]


def test_reattesting_a_root_names_the_existing_batch(evm, attestor, roles):
    engine = roles["engine"]
    first = build_tree(_leaves(3)).root
    second = build_tree(_leaves(3, 3)).root
    _attest(evm, attestor, engine, first, 0, 3)
    _attest(evm, attestor, engine, second, 3, 3)
    evm.reverts(
        attestor.functions.attestBatch(first, 0, 3), engine, "RootAlreadyAttested", first, 0
    )
    # even with other seq numbers: the root alone identifies the batch
    evm.reverts(
        attestor.functions.attestBatch(second, 9, 1), engine, "RootAlreadyAttested", second, 1
    )
    # the failed transaction really fails on chain and changes nothing
    receipt = evm.w3.eth.get_transaction_receipt(
        attestor.functions.attestBatch(first, 0, 3).transact(
            {
                "from": engine,
                "gas": ATTEST_GAS,
                "maxFeePerGas": 2 * 10**10,
                "maxPriorityFeePerGas": 10**9,
            }
        )
    )
    assert receipt.status == 0
    assert attestor.functions.batchCount().call() == 2


def test_attest_rejects_zero_root_and_empty_batch(evm, attestor, roles):
    engine = roles["engine"]
    evm.reverts(attestor.functions.attestBatch(b"\0" * 32, 0, 1), engine, "ZeroRoot")
    root = b"\x07" * 32
    evm.reverts(attestor.functions.attestBatch(root, 5, 0), engine, "EmptyBatch", root)


@pytest.mark.parametrize("who", ["admin", "outsider", "borrower"])
def test_attest_requires_engine_role(evm, attestor, roles, who):
    role = attestor.functions.ENGINE_ROLE().call()
    evm.reverts(
        attestor.functions.attestBatch(b"\x01" * 32, 0, 1),
        roles[who],
        "AccessControlUnauthorizedAccount",
        roles[who],
        role,
    )


def test_role_admin_can_grant_engine_role(evm, attestor, roles):
    role = attestor.functions.ENGINE_ROLE().call()
    evm.send(attestor.functions.grantRole(role, roles["outsider"]), roles["admin"])
    _attest(evm, attestor, roles["outsider"], b"\x02" * 32, 0, 1)
    evm.reverts(
        attestor.functions.grantRole(role, roles["borrower"]),
        roles["engine"],
        "AccessControlUnauthorizedAccount",
        roles["engine"],
        attestor.functions.DEFAULT_ADMIN_ROLE().call(),
    )


def test_unknown_batch_reverts_in_views(evm, attestor, roles):
    evm.reverts(attestor.functions.batch(0), roles["outsider"], "UnknownBatch", 0, 0)
    _attest(evm, attestor, roles["engine"], b"\x03" * 32, 0, 1)
    evm.reverts(attestor.functions.batch(1), roles["outsider"], "UnknownBatch", 1, 1)
    evm.reverts(
        attestor.functions.verify(b"\x03" * 32, [], 7), roles["outsider"], "UnknownBatch", 7, 1
    )


def test_leaf_hash_matches_python_and_rejects_unknown_kinds(evm, attestor, roles):
    payload = keccak256(b'{"price":1}')
    for kind in range(1, 6):
        got = attestor.functions.leafHash(2**200 + kind, kind, payload, 2**63).call()
        assert got == leaf_hash(2**200 + kind, kind, payload, 2**63)
    for kind in (0, 6, 255):
        evm.reverts(
            attestor.functions.leafHash(1, kind, payload, 0), roles["outsider"], "UnknownKind", kind
        )


@pytest.mark.parametrize("n", [1, 2, 7, 16])
def test_every_python_proof_verifies_and_tampering_fails(evm, attestor, roles, n):
    leaves = _leaves(n, 100)
    tree = build_tree(leaves)
    _attest(evm, attestor, roles["engine"], tree.root, 100, n)
    verify = attestor.functions.verify
    for i, leaf in enumerate(leaves):
        proof = list(tree.proof(i))
        assert verify(leaf, proof, 0).call()
        other = leaf_hash(100 + i, 1, keccak256(b"forged"), 0)
        assert not verify(other, proof, 0).call()
        if proof:
            bad = [*proof]
            bad[0] = bytes([bad[0][0] ^ 1]) + bad[0][1:]
            assert not verify(leaf, bad, 0).call()


@settings(max_examples=10, deadline=None)
@given(
    records=st.lists(
        st.tuples(st.integers(1, 5), st.binary(min_size=1, max_size=40), st.integers(0, 2**64 - 1)),
        min_size=1,
        max_size=24,
    ),
)
def test_random_batches_prove_on_chain(chain, attestor, roles, records):
    snap = chain.snapshot()
    try:
        leaves = [leaf_hash(i, k, keccak256(p), t) for i, (k, p, t) in enumerate(records)]
        tree = build_tree(leaves)
        _attest(chain, attestor, roles["engine"], tree.root, 0, len(leaves))
        for i in {0, len(leaves) // 2, len(leaves) - 1}:
            assert attestor.functions.verify(leaves[i], list(tree.proof(i)), 0).call()
    finally:
        chain.revert_to(snap)

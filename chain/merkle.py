"""Merkle trees over attested records, compatible with OpenZeppelin ``StandardMerkleTree``.

A record ``(seq, kind, payloadHash, simTime)`` becomes the leaf
``keccak256(bytes.concat(keccak256(abi.encode(uint256 seq, uint8 kind, bytes32 payloadHash,
uint64 simTime))))`` -- the double hash OpenZeppelin uses so that a leaf can never be confused
with an inner node.  Inner nodes hash the *sorted* pair of their children
(``keccak256(min(a, b) ++ max(a, b))``), so a proof is a plain list of sibling hashes and is
checked by OpenZeppelin's ``MerkleProof.verify`` (and by the Attestor's ``verify``) without
left/right flags.

The tree layout is the one of ``@openzeppelin/merkle-tree``'s ``StandardMerkleTree.of`` with
``sortLeaves: true``: the hashed leaves are sorted ascending and stored at the end of an array
of ``2n - 1`` nodes in reverse order; node ``i`` has children ``2i + 1`` and ``2i + 2``; the
root is node 0.  The same values therefore give the same root as the JavaScript library.

Speed: keccak comes from ``safe-pysha3`` (a py-evm dependency, ~1 µs per hash) when it is
importable, else from ``eth_hash``; root and every proof of 1,024 leaves take a few ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

try:  # pragma: no cover - which branch runs depends on the installed wheels
    from sha3 import keccak_256 as _keccak_256

    def keccak256(data: bytes) -> bytes:
        """Keccak-256 (Ethereum's hash, not NIST SHA3-256) of ``data``: 32 bytes."""
        return _keccak_256(data).digest()

except ImportError:  # pragma: no cover
    from eth_hash.auto import keccak as _eth_keccak

    def keccak256(data: bytes) -> bytes:
        """Keccak-256 (Ethereum's hash, not NIST SHA3-256) of ``data``: 32 bytes."""
        return _eth_keccak(data)


__all__ = [
    "MerkleTree",
    "build_tree",
    "hash_pair",
    "keccak256",
    "leaf_hash",
    "merkle_root",
    "process_proof",
    "proof_from_nodes",
    "verify_proof",
]

_U64_MAX = (1 << 64) - 1
_U256_MAX = (1 << 256) - 1


def leaf_hash(seq: int, kind: int, payload_hash: bytes, sim_time: int) -> bytes:
    """The double-hashed leaf of one record.

    ``seq`` is a uint256, ``kind`` a uint8 (1..255), ``payload_hash`` 32 bytes and ``sim_time``
    a uint64; the ABI encoding is four 32-byte words, built here by hand (eth-abi is ~20x
    slower for this fixed layout).
    """
    if not 0 <= seq <= _U256_MAX:
        raise ValueError(f"seq={seq} is not a uint256")
    if not 0 <= kind <= 0xFF:
        raise ValueError(f"kind={kind} is not a uint8")
    if len(payload_hash) != 32:
        raise ValueError(f"payload_hash has {len(payload_hash)} bytes; a bytes32 needs 32")
    if not 0 <= sim_time <= _U64_MAX:
        raise ValueError(f"sim_time={sim_time} is not a uint64")
    encoded = (
        seq.to_bytes(32, "big")
        + kind.to_bytes(32, "big")
        + payload_hash
        + sim_time.to_bytes(32, "big")
    )
    return keccak256(keccak256(encoded))


def _leaf_hash_unchecked(seq: int, kind: int, payload_hash: bytes, sim_time: int) -> bytes:
    """:func:`leaf_hash` without range checks, for callers that validated at their boundary."""
    return keccak256(
        keccak256(
            seq.to_bytes(32, "big")
            + kind.to_bytes(32, "big")
            + payload_hash
            + sim_time.to_bytes(32, "big")
        )
    )


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Commutative inner-node hash: keccak256 of the two 32-byte children in ascending order."""
    return keccak256(a + b if a < b else b + a)


@dataclass(frozen=True, slots=True)
class MerkleTree:
    """A built tree: the root, the input leaves, and a proof for every leaf.

    ``leaves[i]`` is the i-th leaf in *input* order, ``positions[i]`` its index in ``nodes``
    (the OpenZeppelin array layout) and ``proofs[i]`` its proof (a tuple of 32-byte sibling
    hashes, bottom-up) -- empty when the tree was built with ``proofs=False``, in which case
    :meth:`proof` derives it from ``nodes`` on demand.
    """

    root: bytes
    leaves: tuple[bytes, ...]
    positions: tuple[int, ...]
    nodes: tuple[bytes, ...]
    proofs: tuple[tuple[bytes, ...], ...] = ()

    def proof(self, index: int) -> tuple[bytes, ...]:
        """The proof of the leaf at input position ``index``."""
        if not 0 <= index < len(self.leaves):
            raise IndexError(f"index={index} is outside 0..{len(self.leaves) - 1}")
        if self.proofs:
            return self.proofs[index]
        return proof_from_nodes(self.nodes, self.positions[index])


def proof_from_nodes(nodes: Sequence[bytes], position: int) -> tuple[bytes, ...]:
    """The proof of the node at ``position`` of an OpenZeppelin-layout node array."""
    if not 0 <= position < len(nodes):
        raise IndexError(f"position={position} is outside 0..{len(nodes) - 1}")
    path: list[bytes] = []
    j = position
    while j > 0:
        path.append(nodes[j + 1] if j & 1 else nodes[j - 1])
        j = (j - 1) >> 1
    return tuple(path)


def build_tree(leaves: Sequence[bytes], *, proofs: bool = True) -> MerkleTree:
    """Build the tree over ``leaves`` (already-hashed 32-byte leaves, in input order).

    Returns the root and (unless ``proofs=False``) the proofs of all leaves, in one pass.
    Raises ``ValueError`` for an empty input or a leaf that is not 32 bytes.
    """
    n = len(leaves)
    if n == 0:
        raise ValueError("leaves is empty; a Merkle tree needs at least one leaf")
    for i, leaf in enumerate(leaves):
        if len(leaf) != 32:
            raise ValueError(f"leaves[{i}] has {len(leaf)} bytes; a leaf is 32 bytes")
    size = 2 * n - 1
    # sort leaf positions by hash (ties between equal leaves by input position: deterministic)
    order = sorted(range(n), key=lambda i: (leaves[i], i))
    nodes: list[bytes] = [b""] * size
    pos = [0] * n  # input index -> node index
    for rank, i in enumerate(order):
        node = size - 1 - rank
        nodes[node] = leaves[i]
        pos[i] = node
    k = keccak256
    for i in range(size - 1 - n, -1, -1):
        a = nodes[2 * i + 1]
        b = nodes[2 * i + 2]
        nodes[i] = k(a + b if a < b else b + a)
    all_proofs: list[tuple[bytes, ...]] = []
    if proofs:
        for i in range(n):
            j = pos[i]
            path: list[bytes] = []
            while j > 0:
                path.append(nodes[j + 1] if j & 1 else nodes[j - 1])
                j = (j - 1) >> 1
            all_proofs.append(tuple(path))
    return MerkleTree(
        root=nodes[0],
        leaves=tuple(leaves),
        positions=tuple(pos),
        nodes=tuple(nodes),
        proofs=tuple(all_proofs),
    )


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of :func:`build_tree` over ``leaves``."""
    return build_tree(leaves, proofs=False).root


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Fold ``proof`` into ``leaf`` with sorted-pair hashing (OpenZeppelin ``processProof``)."""
    node = leaf
    for sibling in proof:
        node = hash_pair(node, sibling)
    return node


def verify_proof(leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True when ``proof`` proves ``leaf`` under ``root`` (OpenZeppelin ``MerkleProof.verify``)."""
    return process_proof(leaf, proof) == root

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IAttestor} from "./IAttestor.sol";

/// @title Attestor
/// @notice Stores one Merkle root per batch of engine records (sequential batch ids from 0) and
/// proves single records against it.
///
/// Leaf of a record: `keccak256(bytes.concat(keccak256(abi.encode(uint256 seq, uint8 kind,
/// bytes32 payloadHash, uint64 simTime))))` (double hash, so a leaf can never be confused with an
/// inner node); inner nodes hash their two children in sorted order (OpenZeppelin `MerkleProof`).
/// `payloadHash` is keccak256 of the record's canonical JSON; `simTime` is in simulated seconds.
///
/// Storage per batch, chosen for gas: `_rootOf[id]` (one slot) and `_infoOf[root]` = the packed
/// (id + 1, firstSeq, count) (one slot). The second slot is what makes re-attesting an identical
/// root detectable in O(1) with the existing id in the error, which the bridge relies on for
/// idempotent retries; the two fresh slots dominate the ~77k gas of `attestBatch`.
contract Attestor is IAttestor, AccessControl {
    /// @notice Role allowed to attest batches (the engine's bridge account).
    bytes32 public constant ENGINE_ROLE = keccak256("ENGINE_ROLE");

    uint8 public constant KIND_PRICE = 1;
    uint8 public constant KIND_DECISION = 2;
    uint8 public constant KIND_CLEARING = 3;
    uint8 public constant KIND_FX_FIXING = 4;
    uint8 public constant KIND_PM_RESOLUTION = 5;

    mapping(uint256 batchId => bytes32 root) private _rootOf;
    /// @dev bits 0..31 count, 32..95 firstSeq, 96..159 batchId + 1 (0 = unknown root).
    mapping(bytes32 root => uint256 packed) private _infoOf;
    /// @dev batch count + 1: never zero, so every attestation updates a non-zero slot (2.9k gas)
    /// instead of the first one paying 20k to initialise it.
    uint256 private _countPlusOne;

    constructor(address admin, address engine) {
        _countPlusOne = 1;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ENGINE_ROLE, engine);
    }

    /// @inheritdoc IAttestor
    function attestBatch(bytes32 root, uint64 firstSeq, uint32 count)
        external
        onlyRole(ENGINE_ROLE)
        returns (uint256 batchId)
    {
        if (root == bytes32(0)) revert ZeroRoot();
        if (count == 0) revert EmptyBatch(root);
        uint256 existing = _infoOf[root];
        if (existing != 0) revert RootAlreadyAttested(root, (existing >> 96) - 1);

        uint256 next = _countPlusOne;
        batchId = next - 1;
        _countPlusOne = next + 1;
        _rootOf[batchId] = root;
        _infoOf[root] = ((batchId + 1) << 96) | (uint256(firstSeq) << 32) | uint256(count);
        emit BatchAttested(batchId, root, firstSeq, count);
    }

    /// @inheritdoc IAttestor
    function batch(uint256 batchId) public view returns (Batch memory) {
        bytes32 root = _rootOfExisting(batchId);
        uint256 info = _infoOf[root];
        return Batch({root: root, firstSeq: uint64(info >> 32), count: uint32(info)});
    }

    /// @inheritdoc IAttestor
    function batchCount() external view returns (uint256) {
        return _countPlusOne - 1;
    }

    /// @inheritdoc IAttestor
    function batchIdOf(bytes32 root) external view returns (bool found, uint256 batchId) {
        uint256 info = _infoOf[root];
        if (info == 0) return (false, 0);
        return (true, (info >> 96) - 1);
    }

    /// @inheritdoc IAttestor
    function verify(bytes32 leaf, bytes32[] calldata proof, uint256 batchId) external view returns (bool) {
        return MerkleProof.verifyCalldata(proof, _rootOfExisting(batchId), leaf);
    }

    /// @inheritdoc IAttestor
    function leafHash(uint256 seq, uint8 kind, bytes32 payloadHash, uint64 simTime) public pure returns (bytes32) {
        if (kind < KIND_PRICE || kind > KIND_PM_RESOLUTION) revert UnknownKind(kind);
        return keccak256(bytes.concat(keccak256(abi.encode(seq, kind, payloadHash, simTime))));
    }

    function _rootOfExisting(uint256 batchId) private view returns (bytes32) {
        uint256 count = _countPlusOne - 1;
        if (batchId >= count) revert UnknownBatch(batchId, count);
        return _rootOf[batchId];
    }
}

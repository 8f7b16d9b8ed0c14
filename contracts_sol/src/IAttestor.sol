// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IAttestor
/// @notice Merkle roots of batches of CreditEngine records, and inclusion proofs against them.
interface IAttestor {
    /// @notice A sealed batch: the Merkle root over records [firstSeq, firstSeq + count).
    struct Batch {
        bytes32 root;
        uint64 firstSeq;
        uint32 count;
    }

    /// @dev The root is zero; a zero root is never a valid tree root here.
    error ZeroRoot();
    /// @dev The batch claims no records.
    error EmptyBatch(bytes32 root);
    /// @dev `root` is already on chain as batch `batchId` (the bridge's idempotency signal).
    error RootAlreadyAttested(bytes32 root, uint256 batchId);
    /// @dev No batch `batchId` exists; `batchCount` batches have been attested.
    error UnknownBatch(uint256 batchId, uint256 batchCount);
    /// @dev Record kinds are 1 price, 2 decision, 3 clearing, 4 fx_fixing, 5 pm_resolution.
    error UnknownKind(uint8 kind);

    /// @notice Emitted once per attested batch.
    event BatchAttested(uint256 indexed batchId, bytes32 indexed root, uint64 firstSeq, uint32 count);

    function attestBatch(bytes32 root, uint64 firstSeq, uint32 count) external returns (uint256 batchId);

    function batch(uint256 batchId) external view returns (Batch memory);

    function batchCount() external view returns (uint256);

    function batchIdOf(bytes32 root) external view returns (bool found, uint256 batchId);

    function verify(bytes32 leaf, bytes32[] calldata proof, uint256 batchId) external view returns (bool);

    function leafHash(uint256 seq, uint8 kind, bytes32 payloadHash, uint64 simTime)
        external
        pure
        returns (bytes32);
}

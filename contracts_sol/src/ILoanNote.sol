// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ILoanNote
/// @notice The part of LoanNote the FundingEscrow uses.
interface ILoanNote {
    function mint(address holder, uint256 tokenId, bytes32 metadataHash) external;
}

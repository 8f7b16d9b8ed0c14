// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title LoanNote
/// @notice One ERC-721 note per funded loan, minted by the FundingEscrow at LoanConfirmed with
/// token id = auction id. Its only metadata is a bytes32 hash of the loan's terms (computed by
/// the escrow): no personal data on chain, and no token URI.
contract LoanNote is ERC721, AccessControl {
    /// @notice Role allowed to mint notes (the FundingEscrow).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    mapping(uint256 tokenId => bytes32) private _metadataHash;

    /// @dev A note's metadata hash must not be zero (zero means "no note").
    error ZeroMetadataHash(uint256 tokenId);

    /// @notice Emitted after a note is minted.
    event NoteMinted(uint256 indexed tokenId, address indexed holder, bytes32 metadataHash);

    constructor(address admin, address minter) ERC721("CreditEngine Loan Note", "CELN") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (minter != address(0)) _grantRole(MINTER_ROLE, minter);
    }

    /// @notice Mint note `tokenId` to `holder` with its terms hash. Reverts with OpenZeppelin's
    /// `ERC721InvalidSender(0)` if the id already exists.
    function mint(address holder, uint256 tokenId, bytes32 termsHash) external onlyRole(MINTER_ROLE) {
        if (termsHash == bytes32(0)) revert ZeroMetadataHash(tokenId);
        _metadataHash[tokenId] = termsHash;
        _mint(holder, tokenId);
        emit NoteMinted(tokenId, holder, termsHash);
    }

    /// @notice The terms hash of note `tokenId` (reverts `ERC721NonexistentToken` if unknown).
    function metadataHash(uint256 tokenId) external view returns (bytes32) {
        _requireOwned(tokenId);
        return _metadataHash[tokenId];
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

import {IAttestor} from "./IAttestor.sol";

/// @title HedgeSettlement
/// @notice Cash-settled FX forwards (NDF) on e.g. USD/BRL, settled in BRL tokens against a fixing
/// that the engine attested: the settler proves the fixing record into an Attestor batch.
///
/// A forward has a `long` (gains when the fixing is above the strike) and a `short`, a notional
/// in USD cents, a strike and fixings in BRL per USD scaled by 10^8 (`E8`), and a maturity = the
/// simulated time (seconds) of the fixing it settles against. Both parties post the same
/// collateral (BRL centavos) with `fund`; at settlement the loser pays the winner
/// payoff = notionalUsdCents * |fixingE8 - strikeE8| / 10^8 BRL centavos, rounded half-even,
/// capped at the collateral; both then withdraw their balances (pull payments). Settles once.
///
/// The fixing is the Attestor record of kind 4 (fx_fixing) whose payload is exactly the
/// canonical JSON `{"pair":"<PAIR>","rate_e8":<int>,"t_s":<int>}` (keys sorted, no spaces;
/// see `fixingPayload`), so the contract recomputes the payload hash from the fixing data and
/// a proof for any other payload, pair, rate or time fails.
contract HedgeSettlement is AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that creates and cancels forwards.
    bytes32 public constant ENGINE_ROLE = keccak256("ENGINE_ROLE");
    uint256 public constant CENTAVO = 1e16;
    uint8 public constant KIND_FX_FIXING = 4;
    uint256 private constant E8 = 1e8;

    enum Status {
        None,
        Open,
        Settled,
        Cancelled
    }

    struct Forward {
        address long;
        address short;
        bytes32 pair; // upper-case ASCII letters/digits, left-aligned, e.g. "USDBRL"
        uint64 notionalUsdCents;
        uint64 strikeE8;
        uint64 maturity; // simulated seconds: the t_s of the settling fixing
        uint64 collateralCents; // posted by each side
        Status status;
        bool longFunded;
        bool shortFunded;
        uint64 fixingE8; // set at settlement
        uint64 payoffCents; // set at settlement, paid by the loser to the winner
        bool longWins;
    }

    /// @notice Where a fixing record sits in the attested log.
    struct FixingProof {
        uint256 seq; // record sequence number
        uint64 simTime; // record time (whole simulated seconds), as in its leaf
        uint64 rateE8; // the fixing
        uint256 batchId;
        bytes32[] proof;
    }

    IAttestor public immutable attestor;
    IERC20 public immutable token;

    mapping(uint256 hedgeId => Forward) private _forwards;
    mapping(uint256 hedgeId => mapping(address account => uint256 cents)) private _balances;

    error ZeroAddress(bytes32 field);
    error HedgeExists(uint256 hedgeId);
    error UnknownHedge(uint256 hedgeId);
    error InvalidHedge(uint256 hedgeId, bytes32 field, uint256 value);
    error InvalidPair(bytes32 pair);
    error NotHedgeParty(uint256 hedgeId, address caller);
    error AlreadyFunded(uint256 hedgeId, address party);
    error NotFunded(uint256 hedgeId, bool longFunded, bool shortFunded);
    error HedgeNotOpen(uint256 hedgeId, Status status);
    error AlreadySettled(uint256 hedgeId, uint256 fixingE8);
    error InvalidFixingProof(uint256 hedgeId, uint256 batchId, bytes32 leaf);
    error NothingToWithdraw(uint256 hedgeId, address account);

    event ForwardCreated(
        uint256 indexed hedgeId,
        address indexed long,
        address indexed short,
        bytes32 pair,
        uint256 notionalUsdCents,
        uint256 strikeE8,
        uint256 maturity,
        uint256 collateralCents
    );
    event CollateralPosted(uint256 indexed hedgeId, address indexed party, uint256 amountCents);
    event ForwardSettled(
        uint256 indexed hedgeId, uint256 fixingE8, address winner, uint256 payoffCents, uint256 batchId, uint256 seq
    );
    event ForwardCancelled(uint256 indexed hedgeId);
    event Withdrawn(uint256 indexed hedgeId, address indexed account, uint256 amountCents);

    constructor(address admin, address engine, IAttestor attestor_, IERC20 token_) {
        if (address(attestor_) == address(0)) revert ZeroAddress("attestor");
        if (address(token_) == address(0)) revert ZeroAddress("token");
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ENGINE_ROLE, engine);
        attestor = attestor_;
        token = token_;
    }

    /// @notice Create forward `hedgeId`; collateral is posted afterwards by each party.
    function create(
        uint256 hedgeId,
        address long,
        address short,
        bytes32 pair,
        uint64 notionalUsdCents,
        uint64 strikeE8,
        uint64 maturity,
        uint64 collateralCents
    ) external onlyRole(ENGINE_ROLE) {
        Forward storage f = _forwards[hedgeId];
        if (f.status != Status.None) revert HedgeExists(hedgeId);
        if (long == address(0)) revert InvalidHedge(hedgeId, "long", 0);
        if (short == address(0) || short == long) revert InvalidHedge(hedgeId, "short", uint160(short));
        if (notionalUsdCents == 0) revert InvalidHedge(hedgeId, "notionalUsdCents", 0);
        if (strikeE8 == 0) revert InvalidHedge(hedgeId, "strikeE8", 0);
        if (collateralCents == 0) revert InvalidHedge(hedgeId, "collateralCents", 0);
        _pairString(pair); // validates
        f.long = long;
        f.short = short;
        f.pair = pair;
        f.notionalUsdCents = notionalUsdCents;
        f.strikeE8 = strikeE8;
        f.maturity = maturity;
        f.collateralCents = collateralCents;
        f.status = Status.Open;
        emit ForwardCreated(hedgeId, long, short, pair, notionalUsdCents, strikeE8, maturity, collateralCents);
    }

    /// @notice Post the caller's collateral (long or short, once each; needs an allowance).
    function fund(uint256 hedgeId) external nonReentrant {
        Forward storage f = _open(hedgeId);
        if (msg.sender == f.long) {
            if (f.longFunded) revert AlreadyFunded(hedgeId, msg.sender);
            f.longFunded = true;
        } else if (msg.sender == f.short) {
            if (f.shortFunded) revert AlreadyFunded(hedgeId, msg.sender);
            f.shortFunded = true;
        } else {
            revert NotHedgeParty(hedgeId, msg.sender);
        }
        emit CollateralPosted(hedgeId, msg.sender, f.collateralCents);
        token.safeTransferFrom(msg.sender, address(this), uint256(f.collateralCents) * CENTAVO);
    }

    /// @notice Cancel a forward that is not fully funded; posted collateral becomes withdrawable.
    function cancel(uint256 hedgeId) external onlyRole(ENGINE_ROLE) {
        Forward storage f = _open(hedgeId);
        if (f.longFunded && f.shortFunded) revert InvalidHedge(hedgeId, "funded", 1);
        f.status = Status.Cancelled;
        if (f.longFunded) _balances[hedgeId][f.long] += f.collateralCents;
        if (f.shortFunded) _balances[hedgeId][f.short] += f.collateralCents;
        emit ForwardCancelled(hedgeId);
    }

    /// @notice Settle against the maturity fixing proven into an Attestor batch (by either
    /// party or the engine). Credits both parties; a second settlement reverts.
    function settle(uint256 hedgeId, FixingProof calldata fixing) external {
        Forward storage f = _forwards[hedgeId];
        if (f.status == Status.Settled) revert AlreadySettled(hedgeId, f.fixingE8);
        f = _open(hedgeId);
        if (msg.sender != f.long && msg.sender != f.short && !hasRole(ENGINE_ROLE, msg.sender)) {
            revert NotHedgeParty(hedgeId, msg.sender);
        }
        if (!(f.longFunded && f.shortFunded)) revert NotFunded(hedgeId, f.longFunded, f.shortFunded);
        bytes32 payloadHash = keccak256(fixingPayload(f.pair, fixing.rateE8, f.maturity));
        bytes32 leaf = attestor.leafHash(fixing.seq, KIND_FX_FIXING, payloadHash, fixing.simTime);
        if (!attestor.verify(leaf, fixing.proof, fixing.batchId)) {
            revert InvalidFixingProof(hedgeId, fixing.batchId, leaf);
        }

        (uint256 payoff, bool longWins) = payoffCents(f.notionalUsdCents, f.strikeE8, fixing.rateE8);
        if (payoff > f.collateralCents) payoff = f.collateralCents;
        f.status = Status.Settled;
        f.fixingE8 = fixing.rateE8;
        f.payoffCents = uint64(payoff); // <= collateralCents, a uint64
        f.longWins = longWins;
        (address winner, address loser) = longWins ? (f.long, f.short) : (f.short, f.long);
        _balances[hedgeId][winner] += f.collateralCents + payoff;
        _balances[hedgeId][loser] += f.collateralCents - payoff;
        emit ForwardSettled(hedgeId, fixing.rateE8, payoff == 0 ? address(0) : winner, payoff, fixing.batchId, fixing.seq);
    }

    /// @notice Pull the caller's balance in forward `hedgeId`.
    function withdraw(uint256 hedgeId) external nonReentrant returns (uint256 amountCents) {
        amountCents = _balances[hedgeId][msg.sender];
        if (amountCents == 0) revert NothingToWithdraw(hedgeId, msg.sender);
        _balances[hedgeId][msg.sender] = 0;
        emit Withdrawn(hedgeId, msg.sender, amountCents);
        token.safeTransfer(msg.sender, amountCents * CENTAVO);
    }

    // ------------------------------------------------------------------ views

    function forward(uint256 hedgeId) external view returns (Forward memory) {
        return _forwards[hedgeId];
    }

    function balanceOf(uint256 hedgeId, address account) external view returns (uint256) {
        return _balances[hedgeId][account];
    }

    /// @notice The canonical JSON payload of a fixing record, as bytes (its keccak256 is the
    /// record's payloadHash): `{"pair":"USDBRL","rate_e8":543210000,"t_s":86400}`.
    function fixingPayload(bytes32 pair, uint256 rateE8, uint256 tS) public pure returns (bytes memory) {
        return bytes(
            string.concat(
                '{"pair":"',
                _pairString(pair),
                '","rate_e8":',
                Strings.toString(rateE8),
                ',"t_s":',
                Strings.toString(tS),
                "}"
            )
        );
    }

    /// @notice Unbounded payoff (before the collateral cap) in BRL centavos and its direction:
    /// notionalUsdCents * |fixingE8 - strikeE8| / 10^8, rounded half-even.
    function payoffCents(uint256 notionalUsdCents, uint256 strikeE8, uint256 fixingE8)
        public
        pure
        returns (uint256 cents, bool longWins)
    {
        longWins = fixingE8 > strikeE8;
        uint256 diff = longWins ? fixingE8 - strikeE8 : strikeE8 - fixingE8;
        uint256 scaled = notionalUsdCents * diff;
        cents = scaled / E8;
        uint256 r = scaled % E8;
        if (r * 2 > E8 || (r * 2 == E8 && cents % 2 == 1)) ++cents;
    }

    function _open(uint256 hedgeId) private view returns (Forward storage f) {
        f = _forwards[hedgeId];
        if (f.status == Status.None) revert UnknownHedge(hedgeId);
        if (f.status != Status.Open) revert HedgeNotOpen(hedgeId, f.status);
    }

    /// @dev `pair` as a string: 1..32 upper-case letters or digits, left-aligned, zero-padded.
    function _pairString(bytes32 pair) private pure returns (string memory) {
        uint256 len;
        while (len < 32 && pair[len] != 0) ++len;
        if (len == 0) revert InvalidPair(pair);
        bytes memory out = new bytes(len);
        for (uint256 i; i < 32; ++i) {
            bytes1 c = pair[i];
            if (i < len) {
                if (!((c >= "A" && c <= "Z") || (c >= "0" && c <= "9"))) revert InvalidPair(pair);
                out[i] = c;
            } else if (c != 0) {
                revert InvalidPair(pair);
            }
        }
        return string(out);
    }
}

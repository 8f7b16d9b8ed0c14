// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IFundingEscrow} from "./IFundingEscrow.sol";
import {ILoanNote} from "./ILoanNote.sol";

/// @title FundingEscrow
/// @notice Commit-reveal reverse auction funding one loan request per auction id, and the
/// servicing of the funded loan (repayments in, lenders' pull withdrawals out).
///
/// Phases are moved explicitly by the engine (`closeCommits`, `closeReveals`), never by
/// `block.timestamp`, so the contract behaves the same on any backend whatever its block time;
/// the time rules of the spec (TTL, anti-sniping, cooldown, reveal window) are enforced off
/// chain by the engine, which decides when to call those two functions. The contract enforces
/// the caps: `MAX_OFFERS` commits per auction and `Terms.maxOffersPerLender` per lender.
///
/// `submitClearing` VERIFIES the engine's clearing (spec auction.md, "Clearing") instead of
/// computing it, strictly enough that any single change to a correct result is rejected.
/// Tie order: the spec breaks ties by (committed_at, offer_id). On chain an offer's index is its
/// commit order, and commit time never decreases with the index, so the on-chain order is simply
/// the offer index; the bridge replays commits in the off-chain (committed_at, offer_id) order,
/// which makes the two orders identical.
///
/// Capital moves only in `confirm`: each winner's allocation is pulled (transferFrom, needs an
/// allowance), the borrower is paid F - fee and the fee recipient the fee. A winner lacking
/// balance or allowance makes `confirm` revert with `LenderUnfunded` naming the offer and the
/// lender; the engine then calls `excludeUnfunded` (which re-checks the shortfall on chain, so the
/// engine cannot drop a funded lender), the offer becomes ineligible (spec: INSUFFICIENT_FUNDS)
/// and the engine submits the re-run clearing.
///
/// Lenders' returns are pull payments. Everything paid in after confirmation (installments,
/// prepayment, recovery after default) accumulates in `receivedCents`; a winning offer with
/// allocation a is entitled to floor(received * a / F) while the loan is active, and once it is
/// closed (Repaid / Prepaid / Defaulted, after which nothing more comes in) to its largest-
/// remainder share of `received` (ties by offer index), so the shares sum to `received` exactly.
/// Entitlements never decrease and never sum to more than `received`, so withdrawals can never
/// exceed what came in.
contract FundingEscrow is IFundingEscrow, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role that opens auctions, closes phases, submits clearings, confirms, marks defaults.
    bytes32 public constant ENGINE_ROLE = keccak256("ENGINE_ROLE");
    /// @notice Role allowed to commit offers: lenders the engine has onboarded (its role admin is
    /// ENGINE_ROLE). Without it anyone could fill an auction's MAX_OFFERS slots with junk commits
    /// from throwaway addresses and lock honest lenders out.
    bytes32 public constant LENDER_ROLE = keccak256("LENDER_ROLE");
    /// @notice Cap on commits per auction (bounds every loop over an auction's offers).
    uint256 public constant MAX_OFFERS = 64;
    /// @notice Token base units per centavo.
    uint256 public constant CENTAVO = 1e16;
    uint256 private constant BPS = 10_000;

    IERC20 public immutable token;
    ILoanNote public immutable note;
    address public feeRecipient;

    mapping(uint256 auctionId => Auction) private _auctions;
    mapping(uint256 auctionId => mapping(uint256 offerIndex => Offer)) private _offers;
    mapping(uint256 auctionId => mapping(address lender => uint256)) private _lenderOffers;

    /// @dev The revealed book of one auction as seen by a candidate clearing rate `rStar`.
    struct Book {
        uint256 n;
        uint256[] amount; // eligible amount per offer index, 0 if ineligible
        uint256[] rate;
        uint256 supply; // S: total eligible amount
        uint256 below; // S(r*-): eligible amount strictly below r*
        uint256 atRate; // eligible amount at exactly r*
        uint256 nextAbove; // lowest eligible rate above r* (type(uint256).max if none)
    }

    constructor(address admin, address engine, IERC20 token_, ILoanNote note_, address feeRecipient_) {
        if (address(token_) == address(0)) revert ZeroAddress("token");
        if (address(note_) == address(0)) revert ZeroAddress("note");
        if (feeRecipient_ == address(0)) revert ZeroAddress("feeRecipient");
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ENGINE_ROLE, engine);
        _setRoleAdmin(LENDER_ROLE, ENGINE_ROLE);
        token = token_;
        note = note_;
        feeRecipient = feeRecipient_;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Change where platform fees go.
    function setFeeRecipient(address recipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (recipient == address(0)) revert ZeroAddress("feeRecipient");
        address previous = feeRecipient;
        feeRecipient = recipient;
        emit FeeRecipientChanged(previous, recipient);
    }

    // ------------------------------------------------------------------ auction phases

    /// @notice Open auction `auctionId` for a loan request (commit phase starts).
    function open(uint256 auctionId, Terms calldata terms) external onlyRole(ENGINE_ROLE) {
        Auction storage a = _auctions[auctionId];
        if (a.phase != Phase.None) revert AuctionExists(auctionId);
        if (terms.borrower == address(0)) revert InvalidTerm(auctionId, "borrower", 0);
        if (terms.amountCents == 0) revert InvalidTerm(auctionId, "amountCents", 0);
        if (terms.termMonths == 0) revert InvalidTerm(auctionId, "termMonths", 0);
        if (terms.feeBps > BPS) revert InvalidTerm(auctionId, "feeBps", terms.feeBps);
        if (terms.tickBps == 0) revert InvalidTerm(auctionId, "tickBps", 0);
        if (terms.minFillBps > BPS) revert InvalidTerm(auctionId, "minFillBps", terms.minFillBps);
        if (terms.maxOffersPerLender == 0 || terms.maxOffersPerLender > MAX_OFFERS) {
            revert InvalidTerm(auctionId, "maxOffersPerLender", terms.maxOffersPerLender);
        }
        a.terms = terms;
        a.phase = Phase.Commit;
        emit AuctionOpened(auctionId, terms.borrower, terms);
    }

    /// @notice Commit a sealed offer: `commitment` = keccak256(abi.encode(uint256 auctionId,
    /// address lender, uint256 amountCents, uint256 rateBps, bytes32 salt)), lender = msg.sender.
    /// Only onboarded lenders (LENDER_ROLE) commit.
    /// @return offerIndex the offer's index (its commit order in this auction).
    function commit(uint256 auctionId, bytes32 commitment)
        external
        onlyRole(LENDER_ROLE)
        returns (uint256 offerIndex)
    {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Commit);
        if (commitment == bytes32(0)) revert ZeroCommitment(auctionId);
        offerIndex = a.offerCount;
        if (offerIndex >= MAX_OFFERS) revert TooManyOffers(auctionId, MAX_OFFERS);
        uint256 mine = _lenderOffers[auctionId][msg.sender];
        if (mine >= a.terms.maxOffersPerLender) {
            revert TooManyLenderOffers(auctionId, msg.sender, a.terms.maxOffersPerLender);
        }
        _lenderOffers[auctionId][msg.sender] = mine + 1;
        a.offerCount = uint8(offerIndex + 1); // <= MAX_OFFERS = 64, fits
        Offer storage o = _offers[auctionId][offerIndex];
        o.lender = msg.sender;
        o.commitment = commitment;
        emit OfferCommitted(auctionId, offerIndex, msg.sender, commitment);
    }

    /// @notice End the commit phase (engine decides when: TTL and anti-sniping are off chain).
    function closeCommits(uint256 auctionId) external onlyRole(ENGINE_ROLE) {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Commit);
        a.phase = Phase.Reveal;
        emit CommitsClosed(auctionId, a.offerCount);
    }

    /// @notice Reveal offer `offerIndex`; only its lender, only once, only if it matches.
    function reveal(uint256 auctionId, uint256 offerIndex, uint256 amountCents, uint256 rateBps, bytes32 salt)
        external
    {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Reveal);
        if (offerIndex >= a.offerCount) revert UnknownOffer(auctionId, offerIndex);
        Offer storage o = _offers[auctionId][offerIndex];
        if (o.lender != msg.sender) revert NotOfferLender(auctionId, offerIndex, msg.sender);
        if (o.revealed) revert AlreadyRevealed(auctionId, offerIndex);
        if (keccak256(abi.encode(auctionId, msg.sender, amountCents, rateBps, salt)) != o.commitment) {
            revert BadReveal(auctionId, offerIndex);
        }
        o.amountCents = SafeCast.toUint64(amountCents);
        o.rateBps = SafeCast.toUint24(rateBps);
        o.revealed = true;
        emit OfferRevealed(auctionId, offerIndex, msg.sender, amountCents, rateBps);
    }

    /// @notice End the reveal phase; unrevealed offers take no part (NOT_REVEALED).
    function closeReveals(uint256 auctionId) external onlyRole(ENGINE_ROLE) {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Reveal);
        a.phase = Phase.Clearing;
        uint256 n = a.offerCount;
        uint256 revealed;
        for (uint256 i; i < n; ++i) {
            if (_offers[auctionId][i].revealed) ++revealed;
        }
        emit RevealsClosed(auctionId, revealed);
    }

    // ------------------------------------------------------------------ clearing

    /// @notice Submit the engine's clearing for verification. UNFILLED: `clearingRateBps` = 0 and
    /// no allocations. FILLED / PARTIAL: r* and one allocation per winner (any order) with the
    /// rate that winner earns. Reverts with the first rule the result breaks.
    function submitClearing(uint256 auctionId, uint32 clearingRateBps, Allocation[] calldata allocations)
        external
        onlyRole(ENGINE_ROLE)
    {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Clearing);
        Terms memory t = a.terms;
        Book memory b = _book(auctionId, t, a.offerCount, clearingRateBps);
        uint256 minFill = (uint256(t.amountCents) * t.minFillBps + BPS - 1) / BPS;
        bool fillable = b.supply != 0 && b.supply >= minFill;

        if (allocations.length == 0) {
            if (fillable) revert MustFill(auctionId, b.supply, minFill);
            if (clearingRateBps != 0) revert WrongClearingRate(auctionId, clearingRateBps, 0, 0, 0);
            a.phase = Phase.Unfilled;
            emit AuctionUnfilled(auctionId, b.supply, minFill);
            return;
        }
        if (!fillable) revert NotFillable(auctionId, b.supply, minFill);
        uint256 filled = b.supply < t.amountCents ? b.supply : t.amountCents;
        // r* is the smallest offered rate with S(r*) >= F: offered (atRate > 0), S(r*-) < F <= S(r*).
        if (b.atRate == 0 || b.below >= filled || b.below + b.atRate < filled) {
            revert WrongClearingRate(auctionId, clearingRateBps, b.below, b.atRate, filled);
        }

        uint256[] memory alloc = _checkAllocations(auctionId, t, b, clearingRateBps, filled, allocations);
        _checkShares(auctionId, b, clearingRateBps, filled, alloc);

        uint256 fee = (filled * t.feeBps + BPS - 1) / BPS;
        a.clearingRateBps = clearingRateBps;
        a.filledCents = uint64(filled); // filled <= amountCents, a uint64
        a.feeCents = uint64(fee); // fee <= filled
        a.phase = Phase.Cleared;
        _storeAllocations(auctionId, allocations);
        emit ClearingAccepted(auctionId, clearingRateBps, filled, fee, allocations.length);
    }

    function _storeAllocations(uint256 auctionId, Allocation[] calldata allocations) private {
        for (uint256 k; k < allocations.length; ++k) {
            Allocation calldata al = allocations[k];
            Offer storage o = _offers[auctionId][al.offerIndex];
            o.allocCents = al.amountCents;
            o.earnedRateBps = al.rateBps;
            emit OfferAllocated(auctionId, al.offerIndex, o.lender, al.amountCents, al.rateBps);
        }
    }

    /// @notice Drop a winner that cannot fund its allocation (INSUFFICIENT_FUNDS): verified on
    /// chain (balance or allowance short), the offer becomes ineligible, the accepted clearing is
    /// discarded and the auction goes back to `Clearing` for the engine's re-run.
    function excludeUnfunded(uint256 auctionId, uint256 offerIndex) external onlyRole(ENGINE_ROLE) {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Cleared);
        if (offerIndex >= a.offerCount) revert UnknownOffer(auctionId, offerIndex);
        Offer storage o = _offers[auctionId][offerIndex];
        if (o.allocCents == 0) revert NotAllocated(auctionId, offerIndex);
        uint256 needed = _lenderNeed(auctionId, a.offerCount, o.lender) * CENTAVO;
        if (token.balanceOf(o.lender) >= needed && token.allowance(o.lender, address(this)) >= needed) {
            revert LenderFunded(auctionId, offerIndex, o.lender);
        }
        o.unfunded = true;
        uint256 n = a.offerCount;
        for (uint256 i; i < n; ++i) {
            Offer storage x = _offers[auctionId][i];
            if (x.allocCents != 0) {
                x.allocCents = 0;
                x.earnedRateBps = 0;
            }
        }
        a.clearingRateBps = 0;
        a.filledCents = 0;
        a.feeCents = 0;
        a.phase = Phase.Clearing;
        emit OfferExcludedUnfunded(auctionId, offerIndex, o.lender, needed);
    }

    // ------------------------------------------------------------------ confirmation, servicing

    /// @notice LoanConfirmed: pull every winner's allocation, pay the borrower F - fee and the
    /// fee recipient the fee, mint the loan note (held by this escrow for the lenders).
    function confirm(uint256 auctionId) external onlyRole(ENGINE_ROLE) nonReentrant {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Cleared);
        uint256 n = a.offerCount;
        // Checks: every winner can pay (a lender's offers are summed).
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.allocCents == 0) continue;
            uint256 needed = _lenderNeed(auctionId, n, o.lender) * CENTAVO;
            uint256 balance = token.balanceOf(o.lender);
            uint256 allowance = token.allowance(o.lender, address(this));
            if (balance < needed || allowance < needed) {
                revert LenderUnfunded(auctionId, i, o.lender, needed, balance, allowance);
            }
        }
        // Effects.
        a.phase = Phase.Active;
        Terms memory t = a.terms;
        bytes32 noteHash = _noteHash(auctionId, a, n);
        emit LoanConfirmed(auctionId, t.borrower, a.filledCents, a.feeCents, a.clearingRateBps, noteHash);
        // Interactions.
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.allocCents != 0) token.safeTransferFrom(o.lender, address(this), uint256(o.allocCents) * CENTAVO);
        }
        token.safeTransfer(t.borrower, uint256(a.filledCents - a.feeCents) * CENTAVO);
        if (a.feeCents != 0) token.safeTransfer(feeRecipient, uint256(a.feeCents) * CENTAVO);
        note.mint(address(this), auctionId, noteHash);
    }

    /// @notice Pay one monthly installment of `amountCents` (borrower, or the engine on its
    /// behalf). The `termMonths`-th installment closes the loan as Repaid.
    function repay(uint256 auctionId, uint256 amountCents) external nonReentrant {
        Auction storage a = _servicing(auctionId, amountCents);
        uint16 paid = a.installmentsPaid + 1;
        a.installmentsPaid = paid;
        a.receivedCents += SafeCast.toUint64(amountCents);
        if (paid >= a.terms.termMonths) a.phase = Phase.Repaid;
        emit Repaid(auctionId, msg.sender, amountCents, paid);
        if (a.phase == Phase.Repaid) emit LoanRepaid(auctionId, a.receivedCents);
        token.safeTransferFrom(msg.sender, address(this), amountCents * CENTAVO);
    }

    /// @notice Prepay the loan in full (outstanding principal + accrued interest, computed off
    /// chain; no penalty). Closes the loan as Prepaid.
    function prepay(uint256 auctionId, uint256 amountCents) external nonReentrant {
        Auction storage a = _servicing(auctionId, amountCents);
        a.receivedCents += SafeCast.toUint64(amountCents);
        a.phase = Phase.Prepaid;
        emit LoanPrepaid(auctionId, msg.sender, amountCents, a.receivedCents);
        token.safeTransferFrom(msg.sender, address(this), amountCents * CENTAVO);
    }

    /// @notice Close the loan as Defaulted; the engine pays in `recoveredCents` (may be 0) from
    /// collections, shared by the lenders like any other payment.
    function markDefault(uint256 auctionId, uint256 recoveredCents) external onlyRole(ENGINE_ROLE) nonReentrant {
        Auction storage a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Active);
        a.receivedCents += SafeCast.toUint64(recoveredCents);
        a.phase = Phase.Defaulted;
        emit LoanDefaulted(auctionId, recoveredCents, a.receivedCents);
        if (recoveredCents != 0) token.safeTransferFrom(msg.sender, address(this), recoveredCents * CENTAVO);
    }

    /// @notice Pull the caller's due share of everything paid in so far, over all its winning
    /// offers in this auction.
    function withdraw(uint256 auctionId) external nonReentrant returns (uint256 amountCents) {
        Auction storage a = _auctions[auctionId];
        _requireServiced(auctionId, a);
        uint256 n = a.offerCount;
        uint256[] memory due = _entitlements(auctionId, a, n);
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.lender != msg.sender || o.allocCents == 0) continue;
            uint256 d = due[i] - o.withdrawnCents;
            if (d != 0) {
                o.withdrawnCents = uint64(due[i]); // due[i] <= receivedCents, a uint64
                amountCents += d;
            }
        }
        if (amountCents == 0) revert NothingToWithdraw(auctionId, msg.sender);
        a.withdrawnCents += uint64(amountCents); // sum of shares <= receivedCents, a uint64
        emit Withdrawn(auctionId, msg.sender, amountCents);
        token.safeTransfer(msg.sender, amountCents * CENTAVO);
    }

    // ------------------------------------------------------------------ views

    function auction(uint256 auctionId) external view returns (Auction memory) {
        return _auctions[auctionId];
    }

    function offer(uint256 auctionId, uint256 offerIndex) external view returns (Offer memory) {
        if (offerIndex >= _auctions[auctionId].offerCount) revert UnknownOffer(auctionId, offerIndex);
        return _offers[auctionId][offerIndex];
    }

    /// @notice What `lender` could withdraw now (centavos); 0 before confirmation.
    function withdrawable(uint256 auctionId, address lender) external view returns (uint256 amountCents) {
        Auction storage a = _auctions[auctionId];
        if (a.phase < Phase.Active) return 0;
        uint256 n = a.offerCount;
        uint256[] memory due = _entitlements(auctionId, a, n);
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.lender == lender && o.allocCents != 0) amountCents += due[i] - o.withdrawnCents;
        }
    }

    // ------------------------------------------------------------------ internals

    function _requirePhase(uint256 auctionId, Auction storage a, Phase expected) private view {
        if (a.phase != expected) revert WrongPhase(auctionId, expected, a.phase);
    }

    function _requireServiced(uint256 auctionId, Auction storage a) private view {
        if (a.phase < Phase.Active) revert WrongPhase(auctionId, Phase.Active, a.phase);
    }

    function _servicing(uint256 auctionId, uint256 amountCents) private view returns (Auction storage a) {
        a = _auctions[auctionId];
        _requirePhase(auctionId, a, Phase.Active);
        if (msg.sender != a.terms.borrower && !hasRole(ENGINE_ROLE, msg.sender)) {
            revert NotBorrowerOrEngine(auctionId, msg.sender);
        }
        if (amountCents == 0) revert ZeroAmount(auctionId);
    }

    /// @dev Eligible supply and its split around `rStar`. Eligible = revealed, not unfunded,
    /// amount >= max(minOfferCents, 1), on the tick, at or below the reserve.
    function _book(uint256 auctionId, Terms memory t, uint256 n, uint256 rStar) private view returns (Book memory b) {
        b.n = n;
        b.amount = new uint256[](n);
        b.rate = new uint256[](n);
        b.nextAbove = type(uint256).max;
        uint256 minOffer = t.minOfferCents == 0 ? 1 : t.minOfferCents;
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            uint256 amount = o.amountCents;
            uint256 rate = o.rateBps;
            if (!o.revealed || o.unfunded || amount < minOffer || rate % t.tickBps != 0 || rate > t.maxRateBps) {
                continue;
            }
            b.amount[i] = amount;
            b.rate[i] = rate;
            b.supply += amount;
            if (rate < rStar) b.below += amount;
            else if (rate == rStar) b.atRate += amount;
            else if (rate < b.nextAbove) b.nextAbove = rate;
        }
    }

    /// @dev Per-allocation rules; returns the allocation per offer index.
    function _checkAllocations(
        uint256 auctionId,
        Terms memory t,
        Book memory b,
        uint256 rStar,
        uint256 filled,
        Allocation[] calldata allocations
    ) private pure returns (uint256[] memory alloc) {
        alloc = new uint256[](b.n);
        uint256 earned = rStar; // Uniform, and FirstRejected when r* is not fully taken
        if (t.pricing == Pricing.FirstRejected && b.below + b.atRate == filled) {
            earned = b.nextAbove == type(uint256).max ? t.maxRateBps : b.nextAbove;
        }
        uint256 seen; // bitmap over offer indexes (< MAX_OFFERS = 64)
        uint256 sum;
        for (uint256 k; k < allocations.length; ++k) {
            Allocation calldata al = allocations[k];
            uint256 i = al.offerIndex;
            if (i >= b.n) revert UnknownOffer(auctionId, i);
            if (seen & (1 << i) != 0) revert DuplicateAllocation(auctionId, i);
            seen |= 1 << i;
            if (b.amount[i] == 0) revert OfferNotEligible(auctionId, i);
            if (al.amountCents == 0) revert ZeroAllocation(auctionId, i);
            if (al.amountCents > b.amount[i]) revert AllocationExceedsOffer(auctionId, i, al.amountCents, b.amount[i]);
            if (b.rate[i] > rStar) revert AllocationAboveClearingRate(auctionId, i, b.rate[i], rStar);
            uint256 expected = t.pricing == Pricing.PayAsBid ? b.rate[i] : earned;
            if (al.rateBps != expected) revert WrongEarnedRate(auctionId, i, al.rateBps, expected);
            alloc[i] = al.amountCents;
            sum += al.amountCents;
        }
        if (sum != filled) revert FilledAmountMismatch(auctionId, sum, filled);
    }

    /// @dev Offers below r* in full; offers at r* share R = F - S(r*-) pro rata, floor plus one
    /// cent to the largest remainders (ties by lower offer index).
    function _checkShares(uint256 auctionId, Book memory b, uint256 rStar, uint256 filled, uint256[] memory alloc)
        private
        pure
    {
        uint256 remainder = filled - b.below; // > 0: checked b.below < filled
        // Worst offer that got the extra cent, best offer that did not (by remainder, then index).
        uint256 upIdx = type(uint256).max;
        uint256 upRem;
        uint256 downIdx = type(uint256).max;
        uint256 downRem;
        for (uint256 i; i < b.n; ++i) {
            if (b.amount[i] == 0) continue;
            if (b.rate[i] < rStar) {
                if (alloc[i] != b.amount[i]) revert InframarginalNotFilled(auctionId, i, alloc[i], b.amount[i]);
            } else if (b.rate[i] == rStar) {
                uint256 scaled = remainder * b.amount[i];
                uint256 floorShare = scaled / b.atRate;
                uint256 rem = scaled % b.atRate;
                if (alloc[i] == floorShare + 1) {
                    // larger index wins the "worst" slot on equal remainders: it ranks later
                    if (upIdx == type(uint256).max || rem <= upRem) (upIdx, upRem) = (i, rem);
                } else if (alloc[i] == floorShare) {
                    // smaller index keeps the "best" slot on equal remainders: it ranks earlier
                    if (downIdx == type(uint256).max || rem > downRem) (downIdx, downRem) = (i, rem);
                } else {
                    revert MarginalShareMismatch(auctionId, i, alloc[i], floorShare);
                }
            }
        }
        // Every rounded-up offer must rank before every rounded-down one. With the sum fixed at F
        // (checked), this makes the extra cents exactly the largest-remainder ones.
        if (upIdx != type(uint256).max && downIdx != type(uint256).max) {
            if (upRem < downRem || (upRem == downRem && upIdx > downIdx)) {
                revert LargestRemainderViolated(auctionId, upIdx, downIdx);
            }
        }
    }

    /// @dev Total allocation of `lender` over its offers in the auction (centavos).
    function _lenderNeed(uint256 auctionId, uint256 n, address lender) private view returns (uint256 total) {
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.lender == lender) total += o.allocCents;
        }
    }

    /// @dev keccak256 over the loan's terms and every winner (index, lender, alloc, earned rate).
    function _noteHash(uint256 auctionId, Auction storage a, uint256 n) private view returns (bytes32 h) {
        h = keccak256(
            abi.encode(
                auctionId,
                a.terms.borrower,
                a.filledCents,
                a.feeCents,
                a.clearingRateBps,
                a.terms.termMonths,
                a.terms.pricing
            )
        );
        for (uint256 i; i < n; ++i) {
            Offer storage o = _offers[auctionId][i];
            if (o.allocCents != 0) h = keccak256(abi.encode(h, i, o.lender, o.allocCents, o.earnedRateBps));
        }
    }

    /// @dev Cumulative entitlement of every offer (centavos), see the contract notice.
    function _entitlements(uint256 auctionId, Auction storage a, uint256 n) private view returns (uint256[] memory due) {
        due = new uint256[](n);
        uint256 received = a.receivedCents;
        uint256 filled = a.filledCents;
        uint256[] memory rem = new uint256[](n);
        uint256 floors;
        for (uint256 i; i < n; ++i) {
            uint256 alloc = _offers[auctionId][i].allocCents;
            if (alloc == 0) continue;
            uint256 scaled = received * alloc;
            due[i] = scaled / filled;
            rem[i] = scaled % filled;
            floors += due[i];
        }
        if (a.phase == Phase.Active) return due;
        // Closed: hand the missing cents (fewer than the number of winners) to the largest
        // remainders, ties by lower index. Sum of due == received exactly.
        uint256 missing = received - floors;
        if (missing == 0) return due;
        for (uint256 i; i < n; ++i) {
            if (rem[i] == 0) continue; // a zero remainder never ranks among the `missing` largest
            uint256 rank;
            for (uint256 j; j < n && rank < missing; ++j) {
                if (rem[j] > rem[i] || (rem[j] == rem[i] && j < i)) ++rank;
            }
            if (rank < missing) ++due[i];
        }
    }
}

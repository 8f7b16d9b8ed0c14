// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IFundingEscrow
/// @notice Types, errors and events of the commit-reveal funding auction escrow.
interface IFundingEscrow {
    /// @notice Price each winner earns: Uniform = the marginal rate r*; PayAsBid = its own rate;
    /// FirstRejected = r* if some offer at r* is left (partly) unallocated, else the lowest
    /// eligible rate above r*, else the reserve. (Python names: "uniform", "pay_as_bid",
    /// "first_rejected"; codes 0, 1, 2.)
    enum Pricing {
        Uniform,
        PayAsBid,
        FirstRejected
    }

    /// @notice None -> Commit -> Reveal -> Clearing -> (Cleared -> Active -> Repaid | Prepaid |
    /// Defaulted) | Unfilled. Codes 0..9 in this order.
    enum Phase {
        None,
        Commit,
        Reveal,
        Clearing,
        Cleared,
        Unfilled,
        Active,
        Repaid,
        Prepaid,
        Defaulted
    }

    /// @notice The request and its auction rules, fixed at `open`.
    struct Terms {
        address borrower; // pseudonymous address, never personal data
        uint64 amountCents; // requested amount
        uint32 maxRateBps; // reserve: no offer above it can win
        uint16 termMonths; // number of monthly installments
        uint16 feeBps; // platform fee, ceil(F * feeBps / 10000) taken at confirmation
        Pricing pricing;
        uint16 tickBps; // offers off the tick are ineligible
        uint64 minOfferCents; // offers below are ineligible
        // min_fill_ratio in bps, 0..10000: UNFILLED when supply is 0 or below
        // ceil(amount * minFillBps / 10000), so 0 accepts any partial fill
        uint16 minFillBps;
        uint8 maxOffersPerLender; // commits per lender per auction
    }

    struct Auction {
        Terms terms;
        Phase phase;
        uint8 offerCount;
        uint32 clearingRateBps; // r*, 0 until cleared
        uint64 filledCents; // F
        uint64 feeCents;
        uint16 installmentsPaid;
        uint64 receivedCents; // everything paid in for lenders after confirmation
        uint64 withdrawnCents; // everything lenders have withdrawn
    }

    struct Offer {
        address lender;
        uint64 amountCents; // revealed amount (0 until revealed)
        uint24 rateBps; // revealed rate (0 until revealed)
        bool revealed;
        bytes32 commitment;
        uint64 allocCents; // accepted allocation, 0 if none
        uint32 earnedRateBps; // rate this winner earns under the pricing rule
        uint64 withdrawnCents; // what this offer's share has paid out so far
        bool unfunded; // excluded for INSUFFICIENT_FUNDS at confirmation
    }

    /// @notice One line of a clearing result: offer `offerIndex` gets `amountCents` at `rateBps`.
    struct Allocation {
        uint8 offerIndex;
        uint64 amountCents;
        uint32 rateBps;
    }

    // --- setup and phases
    error AuctionExists(uint256 auctionId);
    error InvalidTerm(uint256 auctionId, bytes32 field, uint256 value);
    error WrongPhase(uint256 auctionId, Phase expected, Phase actual);
    error ZeroAddress(bytes32 field);
    // --- commit / reveal
    error ZeroCommitment(uint256 auctionId);
    error TooManyOffers(uint256 auctionId, uint256 limit);
    error TooManyLenderOffers(uint256 auctionId, address lender, uint256 limit);
    error UnknownOffer(uint256 auctionId, uint256 offerIndex);
    error NotOfferLender(uint256 auctionId, uint256 offerIndex, address caller);
    error AlreadyRevealed(uint256 auctionId, uint256 offerIndex);
    error BadReveal(uint256 auctionId, uint256 offerIndex);
    // --- clearing verification
    error MustFill(uint256 auctionId, uint256 supplyCents, uint256 minFillCents);
    error NotFillable(uint256 auctionId, uint256 supplyCents, uint256 minFillCents);
    error WrongClearingRate(
        uint256 auctionId, uint256 rateBps, uint256 supplyBelowCents, uint256 supplyAtCents, uint256 filledCents
    );
    error DuplicateAllocation(uint256 auctionId, uint256 offerIndex);
    error OfferNotEligible(uint256 auctionId, uint256 offerIndex);
    error ZeroAllocation(uint256 auctionId, uint256 offerIndex);
    error AllocationExceedsOffer(uint256 auctionId, uint256 offerIndex, uint256 allocCents, uint256 offerCents);
    error AllocationAboveClearingRate(uint256 auctionId, uint256 offerIndex, uint256 rateBps, uint256 clearingRateBps);
    error WrongEarnedRate(uint256 auctionId, uint256 offerIndex, uint256 rateBps, uint256 expectedBps);
    error FilledAmountMismatch(uint256 auctionId, uint256 sumCents, uint256 filledCents);
    error InframarginalNotFilled(uint256 auctionId, uint256 offerIndex, uint256 allocCents, uint256 offerCents);
    error MarginalShareMismatch(uint256 auctionId, uint256 offerIndex, uint256 allocCents, uint256 floorCents);
    error LargestRemainderViolated(uint256 auctionId, uint256 roundedUpIndex, uint256 roundedDownIndex);
    // --- confirmation and servicing
    error LenderUnfunded(
        uint256 auctionId, uint256 offerIndex, address lender, uint256 neededUnits, uint256 balance, uint256 allowance
    );
    error LenderFunded(uint256 auctionId, uint256 offerIndex, address lender);
    error NotAllocated(uint256 auctionId, uint256 offerIndex);
    error ZeroAmount(uint256 auctionId);
    error NotBorrowerOrEngine(uint256 auctionId, address caller);
    error NothingToWithdraw(uint256 auctionId, address lender);

    event AuctionOpened(uint256 indexed auctionId, address indexed borrower, Terms terms);
    event OfferCommitted(uint256 indexed auctionId, uint256 offerIndex, address indexed lender, bytes32 commitment);
    event CommitsClosed(uint256 indexed auctionId, uint256 offerCount);
    event OfferRevealed(
        uint256 indexed auctionId, uint256 offerIndex, address indexed lender, uint256 amountCents, uint256 rateBps
    );
    event RevealsClosed(uint256 indexed auctionId, uint256 revealedCount);
    event OfferAllocated(
        uint256 indexed auctionId, uint256 offerIndex, address indexed lender, uint256 amountCents, uint256 rateBps
    );
    event ClearingAccepted(
        uint256 indexed auctionId, uint256 clearingRateBps, uint256 filledCents, uint256 feeCents, uint256 winners
    );
    event AuctionUnfilled(uint256 indexed auctionId, uint256 supplyCents, uint256 minFillCents);
    event OfferExcludedUnfunded(
        uint256 indexed auctionId, uint256 offerIndex, address indexed lender, uint256 neededUnits
    );
    event LoanConfirmed(
        uint256 indexed auctionId,
        address indexed borrower,
        uint256 filledCents,
        uint256 feeCents,
        uint256 clearingRateBps,
        bytes32 noteHash
    );
    event Repaid(uint256 indexed auctionId, address indexed payer, uint256 amountCents, uint256 installmentsPaid);
    event LoanRepaid(uint256 indexed auctionId, uint256 receivedCents);
    event LoanPrepaid(uint256 indexed auctionId, address indexed payer, uint256 amountCents, uint256 receivedCents);
    event LoanDefaulted(uint256 indexed auctionId, uint256 recoveredCents, uint256 receivedCents);
    event Withdrawn(uint256 indexed auctionId, address indexed lender, uint256 amountCents);
    event FeeRecipientChanged(address previous, address current);
}

"""FundingEscrow: commit-reveal, clearing verification, confirmation, servicing, withdrawals.

Every revert path is exercised with its custom error and parameters. Module fixture: auction
``A`` already in the Clearing phase with a book that has one offer of every kind (inframarginal,
marginal with a largest-remainder cent, above r*, above the reserve, off tick, below the minimum,
unrevealed).
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.chain.conftest import CENTAVO
from tests.chain.escrow_kit import (
    PHASE,
    Clearing,
    EscrowKit,
    OfferSpec,
    TermSpec,
    reference_clear,
)

A = 1  # auction prepared by the module fixture
ZERO = "0x" + "0" * 40


@pytest.fixture(scope="module")
def kit(chain, roles):
    return EscrowKit(chain, roles)


@pytest.fixture(scope="module")
def book(chain, lenders):
    L = lenders
    return [
        OfferSpec(L[0], 30_000, 2000, b"\x01" * 32),  # 0 inframarginal
        OfferSpec(L[1], 40_000, 2200, b"\x02" * 32),  # 1 inframarginal
        OfferSpec(L[2], 25_001, 2500, b"\x03" * 32),  # 2 marginal, gets the extra cent
        OfferSpec(L[3], 35_002, 2500, b"\x04" * 32),  # 3 marginal
        OfferSpec(L[4], 20_000, 2800, b"\x05" * 32),  # 4 above r*
        OfferSpec(L[5], 50_000, 3100, b"\x06" * 32),  # 5 above reserve
        OfferSpec(L[6], 10_000, 2003, b"\x07" * 32),  # 6 off tick
        OfferSpec(L[7], 500, 2000, b"\x08" * 32),  # 7 below min offer
        OfferSpec(L[8], 50_000, 1000, b"\x09" * 32, reveal=False),  # 8 never revealed
    ]


TERMS = TermSpec()


@pytest.fixture(scope="module")
def prepared(kit, book):
    kit.to_clearing(A, TERMS, book)
    return kit


@pytest.fixture(scope="module")
def correct(book):
    c = reference_clear(TERMS, book)
    assert c.rate_bps == 2500
    assert c.allocations == [
        (0, 30_000, 2500),
        (1, 40_000, 2500),
        (2, 12_500, 2500),
        (3, 17_500, 2500),
    ]
    return c


def _mutate(c: Clearing, **kw) -> Clearing:
    kw.setdefault("allocations", list(c.allocations))
    return dataclasses.replace(c, **kw)


# ------------------------------------------------------------------ open


def test_open_stores_terms_and_emits(evm, kit):
    r = kit.open(50, TERMS)
    (ev,) = evm.events(kit.escrow, r, "AuctionOpened")
    assert ev["auctionId"] == 50 and ev["borrower"] == kit.borrower
    a = kit.auction(50)
    assert a["phase"] == PHASE["Commit"]
    assert tuple(a["terms"]) == kit.terms_tuple(kit.borrower, TERMS)


@pytest.mark.parametrize(
    ("field", "override", "value"),
    [
        ("amountCents", {"amount_cents": 0}, 0),
        ("termMonths", {"term_months": 0}, 0),
        ("feeBps", {"fee_bps": 10_001}, 10_001),
        ("tickBps", {"tick_bps": 0}, 0),
        ("minFillBps", {"min_fill_bps": 10_001}, 10_001),
        ("maxOffersPerLender", {"max_offers_per_lender": 0}, 0),
        ("maxOffersPerLender", {"max_offers_per_lender": 65}, 65),
    ],
)
def test_open_rejects_invalid_terms(evm, kit, field, override, value):
    t = kit.terms_tuple(kit.borrower, dataclasses.replace(TERMS, **override))
    evm.reverts(
        kit.f.open(51, t), kit.engine, "InvalidTerm", 51, field.encode().ljust(32, b"\0"), value
    )


def test_open_rejects_zero_borrower_existing_id_and_non_engine(evm, kit, roles):
    t = kit.terms_tuple(ZERO, TERMS)
    evm.reverts(kit.f.open(52, t), kit.engine, "InvalidTerm", 52, b"borrower".ljust(32, b"\0"), 0)
    kit.open(52, TERMS)
    t = kit.terms_tuple(kit.borrower, TERMS)
    evm.reverts(kit.f.open(52, t), kit.engine, "AuctionExists", 52)
    role = kit.f.ENGINE_ROLE().call()
    for who in ("admin", "borrower", "outsider"):
        evm.reverts(
            kit.f.open(53, t), roles[who], "AccessControlUnauthorizedAccount", roles[who], role
        )


# ------------------------------------------------------------------ commit / reveal


def test_commit_caps_per_lender_and_per_auction(evm, kit, lenders):
    kit.open(60, dataclasses.replace(TERMS, max_offers_per_lender=2))
    o = OfferSpec(lenders[0], 1000, 100)
    r = kit.commit(60, o)
    assert evm.events(kit.escrow, r, "OfferCommitted") == [
        {"auctionId": 60, "offerIndex": 0, "lender": o.lender, "commitment": kit.commitment(60, o)}
    ]
    kit.commit(60, o)
    evm.reverts(kit.f.commit(60, b"\1" * 32), o.lender, "TooManyLenderOffers", 60, o.lender, 2)
    evm.reverts(kit.f.commit(60, b"\0" * 32), lenders[1], "ZeroCommitment", 60)

    kit.open(61, dataclasses.replace(TERMS, max_offers_per_lender=64))
    cap = kit.f.MAX_OFFERS().call()
    for _ in range(cap):
        evm.send(kit.f.commit(61, b"\1" * 32), lenders[0], 200_000)
    assert kit.auction(61)["offerCount"] == cap
    evm.reverts(kit.f.commit(61, b"\1" * 32), lenders[1], "TooManyOffers", 61, cap)


def test_only_onboarded_lenders_commit(evm, kit, roles, lenders):
    """LENDER_ROLE gates commit, so throwaway addresses cannot fill the MAX_OFFERS slots."""
    kit.open(62, TERMS)
    role = kit.lender_role
    outsider = roles["outsider"]
    evm.reverts(
        kit.f.commit(62, b"\1" * 32), outsider, "AccessControlUnauthorizedAccount", outsider, role
    )
    assert kit.f.getRoleAdmin(role).call() == kit.f.ENGINE_ROLE().call()
    admin_role = kit.f.DEFAULT_ADMIN_ROLE().call()
    for who in ("admin", "outsider"):  # only the engine onboards lenders
        evm.reverts(
            kit.f.grantRole(role, outsider),
            roles[who],
            "AccessControlUnauthorizedAccount",
            roles[who],
            kit.f.ENGINE_ROLE().call(),
        )
    assert admin_role != role
    r = evm.send(kit.f.grantRole(role, outsider), kit.engine)
    assert evm.events(kit.escrow, r, "RoleGranted") == [
        {"role": role, "account": outsider, "sender": kit.engine}
    ]
    evm.send(kit.f.commit(62, b"\1" * 32), outsider, 200_000)
    assert kit.auction(62)["offerCount"] == 1
    evm.send(kit.f.revokeRole(role, outsider), kit.engine)
    evm.reverts(
        kit.f.commit(62, b"\2" * 32), outsider, "AccessControlUnauthorizedAccount", outsider, role
    )


def test_phase_guards(evm, prepared, lenders):
    kit = prepared
    e = kit.engine
    evm.reverts(
        kit.f.commit(99, b"\1" * 32), lenders[0], "WrongPhase", 99, PHASE["Commit"], PHASE["None"]
    )
    evm.reverts(
        kit.f.commit(A, b"\1" * 32), lenders[0], "WrongPhase", A, PHASE["Commit"], PHASE["Clearing"]
    )
    evm.reverts(kit.f.closeCommits(A), e, "WrongPhase", A, PHASE["Commit"], PHASE["Clearing"])
    evm.reverts(kit.f.closeReveals(A), e, "WrongPhase", A, PHASE["Reveal"], PHASE["Clearing"])
    evm.reverts(
        kit.f.reveal(A, 0, 1, 1, b"\0" * 32),
        lenders[0],
        "WrongPhase",
        A,
        PHASE["Reveal"],
        PHASE["Clearing"],
    )
    evm.reverts(kit.f.confirm(A), e, "WrongPhase", A, PHASE["Cleared"], PHASE["Clearing"])
    evm.reverts(
        kit.f.excludeUnfunded(A, 0), e, "WrongPhase", A, PHASE["Cleared"], PHASE["Clearing"]
    )
    evm.reverts(kit.f.markDefault(A, 0), e, "WrongPhase", A, PHASE["Active"], PHASE["Clearing"])
    evm.reverts(
        kit.f.repay(A, 1), kit.borrower, "WrongPhase", A, PHASE["Active"], PHASE["Clearing"]
    )
    evm.reverts(
        kit.f.prepay(A, 1), kit.borrower, "WrongPhase", A, PHASE["Active"], PHASE["Clearing"]
    )
    evm.reverts(kit.f.withdraw(A), lenders[0], "WrongPhase", A, PHASE["Active"], PHASE["Clearing"])
    assert kit.f.withdrawable(A, lenders[0]).call() == 0
    kit.open(62, TERMS)
    evm.reverts(
        kit.f.submitClearing(62, 0, []), e, "WrongPhase", 62, PHASE["Clearing"], PHASE["Commit"]
    )


def test_phase_transitions_need_engine_role(evm, prepared, roles):
    kit = prepared
    kit.open(63, TERMS)
    role = kit.f.ENGINE_ROLE().call()
    o = roles["outsider"]
    for fn in (
        kit.f.closeCommits(63),
        kit.f.closeReveals(63),
        kit.f.submitClearing(A, 0, []),
        kit.f.confirm(A),
        kit.f.excludeUnfunded(A, 0),
        kit.f.markDefault(A, 0),
    ):
        evm.reverts(fn, o, "AccessControlUnauthorizedAccount", o, role)


def test_reveal_rules(evm, kit, lenders):
    L = lenders
    offers = [OfferSpec(L[0], 5000, 1000, b"\xaa" * 32), OfferSpec(L[1], 2**64, 1000, b"\xbb" * 32)]
    kit.open(70, TERMS)
    for o in offers:
        kit.commit(70, o)
    evm.send(kit.f.closeCommits(70), kit.engine)
    o = offers[0]
    evm.reverts(kit.f.reveal(70, 2, 1, 1, o.salt), o.lender, "UnknownOffer", 70, 2)
    evm.reverts(kit.f.reveal(70, 0, 5000, 1000, o.salt), L[1], "NotOfferLender", 70, 0, L[1])
    evm.reverts(kit.f.reveal(70, 0, 5001, 1000, o.salt), o.lender, "BadReveal", 70, 0)
    evm.reverts(kit.f.reveal(70, 0, 5000, 1005, o.salt), o.lender, "BadReveal", 70, 0)
    evm.reverts(kit.f.reveal(70, 0, 5000, 1000, b"\xab" * 32), o.lender, "BadReveal", 70, 0)
    r = kit.reveal(70, 0, o)
    assert evm.events(kit.escrow, r, "OfferRevealed") == [
        {"auctionId": 70, "offerIndex": 0, "lender": o.lender, "amountCents": 5000, "rateBps": 1000}
    ]
    evm.reverts(kit.f.reveal(70, 0, 5000, 1000, o.salt), o.lender, "AlreadyRevealed", 70, 0)
    big = offers[1]
    evm.reverts(
        kit.f.reveal(70, 1, big.amount_cents, big.rate_bps, big.salt),
        big.lender,
        "SafeCastOverflowedUintDowncast",
        64,
        2**64,
    )
    off = list(kit.f.offer(70, 0).call())
    assert off[:4] == [o.lender, 5000, 1000, True]
    evm.reverts(kit.f.offer(70, 2), o.lender, "UnknownOffer", 70, 2)
    r = evm.send(kit.f.closeReveals(70), kit.engine)
    assert evm.events(kit.escrow, r, "RevealsClosed") == [{"auctionId": 70, "revealedCount": 1}]


# ------------------------------------------------------------------ clearing verification


def test_correct_clearing_is_accepted(evm, prepared, correct, book):
    kit = prepared
    r = kit.submit(A, correct)
    assert evm.events(kit.escrow, r, "ClearingAccepted") == [
        {
            "auctionId": A,
            "clearingRateBps": 2500,
            "filledCents": 100_000,
            "feeCents": 500,
            "winners": 4,
        }
    ]
    allocated = evm.events(kit.escrow, r, "OfferAllocated")
    assert [
        (e["offerIndex"], e["amountCents"], e["rateBps"]) for e in allocated
    ] == correct.allocations
    a = kit.auction(A)
    assert (a["phase"], a["clearingRateBps"], a["filledCents"], a["feeCents"]) == (
        PHASE["Cleared"],
        2500,
        100_000,
        500,
    )
    assert list(kit.f.offer(A, 2).call())[5:7] == [12_500, 2500]


def test_allocation_order_does_not_matter(evm, prepared, correct):
    kit = prepared
    kit.submit(A, _mutate(correct, allocations=list(reversed(correct.allocations))))
    assert kit.phase(A) == PHASE["Cleared"]


def test_every_single_mutation_is_rejected(evm, prepared, correct):
    kit = prepared
    allocs = correct.allocations

    def with_allocs(new):
        return _mutate(correct, allocations=new)

    # r* wrong either way
    kit.submit_reverts(
        A, _mutate(correct, rate_bps=2200), "WrongClearingRate", A, 2200, 30_000, 40_000, 100_000
    )
    kit.submit_reverts(
        A, _mutate(correct, rate_bps=2800), "WrongClearingRate", A, 2800, 130_003, 20_000, 100_000
    )
    kit.submit_reverts(
        A, _mutate(correct, rate_bps=2505), "WrongClearingRate", A, 2505, 130_003, 0, 100_000
    )
    # one centavo moved between winners (marginal -> marginal breaks largest remainder)
    moved = [allocs[0], allocs[1], (2, 12_499, 2500), (3, 17_501, 2500)]
    kit.submit_reverts(A, with_allocs(moved), "LargestRemainderViolated", A, 3, 2)
    # inframarginal -> marginal
    moved = [(0, 29_999, 2500), allocs[1], allocs[2], (3, 17_501, 2500)]
    kit.submit_reverts(A, with_allocs(moved), "InframarginalNotFilled", A, 0, 29_999, 30_000)
    # marginal -> inframarginal (exceeds the offer)
    moved = [(0, 30_001, 2500), allocs[1], (2, 12_499, 2500), allocs[3]]
    kit.submit_reverts(A, with_allocs(moved), "AllocationExceedsOffer", A, 0, 30_001, 30_000)
    # a marginal share off by more than the cent
    moved = [allocs[0], allocs[1], (2, 12_502, 2500), (3, 17_498, 2500)]
    kit.submit_reverts(A, with_allocs(moved), "MarginalShareMismatch", A, 2, 12_502, 12_499)
    # a winner's rate changed
    kit.submit_reverts(
        A, with_allocs([(0, 30_000, 2495), *allocs[1:]]), "WrongEarnedRate", A, 0, 2495, 2500
    )
    # total changed
    kit.submit_reverts(A, with_allocs(allocs[:3]), "FilledAmountMismatch", A, 82_500, 100_000)
    kit.submit_reverts(
        A, with_allocs([*allocs[:3], (3, 17_499, 2500)]), "FilledAmountMismatch", A, 99_999, 100_000
    )
    # an unallocated cheaper offer swapped in / an above-r* offer allocated
    kit.submit_reverts(
        A,
        with_allocs([*allocs[:3], (4, 17_500, 2500)]),
        "AllocationAboveClearingRate",
        A,
        4,
        2800,
        2500,
    )
    # phantom, duplicate, zero, ineligible
    kit.submit_reverts(A, with_allocs([*allocs, (9, 1, 2500)]), "UnknownOffer", A, 9)
    kit.submit_reverts(A, with_allocs([*allocs, allocs[0]]), "DuplicateAllocation", A, 0)
    kit.submit_reverts(A, with_allocs([*allocs, (4, 0, 2500)]), "ZeroAllocation", A, 4)
    for idx in (5, 6, 7, 8):  # above reserve, off tick, below min, not revealed
        kit.submit_reverts(A, with_allocs([*allocs, (idx, 1, 2500)]), "OfferNotEligible", A, idx)
    # claiming UNFILLED for a fillable auction
    kit.submit_reverts(A, Clearing("UNFILLED", 0), "MustFill", A, 150_003, 100_000)
    assert kit.phase(A) == PHASE["Clearing"]


def test_largest_remainder_ties_go_to_the_earlier_offer(evm, kit, lenders):
    L = lenders
    offers = [OfferSpec(L[i], 10_000, 1500, bytes([i + 1]) * 32) for i in range(3)]
    terms = dataclasses.replace(TERMS, amount_cents=10_000)
    kit.to_clearing(80, terms, offers)
    good = reference_clear(terms, offers)
    assert good.allocations == [(0, 3334, 1500), (1, 3333, 1500), (2, 3333, 1500)]
    tie_broken_wrong = _mutate(
        good, allocations=[(0, 3333, 1500), (1, 3334, 1500), (2, 3333, 1500)]
    )
    kit.submit_reverts(80, tie_broken_wrong, "LargestRemainderViolated", 80, 1, 0)
    kit.submit(80, good)


@pytest.mark.parametrize(
    ("pricing", "earned"),
    [("uniform", [2000, 2000]), ("pay_as_bid", [1500, 2000]), ("first_rejected", [2000, 2000])],
)
def test_pricing_rules_partial_marginal(evm, kit, lenders, pricing, earned):
    L = lenders
    offers = [OfferSpec(L[0], 6000, 1500), OfferSpec(L[1], 6000, 2000), OfferSpec(L[2], 1000, 2500)]
    terms = dataclasses.replace(TERMS, amount_cents=10_000, pricing=pricing)
    kit.to_clearing(81, terms, offers)
    good = reference_clear(terms, offers)
    assert [a[2] for a in good.allocations] == earned
    for k in range(2):
        bad = list(good.allocations)
        i, amt, rate = bad[k]
        bad[k] = (i, amt, rate + 5)
        kit.submit_reverts(
            81, _mutate(good, allocations=bad), "WrongEarnedRate", 81, i, rate + 5, rate
        )
    kit.submit(81, good)


@pytest.mark.parametrize(
    ("third_rate", "expected_paid"),
    [(2500, 2500), (None, 3000)],  # next eligible rate above r*, else the reserve
)
def test_first_rejected_when_marginal_fully_taken(evm, kit, lenders, third_rate, expected_paid):
    L = lenders
    offers = [OfferSpec(L[0], 6000, 1500), OfferSpec(L[1], 4000, 2000)]
    if third_rate is not None:
        offers.append(OfferSpec(L[2], 5000, third_rate))
        offers.append(OfferSpec(L[3], 5000, 2505 + 1))  # off tick: not "eligible above r*"
    terms = dataclasses.replace(TERMS, amount_cents=10_000, pricing="first_rejected")
    kit.to_clearing(82, terms, offers)
    good = reference_clear(terms, offers)
    assert good.rate_bps == 2000 and {a[2] for a in good.allocations} == {expected_paid}
    wrong = _mutate(good, allocations=[(i, a, 2000) for i, a, _ in good.allocations])
    kit.submit_reverts(82, wrong, "WrongEarnedRate", 82, 0, 2000, expected_paid)
    kit.submit(82, good)


def test_partial_and_unfilled(evm, kit, lenders):
    L = lenders
    terms = dataclasses.replace(TERMS, amount_cents=10_000, min_fill_bps=5_000)
    # PARTIAL: supply 6000 >= ceil(0.5 * 10000)
    offers = [OfferSpec(L[0], 4000, 1500), OfferSpec(L[1], 2000, 1600)]
    kit.to_clearing(83, terms, offers)
    good = reference_clear(terms, offers)
    assert good.status == "PARTIAL" and sum(a for _, a, _ in good.allocations) == 6000
    kit.submit_reverts(
        83, _mutate(good, allocations=good.allocations[:1]), "FilledAmountMismatch", 83, 4000, 6000
    )
    kit.submit(83, good)
    assert kit.auction(83)["filledCents"] == 6000
    # UNFILLED: supply 4999 < 5000
    offers = [OfferSpec(L[0], 4999, 1500)]
    kit.to_clearing(84, terms, offers)
    assert reference_clear(terms, offers).status == "UNFILLED"
    kit.submit_reverts(
        84, Clearing("FILLED", 1500, [(0, 4999, 1500)]), "NotFillable", 84, 4999, 5000
    )
    kit.submit_reverts(84, Clearing("UNFILLED", 1500), "WrongClearingRate", 84, 1500, 0, 0, 0)
    r = kit.submit(84, Clearing("UNFILLED", 0))
    assert evm.events(kit.escrow, r, "AuctionUnfilled") == [
        {"auctionId": 84, "supplyCents": 4999, "minFillCents": 5000}
    ]
    assert kit.phase(84) == PHASE["Unfilled"]
    # no offers at all
    kit.to_clearing(85, terms, [])
    kit.submit_reverts(85, Clearing("FILLED", 1500, [(0, 1, 1500)]), "NotFillable", 85, 0, 5000)
    kit.submit(85, Clearing("UNFILLED", 0))


# ------------------------------------------------------------------ confirmation


def test_confirm_moves_capital_pays_borrower_and_fee_and_mints_note(
    evm, prepared, correct, book, roles
):
    kit = prepared
    kit.submit(A, correct)
    kit.fund_winners(book, correct)
    fee0 = kit.balance(roles["fee"])
    r = evm.send(kit.f.confirm(A), kit.engine)
    (ev,) = evm.events(kit.escrow, r, "LoanConfirmed")
    assert ev["filledCents"] == 100_000 and ev["feeCents"] == 500 and ev["clearingRateBps"] == 2500
    assert kit.balance(kit.borrower) == 99_500
    assert kit.balance(roles["fee"]) - fee0 == 500
    assert kit.balance(kit.escrow.address) == 0
    for i, _, _ in correct.allocations:
        assert kit.balance(book[i].lender) == 0
    assert kit.note.functions.ownerOf(A).call() == kit.escrow.address
    assert kit.note.functions.metadataHash(A).call() == ev["noteHash"]
    assert kit.phase(A) == PHASE["Active"]
    evm.reverts(kit.f.confirm(A), kit.engine, "WrongPhase", A, PHASE["Cleared"], PHASE["Active"])


def test_confirm_names_an_unfunded_lender_then_excludes_and_reclears(evm, prepared, correct, book):
    kit = prepared
    kit.submit(A, correct)
    kit.fund_winners(book, correct)
    lender2 = book[2].lender
    # not enough allowance
    kit.approve(lender2, 12_499)
    evm.reverts(
        kit.f.confirm(A),
        kit.engine,
        "LenderUnfunded",
        A,
        2,
        lender2,
        12_500 * CENTAVO,
        12_500 * CENTAVO,
        12_499 * CENTAVO,
    )
    # the engine cannot drop a funded winner, nor a non-winner
    evm.reverts(kit.f.excludeUnfunded(A, 0), kit.engine, "LenderFunded", A, 0, book[0].lender)
    evm.reverts(kit.f.excludeUnfunded(A, 4), kit.engine, "NotAllocated", A, 4)
    evm.reverts(kit.f.excludeUnfunded(A, 9), kit.engine, "UnknownOffer", A, 9)
    r = evm.send(kit.f.excludeUnfunded(A, 2), kit.engine)
    assert evm.events(kit.escrow, r, "OfferExcludedUnfunded") == [
        {"auctionId": A, "offerIndex": 2, "lender": lender2, "neededUnits": 12_500 * CENTAVO}
    ]
    assert kit.phase(A) == PHASE["Clearing"]
    assert list(kit.f.offer(A, 0).call())[5] == 0  # old allocations discarded
    # the old result is now wrong (offer 2 is ineligible); the re-run is accepted
    kit.submit_reverts(A, correct, "OfferNotEligible", A, 2)
    again = reference_clear(TERMS, book, unfunded={2})
    assert again.allocations == [(0, 30_000, 2500), (1, 40_000, 2500), (3, 30_000, 2500)]
    kit.submit(A, again)
    kit.fund(book[3].lender, 12_500)
    kit.approve(book[3].lender, 30_000)
    evm.send(kit.f.confirm(A), kit.engine)
    assert kit.balance(kit.borrower) == 99_500


def test_confirm_sums_a_lenders_offers(evm, kit, lenders):
    L = lenders
    offers = [OfferSpec(L[0], 4000, 1500, b"\1" * 32), OfferSpec(L[0], 6000, 1600, b"\2" * 32)]
    terms = dataclasses.replace(TERMS, amount_cents=10_000)
    kit.to_clearing(86, terms, offers)
    kit.submit(86, reference_clear(terms, offers))
    kit.fund(L[0], 9_999)
    evm.reverts(
        kit.f.confirm(86),
        kit.engine,
        "LenderUnfunded",
        86,
        0,
        L[0],
        10_000 * CENTAVO,
        9_999 * CENTAVO,
        9_999 * CENTAVO,
    )
    kit.fund(L[0], 1)
    kit.approve(L[0], 10_000)
    evm.send(kit.f.confirm(86), kit.engine)


# ------------------------------------------------------------------ servicing and withdrawals


@pytest.fixture
def active(evm, prepared, correct, book):
    """Auction A confirmed; lenders 0..3 won 30000 / 40000 / 12500 / 17500 of F = 100000."""
    kit = prepared
    kit.submit(A, correct)
    kit.fund_winners(book, correct)
    evm.send(kit.f.confirm(A), kit.engine)
    kit.fund(kit.borrower, 200_000)
    return kit


def test_repay_installments_until_repaid(evm, active, book, roles):
    kit = active
    for k in range(1, TERMS.term_months + 1):
        r = evm.send(kit.f.repay(A, 8_885), kit.borrower)
        assert evm.events(kit.escrow, r, "Repaid") == [
            {"auctionId": A, "payer": kit.borrower, "amountCents": 8_885, "installmentsPaid": k}
        ]
    assert evm.events(kit.escrow, r, "LoanRepaid") == [{"auctionId": A, "receivedCents": 106_620}]
    assert kit.phase(A) == PHASE["Repaid"]
    evm.reverts(kit.f.repay(A, 1), kit.borrower, "WrongPhase", A, PHASE["Active"], PHASE["Repaid"])
    # closed: largest-remainder shares of 106620 over 30000/40000/12500/17500
    shares = [kit.f.withdrawable(A, book[i].lender).call() for i in range(4)]
    assert shares == [31_986, 42_648, 13_328, 18_658] and sum(shares) == 106_620
    for i in range(4):
        evm.send(kit.f.withdraw(A), book[i].lender)
        assert kit.balance(book[i].lender) == shares[i]
    assert kit.balance(kit.escrow.address) == 0
    evm.reverts(kit.f.withdraw(A), book[0].lender, "NothingToWithdraw", A, book[0].lender)


def test_withdraw_while_active_pays_floors_and_never_twice(evm, active, book):
    kit = active
    evm.send(kit.f.repay(A, 1_001), kit.borrower)
    # floors of 1001 * a / 100000: 300, 400, 125, 175 -> 1000; one centavo stays until close
    assert [kit.f.withdrawable(A, book[i].lender).call() for i in range(4)] == [300, 400, 125, 175]
    r = evm.send(kit.f.withdraw(A), book[0].lender)
    assert evm.events(kit.escrow, r, "Withdrawn") == [
        {"auctionId": A, "lender": book[0].lender, "amountCents": 300}
    ]
    evm.reverts(kit.f.withdraw(A), book[0].lender, "NothingToWithdraw", A, book[0].lender)
    evm.reverts(kit.f.withdraw(A), book[4].lender, "NothingToWithdraw", A, book[4].lender)
    evm.send(kit.f.prepay(A, 99_999), kit.borrower)
    total = sum(kit.f.withdrawable(A, book[i].lender).call() for i in range(4))
    assert total + 300 == 101_000
    assert kit.auction(A)["withdrawnCents"] == 300


def test_repay_and_prepay_reverts(evm, active, roles):
    kit = active
    o = roles["outsider"]
    evm.reverts(kit.f.repay(A, 1), o, "NotBorrowerOrEngine", A, o)
    evm.reverts(kit.f.prepay(A, 1), o, "NotBorrowerOrEngine", A, o)
    evm.reverts(kit.f.repay(A, 0), kit.borrower, "ZeroAmount", A)
    evm.reverts(kit.f.prepay(A, 0), kit.borrower, "ZeroAmount", A)
    kit.approve(kit.borrower, 0)
    evm.reverts(
        kit.f.repay(A, 1),
        kit.borrower,
        "ERC20InsufficientAllowance",
        kit.escrow.address,
        0,
        CENTAVO,
    )
    kit.approve(kit.borrower, 95_000)
    # the engine may pay on the borrower's behalf
    kit.fund(kit.engine, 5)
    evm.send(kit.f.repay(A, 5), kit.engine)
    r = evm.send(kit.f.prepay(A, 95_000), kit.borrower)
    assert evm.events(kit.escrow, r, "LoanPrepaid") == [
        {"auctionId": A, "payer": kit.borrower, "amountCents": 95_000, "receivedCents": 95_005}
    ]
    assert kit.phase(A) == PHASE["Prepaid"]
    evm.reverts(
        kit.f.prepay(A, 1), kit.borrower, "WrongPhase", A, PHASE["Active"], PHASE["Prepaid"]
    )


@pytest.mark.parametrize("recovered", [0, 40_001])
def test_default_shares_the_recovery(evm, active, book, recovered):
    kit = active
    evm.send(kit.f.repay(A, 8_885), kit.borrower)
    kit.fund(kit.engine, recovered)
    r = evm.send(kit.f.markDefault(A, recovered), kit.engine)
    assert evm.events(kit.escrow, r, "LoanDefaulted") == [
        {"auctionId": A, "recoveredCents": recovered, "receivedCents": 8_885 + recovered}
    ]
    shares = [kit.f.withdrawable(A, book[i].lender).call() for i in range(4)]
    assert sum(shares) == 8_885 + recovered
    evm.reverts(
        kit.f.markDefault(A, 0), kit.engine, "WrongPhase", A, PHASE["Active"], PHASE["Defaulted"]
    )


def test_fee_recipient_admin(evm, kit, roles):
    admin = roles["admin"]
    r = evm.send(kit.f.setFeeRecipient(roles["outsider"]), admin)
    assert evm.events(kit.escrow, r, "FeeRecipientChanged") == [
        {"previous": roles["fee"], "current": roles["outsider"]}
    ]
    evm.reverts(kit.f.setFeeRecipient(ZERO), admin, "ZeroAddress", b"feeRecipient".ljust(32, b"\0"))
    role = kit.f.DEFAULT_ADMIN_ROLE().call()
    e = roles["engine"]
    evm.reverts(kit.f.setFeeRecipient(e), e, "AccessControlUnauthorizedAccount", e, role)


def test_constructor_rejects_zero_addresses(evm, kit, roles):
    a, e, f = roles["admin"], roles["engine"], roles["fee"]
    t, n = kit.token.address, kit.note.address
    evm.deploy_reverts(
        "FundingEscrow", [a, e, ZERO, n, f], "ZeroAddress", b"token".ljust(32, b"\0")
    )
    evm.deploy_reverts("FundingEscrow", [a, e, t, ZERO, f], "ZeroAddress", b"note".ljust(32, b"\0"))
    evm.deploy_reverts(
        "FundingEscrow", [a, e, t, n, ZERO], "ZeroAddress", b"feeRecipient".ljust(32, b"\0")
    )


# ------------------------------------------------------------------ reentrancy


@pytest.mark.parametrize("swallow", [False, True])
def test_reentrant_withdrawal_is_blocked(evm, roles, lenders, swallow):
    """A lender contract re-enters withdraw from the token's receive hook."""
    kit = EscrowKit(evm, roles, token_name="HookedToken")
    attacker = evm.deploy("ReentrantLender", sender=roles["outsider"])
    kit.admit(attacker.address)
    o = roles["outsider"]
    honest = OfferSpec(lenders[0], 6000, 1500, b"\1" * 32)
    evil = OfferSpec(attacker.address, 4000, 1500, b"\2" * 32)
    terms = dataclasses.replace(TERMS, amount_cents=10_000)

    def as_attacker(fn):
        return evm.send(attacker.functions.exec(fn.address, fn._encode_transaction_data()), o)

    kit.open(90, terms)
    kit.commit(90, honest)
    as_attacker(kit.f.commit(90, kit.commitment(90, evil)))
    evm.send(kit.f.closeCommits(90), kit.engine)
    kit.reveal(90, 0, honest)
    as_attacker(kit.f.reveal(90, 1, evil.amount_cents, evil.rate_bps, evil.salt))
    evm.send(kit.f.closeReveals(90), kit.engine)
    kit.submit(90, reference_clear(terms, [honest, evil]))
    kit.fund(honest.lender, 6000)
    kit.fund(attacker.address, 4000, approve=False)
    as_attacker(kit.token.functions.approve(kit.escrow.address, 4000 * CENTAVO))
    evm.send(kit.f.confirm(90), kit.engine)
    kit.fund(kit.borrower, 10_000)
    evm.send(kit.f.prepay(90, 10_000), kit.borrower)

    as_attacker(kit.token.functions.registerHook())
    evm.send(attacker.functions.arm(kit.escrow.address, 90, swallow), o)
    withdraw = kit.f.withdraw(90)
    if not swallow:
        # the nested call hits the guard and the whole withdrawal reverts
        receipt = evm.w3.eth.get_transaction_receipt(
            attacker.functions.exec(
                kit.escrow.address, withdraw._encode_transaction_data()
            ).transact(
                {
                    "from": o,
                    "gas": 1_000_000,
                    "maxFeePerGas": 2 * 10**10,
                    "maxPriorityFeePerGas": 10**9,
                }
            )
        )
        assert receipt.status == 0
        assert kit.balance(attacker.address) == 0
        assert kit.f.withdrawable(90, attacker.address).call() == 4000
    else:
        as_attacker(withdraw)
        assert attacker.functions.attempts().call() == 1
        assert attacker.functions.nestedSucceeded().call() == 0
        name, _ = evm.decode_error_data(attacker.functions.lastRevert().call())
        assert name == "ReentrancyGuardReentrantCall"
        assert kit.balance(attacker.address) == 4000  # paid once, not twice
        assert kit.f.withdrawable(90, attacker.address).call() == 0
    evm.send(kit.f.withdraw(90), honest.lender)
    assert kit.balance(honest.lender) == 6000


# ------------------------------------------------------------------ gas


#: ceilings for the main calls (measured values are printed with `pytest -s`)
GAS_CEILINGS = {
    "open": 120_000,
    "commit": 120_000,
    "reveal": 60_000,
    "submitClearing(8 offers)": 400_000,
    "confirm(8 winners)": 700_000,
    "repay": 90_000,
    "withdraw": 150_000,
}


def test_gas_profile_eight_offers(evm, kit, lenders, capsys):
    L = lenders
    offers = [
        OfferSpec(L[i], 2_000 + 500 * i, 1500 + 50 * i, bytes([i + 1]) * 32) for i in range(8)
    ]
    terms = dataclasses.replace(TERMS, amount_cents=sum(o.amount_cents for o in offers) - 1_000)
    gas: dict[str, list[int]] = {}

    def note(label, receipt):
        gas.setdefault(label, []).append(receipt.gasUsed)

    note("open", kit.open(95, terms))
    for o in offers:
        note("commit", kit.commit(95, o))
    evm.send(kit.f.closeCommits(95), kit.engine)
    for i, o in enumerate(offers):
        note("reveal", kit.reveal(95, i, o))
    evm.send(kit.f.closeReveals(95), kit.engine)
    good = reference_clear(terms, offers)
    assert len(good.allocations) == 8
    note("submitClearing(8 offers)", kit.submit(95, good))
    kit.fund_winners(offers, good)
    note("confirm(8 winners)", evm.send(kit.f.confirm(95), kit.engine))
    kit.fund(kit.borrower, 10_000)
    note("repay", evm.send(kit.f.repay(95, 5_000), kit.borrower))
    note("withdraw", evm.send(kit.f.withdraw(95), L[0]))
    with capsys.disabled():
        print("\nFundingEscrow gas (max over calls):")
        for label, used in gas.items():
            print(f"  {label:<26} {max(used):>8,}")
    for label, used in gas.items():
        assert max(used) <= GAS_CEILINGS[label], (label, used)


# ------------------------------------------------------------------ commitment bytes


@pytest.mark.parametrize(
    ("amount", "rate", "salt"),
    [
        (1, 0, b"\0" * 32),
        (2**64 - 1, 2**24 - 1, b"\xff" * 32),
        (123_456_789, 2_345, bytes(range(32))),
    ],
)
def test_python_commitment_is_byte_identical_on_chain(evm, kit, lenders, amount, rate, salt):
    """market.auction.commitment.commitment_hash is what the contract recomputes at reveal: a reveal
    succeeds exactly when the bytes agree (and for no other lender or auction id)."""
    from market.auction.commitment import commitment_hash

    lender = lenders[3]
    auction_id = 2**255 + 17
    kit.open(auction_id, TERMS)
    evm.send(
        kit.f.commit(auction_id, commitment_hash(auction_id, lender, amount, rate, salt)), lender
    )
    evm.send(
        kit.f.commit(auction_id, commitment_hash(auction_id + 1, lender, amount, rate, salt)),
        lender,
    )
    evm.send(kit.f.closeCommits(auction_id), kit.engine)
    evm.reverts(kit.f.reveal(auction_id, 1, amount, rate, salt), lender, "BadReveal", auction_id, 1)
    r = evm.send(kit.f.reveal(auction_id, 0, amount, rate, salt), lender)
    assert evm.events(kit.escrow, r, "OfferRevealed")[0]["amountCents"] == amount

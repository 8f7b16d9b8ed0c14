"""Differential property: the Python clearing (``market.auction.clearing.clear``) is accepted by
``FundingEscrow.submitClearing``, and every single mutation of it is rejected.

For random small auctions (<= 12 offers, ties in rate and commit time, off-tick, above-reserve,
below-minimum and unrevealed offers, all three pricing rules, min_fill ratios from 0 to 1) the
test replays the commit-reveal on chain, then checks with ``eth_call`` that the contract rejects:
one centavo moved between any two winners, any winner's earned rate changed, r* changed, a winner
dropped, an unallocated or ineligible offer swapped in for a winner, a phantom offer, a duplicated
winner, and the opposite status (UNFILLED <-> FILLED); finally the genuine result is sent and
accepted.

Offer ids are ``o00``, ``o01``, ... and commit times never decrease, so the spec's tie order
(committed_at, offer_id) is the commit order = the on-chain offer index.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from market.auction.clearing import clear
from market.auction.types import AuctionRequest, AuctionRules
from market.auction.types import Offer as PyOffer
from tests.chain.escrow_kit import PHASE, Clearing, EscrowKit, OfferSpec, TermSpec, reference_clear

pytestmark = pytest.mark.slow

AUCTION = 1
#: min_fill_ratio -> the escrow's minFillBps; 0 accepts any partial fill (S = 0 stays UNFILLED)
RATIOS = {1.0: 10_000, 0.9: 9_000, 0.75: 7_500, 0.5: 5_000, 0.0: 0}


def _one_offer(amount: int, rate: int) -> dict:
    return {"lender_slot": 0, "amount": amount, "rate": rate, "t": 0, "reveal": True,
            "salt": b"\x01" * 32}  # fmt: skip


@pytest.fixture(scope="module")
def kit(chain, roles):
    return EscrowKit(chain, roles)


@st.composite
def auctions(draw):
    n = draw(st.integers(0, 12))
    amount = draw(st.sampled_from([5_000, 10_000, 12_345, 30_000]))
    max_rate = draw(st.sampled_from([2000, 2500, 3000]))
    pricing = draw(st.sampled_from(["uniform", "pay_as_bid", "first_rejected"]))
    ratio = draw(st.sampled_from(sorted(RATIOS)))
    rates = st.one_of(
        st.sampled_from([1500, 1800, 2000, 2000, 2200, 2500, 2500, 3000]),
        st.integers(1000, 3100),  # mostly off tick or above some reserves
    )
    amounts = st.one_of(st.sampled_from([1000, 2000, 3000, 3333, 5000, 7001]), st.integers(1, 9000))
    offers, t = [], 0
    for i in range(n):
        t += draw(st.sampled_from([0, 0, 1, 60]))
        offers.append(
            {
                "lender_slot": draw(st.integers(0, 12)),
                "amount": draw(amounts),
                "rate": draw(rates),
                "t": t,
                "reveal": draw(st.sampled_from([True, True, True, False])),
                "salt": bytes([i + 1]) * 32,
            }
        )
    return amount, max_rate, pricing, ratio, offers


def _to_chain(result, index_of) -> Clearing:
    if result.status == "UNFILLED":
        return Clearing("UNFILLED", 0)
    allocs = [(index_of[a.offer_id], a.amount_cents, a.rate_bps) for a in result.allocations]
    return Clearing(result.status, result.clearing_rate_bps, allocs)


def _mutations(good: Clearing, specs, terms: TermSpec):
    """Every single change of a correct result that the contract must reject."""
    n = len(specs)
    allocs = good.allocations
    if good.status == "UNFILLED":
        for i in range(n):
            yield (
                f"claim FILLED with offer {i}",
                Clearing(
                    "FILLED",
                    specs[i].rate_bps,
                    [(i, max(1, specs[i].amount_cents), specs[i].rate_bps)],
                ),
            )
        yield "UNFILLED with a rate", Clearing("UNFILLED", terms.max_rate_bps)
        return
    yield "claim UNFILLED", Clearing("UNFILLED", 0)
    for delta in (-terms.tick_bps, terms.tick_bps, -1, 1):
        if good.rate_bps + delta >= 0:
            yield f"r* {delta:+d}", Clearing(good.status, good.rate_bps + delta, allocs)
    k = len(allocs)
    marginal = [a for a in range(k) if specs[allocs[a][0]].rate_bps == good.rate_bps]
    pairs = {(a, (a + 1) % k) for a in range(k)} | {((a + 1) % k, a) for a in range(k)}
    pairs |= set(itertools.permutations(marginal, 2))
    for a, b in sorted(pairs):
        if a == b:
            continue
        x, y = allocs[a], allocs[b]
        moved = list(allocs)
        moved[a] = (x[0], x[1] - 1, x[2])
        moved[b] = (y[0], y[1] + 1, y[2])
        yield f"cent {x[0]}->{y[0]}", Clearing(good.status, good.rate_bps, moved)
    for j, (i, amt, rate) in enumerate(allocs):
        for delta in (-terms.tick_bps, 1):
            changed = list(allocs)
            changed[j] = (i, amt, rate + delta)
            yield f"rate of {i} {delta:+d}", Clearing(good.status, good.rate_bps, changed)
        more = [*allocs[:j], (i, amt + 1, rate), *allocs[j + 1 :]]
        yield f"{i} one cent more", Clearing(good.status, good.rate_bps, more)
    for j in {0, k - 1}:
        rest = allocs[:j] + allocs[j + 1 :]
        yield f"drop {allocs[j][0]}", Clearing(good.status, good.rate_bps, rest)
    yield "duplicate", Clearing(good.status, good.rate_bps, [*allocs, allocs[0]])
    # swap an unallocated offer (cheaper ineligible ones included) in for a winner
    losers = [u for u in range(n) if u not in {w for w, _, _ in allocs}]
    for m in range(max(len(losers), k) if losers else 0):
        u, j = losers[m % len(losers)], m % k
        i, amt, rate = allocs[j]
        swapped = list(allocs)
        swapped[j] = (u, min(amt, max(specs[u].amount_cents, 1)), rate)
        yield f"swap {u} for {i}", Clearing(good.status, good.rate_bps, swapped)
    yield "phantom", Clearing(good.status, good.rate_bps, [*allocs, (n, 1, good.rate_bps)])
    yield "phantom 63", Clearing(good.status, good.rate_bps, [*allocs, (63, 1, good.rate_bps)])


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=auctions())
# ratio 0: the smallest eligible supply fills partly; no eligible supply is still UNFILLED
@example(case=(30_000, 2500, "uniform", 0.0, [_one_offer(1000, 2000)]))
@example(case=(30_000, 2500, "pay_as_bid", 0.0, [_one_offer(5000, 2600)]))
@example(case=(30_000, 2500, "first_rejected", 0.0, []))
def test_python_clearing_accepted_and_every_mutation_rejected(chain, kit, lenders, case):
    amount, max_rate, pricing, ratio, raw = case
    terms = TermSpec(
        amount_cents=amount,
        max_rate_bps=max_rate,
        pricing=pricing,
        min_fill_bps=RATIOS[ratio],
        max_offers_per_lender=12,
    )
    specs = [
        OfferSpec(lenders[o["lender_slot"]], o["amount"], o["rate"], o["salt"], o["reveal"])
        for o in raw
    ]
    request = AuctionRequest(AUCTION, "b1", amount, max_rate, 12, 0)
    rules = AuctionRules(min_fill_ratio=ratio, pricing=pricing, max_offers_per_lender=12)
    offers = [
        PyOffer(
            f"o{i:02d}", s.lender, s.amount_cents if s.reveal else 0, s.rate_bps, o["t"], s.reveal
        )
        for i, (s, o) in enumerate(zip(specs, raw, strict=True))
    ]
    result = clear(request, offers, rules)
    good = _to_chain(result, {f"o{i:02d}": i for i in range(len(specs))})
    # the Python clearing and this suite's independent reference agree
    ref = reference_clear(terms, specs)
    assert (good.status, good.rate_bps, sorted(good.allocations)) == (
        ref.status,
        ref.rate_bps,
        sorted(ref.allocations),
    )

    snap = chain.snapshot()
    try:
        kit.to_clearing(AUCTION, terms, specs)
        submit = kit.f.submitClearing
        for label, bad in _mutations(good, specs, terms):
            rate, allocs = bad.as_args()
            err = chain.call_error(submit(AUCTION, rate, allocs), kit.engine)
            assert err is not None, f"mutation accepted: {label}: {bad}"
            assert err[0] not in ("Panic", "<no data>"), (label, err)
        rate, allocs = good.as_args()
        assert chain.call_error(submit(AUCTION, rate, allocs), kit.engine) is None
        kit.submit(AUCTION, good)
        expected = PHASE["Unfilled"] if good.status == "UNFILLED" else PHASE["Cleared"]
        assert kit.phase(AUCTION) == expected
        if good.status != "UNFILLED":
            a = kit.auction(AUCTION)
            assert (a["filledCents"], a["feeCents"]) == (result.filled_cents, result.fee_cents)
    finally:
        chain.revert_to(snap)

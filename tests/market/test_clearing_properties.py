"""Hypothesis properties of clearing: the spec's invariants, on both engines."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from market.auction.clearing import OfferColumns, clear, clear_columns
from market.auction.clearing_reference import clear_reference, eligibility_reason
from market.auction.types import (
    PRICING_RULES,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    Offer,
)

TICK = 5
small_amounts = st.integers(1, 3000)
huge_amounts = st.integers(2**60, 2**62)


@st.composite
def offers_st(draw: st.DrawFn, huge: bool = False, max_size: int = 25) -> list[Offer]:
    n = draw(st.integers(0, max_size))
    ids = draw(
        st.lists(st.text("abc0123", min_size=1, max_size=4), min_size=n, max_size=n, unique=True)
    )
    amounts = huge_amounts if huge else small_amounts
    out = []
    for oid in ids:
        rate = draw(st.integers(0, 12)) * TICK + draw(st.sampled_from([0] * 9 + [1, 3]))
        t = draw(st.one_of(st.integers(0, 4), st.sampled_from([0.5, 1.5, 2.0])))
        revealed = draw(st.sampled_from([True] * 9 + [False]))
        out.append(Offer(oid, "l" + oid[:1], draw(amounts), rate, t, revealed))
    return out


@st.composite
def cases(draw: st.DrawFn, huge: bool = False) -> tuple[AuctionRequest, list[Offer], AuctionRules]:
    offers = draw(offers_st(huge=huge))
    amount = draw(st.integers(1, 2**63 - 1) if huge else st.integers(1, 20_000))
    req = AuctionRequest(1, "b", amount, draw(st.integers(0, 14)) * TICK, 12, 0)
    rules = AuctionRules(
        tick_bps=TICK,
        min_offer_cents=draw(st.sampled_from([0, 10, 100])),
        min_fill_ratio=draw(
            st.one_of(st.sampled_from([1.0, 0.9, 0.5, 0.1, 0.001, 0.0]), st.floats(0.0, 1.0))
        ),
        pricing=draw(st.sampled_from(PRICING_RULES)),
        platform_fee_bps=draw(st.integers(0, 300)),
    )
    return req, offers, rules


def numpy_all_methods(req: AuctionRequest, offers: list[Offer], rules: AuctionRules):
    cols = OfferColumns.from_offers(offers)
    results = [
        clear_columns(req, cols, rules, r_star_method=m).to_result(cols)
        for m in ("auto", "bincount", "sort")
    ]
    assert results[0] == results[1] == results[2]
    return results[0]


def check_invariants(
    req: AuctionRequest, offers: list[Offer], rules: AuctionRules, res: ClearingResult
) -> None:
    by_id = {o.offer_id: o for o in offers}
    eligible = [o for o in offers if eligibility_reason(o, req, rules) is None]
    supply = sum(o.amount_cents for o in eligible)
    alloc_ids = [a.offer_id for a in res.allocations]
    excl_ids = [e.offer_id for e in res.excluded]
    # every offer appears exactly once; exclusions in input order
    assert sorted(alloc_ids + excl_ids) == sorted(by_id)
    assert excl_ids == [o.offer_id for o in offers if o.offer_id not in set(alloc_ids)]
    for e in res.excluded:
        why = eligibility_reason(by_id[e.offer_id], req, rules)
        assert e.reason == (why or "NOT_ALLOCATED")
    # status consistent with S and min_fill_ratio
    if supply == 0 or supply < rules.min_fill_cents(req.amount_cents):
        assert res.status == "UNFILLED" and res.clearing_rate_bps is None
        assert res.allocations == () and res.filled_cents == 0 and res.fee_cents == 0
        return
    filled = min(req.amount_cents, supply)
    assert res.filled_cents == filled
    assert res.status == ("FILLED" if filled == req.amount_cents else "PARTIAL")
    assert res.fee_cents == -((-filled * rules.platform_fee_bps) // 10_000)
    assert sum(a.amount_cents for a in res.allocations) == filled
    r_star = res.clearing_rate_bps
    assert r_star is not None
    # r* is the smallest offered rate with S(r) >= F
    rates = sorted({o.rate_bps for o in eligible})
    assert r_star == next(
        r for r in rates if sum(o.amount_cents for o in eligible if o.rate_bps <= r) >= filled
    )
    # step 4, restated independently: floor shares at r*, then one cent each to the largest
    # remainders, ties by (committed_at, offer_id)
    below = sum(o.amount_cents for o in eligible if o.rate_bps < r_star)
    marginal = sorted(
        (o for o in eligible if o.rate_bps == r_star), key=lambda o: (o.committed_at, o.offer_id)
    )
    rest, total = filled - below, sum(o.amount_cents for o in marginal)
    assert 0 < rest <= total
    share = {o.offer_id: rest * o.amount_cents // total for o in marginal}
    by_remainder = sorted(
        marginal, key=lambda o: (-(rest * o.amount_cents % total), o.committed_at, o.offer_id)
    )
    for o in by_remainder[: rest - sum(share.values())]:
        share[o.offer_id] += 1
    got = {a.offer_id: a.amount_cents for a in res.allocations}
    for o in marginal:
        assert got.get(o.offer_id, 0) == share[o.offer_id]
    # step 5, first_rejected: r* while some offer at r* is left (partly) unallocated, else the
    # lowest eligible rate above r*, else the reserve
    if rules.pricing == "first_rejected":
        above = [o.rate_bps for o in eligible if o.rate_bps > r_star]
        expected = (
            r_star
            if any(share[o.offer_id] < o.amount_cents for o in marginal)
            else min(above, default=req.max_rate_bps)
        )
        assert all(a.rate_bps == expected for a in res.allocations)
    keys = []
    for a in res.allocations:
        o = by_id[a.offer_id]
        assert a.lender == o.lender
        assert 0 < a.amount_cents <= o.amount_cents
        assert eligibility_reason(o, req, rules) is None and o.rate_bps <= r_star
        if o.rate_bps < r_star:
            assert a.amount_cents == o.amount_cents
        assert o.rate_bps <= a.rate_bps <= req.max_rate_bps
        if rules.pricing == "uniform":
            assert a.rate_bps == r_star
        elif rules.pricing == "pay_as_bid":
            assert a.rate_bps == o.rate_bps
        else:
            assert a.rate_bps >= r_star
        keys.append((o.rate_bps, o.committed_at, o.offer_id))
    assert keys == sorted(keys)  # clearing order
    # offers below r* are never left out
    for o in eligible:
        if o.rate_bps < r_star:
            assert o.offer_id in alloc_ids


@given(cases())
def test_numpy_equals_reference_and_invariants_hold(case) -> None:
    req, offers, rules = case
    ref = clear_reference(req, offers, rules)
    assert numpy_all_methods(req, offers, rules) == ref
    check_invariants(req, offers, rules, ref)


@given(cases(), st.floats(0.0, 1.0))
def test_ratio_zero_refuses_only_no_supply_and_a_ratio_only_decides_unfilled(case, ratio) -> None:
    """Spec: UNFILLED if S = 0 or S < ⌈ratio × amount⌉. At ratio 0 only S = 0 is UNFILLED
    (any positive supply fills, partly if S < amount); any other ratio gives either that same
    result or UNFILLED, exactly when S is below its minimum."""
    req, offers, rules = case
    supply = sum(o.amount_cents for o in offers if eligibility_reason(o, req, rules) is None)
    any_fill = replace(rules, min_fill_ratio=0.0)
    at_ratio = replace(rules, min_fill_ratio=ratio)
    for engine in (clear, clear_reference):
        zero = engine(req, offers, any_fill)
        assert (zero.status == "UNFILLED") == (supply == 0)
        if supply:
            assert zero.filled_cents == min(supply, req.amount_cents)
            assert zero.status == ("FILLED" if supply >= req.amount_cents else "PARTIAL")
        res = engine(req, offers, at_ratio)
        if supply < at_ratio.min_fill_cents(req.amount_cents):
            assert res.status == "UNFILLED" and res.allocations == ()
        else:
            assert res == zero


@settings(max_examples=60)
@given(cases(huge=True))
def test_huge_amounts_stay_exact(case) -> None:
    req, offers, rules = case
    ref = clear_reference(req, offers, rules)
    assert numpy_all_methods(req, offers, rules) == ref
    check_invariants(req, offers, rules, ref)


@given(cases(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(case, rnd) -> None:
    """Shuffling the input changes nothing but the order of ``excluded``, which the spec ties
    to the input order: the whole result, with the exclusions put in the shuffled order, is
    equal field by field (status, r*, F, fee, allocations with amounts and rates)."""
    req, offers, rules = case
    shuffled = list(offers)
    rnd.shuffle(shuffled)
    pos = {o.offer_id: i for i, o in enumerate(shuffled)}
    for engine in (clear, clear_reference):
        a, b = engine(req, offers, rules), engine(req, shuffled, rules)
        assert b == replace(a, excluded=tuple(sorted(a.excluded, key=lambda e: pos[e.offer_id])))


@given(
    cases(),
    st.integers(1, 3000),
    st.integers(0, 14),
    st.sampled_from([0] * 6 + [2]),
    st.integers(0, 5),
    st.booleans(),
)
def test_adding_an_offer_never_raises_r_star(case, amount, tick_index, off, t, revealed) -> None:
    """Adding an offer never raises r* *for the same target*: precisely, r*' <= r* when the
    auction was FILLED (F = amount stays the target), or when it was PARTIAL and the new offer's
    rate is <= r* (then S'(r*) = S + a >= F').  A PARTIAL auction (F = S < amount) that gains an
    offer above r* fills more and r* rises to that offer's rate: that is more volume at a higher
    price, not a worse price for the same volume (see ``test_partial_auction_gaining_a_dearer_
    offer_raises_r_star`` and docs/mechanisms.md).  An ineligible new offer changes nothing but
    the exclusions; a FILLED or PARTIAL auction never becomes UNFILLED."""
    req, offers, rules = case
    before = clear_reference(req, offers, rules)
    extra = Offer("new-offer", "lx", amount, tick_index * TICK + off, t, revealed)
    after = clear_reference(req, [*offers, extra], rules)
    assert after == clear(req, [*offers, extra], rules)
    if eligibility_reason(extra, req, rules) is not None:
        gone = Exclusion("new-offer", eligibility_reason(extra, req, rules))
        assert after == replace(before, excluded=(*before.excluded, gone))
        return
    if before.status == "FILLED":
        assert after.status == "FILLED"
        assert after.clearing_rate_bps <= before.clearing_rate_bps
    elif before.status == "PARTIAL":
        assert after.status != "UNFILLED"
        if extra.rate_bps <= before.clearing_rate_bps:
            assert after.clearing_rate_bps <= before.clearing_rate_bps
        else:
            assert after.clearing_rate_bps == extra.rate_bps  # the only way r* can rise


def test_partial_auction_gaining_a_dearer_offer_raises_r_star() -> None:
    """Why the property above is scoped: PARTIAL at r* = 1000, a new offer at 1500 fills more."""
    req = AuctionRequest(1, "b", 10_000, 2000, 12, 0)
    rules = AuctionRules(min_fill_ratio=0.5)
    offers = [Offer("a", "l1", 6_000, 1000, 0)]
    before = clear_reference(req, offers, rules)
    after = clear_reference(req, [*offers, Offer("b", "l2", 4_000, 1500, 1)], rules)
    assert (before.status, before.clearing_rate_bps, before.filled_cents) == (
        "PARTIAL",
        1000,
        6_000,
    )
    assert (after.status, after.clearing_rate_bps, after.filled_cents) == ("FILLED", 1500, 10_000)


@given(cases(), st.integers(0, 20_000))
def test_raising_the_amount_never_lowers_r_star(case, more) -> None:
    req, offers, rules = case
    bigger = AuctionRequest(
        req.auction_id, req.borrower, req.amount_cents + more, req.max_rate_bps, 12, 0
    )
    a, b = clear_reference(req, offers, rules), clear_reference(bigger, offers, rules)
    if a.status != "UNFILLED" and b.status != "UNFILLED":
        assert b.clearing_rate_bps >= a.clearing_rate_bps
        assert b.filled_cents >= a.filled_cents


@given(cases())
def test_same_input_same_bytes(case) -> None:
    req, offers, rules = case
    first = json.dumps(clear(req, offers, rules).to_dict())
    assert json.dumps(clear(req, list(offers), rules).to_dict()) == first
    assert json.dumps(clear_reference(req, offers, rules).to_dict()) == first

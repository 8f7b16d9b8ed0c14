"""Hypothesis properties of clearing: the spec's invariants, on both engines."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from market.auction_types import PRICING_RULES, AuctionRequest, AuctionRules, ClearingResult, Offer
from market.clearing import OfferColumns, clear, clear_columns
from market.clearing_reference import clear_reference, eligibility_reason

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
        min_fill_ratio=draw(st.sampled_from([1.0, 0.9, 0.5, 0.1, 0.001])),
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


@settings(max_examples=60)
@given(cases(huge=True))
def test_huge_amounts_stay_exact(case) -> None:
    req, offers, rules = case
    ref = clear_reference(req, offers, rules)
    assert numpy_all_methods(req, offers, rules) == ref
    check_invariants(req, offers, rules, ref)


@given(cases(), st.randoms(use_true_random=False))
def test_input_order_does_not_matter(case, rnd) -> None:
    req, offers, rules = case
    shuffled = list(offers)
    rnd.shuffle(shuffled)
    a, b = clear(req, offers, rules), clear(req, shuffled, rules)
    assert a.allocations == b.allocations
    assert (a.status, a.clearing_rate_bps, a.filled_cents, a.fee_cents) == (
        b.status,
        b.clearing_rate_bps,
        b.filled_cents,
        b.fee_cents,
    )
    assert sorted((e.offer_id, e.reason) for e in a.excluded) == sorted(
        (e.offer_id, e.reason) for e in b.excluded
    )


@given(cases(), st.integers(1, 3000), st.integers(0, 12), st.integers(0, 5))
def test_adding_an_offer_never_raises_r_star(case, amount, tick_index, t) -> None:
    req, offers, rules = case
    before = clear_reference(req, offers, rules)
    extra = Offer("new-offer", "lx", amount, tick_index * TICK, t, True)
    after = clear_reference(req, [*offers, extra], rules)
    if before.status == "FILLED":
        assert after.status == "FILLED"
        assert after.clearing_rate_bps <= before.clearing_rate_bps
    if before.status != "UNFILLED":
        assert after.status != "UNFILLED"


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

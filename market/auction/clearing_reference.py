"""Reference clearing in plain Python: the spec's steps 1–6, written to be read.

:func:`clear_reference` gives exactly the same :class:`~market.auction.types.ClearingResult` as
the vectorised :func:`market.auction.clearing.clear` (property-tested); it is also the fast choice for
small auctions (tens of offers), where numpy's per-call overhead dominates.

Steps (spec ``auction.md``):
1. eligibility, first reason in order NOT_REVEALED, BELOW_MIN_OFFER, OFF_TICK, ABOVE_RESERVE;
2. eligible offers ordered by (rate_bps, committed_at, offer_id);
3. S = eligible supply; UNFILLED if S = 0 or S < ⌈min_fill_ratio × amount⌉, else F = min(amount, S);
4. r* = smallest rate with S(r) ≥ F; offers below r* in full; the remainder R = F − S(r*−) split
   pro rata at r* by largest remainder (ties by committed_at, offer_id);
5. the pricing rule sets each winner's rate; 6. fee = ⌈F × fee_bps / 10000⌉.
All arithmetic is on Python ints, so nothing overflows.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import attrgetter

from market.auction.types import (
    Allocation,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    OfferLike,
)
from market.validation import FieldError

__all__ = ["check_unique_ids", "clear_reference", "eligibility_reason"]

#: step 2's order: (rate_bps, committed_at, offer_id)
_CLEARING_ORDER = attrgetter("rate_bps", "committed_at", "offer_id")
_NA = "NOT_ALLOCATED"


def eligibility_reason(
    offer: OfferLike, request: AuctionRequest, rules: AuctionRules
) -> str | None:
    """The first exclusion reason that applies to ``offer``, or ``None`` when it is eligible."""
    if not offer.revealed:
        return "NOT_REVEALED"
    if offer.amount_cents < rules.min_offer_cents:
        return "BELOW_MIN_OFFER"
    if offer.rate_bps % rules.tick_bps:
        return "OFF_TICK"
    if offer.rate_bps > request.max_rate_bps:
        return "ABOVE_RESERVE"
    return None


def check_unique_ids(offer_ids: Sequence[str]) -> None:
    """Raise :class:`~market.validation.FieldError` naming the first repeated ``offer_id``."""
    if len(set(offer_ids)) != len(offer_ids):
        seen: set[str] = set()
        for i, oid in enumerate(offer_ids):
            if oid in seen:
                raise FieldError(f"offers[{i}].offer_id", oid, "must be unique")
            seen.add(oid)


def clear_reference(
    request: AuctionRequest, offers: Sequence[OfferLike], rules: AuctionRules
) -> ClearingResult:
    """Clear one auction (see the module docstring); ``offers`` in input order (checked
    :class:`~market.auction.types.Offer` objects, or the lifecycle's records)."""
    ids = [o.offer_id for o in offers]
    if len(set(ids)) != len(ids):
        check_unique_ids(ids)  # raises, naming the first repeated id
    # step 1, :func:`eligibility_reason` inlined: offer_id -> why it is not eligible
    reasons: dict[str, str] = {}
    eligible: list[OfferLike] = []
    supply = 0
    min_offer, tick, reserve = rules.min_offer_cents, rules.tick_bps, request.max_rate_bps
    for o in offers:
        if not o.revealed:
            reasons[o.offer_id] = "NOT_REVEALED"
        elif o.amount_cents < min_offer:
            reasons[o.offer_id] = "BELOW_MIN_OFFER"
        elif o.rate_bps % tick:
            reasons[o.offer_id] = "OFF_TICK"
        elif o.rate_bps > reserve:
            reasons[o.offer_id] = "ABOVE_RESERVE"
        else:
            eligible.append(o)
            supply += o.amount_cents
    eligible.sort(key=_CLEARING_ORDER)
    amount = request.amount_cents
    if supply == 0 or supply < rules.min_fill_cents(amount):
        get = reasons.get
        return ClearingResult(
            status="UNFILLED",
            clearing_rate_bps=None,
            paid_rate=rules.pricing,
            filled_cents=0,
            fee_cents=0,
            allocations=(),
            excluded=tuple([Exclusion(oid, get(oid, _NA)) for oid in ids]),
        )
    filled = min(amount, supply)

    # r*: the rate of the first offer (in clearing order) at which the cumulative supply
    # reaches F; its group eligible[i:j] holds every offer at r*, below = S(r*-)
    n = len(eligible)
    below = cum = i = 0
    r_star = eligible[0].rate_bps
    for k, o in enumerate(eligible):
        if o.rate_bps != r_star:
            below, i, r_star = cum, k, o.rate_bps
        cum += o.amount_cents
        if cum >= filled:
            break
    j = k + 1
    while j < n and eligible[j].rate_bps == r_star:
        cum += eligible[j].amount_cents
        j += 1
    group = cum - below

    # offers below r* in full; pro rata at r*: floor shares, then one cent each to the
    # largest remainders
    alloc = {o.offer_id: o.amount_cents for o in eligible[:i]}
    rest, total = filled - below, group
    if rest == total:  # the r* group is taken in full
        alloc.update((o.offer_id, o.amount_cents) for o in eligible[i:j])
    else:
        marginal = eligible[i:j]
        shares = [rest * o.amount_cents // total for o in marginal]
        missing = rest - sum(shares)
        if missing:
            by_remainder = sorted(
                range(len(marginal)), key=lambda m: -(rest * marginal[m].amount_cents % total)
            )  # stable: ties keep clearing order, i.e. (committed_at, offer_id)
            for m in by_remainder[:missing]:
                shares[m] += 1
        alloc.update((o.offer_id, s) for o, s in zip(marginal, shares, strict=True) if s > 0)

    paid = r_star
    if rules.pricing == "first_rejected" and rest >= total:  # nothing at r* was rejected
        paid = eligible[j].rate_bps if j < n else request.max_rate_bps
    own = rules.pricing == "pay_as_bid"
    get = reasons.get
    return ClearingResult(
        status="FILLED" if filled == amount else "PARTIAL",
        clearing_rate_bps=r_star,
        paid_rate=rules.pricing,
        filled_cents=filled,
        fee_cents=rules.fee_cents(filled),
        allocations=tuple(
            [
                Allocation(o.offer_id, o.lender, alloc[o.offer_id], o.rate_bps if own else paid)
                for o in eligible[:j]
                if o.offer_id in alloc
            ]
        ),
        excluded=tuple([Exclusion(oid, get(oid, _NA)) for oid in ids if oid not in alloc]),
    )

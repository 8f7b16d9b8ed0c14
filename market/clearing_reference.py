"""Reference clearing in plain Python: the spec's steps 1–6, written to be read.

:func:`clear_reference` gives exactly the same :class:`~market.auction_types.ClearingResult` as
the vectorised :func:`market.clearing.clear` (property-tested); it is also the fast choice for
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

from market.auction_types import (
    Allocation,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    Offer,
)

__all__ = ["check_unique_ids", "clear_reference", "eligibility_reason"]


def eligibility_reason(offer: Offer, request: AuctionRequest, rules: AuctionRules) -> str | None:
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
    """Raise ``ValueError`` naming the first repeated ``offer_id``."""
    if len(set(offer_ids)) != len(offer_ids):
        seen: set[str] = set()
        for i, oid in enumerate(offer_ids):
            if oid in seen:
                raise ValueError(f"offers[{i}].offer_id={oid!r}: must be unique")
            seen.add(oid)


def clear_reference(
    request: AuctionRequest, offers: Sequence[Offer], rules: AuctionRules
) -> ClearingResult:
    """Clear one auction (see the module docstring); ``offers`` in input order."""
    check_unique_ids([o.offer_id for o in offers])
    reasons: dict[str, str] = {}
    eligible: list[Offer] = []
    for o in offers:
        why = eligibility_reason(o, request, rules)
        if why is None:
            eligible.append(o)
        else:
            reasons[o.offer_id] = why
    eligible.sort(key=lambda o: (o.rate_bps, o.committed_at, o.offer_id))
    supply = sum(o.amount_cents for o in eligible)
    amount = request.amount_cents
    if supply == 0 or supply < rules.min_fill_cents(amount):
        return ClearingResult(
            status="UNFILLED",
            clearing_rate_bps=None,
            paid_rate=rules.pricing,
            filled_cents=0,
            fee_cents=0,
            allocations=(),
            excluded=tuple(
                Exclusion(o.offer_id, reasons.get(o.offer_id, "NOT_ALLOCATED")) for o in offers
            ),
        )
    filled = min(amount, supply)

    # r*: walk the rate groups until the cumulative supply reaches F
    below = 0  # S(r*-)
    i = 0
    while True:
        rate = eligible[i].rate_bps
        j = i
        group = 0
        while j < len(eligible) and eligible[j].rate_bps == rate:
            group += eligible[j].amount_cents
            j += 1
        if below + group >= filled:
            break
        below += group
        i = j
    r_star, marginal = rate, eligible[i:j]

    # pro rata at r*: floor shares, then one cent each to the largest remainders
    rest, total = filled - below, group
    shares = [rest * o.amount_cents // total for o in marginal]
    missing = rest - sum(shares)
    if missing:
        by_remainder = sorted(
            range(len(marginal)), key=lambda k: -(rest * marginal[k].amount_cents % total)
        )  # stable: ties keep clearing order, i.e. (committed_at, offer_id)
        for k in by_remainder[:missing]:
            shares[k] += 1
    alloc = {o.offer_id: o.amount_cents for o in eligible[:i]}
    alloc.update((o.offer_id, s) for o, s in zip(marginal, shares, strict=True) if s > 0)

    if rules.pricing == "first_rejected":
        if rest < total:
            paid = r_star
        else:
            paid = eligible[j].rate_bps if j < len(eligible) else request.max_rate_bps
    else:
        paid = r_star
    own = rules.pricing == "pay_as_bid"
    allocations = tuple(
        Allocation(o.offer_id, o.lender, alloc[o.offer_id], o.rate_bps if own else paid)
        for o in eligible[:j]
        if o.offer_id in alloc
    )
    excluded = tuple(
        Exclusion(o.offer_id, reasons.get(o.offer_id, "NOT_ALLOCATED"))
        for o in offers
        if o.offer_id not in alloc
    )
    return ClearingResult(
        status="FILLED" if filled == amount else "PARTIAL",
        clearing_rate_bps=r_star,
        paid_rate=rules.pricing,
        filled_cents=filled,
        fee_cents=rules.fee_cents(filled),
        allocations=allocations,
        excluded=excluded,
    )

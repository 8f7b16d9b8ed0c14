"""Benchmark: clearing one large auction, numpy vs the pure-Python reference.

Synthetic, seeded auction per size n: amounts 1,000–500,000 cents, rates 1,000–3,495 bps on
the 5-bps tick against a 3,000-bps reserve (about 20 % above it), 1 % off-tick, 1 % below the
minimum offer, 2 % unrevealed, commit times in whole seconds over one day (so ties on
(rate, committed_at) occur and are broken by offer_id); the request is 40 % of the eligible
supply.

What is timed (best of ``repeats``, seconds, ``time.perf_counter``):
- ``numpy_s``: :func:`market.auction.clearing.clear_columns` on prebuilt, validated
  :class:`~market.auction.clearing.OfferColumns` -> :class:`~market.auction.clearing.ColumnarResult` (every
  step of the clearing: eligibility, r*, ordering of the winners with offer-id tie breaks,
  pro-rata cents, pricing, the exclusion list).  Building the columns (validation, unique-id
  check) is reported separately as ``columns_build_s``.
- ``numpy_objects_s`` (n <= 1e5): :func:`market.auction.clearing.clear` from ``Offer`` objects to a
  ``ClearingResult`` of frozen dataclasses (object conversion dominates at large n).
- ``reference_s``: :func:`market.auction.clearing_reference.clear_reference` from ``Offer`` objects
  (timed once for n >= 1e6).
``identical`` checks that both engines gave equal :class:`ClearingResult` objects (status, r*,
F, fee, every allocation with its cents and rate, every exclusion with its reason, in order).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

GOAL_N = 1_000_000
GOAL_S = 0.5
GOAL_SPEEDUP = 10.0


def _best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def make_auction(n: int, seed: int = 20240601) -> tuple[Any, Any, Any]:
    """A seeded synthetic auction of ``n`` offers: (request, OfferColumns, rules)."""
    from market.auction.clearing import OfferColumns
    from market.auction.types import AuctionRequest, AuctionRules

    rng = np.random.default_rng(np.random.SeedSequence([seed, n]))
    amount = rng.integers(1_000, 500_001, n)
    amount[rng.random(n) < 0.01] = 500
    rate = rng.integers(200, 700, n) * 5
    rate[rng.random(n) < 0.01] += 2
    t = rng.integers(0, 86_400, n)
    revealed = rng.random(n) >= 0.02
    ids = [f"o{i:07d}" for i in range(n)]
    lenders = [f"l{i % max(1, n // 20):06d}" for i in range(n)]
    cols = OfferColumns(
        offer_id=ids,
        lender=lenders,
        amount_cents=amount,
        rate_bps=rate,
        committed_at=t,
        revealed=revealed,
    )
    eligible = revealed & (amount >= 1000) & (rate % 5 == 0) & (rate <= 3000)
    request = AuctionRequest(
        auction_id=1,
        borrower="b1",
        amount_cents=max(1, int(amount[eligible].sum()) * 2 // 5),
        max_rate_bps=3000,
        term_months=12,
        opened_at=0,
    )
    return request, cols, AuctionRules()


def _offers(cols: Any) -> list[Any]:
    from market.auction.types import Offer

    amounts, rates = cols.amount_cents.tolist(), cols.rate_bps.tolist()
    times, revealed = cols.committed_at.tolist(), cols.revealed.tolist()
    return [
        Offer(
            offer_id=cols.offer_id[k],
            lender=cols.lender[k],
            amount_cents=amounts[k],
            rate_bps=rates[k],
            committed_at=times[k],
            revealed=revealed[k],
        )
        for k in range(len(cols))
    ]


def bench_size(n: int, repeats: int) -> dict[str, Any]:
    from market.auction.clearing import clear, clear_columns
    from market.auction.clearing_reference import clear_reference

    t0 = time.perf_counter()
    request, cols, rules = make_auction(n)
    build_s = time.perf_counter() - t0
    numpy_s, res = _best(lambda: clear_columns(request, cols, rules), repeats)
    offers = _offers(cols)
    ref_repeats = 1 if n >= GOAL_N else repeats
    reference_s, ref = _best(lambda: clear_reference(request, offers, rules), ref_repeats)
    out: dict[str, Any] = {
        "offers": n,
        "winners": int(res.alloc_index.size),
        "status": res.status,
        "clearing_rate_bps": res.clearing_rate_bps,
        "columns_build_s": round(build_s, 6),
        "numpy_s": round(numpy_s, 6),
        "reference_s": round(reference_s, 6),
        "reference_repeats": ref_repeats,
        "speedup": round(reference_s / numpy_s, 1),
    }
    if n <= 100_000:
        objects_s, _ = _best(lambda: clear(request, offers, rules), repeats)
        out["numpy_objects_s"] = round(objects_s, 6)
        out["speedup_objects"] = round(reference_s / objects_s, 1)
    out["identical"] = res.to_result(cols) == ref  # every field, allocations and exclusions
    return out


def run(quick: bool) -> dict[str, Any]:
    """Clearing times for 1e3, 1e5 and 1e6 offers (quick: 1e2, 1e3, 5e3)."""
    sizes = (100, 1_000, 5_000) if quick else (1_000, 100_000, 1_000_000)
    results = {str(n): bench_size(n, repeats=3 if n >= 100_000 else 5) for n in sizes}
    out: dict[str, Any] = {
        "timed": "clear_columns on prebuilt OfferColumns (numpy_s) vs clear_reference on Offer "
        "objects (reference_s); best of repeats, seconds",
        "sizes": results,
    }
    big = results.get(str(GOAL_N))
    if big is not None:
        out["goal"] = f"{GOAL_N} offers in < {GOAL_S} s and >= {GOAL_SPEEDUP:g}x the reference"
        out["goal_met"] = big["numpy_s"] < GOAL_S and big["speedup"] >= GOAL_SPEEDUP
    return out

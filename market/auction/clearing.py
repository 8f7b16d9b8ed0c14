"""Vectorised clearing of the reverse uniform-price auction (numpy).

Same rules and same results as :func:`market.auction.clearing_reference.clear_reference` (spec steps
1–6, see that module), built for large inputs:

- :func:`clear` ``(request, offers, rules) -> ClearingResult`` — offers as
  :class:`~market.auction.types.Offer` objects (or the lifecycle's records).
- :func:`clear_columns` ``(request, columns, rules) -> ColumnarResult`` — offers as
  :class:`OfferColumns` (one array per field); the result keeps allocations and exclusions as
  arrays of input positions, and :meth:`ColumnarResult.to_result` turns it into a
  :class:`ClearingResult`.

How: eligibility is four masks; r* is found from per-tick supply totals (``np.bincount``, exact:
amounts are summed as float64 only while every partial sum stays below 2**53, otherwise in three
21-bit slices) or, when the rate range is much wider than the number of offers, from a sort of
the rates; only the winners (rate ≤ r*) are sorted by (rate, committed_at) (one argsort of a
packed int64 key for integer times, ``np.lexsort`` otherwise), and runs that tie on both are put
in ``offer_id`` order in Python (offer ids are unique, so the order never depends on the input
order).  Integer safety: amounts and rates are int64; sums and
the products R·aᵢ of the pro-rata step switch to Python integers (object arrays) whenever
int64 could overflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from market.auction.clearing_reference import check_unique_ids
from market.auction.types import (
    EXCLUSION_REASONS,
    Allocation,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    OfferLike,
)
from market.validation import (
    INT64_MAX,
    MAX_TIME_S,
    NON_NEGATIVE_INT64,
    POSITIVE_INT64,
    SECONDS,
    TEXT,
    FieldError,
    OneOf,
)

__all__ = ["ColumnarResult", "OfferColumns", "clear", "clear_columns"]

#: reason codes in ``ColumnarResult.excl_reason``: code k means ``EXCLUSION_REASONS[k - 1]``
_NOT_REVEALED, _BELOW_MIN, _OFF_TICK, _ABOVE_RESERVE, _NOT_ALLOCATED = 1, 2, 3, 4, 5
_FLOAT_EXACT = 2**53
_SLICE = 21
_MASK = (1 << _SLICE) - 1
_R_STAR_METHODS = OneOf(("auto", "bincount", "sort"))


@dataclass(frozen=True, slots=True, eq=False)
class OfferColumns:
    """Offers as columns, in input order: ``offer_id`` and ``lender`` are sequences of ``str``;
    ``amount_cents``, ``rate_bps`` int64 arrays; ``committed_at`` int64 or float64 seconds;
    ``revealed`` bool.  Checked at construction (the rules of
    :class:`~market.auction.types.Offer`, plus unique ids); integer arrays of other dtypes are
    converted.
    """

    offer_id: Sequence[str]
    lender: Sequence[str]
    amount_cents: np.ndarray
    rate_bps: np.ndarray
    committed_at: np.ndarray
    revealed: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.offer_id)
        for name in ("lender", "amount_cents", "rate_bps", "committed_at", "revealed"):
            rows = len(getattr(self, name))
            if rows != n:
                raise FieldError(f"len(columns.{name})", rows, f"must equal {n}, the offer ids")
        for name in ("amount_cents", "rate_bps"):
            col = np.asarray(getattr(self, name))
            if col.dtype != np.int64:
                if col.size and col.dtype.kind not in "iu":
                    raise FieldError(f"columns.{name}.dtype", str(col.dtype), "must be integer")
                if col.size and col.dtype.kind == "u" and int(col.max()) > INT64_MAX:
                    raise FieldError(f"columns.{name}", int(col.max()), "must be below 2**63")
                col = col.astype(np.int64)
            object.__setattr__(self, name, col)
        t = np.asarray(self.committed_at)
        if t.size and t.dtype.kind not in "iuf":
            raise FieldError("columns.committed_at.dtype", str(t.dtype), "must be numeric")
        object.__setattr__(
            self, "committed_at", t.astype(np.float64 if t.dtype.kind == "f" else np.int64)
        )
        object.__setattr__(self, "revealed", np.asarray(self.revealed, dtype=bool))
        self._check_values()
        check_unique_ids(self.offer_id)

    def _check_values(self) -> None:
        """Find the first bad row of each column with one vectorised test; the rule of
        :class:`~market.auction.types.Offer`'s field then words the error."""
        a, r, t, shown = self.amount_cents, self.rate_bps, self.committed_at, self.revealed
        bad = a < shown  # an unrevealed offer's amount is unknown and may be 0
        if bad.any():
            i = int(np.argmax(bad))
            rule = POSITIVE_INT64 if shown[i] else NON_NEGATIVE_INT64
            rule.check(f"offers[{i}].amount_cents", a[i].item())
        for field, col, bad, rule in (
            ("rate_bps", r, r < 0, NON_NEGATIVE_INT64),
            ("committed_at", t, ~((t >= 0) & (t <= MAX_TIME_S)), SECONDS),
        ):
            if bad.any():
                i = int(np.argmax(bad))
                rule.check(f"offers[{i}].{field}", col[i].item())
        for field in ("offer_id", "lender"):
            for i, v in enumerate(getattr(self, field)):
                if type(v) is not str or not v:
                    TEXT.check(f"offers[{i}].{field}", v)

    @classmethod
    def from_offers(cls, offers: Sequence[OfferLike]) -> OfferColumns:
        """Columns of :class:`~market.auction.types.Offer` objects or lifecycle records."""
        n = len(offers)
        times = [o.committed_at for o in offers]
        return cls(
            offer_id=[o.offer_id for o in offers],
            lender=[o.lender for o in offers],
            amount_cents=np.fromiter((o.amount_cents for o in offers), np.int64, n),
            rate_bps=np.fromiter((o.rate_bps for o in offers), np.int64, n),
            committed_at=np.array(times, dtype=np.float64)
            if any(type(x) is float for x in times)
            else np.array(times, dtype=np.int64),
            revealed=np.fromiter((o.revealed for o in offers), bool, n),
        )

    def __len__(self) -> int:
        return len(self.offer_id)


@dataclass(frozen=True, slots=True, eq=False)
class ColumnarResult:
    """A clearing result with allocations and exclusions as arrays of input positions.

    ``alloc_index`` (clearing order), ``alloc_cents`` (int64, or object when int64 could
    overflow), ``alloc_rate_bps`` (rate earned); ``excl_index`` (input order) with
    ``excl_reason`` codes: k means ``EXCLUSION_REASONS[k - 1]``.
    """

    status: str
    clearing_rate_bps: int | None
    paid_rate: str
    filled_cents: int
    fee_cents: int
    alloc_index: np.ndarray
    alloc_cents: np.ndarray
    alloc_rate_bps: np.ndarray
    excl_index: np.ndarray
    excl_reason: np.ndarray

    def to_result(self, columns: OfferColumns) -> ClearingResult:
        """The :class:`ClearingResult` with ids and lenders taken from ``columns``."""
        ids, lenders = columns.offer_id, columns.lender
        allocations = tuple(
            Allocation(ids[i], lenders[i], a, r)
            for i, a, r in zip(
                self.alloc_index.tolist(),
                self.alloc_cents.tolist(),
                self.alloc_rate_bps.tolist(),
                strict=True,
            )
        )
        names = EXCLUSION_REASONS
        excluded = tuple(
            Exclusion(ids[i], names[k - 1])
            for i, k in zip(self.excl_index.tolist(), self.excl_reason.tolist(), strict=True)
        )
        return ClearingResult(
            status=self.status,
            clearing_rate_bps=self.clearing_rate_bps,
            paid_rate=self.paid_rate,
            filled_cents=self.filled_cents,
            fee_cents=self.fee_cents,
            allocations=allocations,
            excluded=excluded,
        )


def clear(
    request: AuctionRequest, offers: Sequence[OfferLike], rules: AuctionRules
) -> ClearingResult:
    """Clear one auction; ``offers`` in input order.  Same result as ``clear_reference``."""
    columns = OfferColumns.from_offers(offers)
    return clear_columns(request, columns, rules).to_result(columns)


def _sum(values: np.ndarray, safe: bool) -> int:
    """Exact sum as a Python int (int64 when ``safe``, Python ints otherwise)."""
    if safe:
        return int(values.sum())
    return int(sum(values.tolist()))


def _r_star_bincount(
    k: np.ndarray, a: np.ndarray, nbins: int, target: int, exact53: bool, safe: bool
) -> int:
    """Index of the first tick bin whose cumulative supply reaches ``target``."""
    if exact53:  # every partial sum is an integer below 2**53: float64 adds exactly
        tot = np.bincount(k, weights=a.astype(np.float64), minlength=nbins).astype(np.int64)
        return int(np.searchsorted(np.cumsum(tot), target, side="left"))
    parts = [
        np.bincount(k, weights=((a >> s) & _MASK).astype(np.float64), minlength=nbins).astype(
            np.int64
        )
        for s in (0, _SLICE, 2 * _SLICE)
    ]  # each slice sum stays below n * 2**21 < 2**53
    if safe:
        tot = parts[0] + (parts[1] << _SLICE) + (parts[2] << (2 * _SLICE))
        return int(np.searchsorted(np.cumsum(tot), target, side="left"))
    cum = 0
    for idx, (x0, x1, x2) in enumerate(zip(*(p.tolist() for p in parts), strict=True)):
        cum += x0 + (x1 << _SLICE) + (x2 << (2 * _SLICE))
        if cum >= target:
            return idx
    raise AssertionError("target above total supply")  # pragma: no cover


def _r_star_sort(r: np.ndarray, a: np.ndarray, target: int, safe: bool) -> int:
    order = np.argsort(r, kind="stable")
    a_sorted = a[order]
    cum = np.cumsum(a_sorted) if safe else np.cumsum(a_sorted.astype(object))
    return int(r[order[int(np.searchsorted(cum, target, side="left"))]])


def _clearing_order(r: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Permutation sorting by (rate, committed_at); ties in both are fixed later by offer id,
    so the sort need not be stable.  Integer times use one argsort on a packed int64 key
    (cheaper than ``np.lexsort``) when it cannot overflow."""
    if r.size and t.dtype.kind == "i":
        r0, t0 = int(r.min()), int(t.min())
        span_t = int(t.max()) - t0 + 1
        if (int(r.max()) - r0 + 1) * span_t <= INT64_MAX:
            return np.argsort((r - r0) * span_t + (t - t0))
    return np.lexsort((t, r))


def _order_ties_by_id(w: np.ndarray, rate: np.ndarray, t: np.ndarray, ids: Sequence[str]) -> None:
    """Sort, in place, each run of ``w`` that ties on (rate, committed_at) by offer id."""
    rw, tw = rate[w], t[w]
    eq = (rw[1:] == rw[:-1]) & (tw[1:] == tw[:-1])
    if not eq.any():
        return
    d = np.diff(np.concatenate(([0], eq.view(np.int8), [0])))
    for s, e in zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True):
        w[s : e + 1] = sorted(w[s : e + 1].tolist(), key=ids.__getitem__)


def _pro_rata(am: np.ndarray, rest: int, total: int) -> np.ndarray:
    """Largest-remainder split of ``rest`` over amounts ``am`` (already in tie order)."""
    if rest == total:
        return am.copy()
    if am.size and rest * int(am.max()) <= INT64_MAX and total <= INT64_MAX:
        prod = am * rest
        base = prod // total
        rem = prod - base * total
        missing = rest - int(base.sum())
        if missing:
            base[np.argsort(-rem, kind="stable")[:missing]] += 1
        return base
    prod = [rest * x for x in am.tolist()]
    base_l = [p // total for p in prod]
    missing = rest - sum(base_l)
    for k in sorted(range(len(prod)), key=lambda k: -(prod[k] % total))[:missing]:
        base_l[k] += 1
    return np.array(base_l, dtype=object)


def clear_columns(
    request: AuctionRequest,
    columns: OfferColumns,
    rules: AuctionRules,
    *,
    r_star_method: str = "auto",
) -> ColumnarResult:
    """Clear one auction given columnar offers.  ``r_star_method`` (``auto``, ``bincount`` or
    ``sort``) only chooses how r* is located; every method gives the same result."""
    amt, rate, t = columns.amount_cents, columns.rate_bps, columns.committed_at
    n = len(amt)
    tick, max_rate = rules.tick_bps, request.max_rate_bps

    reason = np.zeros(n, dtype=np.int8)  # later assignments win: the spec's first reason
    reason[rate > max_rate] = _ABOVE_RESERVE
    reason[rate % tick != 0] = _OFF_TICK
    reason[amt < rules.min_offer_cents] = _BELOW_MIN
    reason[~columns.revealed] = _NOT_REVEALED
    elig = np.flatnonzero(reason == 0)
    a_e, r_e = amt[elig], rate[elig]
    max_a = int(a_e.max()) if elig.size else 0
    safe = max_a * elig.size <= INT64_MAX  # every sum of eligible amounts fits int64
    supply = _sum(a_e, safe)
    amount = request.amount_cents

    def finish(status: str, r_star: int | None, filled: int, idx, cents, rates) -> ColumnarResult:
        keep = np.ones(n, dtype=bool)
        keep[idx] = False
        excl = np.flatnonzero(keep)
        codes = reason[excl]
        codes[codes == 0] = _NOT_ALLOCATED
        return ColumnarResult(
            status=status,
            clearing_rate_bps=r_star,
            paid_rate=rules.pricing,
            filled_cents=filled,
            fee_cents=rules.fee_cents(filled),
            alloc_index=idx,
            alloc_cents=cents,
            alloc_rate_bps=rates,
            excl_index=excl,
            excl_reason=codes,
        )

    empty = np.zeros(0, dtype=np.int64)
    if supply == 0 or supply < rules.min_fill_cents(amount):
        return finish("UNFILLED", None, 0, empty, empty, empty)
    filled = min(amount, supply)

    nbins = max_rate // tick + 1
    method = r_star_method
    if method == "auto":
        method = "bincount" if nbins <= 4 * elig.size + 4096 else "sort"
    if method == "bincount":
        exact53 = max_a * elig.size < _FLOAT_EXACT
        r_star = tick * _r_star_bincount(r_e // tick, a_e, nbins, filled, exact53, safe)
    elif method == "sort":
        r_star = _r_star_sort(r_e, a_e, filled, safe)
    else:
        _R_STAR_METHODS.check("r_star_method", r_star_method)  # raises

    win = r_e <= r_star
    w = elig[win]
    w = w[_clearing_order(rate[w], t[w])]
    _order_ties_by_id(w, rate, t, columns.offer_id)
    n_below = int(np.count_nonzero(r_e < r_star))
    full, marginal = w[:n_below], w[n_below:]
    below = _sum(amt[full], safe)
    total = _sum(amt[marginal], safe)
    rest = filled - below
    shares = _pro_rata(amt[marginal], rest, total)
    got = shares > 0
    idx = np.concatenate((full, marginal[got]))
    cents = np.concatenate((amt[full], shares[got]))

    if rules.pricing == "pay_as_bid":
        paid = rate[idx]
    else:
        price = r_star
        if rules.pricing == "first_rejected" and rest == total:
            above = r_e[~win]
            price = int(above.min()) if above.size else max_rate
        paid = np.full(idx.size, price, dtype=np.int64)
    return finish("FILLED" if filled == amount else "PARTIAL", r_star, filled, idx, cents, paid)

"""Best-execution routing of a USD/BRL conversion across venues.

:func:`route` fills ``needed_usd_cents`` on one side (``BUY``: the platform buys USD and pays
BRL; ``SELL``: it sells USD and receives BRL) across the venues it may use:

- every level of every usable venue is ranked by its **all-in price** (price with the venue's
  fee; :meth:`market.fx.quotes.VenueQuote.all_in`), best first — lowest for a buy, highest for
  a sell — ties by venue id, then level;
- the levels are taken in that order, each as far as it goes, until the amount is filled. The
  cost is linear in the USD cents taken at each level, so this greedy fill is the cheapest
  (dearest, for a sell) of all ways to split the amount across the ladders;
- what no level can fill is reported as ``unfilled_usd_cents``, never invented.

Amounts: each fill's BRL notional is ``round_half_even(usd_cents · price)`` centavos and its
fee ``ceil(notional · fee_bps / 10⁴)`` centavos (the venue's favour). ``brl_cents`` is what the
platform pays (a buy: notional + fee) or receives (a sell: notional − fee), summed over the
fills. ``avg_rate`` is ``brl_cents / filled_usd_cents`` (BRL per USD, all-in) and
``delta_bps`` its cost against the benchmark mid in bps: ``(avg − mid)/mid·10⁴`` for a buy,
``(mid − avg)/mid·10⁴`` for a sell (positive = worse than the mid).

``exclude`` names venues the router must not use (e.g. the toxicity filter's); a venue named
there is listed in ``excluded`` with its reason and none of its levels is taken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from market.fx.quotes import BUY, SELL, VenueQuote
from market.money import round_half_even
from market.validation import POSITIVE_INT64, FieldError, Number, OneOf

__all__ = ["Fill", "Route", "route"]

_SIDE = OneOf((BUY, SELL))
_MID = Number(0.0, 1e6, lo_open=True, text="must be a finite price in (0, 1e6] BRL per USD")


@dataclass(frozen=True, slots=True)
class Fill:
    """USD cents taken at one level of one venue, and what they cost in centavos."""

    venue: str
    level: int
    usd_cents: int
    price: float
    notional_brl_cents: int
    fee_brl_cents: int


@dataclass(frozen=True, slots=True)
class Route:
    """The result of :func:`route` (see the module docstring)."""

    side: str
    needed_usd_cents: int
    filled_usd_cents: int
    unfilled_usd_cents: int
    brl_cents: int
    fee_brl_cents: int
    avg_rate: float | None
    benchmark_mid: float
    delta_bps: float | None
    fills: tuple[Fill, ...]
    excluded: tuple[tuple[str, str], ...]

    @property
    def venues_used(self) -> tuple[str, ...]:
        """Venues with at least one fill, sorted."""
        return tuple(sorted({f.venue for f in self.fills}))


def route(
    side: str,
    needed_usd_cents: int,
    quotes: Sequence[VenueQuote],
    benchmark_mid: float,
    *,
    exclude: Mapping[str, str] | None = None,
) -> Route:
    """Fill ``needed_usd_cents`` on ``side`` across ``quotes`` (module docstring). ``exclude``
    maps a venue id to why it may not be used."""
    side = _SIDE.check("side", side)
    needed = POSITIVE_INT64.check("needed_usd_cents", needed_usd_cents)
    mid = _MID.check("benchmark_mid", benchmark_mid)
    exclude = dict(exclude or {})
    seen: set[str] = set()
    for q in quotes:
        if not isinstance(q, VenueQuote):
            raise FieldError("quotes", q, "must be VenueQuote objects")
        if q.venue in seen:
            raise FieldError("quotes", q.venue, "must name each venue once")
        seen.add(q.venue)
    for venue in exclude:
        if venue not in seen:
            raise FieldError("exclude", venue, "must name a venue of the quotes")
    sign = 1.0 if side == BUY else -1.0
    ranked = sorted(
        (sign * q.all_in(side, lvl.price), q.venue, k, lvl, q.fee_bps)
        for q in quotes
        if q.venue not in exclude
        for k, lvl in enumerate(q.levels(side))
    )
    left = needed
    fills = []
    for _, venue, k, lvl, fee_bps in ranked:
        if left == 0:
            break
        take = min(left, lvl.size_usd_cents)
        notional = round_half_even(take * lvl.price)
        fee = -(-notional * fee_bps // 10_000)
        fills.append(Fill(venue, k, take, lvl.price, notional, fee))
        left -= take
    filled = needed - left
    notional = sum(f.notional_brl_cents for f in fills)
    fees = sum(f.fee_brl_cents for f in fills)
    brl = notional + fees if side == BUY else notional - fees
    avg = brl / filled if filled else None
    delta = None if avg is None else sign * (avg - mid) / mid * 10_000.0
    return Route(
        side=side,
        needed_usd_cents=needed,
        filled_usd_cents=filled,
        unfilled_usd_cents=left,
        brl_cents=brl,
        fee_brl_cents=fees,
        avg_rate=avg,
        benchmark_mid=mid,
        delta_bps=delta,
        fills=tuple(fills),
        excluded=tuple(sorted(exclude.items())),
    )

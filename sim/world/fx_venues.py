"""The USD/BRL venues of a run with ``fx.enabled``: each quotes a ladder around the true path,
fills the market orders FX traders send it, and measures its flow's toxicity (VPIN) and the
exclusion the toxicity filter would apply.

- **Quotes.** Every ``quote_interval_s`` over the horizon a venue quotes
  :func:`market.fx.ladder_quote` around its mid and writes an ``fx_quotes`` row. Its mid is
  the true USD/BRL mid then (:meth:`sim.world.paths.ExogenousPaths.usdbrl_at`) times
  ``1 + skew/10⁴``: the **skew** (bps) moves by ``± impact_bps · filled / depth`` with every
  fill (up for a buy, down for a sell; ``depth`` the sum of one side's levels) and decays
  with half-life ``impact_half_life_s``. A venue so leans against the flow it fills, and a
  run of informed orders on one side moves its prices, which is what bulk volume
  classification reads (without it, orders that all meet a fresh book at the same price would
  be classified half buys, half sells). Between
  two quotes the book is **consumed**: an order takes the levels it fills, and what it took is
  gone until the next quote. So a run of same-side orders walks up (or down) the ladder, as
  on a real venue, and its prices move with the flow.
- **Fills.** An order of ``size_usd_cents`` takes the best levels of its side (a buy takes the
  asks, a sell hits the bids) as far as they go; what the book left cannot fill is dropped
  (an order that fills nothing writes no row). The trade's price is its average over its fills.
- **VPIN bars.** One bar per trade: the trade's average price and its filled volume (USD
  cents) go to the venue's :class:`market.fx.VpinMeter`; ``fx_trades.buy_volume`` is the
  bar's bulk-classified buy volume ``volume·Φ(ΔP/σ_ΔP)`` and ``vpin`` the VPIN after it (NaN
  before the first bucket). Per-trade bars keep the bars the flow's own size (a bar per quote
  interval would merge the informed orders of a burst with the noise around them).
- **Filter.** With ``fx.toxicity_filter`` the venue's :class:`market.fx.ToxicityFilter`
  observes the VPIN each time a bucket completes; ``fx_trades.excluded`` is whether the venue
  is excluded after the trade (always false with the filter off). Nothing routes through the
  venues yet: the exclusion is measured, and read by the router when conversions exist.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from market.fx import BUY, SELL, ToxicityFilter, VenueQuote, VpinMeter, ladder_quote
from sim.tables.rows import FxQuoteRow, FxTradeRow

if TYPE_CHECKING:
    import simpy

    from sim.config.fx import FxConfig, FxVenueConfig
    from sim.world.paths import ExogenousPaths

__all__ = ["FxVenue", "make_venues", "start_venues"]


class FxVenue:
    """One venue: its current (partly consumed) book, VPIN meter and filter."""

    __slots__ = (
        "_depth",
        "_left",
        "_rows",
        "_skew_t",
        "_trade_ids",
        "cfg",
        "filter",
        "id",
        "last_price",
        "meter",
        "paths",
        "quote",
        "skew_bps",
    )

    def __init__(
        self,
        cfg: FxVenueConfig,
        fx: FxConfig,
        paths: ExogenousPaths,
        rows: MutableMapping[str, list[Any]],
        trade_ids: Iterator[int],
    ) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.paths = paths
        self.meter = VpinMeter(fx.vpin.bucket_volume_usd_cents, fx.vpin.n_buckets, fx.vpin.sigma)
        tox = fx.toxicity
        self.filter: ToxicityFilter | None = None
        if fx.toxicity_filter:
            self.filter = ToxicityFilter(
                threshold=tox.threshold,
                quantile=None if tox.threshold is not None else tox.quantile,
                fallback=tox.fallback,
                history=tox.history,
                min_history=tox.min_history,
            )
        self.quote: VenueQuote | None = None
        self.last_price: float | None = None
        self._left: dict[str, list[int]] = {}
        self._depth = sum(cfg.levels_usd_cents)
        self.skew_bps = 0.0
        self._skew_t = 0.0
        self._rows = rows
        self._trade_ids = trade_ids  # one counter shared by the venues (execution order)

    @property
    def excluded(self) -> bool:
        """Whether the toxicity filter excludes the venue now."""
        return self.filter is not None and self.filter.excluded

    def skew_at(self, t_s: float) -> float:
        """The skew (bps) decayed to ``t_s`` (not before the last fill or quote)."""
        dt = t_s - self._skew_t
        if dt > 0.0 and self.skew_bps != 0.0:
            self.skew_bps *= 0.5 ** (dt / self.cfg.impact_half_life_s)
            self._skew_t = t_s
        return self.skew_bps

    def requote(self, t_s: float) -> VenueQuote:
        """Quote around the true mid at ``t_s`` shifted by the skew, refill the book and write
        its row."""
        cfg = self.cfg
        true_mid = self.paths.usdbrl_at(t_s)
        q = ladder_quote(
            cfg.id,
            true_mid * (1.0 + self.skew_at(t_s) / 10_000.0),
            spread_bps=cfg.spread_bps,
            sizes_usd_cents=cfg.levels_usd_cents,
            step_bps=cfg.step_bps,
            fee_bps=cfg.fee_bps,
        )
        self.quote = q
        self._left = {side: [lv.size_usd_cents for lv in q.levels(side)] for side in (BUY, SELL)}
        self._rows["fx_quotes"].append(
            FxQuoteRow(
                t_s=t_s,
                venue=cfg.id,
                bid=q.bids[0].price,
                ask=q.asks[0].price,
                mid=q.mid,
                true_mid=true_mid,
            )
        )
        return q

    def execute(self, t_s: float, trader: str, side: str, size_usd_cents: int) -> int:
        """Fill a market order (``side`` BUY takes the asks, SELL hits the bids) from what is
        left of the book; record the trade, its VPIN bar and the filter. Returns the USD cents
        filled (0: nothing left, no row)."""
        q = self.quote
        if q is None:
            return 0
        left = self._left[side]
        filled = 0
        notional = 0.0
        for k, level in enumerate(q.levels(side)):
            if filled == size_usd_cents:
                break
            take = min(left[k], size_usd_cents - filled)
            if take:
                left[k] -= take
                filled += take
                notional += take * level.price
        if filled == 0:
            return 0
        price = notional / filled
        sign = 1.0 if side == BUY else -1.0
        self.skew_bps = self.skew_at(t_s) + sign * self.cfg.impact_bps * filled / self._depth
        self._skew_t = t_s
        dp = 0.0 if self.last_price is None else price - self.last_price
        self.last_price = price
        meter = self.meter
        before = meter.buckets
        vpin = meter.update(price, filled)
        buy_volume = filled * meter.buy_share(dp)
        if self.filter is not None and meter.buckets != before:
            self.filter.observe(vpin)
        trade_id = next(self._trade_ids)
        self._rows["fx_trades"].append(
            FxTradeRow(
                trade_id=trade_id,
                t_s=t_s,
                venue=self.id,
                trader=trader,
                side=side,
                size_usd_cents=filled,
                price=price,
                buy_volume=buy_volume,
                vpin=math.nan if vpin is None else vpin,
                excluded=self.excluded,
            )
        )
        return filled

    def process(self, env: simpy.Environment, end_s: float) -> Generator[Any, Any, None]:
        """Simpy process: quote at 0 and every ``quote_interval_s`` while before ``end_s``."""
        step = self.cfg.quote_interval_s
        n = 0
        while True:
            self.requote(env.now)
            n += 1
            t = n * step  # on the grid of quote times: no drift from summed timeouts
            if t >= end_s:
                return
            yield env.timeout(t - env.now)


def make_venues(
    fx: FxConfig, paths: ExogenousPaths, rows: MutableMapping[str, list[Any]]
) -> dict[str, FxVenue]:
    """The venues of ``fx``, by id, writing their rows into ``rows`` (``fx_quotes``,
    ``fx_trades``)."""
    trade_ids = itertools.count()
    return {v.id: FxVenue(v, fx, paths, rows, trade_ids) for v in fx.venues}


def start_venues(env: simpy.Environment, venues: dict[str, FxVenue], end_s: float) -> None:
    """Start every venue's quoting process (each quotes at once, at ``env.now``)."""
    for venue in venues.values():
        env.process(venue.process(env, end_s))

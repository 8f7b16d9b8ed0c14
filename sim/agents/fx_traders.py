"""The FX traders of a run with ``fx.enabled``: the flow the venues' VPIN reads.

- **Noise traders** (``fx.traders.noise``, random stream ``fx.traders.noise``): Poisson
  orders, ``rate_per_hour`` an hour in all, each of an exponential size of mean
  ``mean_size_usd_cents`` (at least 1 cent), buy or sell with equal odds, to a venue drawn with
  their venue weights.
- **Informed traders** (``fx.traders.informed``, random stream ``fx.traders.informed``):
  every ``poll_s`` they compare the true mid now with the true mid ``lead_s`` ahead (they see
  the path early); when it will move by more than ``threshold_bps`` they send one order of
  ``size_usd_cents`` in the move's direction (buy USD before a rise, sell before a fall) to a
  venue drawn with their weights. Their random stream only picks venues.

An order reaches its venue ``latency_s`` (the venue's) after it is sent and is filled there
from the venue's book then (:meth:`sim.world.fx_venues.FxVenue.execute`). Both kinds trade over
``[0, end_s)`` (the horizon).
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from market.fx import BUY, SELL

if TYPE_CHECKING:
    import simpy

    from sim.config.fx import FxConfig, VenueWeight
    from sim.seeds import SeedTree
    from sim.world.fx_venues import FxVenue
    from sim.world.paths import ExogenousPaths

__all__ = ["INFORMED", "NOISE", "FxTraders", "start_traders"]

#: ``fx_trades.trader`` of each kind
NOISE = "noise"
INFORMED = "informed"


def _picker(
    weights: Sequence[VenueWeight], venues: dict[str, FxVenue]
) -> tuple[list[FxVenue], np.ndarray]:
    """The venues a kind of trader uses and the probability of each (none stated: equal)."""
    if not weights:
        chosen = list(venues.values())
        return chosen, np.full(len(chosen), 1.0 / len(chosen))
    w = np.array([x.weight for x in weights], dtype=np.float64)
    return [venues[x.venue] for x in weights], w / w.sum()


class FxTraders:
    """The noise and informed traders of one run, sending orders to ``venues``."""

    def __init__(
        self,
        env: simpy.Environment,
        fx: FxConfig,
        venues: dict[str, FxVenue],
        paths: ExogenousPaths,
        seeds: SeedTree,
        end_s: float,
    ) -> None:
        self.env = env
        self.fx = fx
        self.paths = paths
        self.end_s = end_s
        self.noise_rng = seeds.rng("fx.traders.noise")
        self.informed_rng = seeds.rng("fx.traders.informed")
        self.noise_venues = _picker(fx.traders.noise.venues, venues)
        self.informed_venues = _picker(fx.traders.informed.venues, venues)
        self.sent = {NOISE: 0, INFORMED: 0}

    def send(self, venue: FxVenue, trader: str, side: str, size_usd_cents: int) -> None:
        """Send one market order: it is filled at ``venue`` after the venue's latency."""
        self.sent[trader] += 1
        latency = venue.cfg.latency_s
        if latency == 0.0:
            venue.execute(self.env.now, trader, side, size_usd_cents)
            return
        arrival = self.env.timeout(latency)
        arrival.callbacks.append(
            lambda _ev: venue.execute(self.env.now, trader, side, size_usd_cents)
        )

    def noise(self) -> Generator[Any, Any, None]:
        """Simpy process: the noise traders' Poisson orders."""
        cfg = self.fx.traders.noise
        if cfg.rate_per_hour <= 0.0:
            return
        rng, (venues, p) = self.noise_rng, self.noise_venues
        mean_gap = 3600.0 / cfg.rate_per_hour
        while True:
            gap = float(rng.exponential(mean_gap))
            if self.env.now + gap >= self.end_s:
                return
            yield self.env.timeout(gap)
            venue = venues[int(rng.choice(len(venues), p=p))]
            side = BUY if rng.random() < 0.5 else SELL
            size = max(1, round(float(rng.exponential(cfg.mean_size_usd_cents))))
            self.send(venue, NOISE, side, size)

    def informed(self) -> Generator[Any, Any, None]:
        """Simpy process: the informed traders' look every ``poll_s`` and their orders."""
        cfg = self.fx.traders.informed
        rng, (venues, p) = self.informed_rng, self.informed_venues
        at = self.paths.usdbrl_at
        while True:
            now = self.env.now
            move_bps = (at(now + cfg.lead_s) / at(now) - 1.0) * 10_000.0
            if abs(move_bps) > cfg.threshold_bps:
                venue = venues[int(rng.choice(len(venues), p=p))]
                self.send(venue, INFORMED, BUY if move_bps > 0 else SELL, cfg.size_usd_cents)
            if now + cfg.poll_s >= self.end_s:
                return
            yield self.env.timeout(cfg.poll_s)


def start_traders(traders: FxTraders) -> None:
    """Start both kinds of traders as simpy processes."""
    traders.env.process(traders.noise())
    traders.env.process(traders.informed())

"""Scenario section ``fx``: the USD/BRL venues, the FX traders whose flow they see, the VPIN
each venue's flow is measured with and the toxicity filter that reads it.

Off by default (``enabled: false``): a scenario without the section, or with it disabled,
builds no venue and no trader and writes no FX table, so its run is the run it was before FX.

Units
-----
Prices are BRL per USD; sizes and volumes are integer **USD cents**; spreads, steps, fees and
moves are basis points; times are seconds of simulated time.

Venues
------
A venue quotes ``market.fx.ladder_quote`` around the true USD/BRL mid every
``quote_interval_s``: level ``k`` of each side ``spread_bps/2 + k*step_bps`` bps from the mid,
with ``levels_usd_cents[k]`` USD cents, and charges ``fee_bps``. An order reaches it
``latency_s`` after it is sent. The venue leans against the flow it fills, as a market maker
does: its quoted mid is the true mid shifted by ``impact_bps`` per one side's depth (the sum of
``levels_usd_cents``) of net flow (buys up, sells down), a shift that halves every
``impact_half_life_s``.

Traders
-------
``noise`` traders send ``rate_per_hour`` market orders an hour (Poisson), each of an
exponential size of mean ``mean_size_usd_cents``, buy or sell with equal odds. ``informed``
traders look at the true path every ``poll_s`` and see it ``lead_s`` ahead: when it will move
by more than ``threshold_bps`` over that lead, they send one order of ``size_usd_cents`` in the
direction of the move. Each kind sends an order to a venue drawn with the ``venues`` weights
(``{venue, weight}`` items; none stated = every venue equally).

VPIN and the filter
-------------------
``vpin``: buckets of ``bucket_volume_usd_cents``, the last ``n_buckets``, ``sigma`` the
classification's ``σ_ΔP`` in BRL per USD (none: the running standard deviation).
``toxicity_filter`` turns the exclusion on; ``toxicity.threshold`` fixes the VPIN above which a
venue is excluded, else the venue's own ``toxicity.quantile`` (0.9) of its VPIN history is
used once ``toxicity.min_history`` values exist (``toxicity.fallback`` before).
``delta_watch_bps`` is the routed delta to the benchmark above which
``fx_delta_benchmark_watch`` turns red.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from sim.config.limits import MAX_CENTS, AgentId, ConfigModel, Weight

__all__ = [
    "FxConfig",
    "FxVenueConfig",
    "InformedTradersConfig",
    "NoiseTradersConfig",
    "ToxicityConfig",
    "TradersConfig",
    "VenueWeight",
    "VpinConfig",
]

#: venues of one scenario, and levels of one side of a venue's ladder
_MAX_VENUES = 64
_MAX_LEVELS = 1_000
#: one level of a venue's ladder, USD cents
LevelSize = Annotated[int, Field(ge=1, le=MAX_CENTS)]


class FxVenueConfig(ConfigModel):
    """One USD/BRL venue: its quote ladder, fee, quote interval and latency."""

    id: AgentId = Field(description="venue id, unique ([A-Za-z0-9_.-], <= 64)")
    spread_bps: float = Field(gt=0.0, le=10_000.0, description="best ask minus best bid, bps")
    levels_usd_cents: tuple[LevelSize, ...] = Field(
        default=(10_000_000, 20_000_000, 40_000_000),
        min_length=1,
        max_length=_MAX_LEVELS,
        description="size of each level (best first) on each side, USD cents",
    )
    step_bps: float = Field(
        default=1.0, ge=0.0, le=10_000.0, description="distance between levels, bps"
    )
    fee_bps: int = Field(default=0, ge=0, le=10_000, description="fee on the BRL notional, bps")
    quote_interval_s: float = Field(
        default=1.0, ge=0.01, le=86_400.0, description="seconds between two quotes"
    )
    latency_s: float = Field(
        default=0.05, ge=0.0, le=3600.0, description="seconds an order takes to arrive"
    )
    impact_bps: float = Field(
        default=2.0,
        ge=0.0,
        le=10_000.0,
        description="mid shift, bps, per one side's depth of net flow (buys up, sells down)",
    )
    impact_half_life_s: float = Field(
        default=60.0, gt=0.0, le=86_400.0, description="half-life of that shift, seconds"
    )

    @model_validator(mode="after")
    def _step_with_levels(self) -> FxVenueConfig:
        if len(self.levels_usd_cents) > 1 and self.step_bps == 0.0:
            raise ValueError("step_bps=0.0: must be > 0 with more than one level")
        return self


def _default_venues() -> tuple[FxVenueConfig, ...]:
    return (
        FxVenueConfig(id="v1", spread_bps=4.0, fee_bps=1),
        FxVenueConfig(id="v2", spread_bps=6.0),
        FxVenueConfig(id="v3", spread_bps=8.0, quote_interval_s=2.0, latency_s=0.2),
    )


class VenueWeight(ConfigModel):
    """A venue a kind of trader sends orders to, with its relative weight."""

    venue: str = Field(description="a venue id of fx.venues")
    weight: Weight = 1.0


class NoiseTradersConfig(ConfigModel):
    """Uninformed flow: Poisson orders of exponential size, either side."""

    rate_per_hour: float = Field(
        default=600.0, ge=0.0, le=1e6, description="orders an hour (all venues)"
    )
    mean_size_usd_cents: int = Field(
        default=2_000_000, ge=1, le=MAX_CENTS, description="mean order size, USD cents"
    )
    venues: tuple[VenueWeight, ...] = Field(
        default=(), max_length=_MAX_VENUES, description="where orders go (none: equally)"
    )


class InformedTradersConfig(ConfigModel):
    """Flow that sees the true path ``lead_s`` ahead and trades ahead of its moves."""

    lead_s: float = Field(default=60.0, gt=0.0, le=86_400.0, description="how far ahead")
    threshold_bps: float = Field(
        default=20.0, gt=0.0, le=10_000.0, description="move over lead_s that triggers an order"
    )
    poll_s: float = Field(default=5.0, ge=0.01, le=86_400.0, description="seconds between looks")
    size_usd_cents: int = Field(
        default=5_000_000, ge=1, le=MAX_CENTS, description="order size, USD cents"
    )
    venues: tuple[VenueWeight, ...] = Field(
        default=(), max_length=_MAX_VENUES, description="where orders go (none: equally)"
    )


class TradersConfig(ConfigModel):
    """The FX traders."""

    noise: NoiseTradersConfig = NoiseTradersConfig()
    informed: InformedTradersConfig = InformedTradersConfig()


class VpinConfig(ConfigModel):
    """The VPIN meter of every venue (``market.fx.VpinMeter``)."""

    bucket_volume_usd_cents: int = Field(
        default=50_000_000, ge=1, le=MAX_CENTS, description="volume of one bucket, USD cents"
    )
    n_buckets: int = Field(default=50, ge=1, le=100_000, description="buckets VPIN averages")
    sigma: float | None = Field(
        default=None, gt=0.0, le=1000.0, description="σ_ΔP, BRL per USD (none: running sd)"
    )


class ToxicityConfig(ConfigModel):
    """The VPIN threshold of the filter (``market.fx.ToxicityFilter``)."""

    threshold: float | None = Field(
        default=None, ge=0.0, le=1.0, description="fixed VPIN threshold (none: quantile)"
    )
    quantile: float = Field(
        default=0.9, ge=0.0, le=1.0, description="the venue's own VPIN quantile"
    )
    min_history: int = Field(
        default=50, ge=1, le=100_000, description="VPIN values before the quantile applies"
    )
    history: int = Field(
        default=1_000, ge=1, le=100_000, description="VPIN values the quantile is taken over"
    )
    fallback: float = Field(
        default=1.0, ge=0.0, le=1.0, description="threshold before min_history values"
    )


class FxConfig(ConfigModel):
    """The FX world: venues, traders, VPIN and the toxicity filter (off by default)."""

    enabled: bool = False
    venues: tuple[FxVenueConfig, ...] = Field(
        default_factory=_default_venues, min_length=1, max_length=_MAX_VENUES
    )
    traders: TradersConfig = TradersConfig()
    vpin: VpinConfig = VpinConfig()
    toxicity_filter: bool = True
    toxicity: ToxicityConfig = ToxicityConfig()
    delta_watch_bps: float = Field(
        default=15.0, gt=0.0, le=10_000.0, description="fx_delta_benchmark_watch threshold"
    )

    @model_validator(mode="after")
    def _references(self) -> FxConfig:
        ids = [v.id for v in self.venues]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"venues: id {dup[0]!r} is used twice; venue ids must be unique")
        known = set(ids)
        for kind in ("noise", "informed"):
            weights = getattr(self.traders, kind).venues
            for i, w in enumerate(weights):
                if w.venue not in known:
                    raise ValueError(
                        f"traders.{kind}.venues[{i}].venue={w.venue!r}: must name a venue "
                        f"(known: {', '.join(sorted(known))})"
                    )
            if weights and not sum(w.weight for w in weights) > 0:
                raise ValueError(
                    f"traders.{kind}.venues: every weight is 0: the weights must have a positive sum"
                )
        return self

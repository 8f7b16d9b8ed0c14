"""Scenario sections of the simulated world: ``exogenous`` (the true CDI and USD/BRL paths),
``oracles`` (the feeders that observe them, the aggregator and the fault plan) and ``chain``
(where attestations go).

Units
-----
Rates in integer basis points (``*_bps``; 1490 = 14.90 % a.a.), simulated time in seconds
(``*_s``) or days (``*_day``/``*_days``, 1 day = 86 400 s), relative quantities (noise,
deviation, bias, volatility) as plain fractions (0.0025 = 0.25 %).

The CDI path
------------
The CDI is a step path: it changes only at monetary-policy meetings (every
``meeting_interval_days`` from ``first_meeting_day``, or at the explicit ``meeting_dates``), by
``25 * k`` bps where ``k = clip(round(N(drift_steps, vol_steps)), -max_steps, max_steps)``, never
below ``floor_bps``. A forced shock ``{at_day, delta_bps}`` is an extraordinary meeting that moves
the rate by exactly ``delta_bps`` (a multiple of 25).

The USD/BRL path
----------------
A geometric Brownian motion (``drift_annual``, ``vol_annual``) with Poisson jumps
(``jump_intensity_per_year`` jumps a year on average, log-size ``N(jump_mean, jump_sd)``),
sampled on a grid of ``grid_s`` seconds and held constant between grid points.

Feeders and faults
------------------
Each feed (``cdi``, ``usdbrl``) has primary and secondary feeders. A feeder polls the true path
every ``poll_s`` seconds, sees it ``delay_s`` late with relative Gaussian noise ``noise``, and
publishes when its observation moved by at least ``deviation`` from its last publication or
``heartbeat_s`` passed since it. A fault ``{feeder, kind, start_s, end_s}`` acts on
``[start_s, end_s)``: ``outage`` (publishes nothing), ``freeze`` (keeps publishing, on heartbeat,
the value it observed at ``start_s``), ``lag`` (observes ``lag_s`` later still) or ``lie``
(multiplies its observation by ``1 + bias``). Every publication carries when its value was
observed, and the aggregator judges freshness by that time: a frozen feeder goes stale
``staleness_s`` after its frozen observation however often it republishes.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from sim.config.limits import (
    MAX_DELAY_S,
    MAX_HORIZON_DAYS,
    MAX_RUNOFF_DAYS,
    AgentId,
    ConfigModel,
)

if TYPE_CHECKING:
    from market.oracle.aggregator import OracleConfig

__all__ = [
    "AggregatorConfig",
    "CdiConfig",
    "ChainConfig",
    "ExogenousConfig",
    "FaultConfig",
    "FeedConfig",
    "FeederConfig",
    "ForcedShock",
    "OraclesConfig",
    "UsdBrlConfig",
]

#: The CDI moves in steps of this many basis points (Copom decisions).
CDI_STEP_BPS = 25
#: feeders of one role (primary or secondary) in one feed
_MAX_FEEDERS = 64
#: the last simulated day of any run (horizon, run-off and the last day's margin)
_MAX_DAY = MAX_HORIZON_DAYS + MAX_RUNOFF_DAYS + 1.0
#: the end of the oracles' window in any run (faults act inside it), seconds
_MAX_ORACLE_S = MAX_HORIZON_DAYS * 86_400.0 + MAX_DELAY_S


# ----------------------------------------------------------------------------- exogenous


class ForcedShock(ConfigModel):
    """An extraordinary policy decision: the CDI moves by ``delta_bps`` at ``at_day``."""

    at_day: float = Field(
        ge=0.0, le=MAX_HORIZON_DAYS, description="day offset from start_date (may be fractional)"
    )
    delta_bps: int = Field(
        ge=-10_000, le=10_000, description="rate change in bps, a multiple of 25"
    )

    @field_validator("delta_bps")
    @classmethod
    def _multiple_of_step(cls, v: int) -> int:
        if v % CDI_STEP_BPS != 0:
            raise ValueError(f"must be a multiple of {CDI_STEP_BPS} bps")
        return v


class CdiConfig(ConfigModel):
    """The true CDI step path (annual rate over 252 business days, in bps)."""

    start_bps: int = Field(default=1490, ge=0, le=10_000, description="CDI at t=0 (1490 = 14.90 %)")
    # >= 1 day: a run holds one meeting per interval over horizon + run-off (<= 8651 days)
    meeting_interval_days: float = Field(
        default=45.0, ge=1.0, le=3650.0, description="days between regular policy meetings"
    )
    first_meeting_day: float = Field(
        default=45.0, ge=0.0, le=_MAX_DAY, description="day offset of the first regular meeting"
    )
    meeting_dates: tuple[date, ...] | None = Field(
        default=None,
        max_length=10_000,
        description="explicit meeting dates (replace the regular interval)",
    )
    drift_steps: float = Field(
        default=0.0, ge=-8.0, le=8.0, description="mean decision, in 25 bps steps"
    )
    vol_steps: float = Field(
        default=0.8, ge=0.0, le=8.0, description="sd of the decision, in 25 bps steps"
    )
    max_steps: int = Field(default=4, ge=0, le=40, description="largest |decision| in steps")
    floor_bps: int = Field(default=200, ge=0, le=10_000, description="the CDI never goes below")
    shocks: tuple[ForcedShock, ...] = Field(
        default=(), max_length=1000, description="forced extraordinary moves"
    )

    @field_validator("meeting_dates")
    @classmethod
    def _sorted_unique(cls, v: tuple[date, ...] | None) -> tuple[date, ...] | None:
        if v is not None and list(v) != sorted(set(v)):
            raise ValueError("must be strictly increasing dates")
        return v

    @model_validator(mode="after")
    def _start_above_floor(self) -> CdiConfig:
        if self.start_bps < self.floor_bps:
            raise ValueError(f"start_bps={self.start_bps} is below floor_bps={self.floor_bps}")
        return self


class UsdBrlConfig(ConfigModel):
    """The true USD/BRL mid: GBM with Poisson jumps on a ``grid_s`` grid.

    The bounds keep ordinary settings far inside the range a drawn path must stay in
    (``sim.world.paths.USDBRL_RANGE``): the BRL's worst years had an annual volatility near
    0.4 and a few jumps of 5-10 %; extreme settings at the bounds over a long run can still
    leave it, and the run then stops at build time naming these parameters."""

    start: float = Field(default=5.40, ge=0.01, le=1000.0, description="BRL per USD at t=0")
    drift_annual: float = Field(default=0.0, ge=-0.5, le=0.5, description="annual log drift")
    vol_annual: float = Field(default=0.15, ge=0.0, le=1.0, description="annual volatility")
    jump_intensity_per_year: float = Field(
        default=12.0, ge=0.0, le=1000.0, description="expected number of jumps a year"
    )
    jump_mean: float = Field(default=0.0, ge=-0.2, le=0.2, description="mean log jump size")
    jump_sd: float = Field(default=0.01, ge=0.0, le=0.2, description="sd of the log jump size")
    grid_s: float = Field(default=1.0, ge=0.01, le=3600.0, description="path resolution, seconds")


class ExogenousConfig(ConfigModel):
    """The exogenous reference paths every agent observes."""

    cdi: CdiConfig = CdiConfig()
    usdbrl: UsdBrlConfig = UsdBrlConfig()


# ----------------------------------------------------------------------------- oracles


class FeederConfig(ConfigModel):
    """One oracle feeder (a price reporter) of a feed."""

    id: AgentId = Field(description="feeder id, unique within its feed ([A-Za-z0-9_.-], <= 64)")
    # <= 0.1 keeps 1 + noise*Z > 0 (an observation is a price): at 0.1 a non-positive one needs
    # Z <= -10 (p ~ 1e-23); at the old bound 0.5 about 2 % were <= 0 and crashed the read
    noise: float = Field(default=0.0, ge=0.0, le=0.1, description="relative sd of observations")
    delay_s: float = Field(default=1.0, ge=0.0, le=3600.0, description="observation delay")
    deviation: float = Field(
        default=0.0025, gt=0.0, lt=1.0, description="relative move that triggers a publication"
    )
    heartbeat_s: float = Field(
        default=15.0, gt=0.0, le=86_400.0, description="max seconds between publications"
    )
    poll_s: float = Field(default=1.0, ge=0.01, le=3600.0, description="observation period")
    phase_s: float = Field(default=0.0, ge=0.0, le=86_400.0, description="first publication time")

    @model_validator(mode="after")
    def _heartbeat_vs_poll(self) -> FeederConfig:
        if self.heartbeat_s < self.poll_s:
            raise ValueError(f"heartbeat_s={self.heartbeat_s} is shorter than poll_s={self.poll_s}")
        return self


class AggregatorConfig(ConfigModel):
    """The aggregator parameters (the fields of ``market.oracle.aggregator.OracleConfig``)."""

    staleness_s: float = Field(
        default=30.0,
        gt=0.0,
        le=86_400.0,
        description="a source is fresh while its value was observed within this",
    )
    k_mad: float = Field(
        default=5.0, gt=0.0, le=1000.0, description="outlier cut in median abs deviations"
    )
    quorum: int | None = Field(
        default=None,
        ge=1,
        le=_MAX_FEEDERS,
        description="fresh sources needed; default a majority of primaries",
    )
    twap_window_s: float = Field(default=300.0, gt=0.0, le=86_400.0, description="TWAP window")
    twap_max_age_s: float = Field(
        default=300.0,
        gt=0.0,
        le=86_400.0,
        description="max age of the newest TWAP input's observation",
    )
    divergence: float = Field(
        default=0.01,
        gt=0.0,
        lt=1.0,
        description="divergence watch gap; primary/secondary disagreement gap",
    )
    divergence_for_s: float = Field(
        default=60.0,
        gt=0.0,
        le=86_400.0,
        description="divergence watch hold; a disagreement refuses pricing after it",
    )
    mad_floor: float = Field(
        default=1e-4, ge=0.0, lt=1.0, description="relative floor of the MAD outlier scale"
    )
    secondary_quorum: int | None = Field(
        default=None,
        ge=1,
        le=_MAX_FEEDERS,
        description="fresh secondaries needed; default their majority",
    )
    round_s: float = Field(
        default=15.0,
        gt=0.0,
        le=3600.0,
        description="aggregation round period; OK rounds form the TWAP history",
    )

    def to_oracle_config(self) -> OracleConfig:
        """Build the pure ``market.oracle.aggregator.OracleConfig`` (imported lazily)."""
        from market.oracle.aggregator import OracleConfig

        return OracleConfig(
            staleness_s=self.staleness_s,
            k_mad=self.k_mad,
            quorum=self.quorum,
            twap_window_s=self.twap_window_s,
            twap_max_age_s=self.twap_max_age_s,
            divergence=self.divergence,
            divergence_for_s=self.divergence_for_s,
            mad_floor=self.mad_floor,
            secondary_quorum=self.secondary_quorum,
        )


class FaultConfig(ConfigModel):
    """A scheduled feeder fault acting on ``[start_s, end_s)``."""

    feeder: str = Field(description="id of a feeder of the same feed")
    kind: Literal["outage", "freeze", "lag", "lie"]
    start_s: float = Field(
        ge=0.0, le=_MAX_ORACLE_S, description="fault start, seconds of simulated time"
    )
    end_s: float = Field(gt=0.0, le=_MAX_ORACLE_S, description="fault end (exclusive), seconds")
    bias: float | None = Field(default=None, gt=-1.0, le=10.0, description="lie: relative bias")
    lag_s: float | None = Field(default=None, gt=0.0, le=86_400.0, description="lag: extra delay")

    @model_validator(mode="after")
    def _consistent(self) -> FaultConfig:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s={self.end_s} must be > start_s={self.start_s}")
        if self.kind == "lie" and self.bias is None:
            raise ValueError("kind=lie needs bias")
        if self.kind == "lag" and self.lag_s is None:
            raise ValueError("kind=lag needs lag_s")
        if self.kind != "lie" and self.bias is not None:
            raise ValueError(f"bias={self.bias} is only allowed with kind=lie")
        if self.kind != "lag" and self.lag_s is not None:
            raise ValueError(f"lag_s={self.lag_s} is only allowed with kind=lag")
        return self


def _feeders(prefix: str, n: int, **kw: float) -> tuple[FeederConfig, ...]:
    return tuple(FeederConfig(id=f"{prefix}{i + 1}", **kw) for i in range(n))


class FeedConfig(ConfigModel):
    """One oracle feed: its primary and secondary feeders, aggregator and fault plan."""

    primary: tuple[FeederConfig, ...] = Field(
        default_factory=lambda: _feeders("p", 5), min_length=1, max_length=_MAX_FEEDERS
    )
    secondary: tuple[FeederConfig, ...] = Field(
        default_factory=lambda: _feeders("s", 3), max_length=_MAX_FEEDERS
    )
    aggregator: AggregatorConfig = AggregatorConfig()
    faults: tuple[FaultConfig, ...] = Field(default=(), max_length=1000)

    @model_validator(mode="after")
    def _references(self) -> FeedConfig:
        ids = [f.id for f in (*self.primary, *self.secondary)]
        dup = sorted({i for i in ids if ids.count(i) > 1})
        if dup:
            raise ValueError(f"feeder id {dup[0]!r} is used twice; ids must be unique per feed")
        q = self.aggregator.quorum
        if q is not None and q > len(self.primary):
            raise ValueError(
                f"aggregator.quorum={q} exceeds the {len(self.primary)} primary feeders"
            )
        sq = self.aggregator.secondary_quorum
        if sq is not None and sq > len(self.secondary):
            raise ValueError(
                f"aggregator.secondary_quorum={sq} exceeds the {len(self.secondary)} "
                "secondary feeders"
            )
        known = set(ids)
        for i, fault in enumerate(self.faults):
            if fault.feeder not in known:
                raise ValueError(
                    f"faults[{i}].feeder={fault.feeder!r} is not a feeder of this feed "
                    f"(known: {', '.join(sorted(known))})"
                )
        return self


#: Feed-specific default feeder sets (used for a feed whose ``primary``/``secondary`` is
#: not stated): CDI is an official daily number (no noise, polled every 5 s); USD/BRL feeders
#: see small quote noise; secondaries are slower backups.
_FEED_DEFAULTS: dict[str, dict[str, tuple[FeederConfig, ...]]] = {
    "cdi": {
        "primary": _feeders("p", 5, poll_s=5.0),
        "secondary": _feeders("s", 3, poll_s=5.0, delay_s=2.0),
    },
    "usdbrl": {
        "primary": _feeders("p", 5, noise=0.0003),
        "secondary": _feeders("s", 3, noise=0.0005, delay_s=2.0),
    },
}


class OraclesConfig(ConfigModel):
    """The two feeds the engine reads: ``cdi`` (annual rate as a fraction, 0.149) and
    ``usdbrl`` (BRL per USD)."""

    cdi: FeedConfig = Field(default_factory=lambda: FeedConfig(**_FEED_DEFAULTS["cdi"]))
    usdbrl: FeedConfig = Field(default_factory=lambda: FeedConfig(**_FEED_DEFAULTS["usdbrl"]))
    tail_s: float = Field(
        default=86_400.0,
        ge=0.0,
        le=MAX_DELAY_S,
        description="feeders keep publishing this long after the horizon (auctions closing)",
    )
    record_publications: bool = Field(
        default=True,
        description="oracle_ticks holds every feeder publication (false: answers only)",
    )

    @model_validator(mode="before")
    @classmethod
    def _feed_defaults(cls, data: Any) -> Any:
        """Give a stated feed without ``primary``/``secondary`` its feed's default feeders."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for feed, defaults in _FEED_DEFAULTS.items():
            node = data.get(feed)
            if isinstance(node, dict):
                node = dict(node)
                for role, feeders in defaults.items():
                    if role not in node:
                        node[role] = feeders
                data[feed] = node
        return data


# ----------------------------------------------------------------------------- chain


class ChainConfig(ConfigModel):
    """Where attestations go: ``off`` (counted only, no web3), ``eth-tester`` (in-process
    chain) or ``rpc`` (any JSON-RPC node at ``rpc_url``)."""

    backend: Literal["off", "eth-tester", "rpc"] = "off"
    rpc_url: str | None = Field(default=None, description="JSON-RPC URL (backend rpc)")
    mode: Literal["attest", "full"] = "attest"
    batch_size: int = Field(default=1024, ge=1, le=1_000_000, description="records per batch")
    batch_interval_s: float = Field(
        default=60.0, gt=0.0, le=86_400.0, description="seal a batch at least this often"
    )

    @model_validator(mode="after")
    def _rpc_needs_url(self) -> ChainConfig:
        if self.backend == "rpc" and not self.rpc_url:
            raise ValueError("backend=rpc needs rpc_url")
        return self

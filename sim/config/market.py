"""Scenario sections for the simulated marketplace: borrowers, lenders, pool, engine, auction,
latency model and KPI targets.

Every model is a frozen pydantic v2 model with ``extra="forbid"``; every field has a default
so a scenario file states only what it changes. Units follow the project rules: money in
integer centavos (``*_cents``), rates in integer basis points (``*_bps``), simulated time in
seconds (``*_s``) or days (``*_days``), latencies in milliseconds (``*_ms``). Validators raise
``ValueError`` with a message naming the value and the rule; the scenario loader
(``sim.config.scenario``) prefixes the file and the key path.

Sections (composed into ``sim.config.scenario.Scenario`` by the world helper):

- :class:`BorrowersConfig` — loan-request arrivals (Poisson, daily x weekly seasonality) and
  the monthly prepayment hazard (amount, term and features come from ``population``).
- :class:`LendersConfig` — groups of lenders: count, capital, reservation spread over CDI,
  bidding strategy (``truthful``, ``shading``, ``late_sniper``, ``multi_offer_manipulator``),
  participation probability, offer sizing, commit and reveal behaviour.
- :class:`PoolConfig` — the liquidity-pool lender backed 1:1 by pool tokens.
- :class:`EngineConfig` — the CreditEngine's policy: cap, headroom, LGD, costs, margin,
  approval limits, amount caps by PD band, NO_PRICE handling, confirmation, delinquency.
- :class:`AuctionConfig` — the auction rules (``to_rules()`` -> ``market.auction.types.AuctionRules``).
- :class:`LatencyConfig` — the latency model behind *time to valid price*.
- :class:`KpiTargets` — targets the KPI table is judged against (``to_targets()``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from sim.config.limits import (
    MAX_CENTS,
    MAX_DELAY_S,
    MAX_RATE_BPS,
    MAX_RUNOFF_DAYS,
    ConfigModel,
    Weight,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from market.auction.types import AuctionRules

__all__ = [
    "AuctionConfig",
    "BorrowersConfig",
    "EngineConfig",
    "KpiTargets",
    "LatencyConfig",
    "LenderGroup",
    "LendersConfig",
    "LogNormalMs",
    "PdBandCap",
    "PoolConfig",
    "SpreadDist",
]


class _Frozen(ConfigModel):
    model_config = ConfigDict(validate_default=True)


def _check_weights(name: str, values: tuple[float, ...], n: int | None = None) -> None:
    """Length and a positive sum (each weight is a finite ``Weight`` already)."""
    if n is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} weights: must have exactly {n}")
    if not values:
        raise ValueError(f"{name} is empty: must have at least one weight")
    if sum(values) <= 0:
        raise ValueError(f"{name}={list(values)}: weights must not all be 0")


# ----------------------------------------------------------------------------- borrowers

#: Relative request intensity by hour of day (00h..23h, local time): quiet nights, a morning
#: ramp, a lunch bump and an evening peak (typical of consumer-credit apps in Brazil).
DEFAULT_DAILY_PROFILE: tuple[float, ...] = (
    0.25, 0.15, 0.10, 0.08, 0.08, 0.12, 0.30, 0.60, 1.00, 1.30, 1.45, 1.50,
    1.55, 1.45, 1.40, 1.40, 1.35, 1.35, 1.40, 1.50, 1.55, 1.35, 0.95, 0.55,
)  # fmt: skip
#: Relative intensity by weekday, Monday..Sunday.
DEFAULT_WEEKLY_PROFILE: tuple[float, ...] = (1.15, 1.10, 1.05, 1.05, 1.05, 0.85, 0.75)


class BorrowersConfig(_Frozen):
    """Loan-request arrivals and borrower behaviour after funding.

    Who arrives (features, requested amount and term, true default hazard) is drawn from the
    ``population`` section (``sim.agents.population.sample_borrowers``), so the request and the
    features the model scores always agree.

    Arrivals are a non-homogeneous Poisson process whose rate in hour h of weekday d is
    ``arrivals_per_day / 24 * daily[h] / mean(daily) * weekly[d] / mean(weekly)`` per hour,
    so the long-run mean is ``arrivals_per_day`` requests per day.
    """

    arrivals_per_day: float = Field(300.0, gt=0, le=1e7, description="mean requests per day")
    daily_profile: tuple[Weight, ...] = Field(
        DEFAULT_DAILY_PROFILE, description="24 relative weights, hour 0..23"
    )
    weekly_profile: tuple[Weight, ...] = Field(
        DEFAULT_WEEKLY_PROFILE, description="7 relative weights, Monday..Sunday"
    )
    prepayment_hazard_monthly: float = Field(
        0.01, ge=0, lt=1, description="probability per month that a live loan is prepaid"
    )

    @field_validator("daily_profile")
    @classmethod
    def _daily(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        _check_weights("daily_profile", v, 24)
        return v

    @field_validator("weekly_profile")
    @classmethod
    def _weekly(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        _check_weights("weekly_profile", v, 7)
        return v


# ----------------------------------------------------------------------------- lenders


class SpreadDist(_Frozen):
    """Per-lender reservation spread over CDI: normal(``mean_bps``, ``sd_bps``) drawn once per
    lender, clipped to ``[min_bps, max_bps]``."""

    mean_bps: int = Field(300, ge=-5000, le=20000)
    sd_bps: int = Field(100, ge=0, le=10000)
    min_bps: int = Field(0, ge=-5000, le=20000)
    max_bps: int = Field(1500, ge=-5000, le=20000)

    @model_validator(mode="after")
    def _check(self) -> SpreadDist:
        if not self.min_bps <= self.mean_bps <= self.max_bps:
            raise ValueError(
                f"mean_bps={self.mean_bps}: must lie in [min_bps={self.min_bps}, "
                f"max_bps={self.max_bps}]"
            )
        return self


Strategy = Literal["truthful", "shading", "late_sniper", "multi_offer_manipulator"]


class LenderGroup(_Frozen):
    """A group of ``count`` lenders with the same capital and behaviour.

    Reservation rate of a lender for a loan with published PD ``pd`` (the engine's model PD)
    and the engine's LGD: ``r_res = (cdi_apr + spread + pd * lgd) / (1 - pd)``, the lender's
    spread drawn once from ``reservation_spread`` plus per-auction noise ``noise_bps``.

    Strategies (the rate bid, rounded UP to the tick):
    - ``truthful``: bids ``r_res`` with one offer at a random time after opening.
    - ``shading``: bids ``r_res + shade_bps`` (asks for more than it needs).
    - ``late_sniper``: bids ``r_res + shade_bps``, committing ``snipe_lead_s`` seconds before
      the current close (inside the snipe window, so it triggers anti-sniping extensions),
      then re-snipes the new close while it has offers left (at most ``n_offers`` commits).
    - ``multi_offer_manipulator``: splits its amount into ``n_offers`` offers laddered up by
      ``ladder_step_bps`` and sent ``offer_spacing_s`` apart, running into MAX_OFFERS and
      COOLDOWN rejections when those exceed the rules.
    """

    name: str = Field("retail", min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")
    count: int = Field(100, ge=1, le=100_000)
    capital_cents: int = Field(
        5_000_000, gt=0, le=MAX_CENTS, description="initial capital per lender"
    )
    reservation_spread: SpreadDist = Field(default_factory=SpreadDist)
    noise_bps: int = Field(25, ge=0, le=5000, description="sd of per-auction rate noise")
    strategy: Strategy = "truthful"
    participation: float = Field(
        0.1, ge=0, le=1, description="probability a lender bids in a given auction"
    )
    min_loan_share: float = Field(0.05, gt=0, le=1, description="smallest offer / loan amount")
    max_loan_share: float = Field(0.30, gt=0, le=1, description="largest offer / loan amount")
    max_offer_capital_share: float = Field(
        0.10, gt=0, le=1, description="diversification: one offer <= this share of capital"
    )
    overcommit: float = Field(
        1.25,
        ge=1,
        le=100,
        description="open offers may total up to this multiple of the lender's free cash",
    )
    commit_delay_mean_s: float = Field(
        1800.0,
        gt=0,
        le=MAX_DELAY_S,
        description="mean (exponential) delay from opening to the commit",
    )
    reveal_delay_max_s: float = Field(
        300.0,
        ge=0,
        le=MAX_DELAY_S,
        description="reveals arrive uniformly within this many seconds of close",
    )
    reveal_fail_prob: float = Field(0.01, ge=0, le=1, description="probability of no reveal")
    shade_bps: int = Field(0, ge=0, le=10000, description="shading / sniper margin over r_res")
    snipe_lead_s: float = Field(
        60.0, gt=0, le=MAX_DELAY_S, description="late_sniper: commit this long before close"
    )
    n_offers: int = Field(1, ge=1, le=50, description="commits per auction (sniper, manipulator)")
    offer_spacing_s: float = Field(
        20.0, ge=0, le=MAX_DELAY_S, description="manipulator: seconds between commits"
    )
    ladder_step_bps: int = Field(25, ge=0, le=5000, description="manipulator: rate step per offer")

    @model_validator(mode="after")
    def _check(self) -> LenderGroup:
        if self.min_loan_share > self.max_loan_share:
            raise ValueError(
                f"min_loan_share={self.min_loan_share} > max_loan_share={self.max_loan_share}:"
                " must be <= max_loan_share"
            )
        return self


def _default_groups() -> tuple[LenderGroup, ...]:
    return (
        LenderGroup(name="retail", count=150, capital_cents=5_000_000),
        LenderGroup(
            name="shaders",
            count=40,
            capital_cents=20_000_000,
            strategy="shading",
            shade_bps=150,
            participation=0.08,
        ),
        LenderGroup(
            name="snipers",
            count=5,
            capital_cents=20_000_000,
            strategy="late_sniper",
            shade_bps=50,
            participation=0.05,
            n_offers=2,
        ),
        LenderGroup(
            name="manipulators",
            count=3,
            capital_cents=20_000_000,
            strategy="multi_offer_manipulator",
            participation=0.05,
            n_offers=5,
            offer_spacing_s=20.0,
        ),
    )


#: lenders in all groups together (each is a ledger account and a row of the lender arrays)
MAX_LENDERS = 1_000_000


class LendersConfig(_Frozen):
    """All lender groups. Lender ids are ``<group name>-<index>`` (``retail-0007``)."""

    groups: tuple[LenderGroup, ...] = Field(default_factory=_default_groups, max_length=64)

    @field_validator("groups")
    @classmethod
    def _groups(cls, v: tuple[LenderGroup, ...]) -> tuple[LenderGroup, ...]:
        names = [g.name for g in v]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(f"groups[{i}].name={n!r}: group names must be unique")
            if n.lower() == "pool":
                raise ValueError(f"groups[{i}].name={n!r}: 'pool' is reserved for the pool")
        total = sum(g.count for g in v)
        if total > MAX_LENDERS:
            raise ValueError(f"groups: {total} lenders in all: must be at most {MAX_LENDERS}")
        return v


# ----------------------------------------------------------------------------- pool


class PoolConfig(_Frozen):
    """The liquidity pool: a lender funded by depositors who hold pool tokens minted 1:1 per
    centavo deposited. It bids in every auction (with ``participation``) at
    ``r_res = (cdi_apr + reservation_spread_bps + pd * lgd) / (1 - pd)`` for at most
    ``max_share_per_loan`` of the loan and of its free cash."""

    enabled: bool = True
    pool_id: str = Field("P1", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9_-]+$")
    capital_cents: int = Field(
        300_000_000, gt=0, le=MAX_CENTS, description="deposits = tokens minted"
    )
    reservation_spread_bps: int = Field(250, ge=-5000, le=20000)
    max_share_per_loan: float = Field(0.30, gt=0, le=1)
    participation: float = Field(1.0, ge=0, le=1)
    commit_delay_s: float = Field(
        30.0, ge=0, le=MAX_DELAY_S, description="commits this long after opening"
    )
    overcommit: float = Field(
        1.0, ge=1, le=100, description="open offers may total this multiple of free cash"
    )


# ----------------------------------------------------------------------------- engine


class PdBandCap(_Frozen):
    """Requests whose PD is <= ``pd_max`` (and above the previous band) may borrow at most
    ``max_amount_cents``."""

    pd_max: float = Field(gt=0, le=1)
    max_amount_cents: int = Field(gt=0, le=MAX_CENTS)


def _default_bands() -> tuple[PdBandCap, ...]:
    return (
        PdBandCap(pd_max=0.05, max_amount_cents=5_000_000),
        PdBandCap(pd_max=0.10, max_amount_cents=2_500_000),
        PdBandCap(pd_max=0.20, max_amount_cents=1_000_000),
        PdBandCap(pd_max=1.00, max_amount_cents=500_000),
    )


class EngineConfig(_Frozen):
    """The CreditEngine's credit policy and operations.

    Pricing (spec/money.md): ``k = cdi_apr + operating_cost + target_margin`` (annual, 365-day
    basis, CDI converted over the loan's term with DU/DC), ``r_min = (k + pd*lgd)/(1-pd)``;
    declined above ``policy_cap_bps``; reserve = ``r_min + headroom_bps`` rounded up to tick.
    """

    policy_cap_bps: int = Field(4500, gt=0, le=MAX_RATE_BPS)
    headroom_bps: int = Field(500, ge=0, le=10_000)
    lgd: float = Field(0.60, ge=0, le=1, description="loss given default")
    operating_cost_bps: int = Field(300, ge=0, le=10_000)
    target_margin_bps: int = Field(200, ge=0, le=10_000)
    max_pd: float = Field(0.25, gt=0, lt=1, description="decline PD above this (PD_ABOVE_MAX)")
    amount_caps: tuple[PdBandCap, ...] = Field(default_factory=_default_bands, max_length=64)
    amount_cap_action: Literal["cap", "decline"] = "cap"
    no_price_action: Literal["defer", "decline"] = "defer"
    no_price_retry_s: float = Field(
        30.0, gt=0, le=86_400, description="wait before re-pricing (defer)"
    )
    no_price_max_retries: int = Field(4, ge=0, le=1000, description="then decline NO_PRICE")
    confirmation_delay_s: float = Field(
        120.0, ge=0, le=MAX_DELAY_S, description="clearing -> LoanConfirmed"
    )
    default_dpd: int = Field(90, ge=1, le=720, description="days past due that mean default")
    recovery_delay_days: int = Field(0, ge=0, le=3650, description="write-off -> recovery")
    runoff_days: int = Field(
        365,
        ge=0,
        le=MAX_RUNOFF_DAYS,
        description="days simulated after the last request (loans only)",
    )

    @field_validator("amount_caps")
    @classmethod
    def _bands(cls, v: tuple[PdBandCap, ...]) -> tuple[PdBandCap, ...]:
        for i in range(1, len(v)):
            if v[i].pd_max <= v[i - 1].pd_max:
                raise ValueError(
                    f"amount_caps[{i}].pd_max={v[i].pd_max}: must be > "
                    f"amount_caps[{i - 1}].pd_max={v[i - 1].pd_max} (bands ascend)"
                )
        return v

    def amount_cap_cents(self, pd: float) -> int | None:
        """Largest amount allowed for ``pd`` (None: no band covers it, no cap)."""
        for band in self.amount_caps:
            if pd <= band.pd_max:
                return band.max_amount_cents
        return None


# ----------------------------------------------------------------------------- auction


class AuctionConfig(_Frozen):
    """The auction rules (spec/auction.md); defaults equal ``market.auction.types.AuctionRules``
    except ``ttl_s``: the simulated marketplace runs 4-hour auctions (14 400 s) so that a loan
    can be funded within 24 h of its request (the spec's 86 400 s makes that impossible:
    commits alone then take a day)."""

    tick_bps: int = Field(5, gt=0, le=10_000)
    max_offers_per_lender: int = Field(3, ge=1, le=1000)
    cooldown_s: int = Field(60, ge=0, le=MAX_DELAY_S)
    snipe_window_s: int = Field(120, ge=0, le=MAX_DELAY_S)
    snipe_extension_s: int = Field(600, ge=0, le=MAX_DELAY_S)
    max_extensions: int = Field(6, ge=0, le=1000)
    ttl_s: int = Field(14_400, gt=0, le=MAX_DELAY_S)
    reveal_window_s: int = Field(600, gt=0, le=MAX_DELAY_S)
    min_offer_cents: int = Field(1000, gt=0, le=MAX_CENTS)
    min_fill_ratio: float = Field(1.0, ge=0, le=1)  # 0: any partial fill (S = 0 is UNFILLED)
    pricing: Literal["uniform", "pay_as_bid", "first_rejected"] = "uniform"
    platform_fee_bps: int = Field(50, ge=0, le=10_000)

    def to_rules(self) -> AuctionRules:
        """The same values as a ``market.auction.types.AuctionRules``."""
        from market.auction.types import AuctionRules

        return AuctionRules(**self.model_dump())


# ----------------------------------------------------------------------------- latency


class LogNormalMs(_Frozen):
    """A latency component in ms: ``median_ms * exp(sigma * Z)`` capped at ``max_ms``."""

    median_ms: float = Field(gt=0, le=1e7)
    sigma: float = Field(0.3, ge=0, le=5)
    max_ms: float = Field(60_000.0, gt=0, le=1e8)

    @model_validator(mode="after")
    def _check(self) -> LogNormalMs:
        if self.max_ms < self.median_ms:
            raise ValueError(f"max_ms={self.max_ms}: must be >= median_ms={self.median_ms}")
        return self


class LatencyConfig(_Frozen):
    """Latency model of *time to valid price* (request -> a price built only from valid
    inputs), in simulated ms: ``network + batch wait + inference + oracle_read + pricing``.

    The batch wait comes from the dynamic batcher; one batch of n rows costs
    ``model.inference_ms(n)`` (the ``model`` section) times a lognormal jitter
    ``exp(inference_sigma * Z)``. A request deferred on ``NO_PRICE`` adds its retry delays
    and another oracle read per retry.
    """

    network: LogNormalMs = Field(default_factory=lambda: LogNormalMs(median_ms=60.0, sigma=0.5))
    oracle_read: LogNormalMs = Field(default_factory=lambda: LogNormalMs(median_ms=25.0, sigma=0.6))
    pricing: LogNormalMs = Field(default_factory=lambda: LogNormalMs(median_ms=3.0, sigma=0.3))
    inference_sigma: float = Field(0.2, ge=0, le=5, description="jitter of one batch's cost")


# ----------------------------------------------------------------------------- KPI targets


#: largest time targets: about 11.6 days (in ms) and 31.7 years (in s)
_MAX_KPI_MS = 1e9
_MAX_KPI_S = 1e9


class KpiTargets(_Frozen):
    """Targets for the KPI table. A field ``<kpi>_max`` means ``kpi <= value``, ``<kpi>_min``
    means ``kpi >= value``; ``None`` means no target (the table shows ``—``)."""

    ttvp_ms_p75_max: float | None = Field(500.0, ge=0, le=_MAX_KPI_MS)
    ttvp_ms_p95_max: float | None = Field(800.0, ge=0, le=_MAX_KPI_MS)
    funded_24h_share_min: float | None = Field(0.70, ge=0, le=1)
    fill_rate_min: float | None = Field(0.90, ge=0, le=1)
    approval_rate_min: float | None = Field(None, ge=0, le=1)
    npl30_max: float | None = Field(0.10, ge=0, le=1)
    hhi_loan_mean_max: float | None = Field(0.35, ge=0, le=1)
    hhi_platform_max: float | None = Field(0.35, ge=0, le=1)
    pool_utilisation_min: float | None = Field(0.65, ge=0, le=1)
    lender_return_annual_min: float | None = Field(None, ge=-1, le=100)
    calibration_ratio_min: float | None = Field(0.75, ge=0, le=100)
    calibration_ratio_max: float | None = Field(1.33, ge=0, le=100)
    attest_inclusion_s_p95_max: float | None = Field(None, ge=0, le=_MAX_KPI_S)

    def to_targets(self) -> dict[str, dict[str, float]]:
        """``{kpi: {"max": value} | {"min": value} | {"min": lo, "max": hi}}`` for every target
        that is set, in field order (the shape ``sim.kpis.format_kpi_table`` reads)."""
        out: dict[str, dict[str, float]] = {}
        for name, v in self.model_dump().items():
            if v is not None:
                out.setdefault(name[:-4], {})[name[-3:]] = float(v)
        return out

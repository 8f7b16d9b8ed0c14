"""Risk pricing of one request from fresh oracle inputs (spec/money.md, "Risk-based price").

Funding cost: the CDI read from the oracle (annual, 252 business days) converted to the loan's
365-day basis over the loan's own period, ``[request date, request date + term months)``, with
DU from the Brazilian calendar and DC in calendar days (:func:`market.rates.cdi_to_apr`). DU/DC
per (date, term) are cached: a run sees a few hundred distinct pairs.

``k = funding_apr + operating_cost_bps/1e4 + target_margin_bps/1e4``; the quote
(:func:`market.pricing.quote`) gives ``r_min`` and the reserve ``max_rate_bps`` or declines
``ABOVE_POLICY_CAP``.

Validity of an oracle answer *at price-build time* (:func:`answer_valid_at`): ``OK`` and
``FAILOVER`` answers carry the age of their oldest source; the price is built ``dt`` seconds
after the read, so the input is valid only while ``age_s + dt <= staleness_s``.
``FALLBACK_TWAP`` is valid while its newest input is no older than ``twap_max_age_s``.
``NO_PRICE`` never is. The engine never builds a price from an invalid answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from market.calendar import business_days_between, calendar_days_between
from market.oracle.aggregator import FAILOVER, FALLBACK_TWAP, OK, OracleAnswer
from market.pricing import PriceQuote, quote
from market.rates import cdi_to_apr
from market.schedule import monthly_due_dates
from sim.config.market import EngineConfig

__all__ = ["FundingCurve", "Priced", "answer_valid_at", "price"]


class FundingCurve:
    """``cdi_to_apr`` over a loan's period, with DU/DC cached per (start date, term)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: dict[tuple[date, int], tuple[int, int]] = {}

    def du_dc(self, start: date, term_months: int) -> tuple[int, int]:
        """(business days, calendar days) over ``[start, start + term_months months)``."""
        key = (start, term_months)
        got = self._cache.get(key)
        if got is None:
            end = monthly_due_dates(start, term_months)[-1]
            got = self._cache[key] = (
                business_days_between(start, end),
                calendar_days_between(start, end),
            )
        return got

    def apr(self, cdi: float, start: date, term_months: int) -> float:
        """CDI (annual, 252-day) as an APR-365 over the loan's period."""
        du, dc = self.du_dc(start, term_months)
        return cdi_to_apr(cdi, du, dc)


def answer_valid_at(answer: OracleAnswer, now: float, staleness_s: float, twap_max_age_s: float):
    """True when ``answer`` (read at ``answer.as_of``) is still a valid pricing input at
    ``now`` (see the module docstring)."""
    st = answer.status
    if answer.price is None or answer.age_s is None:
        return False
    age = answer.age_s + (now - answer.as_of)
    if st in (OK, FAILOVER):
        return age <= staleness_s
    if st == FALLBACK_TWAP:
        return age <= twap_max_age_s
    return False


@dataclass(frozen=True, slots=True)
class Priced:
    """A quote and the inputs it was built from."""

    funding_apr: float
    k: float
    quote: PriceQuote


def price(
    pd: float,
    cdi: float,
    start: date,
    term_months: int,
    cfg: EngineConfig,
    tick_bps: int,
    curve: FundingCurve,
) -> Priced:
    """Quote a request of model PD ``pd`` (clipped to [0, 0.9999]) from the oracle's ``cdi``."""
    funding = curve.apr(cdi, start, term_months)
    k = funding + (cfg.operating_cost_bps + cfg.target_margin_bps) / 10_000.0
    p = min(max(pd, 0.0), 0.9999)
    q = quote(
        p,
        cfg.lgd,
        k,
        headroom_bps=cfg.headroom_bps,
        tick_bps=tick_bps,
        policy_cap_bps=cfg.policy_cap_bps,
    )
    return Priced(funding, k, q)

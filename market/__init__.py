"""Pure mechanisms of the CreditEngine: money and rates, risk pricing, auctions, oracles.

Frozen dataclasses in, plain data out; no I/O, no simulator, no web3. The modules are public
(``market.clearing``, ``market.oracle``, ...); their main names are re-exported here.
"""

from market.auction_json import AuctionInputError, parse_clear_input
from market.auction_types import (
    EXCLUSION_REASONS,
    PRICING_RULES,
    Allocation,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    FieldError,
    Offer,
)
from market.calendar import (
    add_business_days,
    brazil_holidays,
    business_days_between,
    easter,
    is_business_day,
)
from market.cet import cet_annual, cet_monthly, cet_percent, schedule_payments
from market.clearing import ColumnarResult, OfferColumns, clear, clear_columns
from market.clearing_reference import clear_reference
from market.commitment import commitment_hash, lender_address, new_salt, offer_commitment
from market.lifecycle import (
    AuctionState,
    close,
    commit,
    confirm,
    open_auction,
    reveal,
    settlement_payload,
)
from market.lifecycle import clear as clear_auction
from market.money import (
    CENTAVO_UNITS,
    ceil_div,
    cents_to_token_units,
    div_round_half_even,
    format_brl,
    round_half_even,
    token_units_to_cents,
)
from market.oracle import (
    FAILOVER,
    FALLBACK_TWAP,
    NO_PRICE,
    OK,
    STATUSES,
    DivergenceState,
    OracleAnswer,
    OracleConfig,
    SourceState,
    aggregate,
    divergence_gap,
    divergence_step,
)
from market.pricing import PriceQuote, fee_cents, quote, risk_rate_floor
from market.rates import (
    apr_to_cdi,
    bps_to_rate,
    cdi_to_apr,
    cdi_to_apr_between,
    monthly_rate,
    rate_to_bps,
)
from market.schedule import (
    Installment,
    Prepayment,
    distribute_pro_rata,
    monthly_due_dates,
    prepayment,
    price_schedule,
)
from market.twap import twap, twap_with_newest

__all__ = [
    "CENTAVO_UNITS",
    "EXCLUSION_REASONS",
    "FAILOVER",
    "FALLBACK_TWAP",
    "NO_PRICE",
    "OK",
    "PRICING_RULES",
    "STATUSES",
    "Allocation",
    "AuctionInputError",
    "AuctionRequest",
    "AuctionRules",
    "AuctionState",
    "ClearingResult",
    "ColumnarResult",
    "DivergenceState",
    "Exclusion",
    "FieldError",
    "Installment",
    "Offer",
    "OfferColumns",
    "OracleAnswer",
    "OracleConfig",
    "Prepayment",
    "PriceQuote",
    "SourceState",
    "add_business_days",
    "aggregate",
    "apr_to_cdi",
    "bps_to_rate",
    "brazil_holidays",
    "business_days_between",
    "cdi_to_apr",
    "cdi_to_apr_between",
    "ceil_div",
    "cents_to_token_units",
    "cet_annual",
    "cet_monthly",
    "cet_percent",
    "clear",
    "clear_auction",
    "clear_columns",
    "clear_reference",
    "close",
    "commit",
    "commitment_hash",
    "confirm",
    "distribute_pro_rata",
    "div_round_half_even",
    "divergence_gap",
    "divergence_step",
    "easter",
    "fee_cents",
    "format_brl",
    "is_business_day",
    "lender_address",
    "monthly_due_dates",
    "monthly_rate",
    "new_salt",
    "offer_commitment",
    "open_auction",
    "parse_clear_input",
    "prepayment",
    "price_schedule",
    "quote",
    "rate_to_bps",
    "reveal",
    "risk_rate_floor",
    "round_half_even",
    "schedule_payments",
    "settlement_payload",
    "token_units_to_cents",
    "twap",
    "twap_with_newest",
]

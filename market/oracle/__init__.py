"""Oracle aggregation: the median/quorum/fallback aggregator and time-weighted averages."""

from __future__ import annotations

from market.oracle.aggregator import (
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
    twap,
)
from market.oracle.twap import (
    TwapInput,
    TwapResult,
    twap_with_newest,
)

__all__ = [
    "FAILOVER",
    "FALLBACK_TWAP",
    "NO_PRICE",
    "OK",
    "STATUSES",
    "DivergenceState",
    "OracleAnswer",
    "OracleConfig",
    "SourceState",
    "TwapInput",
    "TwapResult",
    "aggregate",
    "divergence_gap",
    "divergence_step",
    "twap",
    "twap_with_newest",
]

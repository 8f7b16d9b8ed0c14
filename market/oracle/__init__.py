"""Oracle aggregation: the median/quorum/fallback aggregator and time-weighted averages."""

from __future__ import annotations

from market.oracle.aggregator import (
    FAILOVER,
    FALLBACK_TWAP,
    NO_PRICE,
    OK,
    PRIMARY_SECONDARY_DISAGREE,
    STATUSES,
    Disagreement,
    DivergenceState,
    OracleAnswer,
    OracleConfig,
    SourceState,
    aggregate,
    contested,
    disagreement,
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
    "PRIMARY_SECONDARY_DISAGREE",
    "STATUSES",
    "Disagreement",
    "DivergenceState",
    "OracleAnswer",
    "OracleConfig",
    "SourceState",
    "TwapInput",
    "TwapResult",
    "aggregate",
    "contested",
    "disagreement",
    "divergence_gap",
    "divergence_step",
    "twap",
    "twap_with_newest",
]

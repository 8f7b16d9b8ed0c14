"""The run's double-entry ledger (accounts, postings, balances) and its replay audit."""

from __future__ import annotations

from sim.ledger.audit import (
    as_str,
    postings_frame,
    replay_problem,
    replays_fast,
)
from sim.ledger.book import (
    DEFAULTED,
    ESCROW,
    EXTERNAL,
    PLATFORM_FEES,
    Ledger,
    LedgerError,
    LedgerImbalanceError,
    PreparedPostings,
    borrower,
    lender_free,
    loan_principal,
    pool,
)

__all__ = [
    "DEFAULTED",
    "ESCROW",
    "EXTERNAL",
    "PLATFORM_FEES",
    "Ledger",
    "LedgerError",
    "LedgerImbalanceError",
    "PreparedPostings",
    "as_str",
    "borrower",
    "lender_free",
    "loan_principal",
    "pool",
    "postings_frame",
    "replay_problem",
    "replays_fast",
]

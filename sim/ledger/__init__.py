"""The run's double-entry ledger (accounts, postings, balances) and its replay audit."""

from __future__ import annotations

from sim.ledger.audit import (
    COLUMNS,
    Replay,
    as_str,
    code_arrays,
    postings_frame,
    postings_schema,
    postings_table,
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
    "COLUMNS",
    "DEFAULTED",
    "ESCROW",
    "EXTERNAL",
    "PLATFORM_FEES",
    "Ledger",
    "LedgerError",
    "LedgerImbalanceError",
    "PreparedPostings",
    "Replay",
    "as_str",
    "borrower",
    "code_arrays",
    "lender_free",
    "loan_principal",
    "pool",
    "postings_frame",
    "postings_schema",
    "postings_table",
]

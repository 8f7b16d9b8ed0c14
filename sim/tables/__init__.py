"""The run's event tables: one row type per table, the schemas derived from them, the in-run
event log that streams them to Parquet, and the tables read back from a run's files."""

from __future__ import annotations

from sim.tables.events import (
    SCHEMAS,
    SORT_KEYS,
    EventLog,
)
from sim.tables.files import TABLES, EventTables
from sim.tables.rows import (
    CORE_TABLES,
    FX_TABLES,
    ROW_TYPES,
    AuctionRow,
    DecisionRow,
    FxQuoteRow,
    FxTradeRow,
    LoanRow,
    OfferRow,
    PaymentRow,
    PricingEventRow,
    RequestRow,
)

__all__ = [
    "CORE_TABLES",
    "FX_TABLES",
    "ROW_TYPES",
    "SCHEMAS",
    "SORT_KEYS",
    "TABLES",
    "AuctionRow",
    "DecisionRow",
    "EventLog",
    "EventTables",
    "FxQuoteRow",
    "FxTradeRow",
    "LoanRow",
    "OfferRow",
    "PaymentRow",
    "PricingEventRow",
    "RequestRow",
]

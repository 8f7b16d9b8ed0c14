"""The run's event tables: schemas, sort keys and the in-run event log."""

from __future__ import annotations

from sim.tables.events import (
    SCHEMAS,
    SORT_KEYS,
    EventLog,
)

__all__ = [
    "SCHEMAS",
    "SORT_KEYS",
    "EventLog",
]

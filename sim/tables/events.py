"""Event tables of a run: rows appended as tuples during the simulation, DataFrames at the end.

The hot loop only appends a tuple to a list (:meth:`EventLog.add`); :meth:`EventLog.frames`
builds one ``pandas.DataFrame`` per table with the column order and dtypes of
:data:`SCHEMAS`, rows sorted by the table's key (so the row order never depends on the order
in which simultaneous simpy events ran). Nullable integers use pandas' ``Int64``, optional
strings are ``object`` columns holding ``None``.

Tables (keys in brackets):

- ``requests`` [request_id] — every loan request: arrival, borrower, amount, term, true risk.
- ``decisions`` [request_id] — the engine's decision: model PD, price, approval or reason,
  time to valid price and its parts.
- ``pricing_events`` [event_id] — every pricing attempt with the oracle answer it used.
- ``auctions`` [auction_id] — every auction opened: reserve, close, extensions, clearing,
  confirmation.
- ``offers`` [auction_id, seq] — every commit attempt, accepted or rejected, and its outcome.
- ``loans`` [loan_id] — every confirmed loan, its outcome and its state at the end.
- ``payments`` [loan_id, seq] — every borrower payment (installment, prepayment, recovery).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.tables.rows import ROW_TYPES, dtypes

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SCHEMAS", "SORT_KEYS", "EventLog"]

#: table -> ((column, pandas dtype), ...) in column order, derived from its row type.
SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {table: dtypes(table) for table in ROW_TYPES}

#: table -> columns the rows are sorted by at the end.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "requests": ("request_id",),
    "decisions": ("request_id",),
    "pricing_events": ("event_id",),
    "auctions": ("auction_id",),
    "offers": ("auction_id", "seq"),
    "loans": ("loan_id",),
    "payments": ("loan_id", "seq"),
}


class EventLog:
    """Row buffers for every table in :data:`SCHEMAS` (tuples in column order)."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in SCHEMAS}

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        """Append one row (a tuple in the table's column order)."""
        self.rows[table].append(row)

    def frames(self) -> dict[str, pd.DataFrame]:
        """One DataFrame per table: schema column order and dtypes, rows sorted by key."""
        return {name: build_frame(name, rows) for name, rows in self.rows.items()}


def build_frame(table: str, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """DataFrame of ``rows`` for ``table`` with its schema; raises ``ValueError`` on a row of
    the wrong width."""
    import pandas as pd

    schema = SCHEMAS[table]
    width = len(schema)
    for i, r in enumerate(rows):
        if len(r) != width:
            raise ValueError(f"{table} row {i} has {len(r)} values: schema has {width} columns")
    cols = list(zip(*rows, strict=True)) if rows else [()] * width
    data = {}
    for (name, dtype), values in zip(schema, cols, strict=True):
        data[name] = pd.Series(list(values), dtype=dtype)
    df = pd.DataFrame(data)
    keys = list(SORT_KEYS[table])
    if len(df):
        df = df.sort_values(keys, kind="stable").reset_index(drop=True)
    return df

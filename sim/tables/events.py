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

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SCHEMAS", "SORT_KEYS", "EventLog"]

#: table -> ((column, dtype), ...) in column order.
SCHEMAS: dict[str, tuple[tuple[str, str], ...]] = {
    "requests": (
        ("request_id", "int64"),
        ("t_s", "float64"),
        ("borrower", "object"),
        ("amount_cents", "int64"),
        ("term_months", "int64"),
        ("pd_true", "float64"),
        ("hazard_true", "float64"),
    ),
    "decisions": (
        ("request_id", "int64"),
        ("t_s", "float64"),
        ("decision", "object"),
        ("reason", "object"),
        ("pd_model", "float64"),
        ("amount_requested_cents", "int64"),
        ("amount_approved_cents", "int64"),
        ("r_min_bps", "Int64"),
        ("max_rate_bps", "Int64"),
        ("oracle_status", "object"),
        ("ttvp_ms", "float64"),
        ("decision_ms", "float64"),
        ("network_ms", "float64"),
        ("batch_wait_ms", "float64"),
        ("inference_ms", "float64"),
        ("oracle_ms", "float64"),
        ("pricing_ms", "float64"),
        ("batch_size", "int64"),
        ("attempts", "int64"),
    ),
    "pricing_events": (
        ("event_id", "int64"),
        ("request_id", "int64"),
        ("t_s", "float64"),
        ("attempt", "int64"),
        ("feed", "object"),
        ("oracle_status", "object"),
        ("oracle_price", "float64"),
        ("oracle_age_s", "float64"),
        ("oracle_sources", "object"),
        ("oracle_reason", "object"),
        ("valid", "bool"),
        ("funding_apr", "float64"),
        ("k", "float64"),
        ("pd", "float64"),
        ("r_min_bps", "Int64"),
        ("max_rate_bps", "Int64"),
        ("outcome", "object"),
    ),
    "auctions": (
        ("auction_id", "int64"),
        ("request_id", "int64"),
        ("borrower", "object"),
        ("opened_at", "float64"),
        ("amount_cents", "int64"),
        ("max_rate_bps", "int64"),
        ("term_months", "int64"),
        ("pd_model", "float64"),
        ("cdi", "float64"),
        ("funding_apr", "float64"),
        ("close_at", "float64"),
        ("extensions", "int64"),
        ("commits", "int64"),
        ("rejected_commits", "int64"),
        ("revealed", "int64"),
        ("status", "object"),
        ("clearing_rate_bps", "Int64"),
        ("filled_cents", "int64"),
        ("fee_cents", "int64"),
        ("cleared_at", "float64"),
        ("confirmed_at", "float64"),
        ("insufficient_funds", "int64"),
        ("final_status", "object"),
    ),
    "offers": (
        ("auction_id", "int64"),
        ("seq", "int64"),
        ("offer_id", "object"),
        ("lender", "object"),
        ("strategy", "object"),
        ("amount_cents", "int64"),
        ("rate_bps", "int64"),
        ("committed_at", "float64"),
        ("accepted", "bool"),
        ("reject_reason", "object"),
        ("revealed", "bool"),
        ("outcome", "object"),
        ("allocated_cents", "int64"),
        ("paid_rate_bps", "Int64"),
    ),
    "loans": (
        ("loan_id", "int64"),
        ("request_id", "int64"),
        ("borrower", "object"),
        ("funded_at", "float64"),
        ("principal_cents", "int64"),
        ("fee_cents", "int64"),
        ("rate_bps", "int64"),
        ("term_months", "int64"),
        ("installment_cents", "int64"),
        ("n_lenders", "int64"),
        ("hhi", "float64"),
        ("pool_cents", "int64"),
        ("pd_model", "float64"),
        ("hazard_true", "float64"),
        ("cet_annual", "float64"),
        ("outcome", "object"),
        ("ended_at", "float64"),
        ("missed_at", "float64"),
        ("written_off_at", "float64"),
        ("recovered_cents", "int64"),
        ("written_off_cents", "int64"),
        ("exposure_months", "float64"),
        ("balance_end_cents", "int64"),
        ("accrued_interest_end_cents", "int64"),
        ("dpd_end", "int64"),
    ),
    "payments": (
        ("loan_id", "int64"),
        ("seq", "int64"),
        ("t_s", "float64"),
        ("kind", "object"),
        ("number", "int64"),
        ("amount_cents", "int64"),
        ("interest_cents", "int64"),
        ("principal_cents", "int64"),
        ("balance_after_cents", "int64"),
    ),
}

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

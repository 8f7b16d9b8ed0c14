"""One row type per event table, from which each table's columns, dtypes and Arrow schema are
derived (so a row and its table's column order cannot drift apart).

Each row type is a :class:`typing.NamedTuple` (a plain tuple at run time: as cheap to build and
to store as the positional tuples it replaces) built by keyword where the run records it. The
annotation of each field gives its column's dtype:

==================  ===============  ==========================================================
annotation          pandas dtype     Arrow type (Parquet)
==================  ===============  ==========================================================
``int``             ``int64``        ``int64``
``float``           ``float64``      ``float64`` (NaN where a value is missing)
``bool``            ``bool``         ``bool``
``str``             ``object``       ``string``
``str | None``      ``object``       ``string`` (``None`` missing)
``int | None``      ``Int64``        ``int64`` (``None`` missing)
==================  ===============  ==========================================================
"""

from __future__ import annotations

import typing
from typing import Any, NamedTuple

__all__ = [
    "CORE_TABLES",
    "FX_TABLES",
    "ROW_TYPES",
    "AuctionRow",
    "DecisionRow",
    "FxQuoteRow",
    "FxTradeRow",
    "LoanRow",
    "OfferRow",
    "PaymentRow",
    "PricingEventRow",
    "RequestRow",
    "arrow_schema",
    "columns",
    "dtypes",
]


class RequestRow(NamedTuple):
    """``requests``: one loan request as it arrives."""

    request_id: int
    t_s: float
    borrower: str
    amount_cents: int
    term_months: int
    pd_true: float
    hazard_true: float


class DecisionRow(NamedTuple):
    """``decisions``: the engine's decision on one request and its latency parts (ms)."""

    request_id: int
    t_s: float
    decision: str
    reason: str | None
    pd_model: float
    amount_requested_cents: int
    amount_approved_cents: int
    r_min_bps: int | None
    max_rate_bps: int | None
    oracle_status: str
    ttvp_ms: float
    decision_ms: float
    network_ms: float
    batch_wait_ms: float
    inference_ms: float
    oracle_ms: float
    pricing_ms: float
    batch_size: int
    attempts: int


class PricingEventRow(NamedTuple):
    """``pricing_events``: one pricing attempt and the oracle answer it used."""

    event_id: int
    request_id: int
    t_s: float
    attempt: int
    feed: str
    oracle_status: str
    oracle_price: float
    oracle_age_s: float
    oracle_sources: str
    oracle_reason: str | None
    valid: bool
    funding_apr: float
    k: float
    pd: float
    r_min_bps: int | None
    max_rate_bps: int | None
    outcome: str


class AuctionRow(NamedTuple):
    """``auctions``: one auction in its final state (or its state at the end of the run)."""

    auction_id: int
    request_id: int
    borrower: str
    opened_at: float
    amount_cents: int
    max_rate_bps: int
    term_months: int
    pd_model: float
    cdi: float
    funding_apr: float
    close_at: float
    extensions: int
    commits: int
    rejected_commits: int
    revealed: int
    status: str | None
    clearing_rate_bps: int | None
    filled_cents: int
    fee_cents: int
    cleared_at: float
    confirmed_at: float
    insufficient_funds: int
    final_status: str


class OfferRow(NamedTuple):
    """``offers``: one commit attempt, accepted or rejected, and its outcome."""

    auction_id: int
    seq: int
    offer_id: str
    lender: str
    strategy: str
    amount_cents: int
    rate_bps: int
    committed_at: float
    accepted: bool
    reject_reason: str | None
    revealed: bool
    outcome: str
    allocated_cents: int
    paid_rate_bps: int | None


class LoanRow(NamedTuple):
    """``loans``: one confirmed loan, its outcome and its state at the end."""

    loan_id: int
    request_id: int
    borrower: str
    funded_at: float
    principal_cents: int
    fee_cents: int
    rate_bps: int
    term_months: int
    installment_cents: int
    n_lenders: int
    hhi: float
    pool_cents: int
    pd_model: float
    hazard_true: float
    cet_annual: float
    outcome: str
    ended_at: float
    missed_at: float
    written_off_at: float
    recovered_cents: int
    written_off_cents: int
    exposure_months: float
    balance_end_cents: int
    accrued_interest_end_cents: int
    dpd_end: int


class PaymentRow(NamedTuple):
    """``payments``: one borrower payment (installment, prepayment or recovery)."""

    loan_id: int
    seq: int
    t_s: float
    kind: str
    number: int
    amount_cents: int
    interest_cents: int
    principal_cents: int
    balance_after_cents: int


class FxQuoteRow(NamedTuple):
    """``fx_quotes``: one venue's quote (best bid and ask) and the true USD/BRL mid then."""

    t_s: float
    venue: str
    bid: float
    ask: float
    mid: float
    true_mid: float


class FxTradeRow(NamedTuple):
    """``fx_trades``: one FX trader's market order as filled by a venue, its bulk-classified
    buy volume and the venue's VPIN and exclusion after it (``vpin`` NaN before the first
    bucket)."""

    trade_id: int
    t_s: float
    venue: str
    trader: str
    side: str
    size_usd_cents: int
    price: float
    buy_volume: float
    vpin: float
    excluded: bool


#: table -> its row type, in the order the tables are documented.
ROW_TYPES: dict[str, type[tuple[Any, ...]]] = {
    "requests": RequestRow,
    "decisions": DecisionRow,
    "pricing_events": PricingEventRow,
    "auctions": AuctionRow,
    "offers": OfferRow,
    "loans": LoanRow,
    "payments": PaymentRow,
    "fx_quotes": FxQuoteRow,
    "fx_trades": FxTradeRow,
}
#: the tables of a run with FX enabled only (``fx.enabled``)
FX_TABLES = ("fx_quotes", "fx_trades")
#: the tables of every run
CORE_TABLES = tuple(t for t in ROW_TYPES if t not in FX_TABLES)

#: annotation -> (pandas dtype, Arrow type name)
_DTYPES: dict[Any, tuple[str, str]] = {
    int: ("int64", "int64"),
    float: ("float64", "float64"),
    bool: ("bool", "bool"),
    str: ("object", "string"),
    str | None: ("object", "string"),
    int | None: ("Int64", "int64"),
}


def _kinds(row_type: type) -> tuple[tuple[str, str, str], ...]:
    """``(column, pandas dtype, Arrow type name)`` of each field of ``row_type``, in order."""
    hints = typing.get_type_hints(row_type)
    out = []
    for name in row_type._fields:  # type: ignore[attr-defined]
        kind = _DTYPES.get(hints[name])
        if kind is None:
            raise TypeError(
                f"{row_type.__name__}.{name}={hints[name]!r}: must be one of int, float, bool, "
                "str, str | None, int | None"
            )
        out.append((name, *kind))
    return tuple(out)


_KINDS = {table: _kinds(rt) for table, rt in ROW_TYPES.items()}


def columns(table: str) -> tuple[str, ...]:
    """Column names of ``table``, in order (its row type's fields)."""
    return tuple(name for name, _, _ in _KINDS[table])


def dtypes(table: str) -> tuple[tuple[str, str], ...]:
    """``(column, pandas dtype)`` of ``table``, in column order."""
    return tuple((name, dtype) for name, dtype, _ in _KINDS[table])


def arrow_schema(table: str) -> Any:
    """The ``pyarrow.Schema`` rows of ``table`` are streamed with (every column nullable)."""
    import pyarrow as pa

    types = {"int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    types["string"] = pa.string()
    return pa.schema([(name, types[arrow]) for name, _, arrow in _KINDS[table]])

"""Event tables of a run: rows buffered as the run goes, spooled to Parquet, sorted at the end.

The hot loop only appends a row (one :mod:`sim.tables.rows` type per table, built by keyword)
to a list (``EventLog.rows[table].append``). :meth:`EventLog.flush` turns every buffer of
``flush_rows`` rows or more into one Arrow row group of the table's spool file
(``events/.spool/<table>.parquet``, written by the run's :class:`~sim.tables.stream.WriteQueue`)
and empties it, so memory holds at most one buffer per table. :meth:`EventLog.finish` reads
each spool back one table at a time, sorts its rows by the table's key (so the row order never
depends on the order in which simultaneous simpy events ran, nor on when a row was written),
lets the caller set columns known only at the end, and writes ``events/<table>.parquet``.

Column types are those of the row types; a string column without any value (every row
``None``, or no rows) is written with Arrow's ``null`` type, as pandas' own conversion infers
it, so a table reads back (``pandas.read_parquet``) exactly as a DataFrame of the same rows
written by :func:`sim.run.rundir.write_parquet` would.

Tables (keys in brackets):

- ``requests`` [request_id] — every loan request: arrival, borrower, amount, term, true risk.
- ``decisions`` [request_id] — the engine's decision: model PD, price, approval or reason,
  time to valid price and its parts.
- ``pricing_events`` [event_id] — every pricing attempt with the oracle answer it used.
- ``auctions`` [auction_id] — every auction opened: reserve, close, extensions, clearing,
  confirmation (written when the auction reaches its final state).
- ``offers`` [auction_id, seq] — every commit attempt, accepted or rejected, and its outcome
  (written with its auction).
- ``loans`` [loan_id] — every confirmed loan, its outcome and its state at the end (written
  when the loan ends; loans still outstanding at the end of the run then).
- ``payments`` [loan_id, seq] — every borrower payment (installment, prepayment, recovery).
- ``fx_quotes`` [t_s, venue] — with ``fx.enabled`` only: every quote of every FX venue.
- ``fx_trades`` [trade_id] — with ``fx.enabled`` only: every FX trader's filled order.

A log holds the tables it is given (:data:`sim.tables.rows.CORE_TABLES` by default) and writes
a file for each of them, so a run without FX writes no FX file.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.tables.rows import CORE_TABLES, ROW_TYPES, arrow_schema, dtypes
from sim.tables.stream import ParquetStream, WriteQueue, arrow_table, release_arrow_memory

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SCHEMAS", "SORT_KEYS", "EventLog", "build_frame", "inferred_nulls"]

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
    "fx_quotes": ("t_s", "venue"),
    "fx_trades": ("trade_id",),
}

#: rows a table buffers before :meth:`EventLog.flush` spools them
FLUSH_ROWS = 16_384
#: rows per row group of a final table
SORTED_ROWS = 131_072


class EventLog:
    """Row buffers of ``tables`` (default :data:`sim.tables.rows.CORE_TABLES`), spooled under
    ``events_dir``."""

    __slots__ = ("_spools", "_writes", "events_dir", "flush_rows", "rows")

    def __init__(
        self,
        events_dir: Path,
        queue: WriteQueue,
        flush_rows: int = FLUSH_ROWS,
        tables: Sequence[str] = CORE_TABLES,
    ) -> None:
        if flush_rows < 1:
            raise ValueError(f"flush_rows={flush_rows}: must be >= 1")
        for name in tables:
            if name not in ROW_TYPES:
                raise ValueError(f"tables={name!r}: must be one of {', '.join(ROW_TYPES)}")
        self.events_dir = Path(events_dir)
        self.flush_rows = flush_rows
        self.rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}
        self._writes = queue
        self._spools: dict[str, ParquetStream] = {}

    def flush(self, force: bool = False) -> None:
        """Spool every buffer of ``flush_rows`` rows or more (every non-empty one when
        ``force``) as one row group and empty it."""
        for name, buf in self.rows.items():
            if len(buf) >= self.flush_rows or (force and buf):
                spool = self._spools.get(name)
                if spool is None:
                    path = self.events_dir / ".spool" / f"{name}.parquet"
                    spool = self._spools[name] = ParquetStream(
                        path, arrow_schema(name), self._writes, compression="lz4"
                    )
                spool.write(arrow_table(buf, spool.schema))
                buf.clear()

    def finish(self, set_columns: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        """Write ``events/<table>.parquet`` for every table: the spooled rows and the rows
        still buffered, sorted by key, one table at a time (memory holds one table in Arrow
        form), in row groups of :data:`SORTED_ROWS` rows. ``set_columns[table]`` (if given)
        maps each sorted row group to the one to write (e.g. to set a column known only
        now)."""
        for name, buf in self.rows.items():  # a table that was spooled: the rest too
            if name in self._spools and buf:
                self._spools[name].write(arrow_table(buf, self._spools[name].schema))
                buf.clear()
        for spool in self._spools.values():
            spool.close()
        self._writes.drain()
        for name in self.rows:
            spool = self._spools.get(name)
            if spool is None:  # never spooled: sorted from memory
                table = inferred_nulls(arrow_table(self.rows[name], arrow_schema(name)))
                self.rows[name].clear()
                schema, parts = table.schema, iter([table.take(_sort_order(name, table))])
            else:
                schema, parts = _sorted_parts(name, spool.path)
            final = ParquetStream(self.events_dir / f"{name}.parquet", schema, self._writes)
            for part in parts:
                if set_columns and name in set_columns:
                    part = set_columns[name](part)
                final.write(_with_null_columns(part, schema))
            final.close()
            del parts
            release_arrow_memory()
        self._writes.drain()
        shutil.rmtree(self.events_dir / ".spool", ignore_errors=True)


def _sorted_parts(table_name: str, path: Path) -> tuple[Any, Iterator[Any]]:
    """The final schema of the rows in the Parquet file ``path`` (:func:`inferred_nulls`) and
    the rows sorted by the key of ``table_name`` as tables of :data:`SORTED_ROWS` rows, each
    gathered one column at a time (memory: the sort order, one column and one part)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    spooled = pf.schema_arrow
    order = _sort_order(table_name, pf.read(columns=list(SORT_KEYS[table_name]), use_threads=False))
    n = len(order)
    fields = []
    for i, f in enumerate(spooled):
        if pa.types.is_string(f.type):
            nulls = sum(
                pf.metadata.row_group(g).column(i).statistics.null_count
                for g in range(pf.num_row_groups)
            )
            if nulls == n:
                f = pa.field(f.name, pa.null())
        fields.append(f)

    def parts() -> Iterator[Any]:
        if n <= SORTED_ROWS:  # one part: read at once
            yield pf.read(use_threads=False).take(order)
            return
        for start in range(0, n, SORTED_ROWS):
            rows = order[start : start + SORTED_ROWS]
            columns = []
            for f in spooled:
                columns.append(pf.read(columns=[f.name], use_threads=False).column(0).take(rows))
                release_arrow_memory()
            yield pa.Table.from_arrays(columns, schema=spooled)

    return pa.schema(fields), parts()


def _sort_order(table_name: str, table: Any) -> Any:
    """The row order of ``table`` sorted by the key of ``table_name``."""
    import pyarrow.compute as pc

    return pc.sort_indices(table, sort_keys=[(k, "ascending") for k in SORT_KEYS[table_name]])


def _with_null_columns(part: Any, schema: Any) -> Any:
    """``part`` with the columns ``schema`` types as ``null`` replaced by nulls."""
    import pyarrow as pa

    for i, f in enumerate(schema):
        if pa.types.is_null(f.type) and not pa.types.is_null(part.schema.field(i).type):
            part = part.set_column(i, f, pa.nulls(part.num_rows))
    return part


def inferred_nulls(table: Any) -> Any:
    """``table`` with every string column that holds no value (all null, or no rows) as
    Arrow's ``null`` type: what ``pyarrow.Table.from_pandas`` infers for such an ``object``
    column, so the table reads back into pandas as that DataFrame would."""
    import pyarrow as pa

    for i, f in enumerate(table.schema):
        if pa.types.is_string(f.type) and table.column(i).null_count == table.num_rows:
            table = table.set_column(i, pa.field(f.name, pa.null()), pa.nulls(table.num_rows))
    return table


def build_frame(table: str, rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """In-memory DataFrame of ``rows`` for ``table`` with its schema's dtypes, sorted by key;
    raises ``ValueError`` on a row of the wrong width."""
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

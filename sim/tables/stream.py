"""Tables streamed to Parquet in row groups while a run goes on, written off the critical path.

- :class:`WriteQueue` — one background thread that performs a run's Parquet writes in the
  order they were handed over. Encoding and compressing a row group happens inside pyarrow
  without the GIL, so it overlaps with the simulation on another core; the simulation's thread
  only turns its rows into Arrow columns. At most ``max_pending`` writes wait at any time
  (handing over more waits for the oldest), so the memory held by the queue is bounded, and
  the first error of a write is raised in the simulation's thread at the next hand-over (or at
  :meth:`WriteQueue.drain`).
- :class:`ParquetStream` — one Parquet file written as successive row groups of one schema,
  with the deterministic writer options of :data:`PARQUET_OPTIONS` (the same as the run
  directory's other files), so the bytes depend only on the rows and how they were grouped.
- :func:`arrow_table` — rows (tuples in column order) to an Arrow table of a given schema.
- :func:`release_arrow_memory` — hand the pages Arrow's allocator keeps for reuse back to the
  system (after each row group written and each table read back), so a long run's resident
  memory follows what it holds, not what it once held.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = [
    "PARQUET_OPTIONS",
    "ParquetStream",
    "WriteQueue",
    "arrow_table",
    "release_arrow_memory",
]

#: ``pyarrow.parquet`` writer options of every Parquet file of a run directory: no pandas
#: metadata, no timestamps, so the bytes depend only on the rows (and their row groups).
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


class WriteQueue:
    """Runs write jobs on one background thread, in hand-over order (see the module doc)."""

    def __init__(self, max_pending: int = 4) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending={max_pending}: must be >= 1")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet-writer")
        self._pending: deque[Future[Any]] = deque()
        self._max = max_pending

    def submit(self, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job(*args)`` after the jobs handed over before it; raise the error of an
        earlier job that failed."""
        pending = self._pending
        while pending and (pending[0].done() or len(pending) >= self._max):
            pending.popleft().result()
        pending.append(self._pool.submit(job, *args))

    def drain(self) -> None:
        """Wait for every job handed over so far; raise the first error among them."""
        pending = self._pending
        while pending:
            pending.popleft().result()

    def close(self) -> None:
        """Drop the jobs not started yet, wait for the running one and stop the thread (for
        a run that failed; a run that completes calls :meth:`drain` first)."""
        self._pending.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


class ParquetStream:
    """Row groups of one ``schema`` appended to the Parquet file ``path`` through ``queue``."""

    def __init__(self, path: Path, schema: Any, queue: WriteQueue, **options: Any) -> None:
        import pyarrow.parquet as pq

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows = 0
        self._writes = queue
        self._writer = pq.ParquetWriter(self.path, schema, **{**PARQUET_OPTIONS, **options})

    def write(self, table: Any) -> None:
        """Append ``table`` (an Arrow table of this stream's schema) as one row group (none
        for an empty table)."""
        if not table.schema.equals(self.schema):
            raise ValueError(
                f"{self.path.name} row group schema={table.schema}: must be {self.schema}"
            )
        if table.num_rows:
            self.rows += table.num_rows
            self._writes.submit(self._write, table)

    def _write(self, table: Any) -> None:
        self._writer.write_table(table, table.num_rows)
        del table
        release_arrow_memory()

    def close(self) -> None:
        """Finish the file after the row groups handed over before (through the queue)."""
        self._writes.submit(self._writer.close)


def arrow_table(rows: Sequence[tuple[Any, ...]], schema: Any) -> Any:
    """The Arrow table of ``rows`` (tuples in ``schema``'s column order); raises
    ``ValueError`` when the rows are not all as wide as the schema."""
    import pyarrow as pa

    width = len(schema)
    cols = list(zip(*rows, strict=True)) if rows else [()] * width
    if len(cols) != width:
        raise ValueError(f"rows have {len(cols)} values: schema has {width} columns")
    # from_pandas: a missing float (NaN) is stored as null, as pandas writes it
    arrays = [pa.array(c, type=f.type, from_pandas=True) for c, f in zip(cols, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def release_arrow_memory() -> None:
    """Return the memory Arrow's default pool keeps for reuse to the system (a few µs)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()

"""What a run writes as it goes: its tables streamed into ``<out_dir>/events/``.

:class:`RunRecorder` owns the run's :class:`~sim.tables.stream.WriteQueue` (the background
Parquet writer) and three streams:

- the event tables (:class:`~sim.tables.events.EventLog`): rows spooled as buffers fill,
  sorted by key into ``events/<table>.parquet`` at the end;
- the ledger postings (``events/ledger.parquet``, in posting order): handed over by the
  ledger (:meth:`sim.ledger.book.Ledger.take_postings`, which replays them for its check)
  once ``ledger_rows`` are held;
- the oracle ticks (``events/oracle_ticks.parquet``, in time order): one block per
  ``every_s`` of simulated time (:meth:`sim.world.oracle_service.OracleService.take_ticks`),
  built on the simulation's thread (numpy) and written on the writer's.

:meth:`RunRecorder.process` is the simpy process that does this every ``every_s`` (a
simulated day); :meth:`RunRecorder.finish_streams` writes what is left of the postings and
ticks, :meth:`RunRecorder.finish_tables` the final event tables.
Everything is written inside ``out_dir`` (for ``ce run`` the run's staging directory, so an
interrupted run leaves nothing that looks complete). The row groups depend only on the
simulation, so the files' bytes are deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from market.calendar import DAY_S
from sim.ledger.audit import postings_schema
from sim.tables import events
from sim.tables.rows import CORE_TABLES
from sim.tables.stream import ParquetStream, WriteQueue
from sim.world.ticks import ticks_schema

if TYPE_CHECKING:
    import simpy

    from sim.ledger.book import Ledger
    from sim.world.oracle_service import OracleService

__all__ = ["EVERY_S", "LEDGER_ROWS", "RunRecorder"]

#: simulated time between two flushes (each hands the writer thread a few large jobs: every
#: job costs the simulation's thread a hand-over of the GIL, so they are few and large)
EVERY_S = DAY_S
#: postings the ledger holds before they are handed over and written as one row group
LEDGER_ROWS = 65_536


class RunRecorder:
    """Streams one run's tables into ``out_dir/events`` (see the module docstring)."""

    def __init__(
        self,
        out_dir: Path,
        *,
        every_s: float | None = None,
        ledger_rows: int | None = None,
        flush_rows: int | None = None,
        extra_tables: Sequence[str] = (),
    ) -> None:
        """``every_s``, ``ledger_rows`` and ``flush_rows`` (rows an event table buffers)
        default to :data:`EVERY_S`, :data:`LEDGER_ROWS` and
        :data:`sim.tables.events.FLUSH_ROWS`; they change the row groups, not the rows.
        ``extra_tables`` are event tables written besides the core ones (the FX tables of a
        run with ``fx.enabled``)."""
        every_s = EVERY_S if every_s is None else every_s
        ledger_rows = LEDGER_ROWS if ledger_rows is None else ledger_rows
        flush_rows = events.FLUSH_ROWS if flush_rows is None else flush_rows
        if not every_s > 0:
            raise ValueError(f"every_s={every_s}: must be > 0")
        if ledger_rows < 1:
            raise ValueError(f"ledger_rows={ledger_rows}: must be >= 1")
        # pyarrow imports pandas on its first numpy conversion: do it here, not in the loop
        import pandas  # noqa: F401

        self.events_dir = Path(out_dir) / "events"
        self.every_s = float(every_s)
        self.ledger_rows = ledger_rows
        self.queue = WriteQueue()
        self.log = events.EventLog(
            self.events_dir, self.queue, flush_rows, tables=(*CORE_TABLES, *extra_tables)
        )
        self._postings = ParquetStream(
            self.events_dir / "ledger.parquet", postings_schema(), self.queue
        )
        self._ticks = ParquetStream(
            self.events_dir / "oracle_ticks.parquet", ticks_schema(), self.queue
        )

    def process(
        self, env: simpy.Environment, ledger: Ledger, oracles: OracleService, until: float
    ) -> Generator[Any, Any, None]:
        """Simpy process: every ``every_s`` until ``until``, :meth:`flush`."""
        while env.now + self.every_s < until:
            yield env.timeout(self.every_s)
            self.flush(env.now, ledger, oracles)

    def flush(self, now: float, ledger: Ledger, oracles: OracleService) -> None:
        """Write the event rows buffered enough, the postings if ``ledger_rows`` are held and
        the oracle ticks before ``now``."""
        self.log.flush()
        if ledger.held >= self.ledger_rows:
            self._write_postings(ledger)
        self._ticks.write(oracles.take_ticks(now).arrow())

    def _write_postings(self, ledger: Ledger) -> None:
        self._postings.write(ledger.take_postings())

    def finish_streams(self, end_s: float, ledger: Ledger, oracles: OracleService) -> None:
        """Write the postings left and the oracle ticks up to ``end_s``, and close both files
        (after the last posting; the engine can then be dropped)."""
        self._write_postings(ledger)
        self._ticks.write(oracles.take_ticks(end_s, final=True).arrow())
        self._postings.close()
        self._ticks.close()

    def finish_tables(self, set_columns: Mapping[str, Callable[[Any], Any]] | None = None) -> None:
        """Write the final event tables (after :meth:`finish_streams`) and wait for every
        write."""
        self.log.finish(set_columns)
        self.queue.drain()

    def close(self) -> None:
        """Stop the writer (after :meth:`finish_tables`, or after a failure: pending writes are
        dropped)."""
        self.queue.close()

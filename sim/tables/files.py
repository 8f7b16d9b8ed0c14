"""A run's tables as written in its ``events/`` directory, read back on demand.

:class:`EventTables` is the ``tables`` mapping of :class:`sim.run.simulation.SimResult`: table
name -> the DataFrame ``pandas.read_parquet`` gives for ``events/<name>.parquet`` (read on
first use, then kept), so what a caller sees in process is exactly what the run directory
holds. :meth:`EventTables.read` reads only some columns and :meth:`EventTables.batches` a
table row group by row group (for the KPIs of long runs). A simulation run without an output
directory writes into a temporary one that the mapping owns and removes when it is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.tables.rows import CORE_TABLES, FX_TABLES
from sim.tables.stream import release_arrow_memory

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["TABLES", "EventTables"]

#: every table of every run, in the order of the run directory's documentation
TABLES = (*CORE_TABLES, "oracle_ticks", "ledger")
#: and the tables only some runs write (``fx.enabled``), after them
_ALL = (*TABLES, *FX_TABLES)


class EventTables(Mapping[str, "pd.DataFrame"]):
    """The tables in ``events_dir`` (see the module docstring); ``owner`` is kept alive with
    the mapping (e.g. the temporary directory holding it)."""

    def __init__(self, events_dir: Path, owner: Any = None) -> None:
        self.events_dir = Path(events_dir)
        self._owner = owner
        self._frames: dict[str, pd.DataFrame] = {}

    def path(self, name: str) -> Path:
        """The Parquet file of table ``name``."""
        if name not in _ALL:
            raise KeyError(name)
        return self.events_dir / f"{name}.parquet"

    def __getitem__(self, name: str) -> pd.DataFrame:
        got = self._frames.get(name)
        if got is None:
            got = self._frames[name] = self.read(name)
        return got

    def __iter__(self) -> Iterator[str]:
        return (name for name in _ALL if self.path(name).exists())

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __contains__(self, name: object) -> bool:
        return name in _ALL and self.path(str(name)).exists()

    def read(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Table ``name`` (only ``columns``, when given) as ``pandas.read_parquet`` reads it."""
        import pandas as pd

        cols = list(columns) if columns is not None else None
        frame = pd.read_parquet(self.path(name), columns=cols)
        release_arrow_memory()
        return frame

    def batches(self, name: str, columns: Sequence[str]) -> Iterator[Any]:
        """Table ``name``'s ``columns``, one Arrow table per row group, in row order."""
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path(name))
        for i in range(pf.num_row_groups):
            yield pf.read_row_group(i, columns=list(columns), use_threads=False)
            release_arrow_memory()

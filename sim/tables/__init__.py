"""The run's event tables: one row type per table, the schemas derived from them, the in-run
event log that streams them to Parquet, and the tables read back from a run's files.

Re-exports every public name of :mod:`sim.tables.rows`, :mod:`sim.tables.events` and
:mod:`sim.tables.files` (each module's ``__all__`` is the list).
"""

from __future__ import annotations

from sim.tables import events, files, rows
from sim.tables.events import *  # noqa: F403 - the names of events.__all__
from sim.tables.files import *  # noqa: F403 - the names of files.__all__
from sim.tables.rows import *  # noqa: F403 - the names of rows.__all__

__all__ = [*rows.__all__, *events.__all__, *files.__all__]

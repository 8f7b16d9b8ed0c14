"""One run end to end: ``simulate``, the atomic run directory it is written to, and the audit
of a run directory against its manifest.

Re-exports every public name of :mod:`sim.run.simulation`, :mod:`sim.run.rundir`,
:mod:`sim.run.atomic` and :mod:`sim.run.audit` (each module's ``__all__`` is the list).
"""

from __future__ import annotations

from sim.run import atomic, audit, rundir, simulation
from sim.run.atomic import *  # noqa: F403 - the names of atomic.__all__
from sim.run.audit import *  # noqa: F403 - the names of audit.__all__
from sim.run.rundir import *  # noqa: F403 - the names of rundir.__all__
from sim.run.simulation import *  # noqa: F403 - the names of simulation.__all__

__all__ = [*simulation.__all__, *rundir.__all__, *atomic.__all__, *audit.__all__]

"""The run's double-entry ledger (accounts, postings, balances) and its replay audit.

Re-exports every public name of :mod:`sim.ledger.book` and :mod:`sim.ledger.audit` (each
module's ``__all__`` is the list).
"""

from __future__ import annotations

from sim.ledger import audit, book
from sim.ledger.audit import *  # noqa: F403 - the names of audit.__all__
from sim.ledger.book import *  # noqa: F403 - the names of book.__all__

__all__ = [*book.__all__, *audit.__all__]

"""Oracle aggregation: the median/quorum/fallback aggregator and time-weighted averages.

Re-exports every public name of :mod:`market.oracle.aggregator` and :mod:`market.oracle.twap`
(each module's ``__all__`` is the list).
"""

from __future__ import annotations

from market.oracle import aggregator
from market.oracle import twap as _twap_module
from market.oracle.aggregator import *  # noqa: F403 - the names of aggregator.__all__
from market.oracle.twap import *  # noqa: F403 - the names of twap.__all__

__all__ = [*aggregator.__all__, *_twap_module.__all__]

"""The simulated world: exogenous paths, the oracle service, the FX venues and the world's
wiring."""

from __future__ import annotations

from sim.world.build import (
    World,
    build_world,
    max_observation_delay,
)
from sim.world.fx_venues import FxVenue
from sim.world.oracle_service import (
    FEEDS,
    TICK_COLUMNS,
    OracleService,
)
from sim.world.paths import (
    ExogenousPaths,
    PolicyMeeting,
    build_paths,
)

__all__ = [
    "FEEDS",
    "TICK_COLUMNS",
    "ExogenousPaths",
    "FxVenue",
    "OracleService",
    "PolicyMeeting",
    "World",
    "build_paths",
    "build_world",
    "max_observation_delay",
]

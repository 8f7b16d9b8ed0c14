"""The world's wiring: one run's :class:`World` (simpy environment, exogenous paths, the oracle
feeders that observe them and the oracle service the engine reads, and with ``fx.enabled`` the
USD/BRL venues and the FX traders) built by :func:`build_world`.

Everything random is drawn at build time (paths) or from per-feeder generators (observation
noise), all from the run's :class:`sim.seeds.SeedTree`, so a world is a pure function of
(scenario, seed).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from market.calendar import DAY_S, sim_date
from sim.agents.feeders import Feeder, make_feeders, start_feeders
from sim.agents.fx_traders import FxTraders, start_traders
from sim.tables.rows import FX_TABLES
from sim.world.fx_venues import FxVenue, make_venues, start_venues
from sim.world.oracle_service import OracleService
from sim.world.paths import ExogenousPaths, build_paths

if TYPE_CHECKING:
    import simpy

    from sim.config.scenario import Scenario
    from sim.seeds import SeedTree

__all__ = ["World", "build_world", "max_observation_delay"]


@dataclass
class World:
    """One run's world: simpy ``env``, true ``paths``, ``oracles`` service and ``feeders``;
    ``fx_venues`` and ``fx_traders`` with ``fx.enabled`` (else none)."""

    env: simpy.Environment
    scenario: Scenario
    paths: ExogenousPaths
    oracles: OracleService
    feeders: tuple[Feeder, ...]
    start_date: date
    horizon_s: float
    oracle_end_s: float
    fx_venues: dict[str, FxVenue] = field(default_factory=dict)
    fx_traders: FxTraders | None = None

    def calendar_date(self, t_s: float) -> date:
        """Calendar date of simulated time ``t_s`` (day 0 = ``start_date``)."""
        return sim_date(self.start_date, t_s)


def build_world(
    scenario: Scenario,
    env: simpy.Environment,
    seeds: SeedTree,
    rows: MutableMapping[str, list[Any]] | None = None,
) -> World:
    """Build the world of a run: draw the paths, create the feeders of both feeds, start them as
    simpy processes in ``env`` and wire the :class:`OracleService`; with ``fx.enabled`` also
    start the FX venues and traders over the horizon, writing their rows into ``rows``
    (the run's ``EventLog.rows``; without it, lists of their own).

    Random streams: ``world.cdi``, ``world.usdbrl``, ``oracles.<feed>.<feeder id>`` and
    ``fx.traders.noise``, ``fx.traders.informed``.
    Feeders publish over ``[0, horizon + oracles.tail_s]``; USD/BRL is on its fine grid up to
    there plus a margin for delays, then hourly over the engine's run-off.
    """
    horizon_s = scenario.horizon_days * DAY_S
    oracle_end_s = horizon_s + scenario.oracles.tail_s
    runoff_days = getattr(scenario.engine, "runoff_days", 0)
    end_s = horizon_s + max(runoff_days * DAY_S, scenario.oracles.tail_s) + DAY_S
    max_delay = max_observation_delay(scenario)
    fine_end_s = min(end_s, oracle_end_s + max_delay + 3_600.0)
    paths = build_paths(
        scenario.exogenous,
        scenario.start_date,
        fine_end_s,
        end_s,
        seeds.rng("world.cdi"),
        seeds.rng("world.usdbrl"),
    )
    feeders = make_feeders(scenario.oracles, paths, seeds, oracle_end_s)
    service = OracleService(env, scenario.oracles, feeders, paths)
    start_feeders(env, feeders)
    venues: dict[str, FxVenue] = {}
    traders = None
    if scenario.fx.enabled:
        if rows is None:
            rows = {name: [] for name in FX_TABLES}
        venues = make_venues(scenario.fx, paths, rows)
        traders = FxTraders(env, scenario.fx, venues, paths, seeds, horizon_s)
        start_venues(env, venues, horizon_s)
        start_traders(traders)
    return World(
        env=env,
        scenario=scenario,
        paths=paths,
        oracles=service,
        feeders=tuple(feeders),
        start_date=scenario.start_date,
        horizon_s=horizon_s,
        oracle_end_s=oracle_end_s,
        fx_venues=venues,
        fx_traders=traders,
    )


def max_observation_delay(scenario: Scenario) -> float:
    """Largest delay (delay + lag) any feeder of the scenario observes the paths with."""
    out = 0.0
    for feed in (scenario.oracles.cdi, scenario.oracles.usdbrl):
        lag = max((f.lag_s or 0.0 for f in feed.faults), default=0.0)
        d = max(f.delay_s for f in (*feed.primary, *feed.secondary))
        out = max(out, d + lag)
    return out

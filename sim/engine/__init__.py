"""The simulated CreditEngine (issue 3): decision core, pricing, auction runner, loans and
payments, latency model and event tables.

Modules: :mod:`~sim.engine.core` (the :class:`~sim.engine.core.Engine` wiring one run),
:mod:`~sim.engine.decision` (one process per request), :mod:`~sim.engine.pricing` (funding
cost and quotes from fresh oracle inputs), :mod:`~sim.engine.auctions` (one process per
auction over ``market.auction.lifecycle``), :mod:`~sim.engine.loans` (one process per loan),
:mod:`~sim.engine.latency`, :mod:`~sim.tables.events`, :mod:`~sim.engine.cet_fast`.
Run a scenario with :func:`sim.run.simulation.simulate`.
"""

"""Agents of the simulated world (simpy processes): oracle feeders (``sim.agents.feeders``),
borrowers, lenders and the liquidity pool. Import from the concrete modules."""

"""Run one scenario end to end: ``simulate(scenario) -> SimResult``.

One ``SeedTree(seed)`` feeds every component. The PD model is the scenario's registered ONNX
model (trained on first use by :func:`sim.model.ensure_model`) served by onnxruntime through
the dynamic batcher. The simpy environment runs the world (feeders, oracle service), the
request arrivals over ``horizon_days``, the auctions they open and the loans they fund, and
then the loans alone for ``engine.runoff_days``.

Result: ``tables`` (the event tables of :mod:`sim.tables.events` plus ``oracle_ticks`` and
``ledger``), ``kpis`` (:func:`sim.kpis.compute_kpis`), ``targets``
(:meth:`KpiTargets.to_targets`), ``seed_tree``, ``model`` and ``stats`` (``events`` = simpy
events processed, ``requests``, ``wall_s`` = the whole call = ``setup_s`` (model load, world
build, arrivals and populations drawn, engine wired) + ``sim_wall_s`` (``env.run``: the event
loop) + ``finish_s`` (sink close, CETs, ledger check, tables, KPIs); ``events_per_s`` and
``requests_per_s`` over ``sim_wall_s``; batcher and sink stats, ...). Raises :class:`sim.ledger.book.LedgerImbalanceError` when the books do not
balance at the end.

The attestation ``sink`` defaults to :class:`sim.attest.NullSink` (no chain); the CLI passes
``sim.attest.make_sink(scenario.chain, state_dir)``. The engine calls ``sink.tick`` four
times per ``chain.batch_interval_s`` while records can still arrive (until every auction can
have ended; never for a ``NullSink``) and ``sink.close`` with that time just before the KPIs,
so that a sink attesting in another process overlaps the finishing work.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from market.calendar import DAY_S
from sim.engine.cet_fast import cet_annual_many
from sim.engine.loans import Loan

if TYPE_CHECKING:
    import pandas as pd

    from sim.attest import AttestationSink
    from sim.config.scenario import Scenario

__all__ = ["SimResult", "simulate"]


@dataclass
class SimResult:
    """Everything one run produced (see the module docstring)."""

    tables: dict[str, pd.DataFrame]
    kpis: dict[str, Any]
    targets: dict[str, dict[str, float]]
    seed_tree: dict[str, Any]
    model: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


def _events_processed(env: Any) -> int:
    """simpy events processed so far: events scheduled (simpy's id counter) minus queued."""
    eid = getattr(env, "_eid", None)
    queue = getattr(env, "_queue", None)
    if eid is None or queue is None:  # pragma: no cover - other simpy versions
        return -1
    return next(eid) - len(queue)


def attestation_end_s(scenario: Scenario) -> float:
    """Last time a record can be made: the horizon plus the longest auction (TTL with every
    extension, reveal window, confirmation) plus one hour of margin."""
    a = scenario.auction
    longest = a.ttl_s + a.max_extensions * a.snipe_extension_s + a.reveal_window_s
    return scenario.horizon_days * DAY_S + longest + scenario.engine.confirmation_delay_s + 3600.0


def _loan_cets(loans: list[Loan]) -> dict[int, float]:
    """Contract CET of every loan (received = principal - fee; payments = the schedule on its
    due dates), vectorised; see :mod:`sim.engine.cet_fast`."""
    if not loans:
        return {}
    m = max(ln.term_months for ln in loans)
    n = len(loans)
    pay = np.zeros((n, m))
    days = np.zeros((n, m))
    rec = np.empty(n)
    for i, ln in enumerate(loans):
        k = ln.term_months
        pay[i, :k] = [ln.installment(j)[0] for j in range(1, k + 1)]
        days[i, :k] = [(t - ln.funded_at) / DAY_S for t in ln.due_s]
        rec[i] = ln.principal_cents - ln.fee_cents
    cet = cet_annual_many(rec, pay, days)
    return {ln.loan_id: float(c) for ln, c in zip(loans, cet.tolist(), strict=True)}


@contextlib.contextmanager
def _cyclic_gc_paused():
    """Pause CPython's cyclic garbage collector for the duration (restored on exit, also on
    error). A run keeps millions of long-lived objects (ledger postings, table rows, loans)
    and makes almost no reference cycles (baseline: 15 objects found by 13 full collections),
    so the collector's periodic traversals are pure overhead, about a fifth of the wall time.
    Reference counting still frees everything else at once.

    On exit the objects made meanwhile go straight to the oldest generation (``gc.freeze()``
    then ``gc.unfreeze()``), as they would have after surviving two collections: re-enabling
    the collector with them all in the youngest generation would make its next collection
    traverse every one of them (~1 s for the baseline). The next full collection, under
    CPython's usual rule, still finds any cycle among them."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def simulate(
    scenario: Scenario,
    *,
    seed: int | None = None,
    sink: AttestationSink | None = None,
    progress: Callable[[float], None] | None = None,
    models_dir: Path = Path("models"),
) -> SimResult:
    """Run ``scenario`` (seed: ``seed`` or the scenario's) and return its :class:`SimResult`.

    The cyclic garbage collector is paused while it runs (see :func:`_cyclic_gc_paused`)."""
    with _cyclic_gc_paused():
        return _simulate(scenario, seed=seed, sink=sink, progress=progress, models_dir=models_dir)


def _simulate(
    scenario: Scenario,
    *,
    seed: int | None,
    sink: AttestationSink | None,
    progress: Callable[[float], None] | None,
    models_dir: Path,
) -> SimResult:
    import simpy

    from sim.attest import NullSink
    from sim.engine.core import Engine
    from sim.kpis import compute_kpis
    from sim.model import ensure_model
    from sim.model.serving import PDScorer
    from sim.seeds import SeedTree
    from sim.world import build_world

    wall0 = time.perf_counter()
    run_seed = scenario.seed if seed is None else seed
    seeds = SeedTree(run_seed)
    handle = ensure_model(scenario, models_dir)
    scorer = PDScorer(handle.path, expected_sha256=handle.sha256)
    sink = sink if sink is not None else NullSink()
    env = simpy.Environment()
    world = build_world(scenario, env, seeds)
    eng = Engine(scenario, env, world, seeds, scorer=scorer, sink=sink)
    eng.start()

    horizon_s = scenario.horizon_days * DAY_S
    end_s = horizon_s + scenario.engine.runoff_days * DAY_S
    att_end = min(attestation_end_s(scenario), max(end_s, horizon_s))
    # a batch is sealed at the first tick after its oldest record is batch_interval_s old:
    # ticking 4x per interval bounds inclusion latency by 1.25 intervals (NullSink: no ticks)
    tick_s = max(1.0, float(scenario.chain.batch_interval_s) / 4.0)

    def ticker():
        while env.now + tick_s <= att_end:
            yield env.timeout(tick_s)
            sink.tick(env.now)

    if not isinstance(sink, NullSink):
        env.process(ticker())
    if progress is not None:

        def reporter():
            step = max(DAY_S, end_s / 200.0)
            while env.now < end_s:
                yield env.timeout(min(step, end_s - env.now))
                progress(env.now / end_s)

        env.process(reporter())

    sim0 = time.perf_counter()
    setup_s = sim0 - wall0
    env.run(until=end_s)
    sim_wall = time.perf_counter() - sim0
    events = _events_processed(env)
    if eng.pool is not None and eng.pool_utilisation is None:
        # run(until=horizon) with no run-off stops before the window's own event at horizon_s
        eng.pool_utilisation = eng.pool.utilisation(horizon_s)

    cets = _loan_cets(eng.loans.loans)
    eng.finish(end_s, lambda loan: cets.get(loan.loan_id, float("nan")))
    eng.ledger.check()

    tables = eng.log.frames()
    tables["oracle_ticks"] = world.oracles.ticks_frame(upto=end_s)
    tables["ledger"] = eng.ledger.table()
    pool_info = None
    if eng.pool is not None:
        pool = eng.pool
        pool_info = {
            "capital_cents": pool.deposited_cents,
            "tokens": pool.tokens,
            "utilisation": eng.pool_utilisation,
            "nav_per_token": pool.nav_per_token(eng.ledger.balance(pool.account)),
            "lender": pool.lender_id,
            "account": pool.account,
        }
    attest_stats = dict(sink.close(att_end))
    kpis = compute_kpis(
        tables,
        horizon_s=horizon_s,
        end_s=end_s,
        lgd=scenario.engine.lgd,
        pool=pool_info,
        attest=attest_stats if scenario.chain.backend != "off" else None,
    )
    wall = time.perf_counter() - wall0
    n_req = len(eng.arrivals)
    stats = {
        "events": events,
        "requests": n_req,
        "wall_s": wall,
        "setup_s": setup_s,
        "sim_wall_s": sim_wall,
        "finish_s": wall - setup_s - sim_wall,
        "events_per_s": events / sim_wall if sim_wall > 0 else float("nan"),
        "requests_per_s": n_req / sim_wall if sim_wall > 0 else float("nan"),
        "auctions": len(eng.auctions),
        "loans": len(eng.loans.loans),
        "postings": len(eng.ledger),
        "oracle_reads": world.oracles.reads,
        "batcher": eng.batcher.stats(),
        "attestation": attest_stats,
        "simulated_days": end_s / DAY_S,
    }
    return SimResult(
        tables=tables,
        kpis=kpis,
        targets=scenario.kpi_targets.to_targets(),
        seed_tree=seeds.as_dict(),
        model=handle.as_dict(),
        stats=stats,
    )

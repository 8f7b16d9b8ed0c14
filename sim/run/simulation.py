"""Run one scenario end to end: ``simulate(scenario) -> SimResult``.

One ``SeedTree(seed)`` feeds every component. The PD model is the scenario's registered ONNX
model (trained on first use by :func:`sim.model.ensure_model`) served by onnxruntime through
the dynamic batcher. The simpy environment runs the world (feeders, oracle service), the
request arrivals over ``horizon_days``, the auctions they open and the loans they fund, and
then the loans alone for ``engine.runoff_days``.

The tables stream to ``<out_dir>/events/*.parquet`` as the run goes
(:class:`sim.run.recorder.RunRecorder`); only live state (open auctions, outstanding loans,
balances) stays in memory. ``out_dir`` defaults to a temporary directory owned by the result.
Result: ``tables`` (:class:`sim.tables.files.EventTables`: the event tables of
:mod:`sim.tables.events` plus ``oracle_ticks`` and ``ledger``, read back from those files on
first use), ``kpis`` (:func:`sim.kpis.compute_kpis`, from the files' columns), ``targets``
(:meth:`KpiTargets.to_targets`), ``seed_tree``, ``model`` and ``stats`` (``events`` = simpy
events processed, ``requests``, ``wall_s`` = the whole call = ``setup_s`` (model load, world
build, arrivals and populations drawn, engine wired) + ``sim_wall_s`` (``env.run``: the event
loop, which also streams the tables) + ``finish_s`` (sink close, the rows left, loan CETs,
final event tables, ledger check, KPIs); ``events_per_s`` and ``requests_per_s`` over
``sim_wall_s``; batcher and sink stats, ...). Raises
:class:`sim.ledger.book.LedgerImbalanceError` when the books do not balance at the end.

The attestation ``sink`` defaults to :class:`sim.attest.NullSink` (no chain); the CLI passes
``sim.attest.make_sink(scenario.chain, state_dir)``. The engine calls ``sink.tick`` four
times per ``chain.batch_interval_s`` while records can still arrive (until every auction can
have ended; never for a ``NullSink``) and ``sink.close`` with that time just before the KPIs,
so that a sink attesting in another process overlaps the finishing work.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import simpy

from market.calendar import DAY_S
from sim.tables.files import EventTables

if TYPE_CHECKING:
    import pandas as pd

    from sim.attest import AttestationSink
    from sim.config.scenario import Scenario
    from sim.ledger.book import Ledger
    from sim.run.recorder import RunRecorder
    from sim.seeds import SeedTree

__all__ = ["SimResult", "simulate"]


@dataclass
class SimResult:
    """Everything one run produced (see the module docstring)."""

    tables: Mapping[str, pd.DataFrame]
    kpis: dict[str, Any]
    targets: dict[str, dict[str, float]]
    seed_tree: dict[str, Any]
    model: dict[str, Any]
    stats: dict[str, Any] = field(default_factory=dict)


def run_counting(env: simpy.Environment, until: float) -> int:
    """Process every event of ``env`` before ``until`` (as ``env.run(until=until)`` does) and
    return how many, through simpy's public ``peek`` and ``step``."""
    peek, step = env.peek, env.step
    n = 0
    while peek() < until:
        step()
        n += 1
    return n


def attestation_end_s(scenario: Scenario) -> float:
    """Last time a record can be made: the horizon plus the longest auction (TTL with every
    extension, reveal window, confirmation) plus one hour of margin."""
    a = scenario.auction
    longest = a.ttl_s + a.max_extensions * a.snipe_extension_s + a.reveal_window_s
    return scenario.horizon_days * DAY_S + longest + scenario.engine.confirmation_delay_s + 3600.0


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
    out_dir: Path | None = None,
) -> SimResult:
    """Run ``scenario`` (seed: ``seed`` or the scenario's) and return its :class:`SimResult`;
    the tables are written to ``out_dir/events/`` (default: a temporary directory that lives
    as long as the result's ``tables``).

    The cyclic garbage collector is paused while it runs (see :func:`_cyclic_gc_paused`)."""
    owner = None
    if out_dir is None:
        owner = tempfile.TemporaryDirectory(prefix="ce-run-")
        out_dir = Path(owner.name)
    with _cyclic_gc_paused():
        result = _simulate(
            scenario,
            seed=seed,
            sink=sink,
            progress=progress,
            models_dir=models_dir,
            out_dir=Path(out_dir),
        )
    result.tables = EventTables(Path(out_dir) / "events", owner=owner)
    return result


@dataclass
class _Engined:
    """What the finish needs of a run once its engine is dropped."""

    ledger: Ledger
    cets: Mapping[int, float]
    pool: dict[str, Any] | None
    loop_start: float  # time.perf_counter() when the event loop started
    sim_wall_s: float
    events: int
    requests: int
    counts: dict[str, Any]  # auctions, loans, oracle reads, batcher stats


def _simulate(
    scenario: Scenario,
    *,
    seed: int | None,
    sink: AttestationSink | None,
    progress: Callable[[float], None] | None,
    models_dir: Path,
    out_dir: Path,
) -> SimResult:
    from sim.attest import NullSink
    from sim.kpis import compute_kpis
    from sim.model import ensure_model
    from sim.run.recorder import RunRecorder
    from sim.seeds import SeedTree
    from sim.tables.rows import FX_TABLES

    wall0 = time.perf_counter()
    run_seed = scenario.seed if seed is None else seed
    seeds = SeedTree(run_seed)
    handle = ensure_model(scenario, models_dir)
    sink = sink if sink is not None else NullSink()
    horizon_s = scenario.horizon_days * DAY_S
    end_s = horizon_s + scenario.engine.runoff_days * DAY_S
    att_end = min(attestation_end_s(scenario), max(end_s, horizon_s))
    recorder = RunRecorder(out_dir, extra_tables=FX_TABLES if scenario.fx.enabled else ())
    try:
        done = _run_engine(scenario, seeds, handle, sink, progress, recorder, end_s, att_end)
        # the engine's live state (simpy processes, loans, auctions: reference cycles) is
        # freed before the final tables and the KPIs, so the finish adds to the ledger alone
        gc.collect()
        recorder.finish_tables({"loans": _cet_column(done.cets)})
    finally:
        recorder.close()
    done.ledger.check()
    attest_stats = dict(sink.close(att_end))
    kpis = compute_kpis(
        EventTables(recorder.events_dir),
        horizon_s=horizon_s,
        end_s=end_s,
        lgd=scenario.engine.lgd,
        pool=done.pool,
        attest=attest_stats if scenario.chain.backend != "off" else None,
    )
    wall = time.perf_counter() - wall0
    setup_s, sim_wall = done.loop_start - wall0, done.sim_wall_s
    stats = {
        "events": done.events,
        "requests": done.requests,
        "wall_s": wall,
        "setup_s": setup_s,
        "sim_wall_s": sim_wall,
        "finish_s": wall - setup_s - sim_wall,
        "events_per_s": done.events / sim_wall if sim_wall > 0 else float("nan"),
        "requests_per_s": done.requests / sim_wall if sim_wall > 0 else float("nan"),
        "auctions": done.counts["auctions"],
        "loans": done.counts["loans"],
        "postings": len(done.ledger),
        "oracle_reads": done.counts["oracle_reads"],
        "batcher": done.counts["batcher"],
        "attestation": attest_stats,
        "simulated_days": end_s / DAY_S,
    }
    return SimResult(
        tables=EventTables(recorder.events_dir),
        kpis=kpis,
        targets=scenario.kpi_targets.to_targets(),
        seed_tree=seeds.as_dict(),
        model=handle.as_dict(),
        stats=stats,
    )


def _run_engine(
    scenario: Scenario,
    seeds: SeedTree,
    handle: Any,
    sink: AttestationSink,
    progress: Callable[[float], None] | None,
    recorder: RunRecorder,
    end_s: float,
    att_end: float,
) -> _Engined:
    """Build the world and the engine, run the event loop to ``end_s``, write the rows of
    what is still open and the rest of the streams; return only what the finish needs."""
    from sim.attest import NullSink
    from sim.engine.core import Engine
    from sim.model.serving import PDScorer
    from sim.world import build_world

    scorer = PDScorer(handle.path, expected_sha256=handle.sha256)
    env = simpy.Environment()
    world = build_world(scenario, env, seeds, rows=recorder.log.rows)
    eng = Engine(scenario, env, world, seeds, scorer=scorer, sink=sink, log=recorder.log)
    eng.start()
    horizon_s = scenario.horizon_days * DAY_S
    # a batch is sealed at the first tick after its oldest record is batch_interval_s old:
    # ticking 4x per interval bounds inclusion latency by 1.25 intervals (NullSink: none)
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
    env.process(recorder.process(env, eng.ledger, world.oracles, end_s))

    sim0 = time.perf_counter()
    events = run_counting(env, end_s)
    sim_wall = time.perf_counter() - sim0
    if eng.pool is not None and eng.pool_utilisation is None:
        # run(until=horizon) with no run-off stops before the window's own event at horizon_s
        eng.pool_utilisation = eng.pool.utilisation(horizon_s)
    eng.finish(end_s)
    cets = eng.cets.solve()
    recorder.finish_streams(end_s, eng.ledger, world.oracles)
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
    counts = {
        "auctions": eng.auctions_opened,
        "loans": eng.loans.originated,
        "oracle_reads": world.oracles.reads,
        "batcher": eng.batcher.stats(),
    }
    return _Engined(
        ledger=eng.ledger,
        cets=cets,
        pool=pool_info,
        loop_start=sim0,
        sim_wall_s=sim_wall,
        events=events,
        requests=len(eng.arrivals),
        counts=counts,
    )


def _cet_column(cets: Mapping[int, float]) -> Callable[[Any], Any]:
    """Sets the ``cet_annual`` column of the (sorted) ``loans`` Arrow table from ``cets``."""

    def set_cet(table: Any) -> Any:
        import pyarrow as pa

        ids = table.column("loan_id").to_pylist()
        values = pa.array([cets[i] for i in ids], type=pa.float64())
        i = table.schema.get_field_index("cet_annual")
        return table.set_column(i, table.schema.field(i), values)

    return set_cet

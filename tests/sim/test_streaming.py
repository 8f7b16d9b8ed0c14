"""Streaming a run's tables (sim/tables/*, sim/run/recorder.py): the row types give the
schemas, the streamed files read back as the in-memory tables would, the row groups do not
change the rows, and an interrupted run leaves nothing that looks complete."""

from __future__ import annotations

import gc
import threading
import typing
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sim.run.recorder as recorder_mod
import sim.tables.events as events_mod
from sim.config.scenario import load_scenario
from sim.kpis import compute_kpis
from sim.run.rundir import RunStage, write_parquet
from sim.run.simulation import simulate
from sim.sweep.runner import RunSpec, run_one
from sim.tables.events import SCHEMAS, build_frame
from sim.tables.files import TABLES, EventTables
from sim.tables.rows import CORE_TABLES, ROW_TYPES, arrow_schema, columns, dtypes
from sim.tables.stream import WriteQueue, arrow_table
from tests.sim._killed_run import kill_a_streaming_run

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = REPO_ROOT / "models"
TINY = ["horizon_days=0.4", "borrowers.arrivals_per_day=300", "engine.runoff_days=40"]


def tiny(*extra: str):
    return load_scenario("small", [*TINY, *extra])


# ----------------------------------------------------------------------------- row types

_VALUES = {
    int: st.integers(-(2**40), 2**40),
    float: st.floats(allow_nan=True, allow_infinity=False, width=64),
    bool: st.booleans(),
    str: st.text(max_size=6),
    str | None: st.none() | st.text(max_size=6),
    int | None: st.none() | st.integers(-(2**40), 2**40),
}


@st.composite
def _rows(draw, table: str) -> list[tuple]:
    row_type = ROW_TYPES[table]
    hints = typing.get_type_hints(row_type)
    n = draw(st.integers(0, 6))
    # a column is sometimes all None (written as Arrow's null type, as pandas infers it)
    nones = draw(st.sets(st.sampled_from(row_type._fields)))
    out = []
    for _ in range(n):
        values = {}
        for name in row_type._fields:
            kind = hints[name]
            if name in nones and kind in (str | None, int | None):
                values[name] = None
            else:
                values[name] = draw(_VALUES[kind])
        out.append(row_type(**values))
    return out


def test_row_types_give_each_table_its_columns_and_dtypes() -> None:
    assert tuple(ROW_TYPES) == tuple(SCHEMAS) and TABLES[: len(CORE_TABLES)] == CORE_TABLES
    for table, row_type in ROW_TYPES.items():
        assert columns(table) == row_type._fields == tuple(c for c, _ in SCHEMAS[table])
        assert arrow_schema(table).names == list(row_type._fields)
        assert dict(dtypes(table)).keys() == set(row_type._fields)
    assert dict(dtypes("decisions"))["r_min_bps"] == "Int64"
    assert dict(dtypes("offers"))["accepted"] == "bool"


@settings(max_examples=40, deadline=None)
@given(data=st.data(), table=st.sampled_from(sorted(ROW_TYPES)))
def test_streamed_rows_read_back_as_the_dataframe_of_the_same_rows(data, table, tmp_path_factory):
    """Rows streamed through the event log (spooled in row groups, sorted at the end) read
    back exactly as the DataFrame of the same rows written by write_parquet: same column
    order, dtypes (all-None and empty string columns included) and values."""
    rows = data.draw(_rows(table))
    flush_rows = data.draw(st.integers(1, 4))
    d = tmp_path_factory.mktemp("rows")
    queue = WriteQueue()
    log = events_mod.EventLog(d / "events", queue, flush_rows, tables=tuple(ROW_TYPES))
    monkeypatched = events_mod.SORTED_ROWS
    events_mod.SORTED_ROWS = data.draw(st.integers(1, 3))  # several sorted row groups
    try:
        for row in rows:
            log.rows[table].append(row)
            log.flush()
        log.finish()
    finally:
        events_mod.SORTED_ROWS = monkeypatched
        queue.close()
    write_parquet(build_frame(table, rows), d / "frame.parquet")
    pd.testing.assert_frame_equal(
        pd.read_parquet(d / "events" / f"{table}.parquet"), pd.read_parquet(d / "frame.parquet")
    )
    assert not (d / "events" / ".spool").exists()


def test_a_row_of_the_wrong_width_is_refused() -> None:
    with pytest.raises(ValueError, match="schema has 9 columns"):
        arrow_table([(1, 2)], arrow_schema("payments"))
    with pytest.raises(ValueError):
        arrow_table([(1,) * 9, (1,) * 8], arrow_schema("payments"))


# ----------------------------------------------------------------------------- a run


def _tables(res) -> dict[str, pd.DataFrame]:
    return {name: res.tables[name] for name in res.tables}


def test_row_groups_change_no_row_and_no_kpi(monkeypatch) -> None:
    """A run flushing every row, every posting and every 10 minutes writes the same tables
    and KPIs as one with the default buffers (which here flush only at the end)."""
    sc = tiny()
    default = simulate(sc, models_dir=MODELS)
    monkeypatch.setattr(events_mod, "FLUSH_ROWS", 1)
    monkeypatch.setattr(recorder_mod, "LEDGER_ROWS", 1)
    monkeypatch.setattr(recorder_mod, "EVERY_S", 600.0)
    eager = simulate(sc, models_dir=MODELS)
    assert list(default.tables) == list(TABLES) == list(eager.tables)
    a, b = _tables(default), _tables(eager)
    for name in TABLES:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)
    assert default.kpis == eager.kpis
    assert len(a["loans"]) > 10 and len(a["payments"]) > 10 and len(a["oracle_ticks"]) > 1000
    assert pq.ParquetFile(eager.tables.path("ledger")).num_row_groups > 10
    assert pq.ParquetFile(default.tables.path("ledger")).num_row_groups == 1


def test_tables_are_the_files_read_back_and_kpis_the_same_from_frames(tmp_path) -> None:
    res = simulate(tiny(), models_dir=MODELS, out_dir=tmp_path)
    assert isinstance(res.tables, EventTables) and res.tables.events_dir == tmp_path / "events"
    assert sorted(p.name for p in (tmp_path / "events").iterdir()) == sorted(
        f"{t}.parquet" for t in TABLES
    )
    for name in TABLES:
        pd.testing.assert_frame_equal(
            res.tables[name], pd.read_parquet(tmp_path / "events" / f"{name}.parquet")
        )
    frames = _tables(res)
    sc = tiny()
    kw = {
        "horizon_s": sc.horizon_days * 86_400.0,
        "end_s": (sc.horizon_days + sc.engine.runoff_days) * 86_400.0,
        "lgd": sc.engine.lgd,
    }
    assert compute_kpis(frames, **kw) == compute_kpis(res.tables, **kw)
    loans = frames["loans"]
    assert loans["cet_annual"].notna().all() and (loans["cet_annual"] > 0).all()
    assert loans["loan_id"].is_monotonic_increasing


def test_a_temporary_output_lives_as_long_as_the_tables() -> None:
    res = simulate(tiny("engine.runoff_days=0"), models_dir=MODELS)
    events = res.tables.events_dir
    assert (events / "loans.parquet").exists() and not (events / ".spool").exists()
    tables = res.tables
    del res
    gc.collect()
    assert (events / "loans.parquet").exists()
    del tables
    gc.collect()
    assert not events.parent.exists()


def test_run_directory_keeps_the_streamed_tables_as_written(tmp_path) -> None:
    out = run_one(RunSpec("small", (*TINY[:2], "engine.runoff_days=0"), (), 7), tmp_path,
                  models_dir=MODELS, keep_result=True)  # fmt: skip
    run = Path(out.run_dir)
    assert sorted(p.name for p in run.iterdir()) == [
        "events",
        "kpis.json",
        "manifest.json",
        "scenario.yaml",
    ]
    assert out.result.tables.events_dir == run / "events"
    assert len(out.result.tables["requests"]) > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ----------------------------------------------------------------------------- interruptions


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("parquet-writer")]


def test_an_interrupted_run_removes_its_staging_and_its_writer(tmp_path) -> None:
    def interrupt(fraction: float) -> None:
        if fraction > 0.3:
            raise KeyboardInterrupt

    before = len(_writer_threads())
    spec = RunSpec("small", tuple(TINY), (), 7)
    with pytest.raises(KeyboardInterrupt):
        run_one(spec, tmp_path, models_dir=MODELS, progress=interrupt)
    assert list(tmp_path.iterdir()) == []  # no run directory, no staging
    assert len(_writer_threads()) == before


def test_a_killed_run_leaves_only_a_staging_directory(tmp_path) -> None:
    """SIGKILL in the middle of a run (nothing can clean up): what is left is a hidden
    .staging-* directory without a manifest, never a run directory."""
    kill_a_streaming_run(tmp_path)
    left = list(tmp_path.iterdir())
    assert left and all(p.name.startswith(".staging-") for p in left)
    assert not any(tmp_path.glob(".staging-*/manifest.json"))
    assert not any(tmp_path.glob(".staging-*/kpis.json"))


def test_stage_writes_frames_it_was_not_streamed(tmp_path) -> None:
    """A result whose tables are DataFrames (not streamed into the stage) is written."""

    class Result:
        def __init__(self) -> None:
            self.tables = {"requests": build_frame("requests", [])}
            self.kpis = {"x": 1}
            self.targets: dict = {}
            self.seed_tree: dict = {}
            self.model: dict = {}
            self.stats: dict = {}

    sc = tiny()
    with RunStage(tmp_path, "r") as stage:
        stage.write_result(sc, 7, Result())
    got = pd.read_parquet(tmp_path / "r" / "events" / "requests.parquet")
    assert list(got.columns) == [c for c, _ in SCHEMAS["requests"]] and len(got) == 0

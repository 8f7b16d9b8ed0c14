"""A missing float is stored as null in the streamed Parquet, as pandas writes it, so SQL
readers (DuckDB) see NULL, not NaN."""

from __future__ import annotations

import math

import pyarrow as pa

from sim.tables.stream import arrow_table


def test_missing_floats_are_null() -> None:
    schema = pa.schema([("t_s", pa.float64()), ("note", pa.string())])
    table = arrow_table([(1.0, "a"), (math.nan, None)], schema)
    assert table["t_s"].null_count == 1 and table["note"].null_count == 1

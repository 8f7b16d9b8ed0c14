"""``sim.run.attested.bind_records``: the order rules it derives and the one it cannot."""

from __future__ import annotations

import pytest

from chain.evidence import EvidenceError, RecordRow
from chain.records import canonical_json
from sim.run.attested import Expected, TableRecords, bind_records

#: o1 and o2 were committed at the same instant, o3 later
COMMITTED_AT = {"7-1": 10.0, "7-2": 10.0, "7-3": 12.5}


def _clearing(excluded: list[str]) -> dict:
    return {
        "auction_id": 7,
        "stage": "clear",
        "status": "UNFILLED",
        "clearing_rate_bps": None,
        "paid_rate": "uniform",
        "filled_cents": 0,
        "fee_cents": 0,
        "allocations": [],
        "excluded": [{"offer_id": o, "reason": "BELOW_MIN_OFFER"} for o in excluded],
    }


def _tables() -> TableRecords:
    want = Expected(_clearing(["7-1", "7-2", "7-3"]), 100.5, "events/auctions.parquet auction_id=7")
    return TableRecords({("clearing", (7, "clear")): want}, COMMITTED_AT, [])


def _record(payload: dict, sim_time: int = 100) -> RecordRow:
    return RecordRow(0, "clearing", canonical_json(payload), bytes(32), sim_time, 0)


def test_offers_committed_at_the_same_instant_may_come_in_either_order() -> None:
    bind_records([_record(_clearing(["7-2", "7-1", "7-3"]))], _tables(), "records.jsonl")
    bind_records([_record(_clearing(["7-1", "7-2", "7-3"]))], _tables(), "records.jsonl")


@pytest.mark.parametrize("order", [["7-1", "7-3", "7-2"], ["7-3", "7-1", "7-2"], ["7-1", "7-2"]])
def test_excluded_offers_out_of_commit_order_or_missing_are_found(order) -> None:
    with pytest.raises(EvidenceError, match=r"^records.jsonl line 1 \(clearing auction_id=7 "):
        bind_records([_record(_clearing(order))], _tables(), "records.jsonl")


def test_time_key_kind_and_coverage_are_checked() -> None:
    tables = _tables()
    with pytest.raises(EvidenceError, match=r"sim_time=101: events/auctions\.parquet auction_id=7"):
        bind_records([_record(_clearing(["7-1", "7-2", "7-3"]), 101)], tables, "r")
    with pytest.raises(EvidenceError, match="no record of r attests it"):
        bind_records([], tables, "r")
    twice = [_record(_clearing(["7-1", "7-2", "7-3"]))] * 2
    twice[1] = RecordRow(1, "clearing", twice[0].payload, bytes(32), 100, 0)
    with pytest.raises(
        EvidenceError, match=r"line 2: clearing auction_id=7 stage=clear: attested twice"
    ):
        bind_records(twice, tables, "r")
    odd = RecordRow(0, "fx_fixing", canonical_json({"x": 1}), bytes(32), 100, 0)
    with pytest.raises(EvidenceError, match="kind='fx_fixing': the engine makes no such record"):
        bind_records([odd], tables, "r")
    deep = RecordRow(0, "clearing", "[" * 100 + "]" * 100, bytes(32), 100, 0)
    with pytest.raises(EvidenceError, match="payload: not JSON"):
        bind_records([deep], tables, "r")

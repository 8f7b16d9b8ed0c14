"""The records a run attests, re-derived from its event tables, and the check that a bridge
folder's records are exactly those.

The engine (:mod:`sim.engine.core`) makes three kinds of record, each from values that its
event tables also keep:

- ``price`` -- one per ``pricing_events`` row, at its ``t_s``: ``event_id``, ``request_id``,
  ``attempt``, ``oracle_status``, ``cdi`` (``oracle_price``), ``oracle_age_s``, ``valid``,
  ``pd``, ``r_min_bps``, ``max_rate_bps``, ``outcome`` (a missing float is ``null``);
- ``decision`` -- one per ``decisions`` row, at its ``t_s``: ``request_id``, ``borrower`` (the
  ``requests`` row's), ``decision``, ``reason``, ``pd`` (``pd_model``), ``amount_cents``
  (``amount_approved_cents``), ``max_rate_bps``, ``ttvp_ms``;
- ``clearing`` -- per cleared auction, ``stage: clear`` at its ``cleared_at``: the clearing of
  its accepted offers (``offers`` rows, in commit order; an unrevealed one has amount and rate
  0) for its request (``auctions`` row) under the scenario's auction rules, re-run here with
  the spec's reference clearing; and, when winners were dropped at confirmation (offers whose
  outcome is ``INSUFFICIENT_FUNDS``), ``stage: confirm`` ``confirmation_delay_s`` later: the
  clearing without them, those offers excluded as ``INSUFFICIENT_FUNDS``.

:func:`bind_records` compares the bridge's records with these, in seq order, and raises
:class:`chain.evidence.EvidenceError` at the first record that is not one of them (naming the
field, the record's value and the table's), attested twice, out of time order, or at the first
row no record attests. It then checks that the tables' final auction state (``auctions``:
``status``, ``clearing_rate_bps``, ``filled_cents``, ``fee_cents``, ``insufficient_funds``;
``offers``: ``outcome``, ``allocated_cents``, ``paid_rate_bps``) is the last attested clearing.

Not derived: the order of two excluded offers committed at the same instant (it follows the
engine's wake order), which is only checked to be by commit time; table columns outside the
list above are not attested, so the chain cannot vouch for them (``manifest.json`` does, and
nothing outside the run anchors it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from chain.evidence import EvidenceError, RecordRow, parse_json, plain_file
from chain.records import canonical_json, sim_time_int
from market.auction.clearing_reference import clear_reference
from market.auction.types import AuctionRequest, AuctionRules, ClearingResult, Exclusion, Offer

__all__ = ["Expected", "TableRecords", "bind_records", "expected_records"]

_TABLES = ("pricing_events", "decisions", "requests", "auctions", "offers")
_COLUMNS: dict[str, tuple[str, ...]] = {
    "pricing_events": (
        "event_id",
        "request_id",
        "t_s",
        "attempt",
        "oracle_status",
        "oracle_price",
        "oracle_age_s",
        "valid",
        "pd",
        "r_min_bps",
        "max_rate_bps",
        "outcome",
    ),
    "decisions": (
        "request_id",
        "t_s",
        "decision",
        "reason",
        "pd_model",
        "amount_approved_cents",
        "max_rate_bps",
        "ttvp_ms",
    ),
    "requests": ("request_id", "borrower"),
    "auctions": (
        "auction_id",
        "borrower",
        "opened_at",
        "amount_cents",
        "max_rate_bps",
        "term_months",
        "status",
        "clearing_rate_bps",
        "filled_cents",
        "fee_cents",
        "cleared_at",
        "confirmed_at",
        "insufficient_funds",
        "final_status",
    ),
    "offers": (
        "auction_id",
        "seq",
        "offer_id",
        "lender",
        "amount_cents",
        "rate_bps",
        "committed_at",
        "accepted",
        "revealed",
        "outcome",
        "allocated_cents",
        "paid_rate_bps",
    ),
}
#: columns that may hold null (missing)
_NULLABLE = frozenset(
    {
        "oracle_price",
        "oracle_age_s",
        "pd",
        "pd_model",
        "r_min_bps",
        "max_rate_bps",
        "reason",
        "ttvp_ms",
        "status",
        "clearing_rate_bps",
        "cleared_at",
        "confirmed_at",
        "paid_rate_bps",
    }
)
#: payload field -> the table column it comes from, where the names differ (for messages)
_SOURCE = {
    "price": {"cdi": "oracle_price"},
    "decision": {"pd": "pd_model", "amount_cents": "amount_approved_cents"},
}
_TABLE_OF = {"price": "pricing_events", "decision": "decisions", "clearing": "auctions"}
_INSUFFICIENT = "INSUFFICIENT_FUNDS"


@dataclass(frozen=True, slots=True)
class Expected:
    """One record the tables say the run made: its payload, when, and the row it comes from
    (``source``, e.g. ``events/pricing_events.parquet event_id=5``)."""

    payload: dict[str, Any]
    t_s: float
    source: str


def _f(x: float | None) -> float | None:
    """The engine's JSON-safe float: None for missing or NaN."""
    return None if x is None or x != x else float(x)


def _read_table(events: Path, table: str) -> dict[str, list[Any]]:
    """The columns of ``table`` this module reads, as lists; each of its schema type."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sim.tables.rows import arrow_schema

    path = events / f"{table}.parquet"
    where = f"events/{table}.parquet"
    plain_file(path, where)
    names = _COLUMNS[table]
    try:
        data = pq.read_table(path, columns=list(names))
    except (OSError, ValueError, pa.ArrowException) as err:
        detail = " ".join(str(err).split())[:160]
        raise EvidenceError(f"{where}: not a readable table of these columns ({detail})") from None
    schema = arrow_schema(table)
    out: dict[str, list[Any]] = {}
    for name in names:
        column = data.column(name)
        want = schema.field(name).type
        if column.type != want:
            raise EvidenceError(f"{where}: column {name} is {column.type}, must be {want}")
        if name not in _NULLABLE and column.null_count:
            raise EvidenceError(f"{where}: column {name} has {column.null_count} missing values")
        out[name] = column.to_pylist()
    return out


def _rows(table: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = list(table)
    return [dict(zip(names, values, strict=True)) for values in zip(*table.values(), strict=True)]


def _clearing(
    request: AuctionRequest, offers: Sequence[Offer], rules: AuctionRules, where: str
) -> ClearingResult:
    try:
        return clear_reference(request, offers, rules)
    except (ValueError, ArithmeticError) as err:
        raise EvidenceError(f"{where}: cannot be cleared again ({err})") from None


def _auction_records(
    auction: dict[str, Any],
    offers: list[dict[str, Any]],
    rules: AuctionRules,
    delay_s: float,
    out: dict[tuple[str, Any], Expected],
) -> ClearingResult:
    """Add the clearing records of one cleared auction to ``out``; return its final result."""
    aid = auction["auction_id"]
    where = f"events/auctions.parquet auction_id={aid}"
    accepted = sorted(
        (o for o in offers if o["accepted"]), key=lambda o: (o["committed_at"], o["seq"])
    )
    try:
        request = AuctionRequest(
            auction_id=aid,
            borrower=auction["borrower"],
            amount_cents=auction["amount_cents"],
            max_rate_bps=auction["max_rate_bps"],
            term_months=auction["term_months"],
            opened_at=auction["opened_at"],
        )
        revealed = [
            Offer(
                offer_id=o["offer_id"],
                lender=o["lender"],
                amount_cents=o["amount_cents"] if o["revealed"] else 0,
                rate_bps=o["rate_bps"] if o["revealed"] else 0,
                committed_at=o["committed_at"],
                revealed=o["revealed"],
            )
            for o in accepted
        ]
    except ValueError as err:
        raise EvidenceError(f"{where}: its request or offers are not valid ({err})") from None
    result = _clearing(request, revealed, rules, where)
    cleared_at = auction["cleared_at"]
    payload = {"auction_id": aid, "stage": "clear", **result.to_dict()}
    _add(out, ("clearing", (aid, "clear")), Expected(payload, cleared_at, where))
    gone = {o["offer_id"] for o in accepted if o["outcome"] == _INSUFFICIENT}
    if not gone:
        return result
    kept = [o for o in revealed if o.offer_id not in gone]
    after = _clearing(request, kept, rules, where)
    reasons = {e.offer_id: e.reason for e in after.excluded}
    excluded = tuple(
        Exclusion(o.offer_id, _INSUFFICIENT if o.offer_id in gone else reasons[o.offer_id])
        for o in revealed
        if o.offer_id in gone or o.offer_id in reasons
    )
    after = replace(after, excluded=excluded)
    confirmed = _f(auction["confirmed_at"])
    t_s = confirmed if confirmed is not None else cleared_at + delay_s
    payload = {"auction_id": aid, "stage": "confirm", **after.to_dict()}
    _add(out, ("clearing", (aid, "confirm")), Expected(payload, t_s, where))
    return after


@dataclass
class TableRecords:
    """What a run's event tables say it attested (see the module docstring).

    ``expected`` maps each record's key -- ``("price", event_id)``, ``("decision",
    request_id)``, ``("clearing", (auction_id, stage))`` -- to the record; ``committed_at``
    maps an offer id to its commit time."""

    expected: dict[tuple[str, Any], Expected]
    committed_at: dict[str, float]
    #: per cleared auction: its row, its offers' rows and its last clearing
    finals: list[tuple[dict[str, Any], list[dict[str, Any]], ClearingResult]]

    def check_final_state(self) -> None:
        """The tables' final state of every cleared auction is its last attested clearing."""
        for auction, offers, result in self.finals:
            _check_final(auction, offers, result)


def expected_records(
    run_dir: Path, rules: AuctionRules, confirmation_delay_s: float
) -> TableRecords:
    """The records the event tables of ``run_dir`` say the run made, under the scenario's
    auction ``rules`` and ``confirmation_delay_s``."""
    events = Path(run_dir) / "events"
    t = {name: _read_table(events, name) for name in _TABLES}
    out: dict[tuple[str, Any], Expected] = {}
    for r in _rows(t["pricing_events"]):
        eid = r["event_id"]
        payload = {
            "event_id": eid,
            "request_id": r["request_id"],
            "attempt": r["attempt"],
            "oracle_status": r["oracle_status"],
            "cdi": _f(r["oracle_price"]),
            "oracle_age_s": _f(r["oracle_age_s"]),
            "valid": r["valid"],
            "pd": r["pd"],
            "r_min_bps": r["r_min_bps"],
            "max_rate_bps": r["max_rate_bps"],
            "outcome": r["outcome"],
        }
        where = f"events/pricing_events.parquet event_id={eid}"
        _add(out, ("price", eid), Expected(payload, r["t_s"], where))
    borrower = dict(zip(t["requests"]["request_id"], t["requests"]["borrower"], strict=True))
    for r in _rows(t["decisions"]):
        rid = r["request_id"]
        where = f"events/decisions.parquet request_id={rid}"
        if rid not in borrower:
            raise EvidenceError(f"{where}: no row of events/requests.parquet has this request")
        payload = {
            "request_id": rid,
            "borrower": borrower[rid],
            "decision": r["decision"],
            "reason": r["reason"],
            "pd": r["pd_model"],
            "amount_cents": r["amount_approved_cents"],
            "max_rate_bps": r["max_rate_bps"],
            "ttvp_ms": _f(r["ttvp_ms"]),
        }
        _add(out, ("decision", rid), Expected(payload, r["t_s"], where))
    offers: dict[int, list[dict[str, Any]]] = {}
    for o in _rows(t["offers"]):
        offers.setdefault(o["auction_id"], []).append(o)
    committed_at = dict(zip(t["offers"]["offer_id"], t["offers"]["committed_at"], strict=True))
    finals = []
    for a in _rows(t["auctions"]):
        if a["status"] is None:
            continue  # still open at the end of the run: never cleared, nothing attested
        if _f(a["cleared_at"]) is None:
            raise EvidenceError(
                f"events/auctions.parquet auction_id={a['auction_id']}: status={a['status']!r}: "
                "must be missing while cleared_at is"
            )
        mine = offers.get(a["auction_id"], [])
        finals.append((a, mine, _auction_records(a, mine, rules, confirmation_delay_s, out)))
    return TableRecords(expected=out, committed_at=committed_at, finals=finals)


def _add(out: dict, key: tuple[str, Any], expected: Expected) -> None:
    if key in out:
        raise EvidenceError(f"{expected.source}: appears twice in its table")
    out[key] = expected


def _check_final(auction: dict[str, Any], offers: list[dict[str, Any]], result: ClearingResult):
    """The tables' final state of a cleared auction must be its last attested clearing."""
    aid = auction["auction_id"]
    where = f"events/auctions.parquet auction_id={aid}"
    gone = sum(1 for o in offers if o["accepted"] and o["outcome"] == _INSUFFICIENT)
    want = {
        "status": result.status,
        "clearing_rate_bps": result.clearing_rate_bps,
        "filled_cents": result.filled_cents,
        "fee_cents": result.fee_cents,
        "insufficient_funds": gone,
    }
    for column, value in want.items():
        if auction[column] != value:
            raise EvidenceError(
                f"{where}: {column}={auction[column]!r}: the attested clearing gives {value!r}"
            )
    alloc = {a.offer_id: a for a in result.allocations}
    excl = {e.offer_id: e.reason for e in result.excluded}
    won = "ALLOCATED" if auction["final_status"] == "FUNDED" else "WON"
    for o in offers:
        a = alloc.get(o["offer_id"])
        if not o["accepted"]:
            outcome = "REJECTED"
        elif a is not None:
            outcome = won
        else:
            outcome = excl.get(o["offer_id"], "PENDING")
        want = {
            "outcome": outcome,
            "allocated_cents": a.amount_cents if a else 0,
            "paid_rate_bps": a.rate_bps if a else None,
        }
        for column, value in want.items():
            if o[column] != value:
                raise EvidenceError(
                    f"events/offers.parquet offer_id={o['offer_id']}: {column}={o[column]!r}: "
                    f"the attested clearing of auction {aid} gives {value!r}"
                )


#: record kind -> the payload fields that identify a record of that kind
_KEY_FIELDS = {
    "price": ("event_id",),
    "decision": ("request_id",),
    "clearing": ("auction_id", "stage"),
}


def _key(record: RecordRow, payload: Any, where: str) -> tuple[tuple[str, Any], str]:
    """The record's key in :attr:`TableRecords.expected` and a label naming it."""
    fields = _KEY_FIELDS.get(record.kind)
    if fields is None:
        raise EvidenceError(
            f"{where}: kind={record.kind!r}: the engine makes no such record (price, decision, "
            "clearing)"
        )
    if not isinstance(payload, dict) or any(f not in payload for f in fields):
        raise EvidenceError(
            f"{where}: payload: not a {record.kind} payload (no {', '.join(fields)})"
        )
    values = tuple(payload[f] for f in fields)
    if any(isinstance(v, dict | list | float) for v in values):
        raise EvidenceError(f"{where}: payload: {fields[0]}={values[0]!r}: not an id")
    label = " ".join(f"{f}={v}" for f, v in zip(fields, values, strict=True))
    return (record.kind, values[0] if len(values) == 1 else values), f"{record.kind} {label}"


def _tie_normal(payload: dict[str, Any], committed_at: dict[str, float]) -> dict[str, Any]:
    """A clearing payload whose excluded offers are in commit order, with those committed at
    the same instant put in offer id order (theirs is the engine's wake order, not derived);
    any other payload as it is."""
    excluded = payload.get("excluded")
    if not isinstance(excluded, list) or not all(
        isinstance(e, dict) and isinstance(e.get("offer_id"), str) and e["offer_id"] in committed_at
        for e in excluded
    ):
        return payload
    times = [committed_at[e["offer_id"]] for e in excluded]
    if any(a > b for a, b in pairwise(times)):
        return payload
    order = sorted(excluded, key=lambda e: (committed_at[e["offer_id"]], e["offer_id"]))
    return {**payload, "excluded": order}


def _show(value: Any) -> str:
    text = _canonical({"v": value})
    text = "?" if text is None else text[5:-1]
    return text if len(text) <= 80 else text[:77] + "..."


def _first_difference(got: dict[str, Any], want: dict[str, Any]) -> str:
    """The first field (in key order) where two payloads differ; "" when none does."""
    for name in sorted(set(got) | set(want)):
        if name not in got or name not in want:
            return name
        if _canonical({"v": got[name]}) != _canonical({"v": want[name]}):
            return name
    return ""


def _canonical(payload: Any) -> str | None:
    try:
        return canonical_json(payload)
    except ValueError:
        return None


def bind_records(records: Sequence[RecordRow], tables: TableRecords, where: str) -> None:
    """Check that ``records`` (read from ``where``, the records file) are exactly the records
    of ``tables``, each once, in time order (see the module docstring)."""
    expected, times = tables.expected, tables.committed_at
    seen: dict[tuple[str, Any], int] = {}
    last_t = 0
    last_event = -1
    for r in records:
        at = f"{where} line {r.seq + 1}"
        payload = parse_json(r.payload, f"{at}: payload")
        key, what = _key(r, payload, at)
        exp = expected.get(key)
        if exp is None:
            table = _TABLE_OF[r.kind]
            raise EvidenceError(f"{at}: {what}: no row of events/{table}.parquet makes it")
        if key in seen:
            raise EvidenceError(f"{at}: {what}: attested twice (first on line {seen[key] + 1})")
        seen[key] = r.seq
        try:
            want_text = canonical_json(exp.payload)
            want_t = sim_time_int(exp.t_s)
        except ValueError as err:
            raise EvidenceError(f"{exp.source}: not attestable ({err})") from None
        if r.kind == "clearing":
            same = r.payload == _canonical(payload) and _canonical(
                _tie_normal(payload, times)
            ) == _canonical(_tie_normal(exp.payload, times))
        else:
            same = r.payload == want_text
        if not same:
            name = _first_difference(payload, exp.payload)
            if not name:
                raise EvidenceError(
                    f"{at} ({what}): payload: not the canonical JSON text of {exp.source}"
                )
            got, want = _show(payload.get(name)), _show(exp.payload.get(name))
            source = _SOURCE.get(r.kind, {}).get(name, name)
            raise EvidenceError(
                f"{at} ({what}): {name}={got}: {exp.source} gives {want} ({source})"
            )
        if r.sim_time != want_t:
            raise EvidenceError(
                f"{at} ({what}): sim_time={r.sim_time}: {exp.source} happened at {exp.t_s!r} s"
            )
        if r.sim_time < last_t:
            raise EvidenceError(
                f"{at} ({what}): sim_time={r.sim_time}: before the record above it ({last_t})"
            )
        last_t = r.sim_time
        if r.kind == "price":
            if key[1] <= last_event:
                raise EvidenceError(
                    f"{at} ({what}): after price event_id={last_event}: price records follow "
                    "their event ids"
                )
            last_event = key[1]
    missing = next((k for k in expected if k not in seen), None)
    if missing is not None:
        raise EvidenceError(f"{expected[missing].source}: no record of {where} attests it")

"""The ``oracle_ticks`` table: feeder publications and oracle answers, built block by block.

A block is every publication of every feeder in a time window plus the answers read in it,
ordered by ``t_s`` (one stable sort: at equal ``t_s`` publications in feeder order, then
answers in read order). :class:`~sim.world.oracle_service.OracleService` builds the whole
table as one block (``ticks_frame``) or, in a run, one block per window as time goes on
(``take_ticks``): consecutive windows give the same rows, in the same order, as one block.

String columns are codes into :class:`TickCategories`, one ordered, append-only category list
per column starting with ``""``. When publications are recorded the publication columns start
with every configured feeder's values in feeder order (``feed``, ``source``, ``role``,
``publish``, the fault names); then each new value is appended when first written (answers in
read order), so the categories are the same whether the table is built at once or in blocks.

Columns (one schema for both kinds; "—" marks the empty value)
-----------------------------------------------------------------
=================  =========  ======================================  ======================
column             dtype      publish row                             answer row
=================  =========  ======================================  ======================
``t_s``            float64    publication time                        read time (``now``)
``feed``           str        ``cdi`` / ``usdbrl``                    same
``kind``           str        ``publish``                             ``answer``
``source``         str        feeder id                               ""
``role``           str        ``primary`` / ``secondary``             ""
``price``          float64    published value                         answer price (NaN: NO_PRICE)
``true_price``     float64    true path value at ``t_s``              same
``value_t_s``      float64    path time the value reflects            NaN
                              (``t − delay − lag``; freeze: its start)
``age_s``          float64    ``t_s − value_t_s``                     answer ``age_s`` (NaN: none)
``fault``          str        active fault (``freeze``/``lag``/       ""
                              ``lie``; "" none)
``status``         str        ""                                      OK / FALLBACK_TWAP /
                                                                      FAILOVER / NO_PRICE
``sources``        str        ""                                      used source ids, ``,``-joined
``n_fresh``        int64      -1                                      fresh primary sources
``reason``         str        ""                                      why not OK ("" when OK)
``divergence_red`` bool       False                                   divergence watch is red
=================  =========  ======================================  ======================

CDI prices are annual fractions (0.149), USD/BRL in BRL per USD.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from sim.agents.feeders import FAULT_NAMES, Feeder

__all__ = [
    "STR_COLUMNS",
    "TICK_COLUMNS",
    "Answer",
    "PendingTicks",
    "TickCategories",
    "tick_block",
    "ticks_arrow",
    "ticks_schema",
]

TICK_COLUMNS = (
    "t_s",
    "feed",
    "kind",
    "source",
    "role",
    "price",
    "true_price",
    "value_t_s",
    "age_s",
    "fault",
    "status",
    "sources",
    "n_fresh",
    "reason",
    "divergence_red",
)
STR_COLUMNS = ("feed", "kind", "source", "role", "fault", "status", "sources", "reason")
_FLOAT_COLUMNS = ("t_s", "price", "true_price", "value_t_s", "age_s")


class Answer(NamedTuple):
    """One distinct oracle read: an ``answer`` row of the ticks."""

    t_s: float
    feed: str
    price: float
    true_price: float
    age_s: float
    status: str
    sources: str
    n_fresh: int
    reason: str
    divergence_red: bool


class TickCategories:
    """The ordered category list of every string column (see the module docstring)."""

    def __init__(self, feeders: Sequence[Feeder], record_publications: bool) -> None:
        self._codes: dict[str, dict[str, int]] = {c: {"": 0} for c in STR_COLUMNS}
        if record_publications:
            for f in feeders:
                for col, value in (("feed", f.feed), ("source", f.id), ("role", f.role)):
                    self.code(col, value)
            if feeders:
                self.code("kind", "publish")
                for name in FAULT_NAMES:
                    self.code("fault", name)

    def code(self, column: str, value: str) -> int:
        """The code of ``value`` in ``column`` (appended when new)."""
        codes = self._codes[column]
        got = codes.get(value)
        if got is None:
            got = codes[value] = len(codes)
        return got

    def codes(self, column: str, values: Sequence[str]) -> np.ndarray:
        """int32 codes of ``values`` in ``column``, appending the new ones in order."""
        code = self.code
        return np.fromiter((code(column, v) for v in values), dtype=np.int32, count=len(values))

    def categories(self, column: str) -> list[str]:
        """The categories of ``column`` so far, in code order."""
        return list(self._codes[column])


def tick_block(
    parts: Sequence[tuple[Feeder, dict[str, np.ndarray]]],
    answers: Sequence[Answer],
    cats: TickCategories,
    true_many: Callable[[str], Callable[[np.ndarray], np.ndarray]],
) -> dict[str, np.ndarray]:
    """The rows of ``parts`` (each feeder with its publication columns ``t_s, value,
    value_t_s, fault`` in the window, in feeder order) and ``answers`` (read order), ordered
    by ``t_s`` (stable: parts, then answers); string columns as int32 codes into ``cats``.
    ``true_many(feed)`` gives the true path of a feed at many times.

    Built without per-row Python over the publications: the parts are laid out once, ordered
    by one stable sort on ``t_s``, and each column is gathered once; the columns that are
    constant per feeder come from a per-part code table and the answer-only columns are
    scattered onto the answer rows."""
    parts = [(f, pub) for f, pub in parts if len(pub["t_s"])]
    per_part: dict[str, list[int]] = {"feed": [], "kind": [], "source": [], "role": []}
    for f, _ in parts:
        per_part["feed"].append(cats.code("feed", f.feed))
        per_part["kind"].append(cats.code("kind", "publish"))
        per_part["source"].append(cats.code("source", f.id))
        per_part["role"].append(cats.code("role", f.role))
    fault_codes = np.zeros(len(FAULT_NAMES), dtype=np.int32)
    if parts:
        fault_codes = cats.codes("fault", FAULT_NAMES)
    m = len(answers)
    ans: dict[str, np.ndarray] = {}
    if m:
        cols = list(zip(*answers, strict=True))
        get = dict(zip(Answer._fields, cols, strict=True)).__getitem__
        ans = {c: np.asarray(get(c), dtype=np.float64) for c in _FLOAT_COLUMNS if c != "value_t_s"}
        for c in ("feed", "status", "sources", "reason"):
            ans[c] = cats.codes(c, get(c))
        ans["n_fresh"] = np.asarray(get("n_fresh"), dtype=np.int64)
        ans["divergence_red"] = np.asarray(get("divergence_red"), dtype=bool)
        per_part["feed"].append(0)  # per answer, scattered below
        per_part["kind"].append(cats.code("kind", "answer"))
        per_part["source"].append(0)
        per_part["role"].append(0)
    lengths = [len(pub["t_s"]) for _, pub in parts] + ([m] if m else [])
    n = sum(lengths)
    t_all = np.empty(n)
    price = np.empty(n)
    true_price = np.empty(n)
    value_t = np.empty(n)
    fault = np.zeros(n, dtype=np.int8)
    at = 0
    for f, pub in parts:
        b = at + len(pub["t_s"])
        t_all[at:b] = pub["t_s"]
        price[at:b] = pub["value"]
        true_price[at:b] = true_many(f.feed)(pub["t_s"])
        value_t[at:b] = pub["value_t_s"]
        fault[at:b] = pub["fault"]
        at = b
    if m:
        t_all[at:] = ans["t_s"]
        price[at:] = ans["price"]
        true_price[at:] = ans["true_price"]
        value_t[at:] = math.nan
    order = np.argsort(t_all, kind="stable")
    part = np.repeat(np.arange(len(lengths), dtype=np.intp), lengths)[order]
    out: dict[str, np.ndarray] = {"t_s": t_all[order]}
    for c, codes in per_part.items():
        out[c] = np.asarray(codes, dtype=np.int32)[part]
    out["price"] = price[order]
    out["true_price"] = true_price[order]
    out["value_t_s"] = value_t[order]
    out["age_s"] = out["t_s"] - out["value_t_s"]
    out["fault"] = fault_codes[fault[order]]
    for c in ("status", "sources", "reason"):
        out[c] = np.zeros(n, dtype=np.int32)
    out["n_fresh"] = np.full(n, -1, dtype=np.int64)
    out["divergence_red"] = np.zeros(n, dtype=bool)
    if m:
        pos = np.flatnonzero(part == len(lengths) - 1)
        i = order[pos] - at  # answer index of each answer row, in table order
        for c in ("feed", "age_s", "status", "sources", "n_fresh", "reason", "divergence_red"):
            out[c][pos] = ans[c][i]
    return {c: out[c] for c in TICK_COLUMNS}


@dataclass(frozen=True, slots=True)
class PendingTicks:
    """A block taken from the oracle service, to be built (:meth:`build`) later, possibly on
    another thread: the publications are read-only views that stay valid, the answers a list
    of their own. Blocks sharing ``categories`` must be built in the order they were taken."""

    parts: tuple[tuple[Feeder, dict[str, np.ndarray]], ...]
    answers: tuple[Answer, ...]
    categories: TickCategories
    true_many: Callable[[str], Callable[[np.ndarray], np.ndarray]]

    def build(self) -> dict[str, np.ndarray]:
        """The block's columns (:func:`tick_block`)."""
        return tick_block(self.parts, self.answers, self.categories, self.true_many)

    def arrow(self) -> Any:
        """The block as an Arrow table (:func:`ticks_arrow`)."""
        return ticks_arrow(self.build(), self.categories)


def ticks_arrow(block: dict[str, np.ndarray], cats: TickCategories) -> Any:
    """A block as an Arrow table of :func:`ticks_schema` (string columns dictionary-encoded
    with every category so far, so consecutive blocks read back as one categorical)."""
    import pyarrow as pa

    schema = ticks_schema()
    arrays = []
    for c in TICK_COLUMNS:
        if c in STR_COLUMNS:
            dictionary = pa.array(cats.categories(c), type=pa.string())
            arrays.append(pa.DictionaryArray.from_arrays(pa.array(block[c]), dictionary))
        else:  # from_pandas: a missing value (NaN) is stored as null, as pandas writes it
            arrays.append(pa.array(block[c], from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def ticks_schema() -> Any:
    """The Arrow schema of the ticks (string columns as dictionaries of int32 codes)."""
    import pyarrow as pa

    text = pa.dictionary(pa.int32(), pa.string())
    types = {c: text for c in STR_COLUMNS}
    types.update({c: pa.float64() for c in _FLOAT_COLUMNS})
    types["n_fresh"] = pa.int64()
    types["divergence_red"] = pa.bool_()
    return pa.schema([(c, types[c]) for c in TICK_COLUMNS])

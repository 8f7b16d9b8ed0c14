"""The oracle service the engine reads: feeders' latest publications -> ``market.oracle.aggregator``.

``OracleService.read(feed, now)`` builds the :class:`market.oracle.aggregator.SourceState` of every
primary and secondary feeder of ``feed`` (its newest publication at or before ``now``) and calls
:func:`market.oracle.aggregator.aggregate`. The TWAP history is the aggregator's own **rounds**: every
``aggregator.round_s`` seconds (``t = j·round_s``) the primary set is aggregated, and the rounds
that were ``OK`` are the ``(t, price)`` history. Rounds are computed lazily (only when a read
lacks a primary quorum, and only those inside ``twap_window_s + twap_max_age_s``) and cached, so a
read's answer is a pure function of the publications and ``now`` — it never depends on which
reads happened before. Reads at the same ``(feed, now)`` return the cached answer.

Every distinct read is recorded as an ``answer`` row of the oracle ticks; every feeder
publication is a ``publish`` row (unless ``oracles.record_publications: false``: a 30-day run
has ~2.8 M publications, ~23 MB of Parquet). :meth:`OracleService.ticks_columns` returns the table as
numpy columns (fast), :meth:`ticks_rows` as dicts, :meth:`ticks_frame` as a pandas DataFrame.

Columns of ``oracle_ticks`` (one schema for both kinds; "—" marks the empty value)
-----------------------------------------------------------------------------------------
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

Rows are ordered by ``t_s``; at equal ``t_s`` publications (by feed, role, source) come before
answers (in read order). CDI prices are annual fractions (0.149), USD/BRL in BRL per USD.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from market.oracle.aggregator import (
    OK,
    DivergenceState,
    OracleAnswer,
    SourceState,
    aggregate,
    divergence_step,
    source_state,
)
from sim.agents.feeders import FAULT_NAMES, Feeder
from sim.config.world import OraclesConfig

if TYPE_CHECKING:
    import pandas as pd
    import simpy

    from sim.world import ExogenousPaths

__all__ = ["FEEDS", "TICK_COLUMNS", "OracleService"]

FEEDS = ("cdi", "usdbrl")
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
_ROUND_CACHE_MAX = 4096


class _Feed:
    """Runtime state of one feed."""

    def __init__(
        self, name: str, cfg: Any, feeders: Sequence[Feeder], paths: ExogenousPaths
    ) -> None:
        self.name = name
        self.agg = cfg.aggregator
        self.primary = [f for f in feeders if f.role == "primary"]
        self.secondary = [f for f in feeders if f.role == "secondary"]
        # Quorums count the CONFIGURED feeders: a feeder that never published is absent from
        # the source states handed to aggregate(), whose default would count only those.
        base = cfg.aggregator.to_oracle_config()
        self.cfg = replace(
            base,
            quorum=base.quorum if base.quorum is not None else len(cfg.primary) // 2 + 1,
            secondary_quorum=(
                base.secondary_quorum
                if base.secondary_quorum is not None
                else len(cfg.secondary) // 2 + 1
            ),
        )
        self.round_s = float(cfg.aggregator.round_s)
        self.rounds: dict[int, float | None] = {}  # round index -> OK price or None
        self.last_key: float | None = None
        self.last_answer: OracleAnswer | None = None
        self.divergence = DivergenceState()
        # feeder id -> (last state_at answer, its SourceState)
        self.source_memo: dict[str, tuple[tuple[float, float], SourceState]] = {}
        self.true_at = paths.at(name)  # scalar true path (answer rows' true_price)


def _states(
    feeders: Sequence[Feeder],
    now: float,
    memo: dict[str, tuple[tuple[float, float], SourceState]] | None = None,
) -> list[SourceState]:
    """The :class:`SourceState` of each feeder's newest publication at or before ``now``.
    ``memo`` (feeder id -> its last ``state_at`` answer and state) lets consecutive reads
    between two publications reuse the same (frozen, equal) object instead of building and
    validating a new one (``state_at`` returns the very same tuple while it holds). New states
    are built by :func:`market.oracle.aggregator.source_state` (same value and rules, cheaper)."""
    out = []
    for f in feeders:
        st = f.state_at(now)
        if st is None:
            continue
        if memo is None:
            out.append(source_state(f.id, st[0], st[1]))
            continue
        got = memo.get(f.id)
        if got is None or got[0] is not st:
            got = memo[f.id] = (st, source_state(f.id, st[0], st[1]))
        out.append(got[1])
    return out


class OracleService:
    """Aggregated oracle answers for the feeds ``cdi`` and ``usdbrl``; records the ticks."""

    def __init__(
        self,
        env: simpy.Environment | None,
        cfg: OraclesConfig,
        feeders: Sequence[Feeder],
        paths: ExogenousPaths,
    ) -> None:
        self._env = env
        self._paths = paths
        self._feeds = {
            name: _Feed(name, getattr(cfg, name), [f for f in feeders if f.feed == name], paths)
            for name in FEEDS
        }
        self._feeders = list(feeders)
        self._record_publications = cfg.record_publications
        self._answers: list[tuple[Any, ...]] = []
        self.reads = 0  # calls to read(), cached or not

    # -- reading -------------------------------------------------------------------------------
    def read(self, feed: str, now: float | None = None) -> OracleAnswer:
        """The aggregated answer of ``feed`` at ``now`` (default: the env's current time)."""
        st = self._feeds.get(feed)
        if st is None:
            raise ValueError(f"oracle feed={feed!r}: must be one of {', '.join(FEEDS)}")
        if now is None:
            if self._env is None:
                raise ValueError("oracle read: now is required without a simpy environment")
            now = float(self._env.now)
        self.reads += 1
        if st.last_key == now and st.last_answer is not None:
            return st.last_answer
        primary = _states(st.primary, now, st.source_memo)
        answer = aggregate(primary, now, st.cfg)
        if answer.status != OK:
            history = self._history(st, now)
            secondary = _states(st.secondary, now, st.source_memo)
            answer = aggregate(primary, now, st.cfg, history=history, secondary=secondary)
        staleness = st.cfg.staleness_s
        n_fresh = 0
        for s in primary:
            if 0.0 <= now - s.updated_at <= staleness:
                n_fresh += 1
        if st.divergence.as_of is None or now >= st.divergence.as_of:
            st.divergence = divergence_step(st.divergence, primary, now, st.cfg)
        st.last_key, st.last_answer = now, answer
        self._answers.append(
            (
                now,
                feed,
                math.nan if answer.price is None else answer.price,
                st.true_at(now),
                math.nan if answer.age_s is None else answer.age_s,
                answer.status,
                ",".join(answer.sources),
                n_fresh,
                answer.reason or "",
                st.divergence.red,
            )
        )
        return answer

    def divergence_red(self, feed: str) -> bool:
        """State of the feed's divergence watch at its last read."""
        return self._feeds[feed].divergence.red

    def _round_price(self, st: _Feed, j: int) -> float | None:
        if j in st.rounds:
            return st.rounds[j]
        t = j * st.round_s
        ans = aggregate(_states(st.primary, t), t, st.cfg)
        price = ans.price if ans.status == OK else None
        if len(st.rounds) >= _ROUND_CACHE_MAX:
            for old in sorted(st.rounds)[: _ROUND_CACHE_MAX // 2]:
                del st.rounds[old]
        st.rounds[j] = price
        return price

    def _history(self, st: _Feed, now: float) -> list[tuple[float, float]]:
        """OK rounds in ``[now − twap_window_s − twap_max_age_s, now]`` as ``(t, price)``."""
        span = st.cfg.twap_window_s + st.cfg.twap_max_age_s
        j0 = max(0, math.ceil((now - span) / st.round_s))
        j1 = math.floor(now / st.round_s)
        out = []
        for j in range(j0, j1 + 1):
            price = self._round_price(st, j)
            if price is not None:
                out.append((j * st.round_s, price))
        return out

    # -- tables --------------------------------------------------------------------------------
    def _table(self, upto: float | None) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
        """Columns with string columns as integer codes (int8 while a column has fewer than 128
        categories) into per-column category lists.

        Built column by column without per-row Python: the rows of every part (one part per
        feeder, then the answers) are laid out once, ordered by one stable sort on ``t_s``
        (ties keep the part order, then the read order), and each column is gathered once;
        the columns that are constant per feeder come from a per-part code table and the
        answer-only columns are scattered onto the answer rows."""
        if upto is None and self._env is not None:
            upto = float(self._env.now)
        cats: dict[str, dict[str, int]] = {c: {"": 0} for c in _STR_COLUMNS}

        def code(col: str, value: str) -> int:
            table = cats[col]
            if value not in table:
                table[value] = len(table)
            return table[value]

        pubs: list[tuple[Feeder, dict[str, np.ndarray]]] = []
        per_part: dict[str, list[int]] = {"feed": [], "kind": [], "source": [], "role": []}
        fault_codes = np.zeros(len(FAULT_NAMES), dtype=np.int32)
        for f in self._feeders if self._record_publications else ():
            if upto is not None:
                f.advance_to(upto)
            pub = f.publication_views(upto)
            if len(pub["t_s"]) == 0:
                continue
            fault_codes = np.asarray([code("fault", x) for x in FAULT_NAMES], dtype=np.int32)
            per_part["feed"].append(code("feed", f.feed))
            per_part["kind"].append(code("kind", "publish"))
            per_part["source"].append(code("source", f.id))
            per_part["role"].append(code("role", f.role))
            pubs.append((f, pub))
        m = len(self._answers)
        ans: dict[str, np.ndarray] = {}
        if m:
            cols = list(zip(*self._answers, strict=True))
            ans = {
                "t_s": np.asarray(cols[0], dtype=np.float64),
                "feed": np.asarray([code("feed", x) for x in cols[1]], dtype=np.int32),
                "price": np.asarray(cols[2], dtype=np.float64),
                "true_price": np.asarray(cols[3], dtype=np.float64),
                "age_s": np.asarray(cols[4], dtype=np.float64),
                "status": np.asarray([code("status", x) for x in cols[5]], dtype=np.int32),
                "sources": np.asarray([code("sources", x) for x in cols[6]], dtype=np.int32),
                "n_fresh": np.asarray(cols[7], dtype=np.int64),
                "reason": np.asarray([code("reason", x) for x in cols[8]], dtype=np.int32),
                "divergence_red": np.asarray(cols[9], dtype=bool),
            }
            per_part["feed"].append(0)  # per answer, scattered below
            per_part["kind"].append(code("kind", "answer"))
            per_part["source"].append(0)
            per_part["role"].append(0)
        categories = {c: list(cats[c]) for c in _STR_COLUMNS}
        lengths = [len(pub["t_s"]) for _, pub in pubs] + ([m] if m else [])
        n = sum(lengths)
        if n == 0:
            return {c: np.zeros(0, dtype=_DTYPES[c]) for c in TICK_COLUMNS}, categories
        # lay out the parts: publications, then answers
        t_all = np.empty(n)
        price = np.empty(n)
        true_price = np.empty(n)
        value_t = np.empty(n)
        fault = np.zeros(n, dtype=np.int8)
        at = 0
        for f, pub in pubs:
            b = at + len(pub["t_s"])
            t_all[at:b] = pub["t_s"]
            price[at:b] = pub["value"]
            true_price[at:b] = self._paths.at_many(f.feed)(pub["t_s"])
            value_t[at:b] = pub["value_t_s"]
            fault[at:b] = pub["fault"]
            at = b
        if m:
            t_all[at:] = ans["t_s"]
            price[at:] = ans["price"]
            true_price[at:] = ans["true_price"]
            value_t[at:] = math.nan
        # codes in the smallest integer dtype of their column (what pandas keeps anyway)
        cdt = {c: _code_dtype(len(cats[c])) for c in _STR_COLUMNS}
        order = np.argsort(t_all, kind="stable")
        part = np.repeat(np.arange(len(lengths), dtype=np.intp), lengths)[order]
        out: dict[str, np.ndarray] = {"t_s": t_all[order]}
        for c, codes in per_part.items():
            out[c] = np.asarray(codes, dtype=cdt[c])[part]
        out["price"] = price[order]
        out["true_price"] = true_price[order]
        out["value_t_s"] = value_t[order]
        out["age_s"] = out["t_s"] - out["value_t_s"]
        out["fault"] = fault_codes.astype(cdt["fault"])[fault[order]]
        out["status"] = np.zeros(n, dtype=cdt["status"])
        out["sources"] = np.zeros(n, dtype=cdt["sources"])
        out["n_fresh"] = np.full(n, -1, dtype=np.int64)
        out["reason"] = np.zeros(n, dtype=cdt["reason"])
        out["divergence_red"] = np.zeros(n, dtype=bool)
        if m:
            pos = np.flatnonzero(part == len(lengths) - 1)
            i = order[pos] - at  # answer index of each answer row, in table order
            for c in ("feed", "age_s", "status", "sources", "n_fresh", "reason", "divergence_red"):
                out[c][pos] = ans[c][i]
        return {c: out[c] for c in TICK_COLUMNS}, categories

    def ticks_columns(self, upto: float | None = None) -> dict[str, np.ndarray]:
        """The oracle ticks as numpy columns (strings as ``object`` arrays); publications up to
        ``upto`` (default: the env's current time, or every generated one without env)."""
        cols, cats = self._table(upto)
        out = {}
        for c in TICK_COLUMNS:
            if c in _STR_COLUMNS:
                out[c] = np.asarray(cats[c], dtype=object)[cols[c]]
            else:
                out[c] = cols[c]
        return out

    def ticks_frame(self, upto: float | None = None) -> pd.DataFrame:
        """The oracle ticks as a pandas DataFrame, string columns as ``category`` (fast and
        small: a 30-day run has millions of publication rows). Same rows as
        :meth:`ticks_columns`."""
        import pandas as pd

        cols, cats = self._table(upto)
        data: dict[str, Any] = {}
        for c in TICK_COLUMNS:
            if c in _STR_COLUMNS:
                # codes are in range by construction (every code comes from ``cats``)
                data[c] = pd.Categorical.from_codes(cols[c], categories=cats[c], validate=False)
            else:
                data[c] = cols[c]
        # the columns are fresh arrays owned by nobody else: no defensive copy
        return pd.DataFrame(data, columns=list(TICK_COLUMNS), copy=False)

    def ticks_rows(self, upto: float | None = None) -> list[dict[str, Any]]:
        """The oracle ticks as a list of dicts of plain Python values (slow for long runs;
        prefer :meth:`ticks_frame`)."""
        cols = self.ticks_columns(upto)
        lists = [cols[c].tolist() for c in TICK_COLUMNS]
        return [dict(zip(TICK_COLUMNS, row, strict=True)) for row in zip(*lists, strict=True)]

    def answers_count(self) -> int:
        """Number of distinct reads recorded (answer rows)."""
        return len(self._answers)


def _code_dtype(n_categories: int) -> type[np.signedinteger[Any]]:
    """Smallest signed integer dtype holding the codes ``0 .. n_categories − 1``."""
    if n_categories <= np.iinfo(np.int8).max:
        return np.int8
    if n_categories <= np.iinfo(np.int16).max:
        return np.int16
    return np.int32


_STR_COLUMNS = frozenset(("feed", "kind", "source", "role", "fault", "status", "sources", "reason"))
_DTYPES = {
    c: (np.float64 if c in ("t_s", "price", "true_price", "value_t_s", "age_s") else object)
    for c in TICK_COLUMNS
}
_DTYPES["n_fresh"] = np.int64
_DTYPES["divergence_red"] = np.bool_

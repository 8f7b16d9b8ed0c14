"""The oracle service the engine reads: feeders' latest publications -> ``market.oracle.aggregator``.

``OracleService.read(feed, now)`` builds the :class:`market.oracle.aggregator.SourceState` of every
primary and secondary feeder of ``feed`` (its newest publication at or before ``now``, with the
time its value was **observed**: freshness, quorum, TWAP and fallback judge that time, never the
publication's) and calls :func:`market.oracle.aggregator.aggregate`.

The aggregator's own **rounds** (every ``aggregator.round_s`` seconds, ``t = j·round_s``: the
primary set aggregated, and the secondary set's answer compared with it, rule 5 of
:mod:`market.oracle.aggregator`) serve two rules:

- the TWAP history: the rounds that were ``OK`` and not contradicted by the secondary set, as
  ``(t, price, observed_at)`` (``observed_at``: the observation of the round's oldest input);
- the cross-check: an ``OK`` answer that the secondary set contradicts at ``now`` *and* at every
  round from the one at or before ``now − divergence_for_s`` on is replaced by a ``NO_PRICE``
  answer whose reason starts with ``primary_secondary_disagree`` (a lying majority of primaries
  that the median cannot catch). Shorter disagreements (a CDI step seen one poll apart by the
  two sets) do not count.

Rounds are computed lazily (only when a read lacks a primary quorum or sees the sets disagree,
and only those it needs) and cached, so a read's answer is a pure function of the publications
and ``now`` — it never depends on which reads happened before. Reads at the same
``(feed, now)`` return the cached answer.

Every distinct read is recorded as an ``answer`` row of the oracle ticks
(:mod:`sim.world.ticks`); every feeder publication is a ``publish`` row (unless
``oracles.record_publications: false``: a 30-day run has ~2.8 M publications, ~23 MB of
Parquet). :meth:`OracleService.ticks_columns` returns the whole table as numpy columns,
:meth:`ticks_rows` as dicts, :meth:`ticks_frame` as a pandas DataFrame. A run instead takes
the table block by block as time goes on (:meth:`OracleService.take_ticks`, streamed to
Parquet) and lets the feeders forget what it no longer needs, so memory stays flat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from market.oracle.aggregator import (
    OK,
    DivergenceState,
    OracleAnswer,
    SourceState,
    aggregate,
    contested,
    disagreement,
    divergence_step,
)
from market.oracle.twap import TwapInput
from sim.agents.feeders import Feeder, Publication
from sim.config.world import OraclesConfig
from sim.world.ticks import (
    STR_COLUMNS,
    TICK_COLUMNS,
    Answer,
    PendingTicks,
    TickCategories,
    tick_block,
)

if TYPE_CHECKING:
    import pandas as pd
    import simpy

    from sim.world import ExogenousPaths

__all__ = ["FEEDS", "TICK_COLUMNS", "OracleService"]

FEEDS = ("cdi", "usdbrl")
_ROUND_CACHE_MAX = 4096


class _Round(NamedTuple):
    """The aggregator at one round: the primary answer's price when ``OK`` (else ``None``), the
    observation time of its oldest input, and whether the secondary set contradicted it."""

    price: float | None
    observed_at: float
    contradicted: bool


_NO_ROUND = _Round(None, math.nan, False)


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
        self.rounds: dict[int, _Round] = {}  # round index -> the aggregator at that round
        self.last_key: float | None = None
        self.last_answer: OracleAnswer | None = None
        self.divergence = DivergenceState()
        # how far back a read looks: TWAP inputs, and rounds of the cross-check
        self.lookback_s = max(base.twap_window_s + base.twap_max_age_s, base.divergence_for_s)
        # feeder id -> (last state_at answer, its SourceState)
        self.source_memo: dict[str, tuple[Publication, SourceState]] = {}
        self.true_at = paths.at(name)  # scalar true path (answer rows' true_price)


def _states(
    feeders: Sequence[Feeder],
    now: float,
    memo: dict[str, tuple[Publication, SourceState]] | None = None,
) -> list[SourceState]:
    """The :class:`SourceState` of each feeder's newest publication at or before ``now``: its
    value and when that value was observed. ``memo`` (feeder id -> its last ``state_at``
    answer and state) lets consecutive reads between two publications reuse the same (frozen,
    equal) object instead of building and validating a new one (``state_at`` returns the very
    same publication while it holds)."""
    out = []
    for f in feeders:
        pub = f.state_at(now)
        if pub is None:
            continue
        if memo is None:
            out.append(SourceState(f.id, pub.value, pub.observed_at))
            continue
        got = memo.get(f.id)
        if got is None or got[0] is not pub:
            got = memo[f.id] = (pub, SourceState(f.id, pub.value, pub.observed_at))
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
        self._answers: list[Answer] = []  # answer rows not taken yet (take_ticks)
        self._answers_taken = 0
        self._taken_until = -math.inf  # publications before this were taken
        self._categories: TickCategories | None = None  # of the blocks taken
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
        elif st.secondary:
            secondary = _states(st.secondary, now, st.source_memo)
            seen = disagreement(answer, secondary, now, st.cfg)
            if seen is not None and self._contradicted_for_hold(st, now):
                answer = contested(answer, seen, st.cfg)
        staleness = st.cfg.staleness_s
        n_fresh = 0
        for s in primary:
            if 0.0 <= now - s.observed_at <= staleness:
                n_fresh += 1
        if st.divergence.as_of is None or now >= st.divergence.as_of:
            st.divergence = divergence_step(st.divergence, primary, now, st.cfg)
        st.last_key, st.last_answer = now, answer
        self._answers.append(
            Answer(
                t_s=now,
                feed=feed,
                price=math.nan if answer.price is None else answer.price,
                true_price=st.true_at(now),
                age_s=math.nan if answer.age_s is None else answer.age_s,
                status=answer.status,
                sources=",".join(answer.sources),
                n_fresh=n_fresh,
                reason=answer.reason or "",
                divergence_red=st.divergence.red,
            )
        )
        return answer

    def divergence_red(self, feed: str) -> bool:
        """State of the feed's divergence watch at its last read."""
        return self._feeds[feed].divergence.red

    def _round(self, st: _Feed, j: int) -> _Round:
        """The aggregator at round ``j`` (cached)."""
        got = st.rounds.get(j)
        if got is not None:
            return got
        t = j * st.round_s
        primary = _states(st.primary, t)
        ans = aggregate(primary, t, st.cfg)
        rnd = _NO_ROUND
        if ans.status == OK:
            observed = min([s.observed_at for s in primary if s.source_id in ans.sources])
            seen = disagreement(ans, _states(st.secondary, t), t, st.cfg) if st.secondary else None
            rnd = _Round(ans.price, observed, seen is not None)
        if len(st.rounds) >= _ROUND_CACHE_MAX:
            for old in sorted(st.rounds)[: _ROUND_CACHE_MAX // 2]:
                del st.rounds[old]
        st.rounds[j] = rnd
        return rnd

    def _history(self, st: _Feed, now: float) -> list[TwapInput]:
        """The TWAP inputs: rounds in ``[now − twap_window_s − twap_max_age_s, now]`` that were
        ``OK`` and not contradicted by the secondary set."""
        span = st.cfg.twap_window_s + st.cfg.twap_max_age_s
        j0 = max(0, math.ceil((now - span) / st.round_s))
        j1 = math.floor(now / st.round_s)
        out = []
        for j in range(j0, j1 + 1):
            rnd = self._round(st, j)
            if rnd.price is not None and not rnd.contradicted:
                out.append(TwapInput(j * st.round_s, rnd.price, rnd.observed_at))
        return out

    def _contradicted_for_hold(self, st: _Feed, now: float) -> bool:
        """Whether the secondary set contradicted the primary answer at every round from the
        one at or before ``now − divergence_for_s`` to the one at or before ``now``."""
        j0 = math.floor((now - st.cfg.divergence_for_s) / st.round_s)
        if j0 < 0:
            return False
        for j in range(math.floor(now / st.round_s), j0 - 1, -1):  # newest first: cheapest no
            if not self._round(st, j).contradicted:
                return False
        return True

    # -- tables --------------------------------------------------------------------------------
    def _parts(self, lo: float, hi: float, closed: bool) -> list[tuple[Feeder, dict[str, Any]]]:
        """Each feeder's publications with ``lo <= t < hi`` (``<= hi`` when ``closed``)."""
        if not self._record_publications:
            return []
        out = []
        side = "right" if closed else "left"
        for f in self._feeders:
            if hi < math.inf:
                f.advance_to(hi)
            pub = f.publication_views()
            t = pub["t_s"]
            a = int(t.searchsorted(lo, side="left")) if lo > -math.inf else 0
            b = int(t.searchsorted(hi, side=side))
            out.append((f, {c: v[a:b] for c, v in pub.items()}))
        return out

    def _categories_for(self) -> TickCategories:
        return TickCategories(self._feeders, self._record_publications)

    def _table(self, upto: float | None) -> tuple[dict[str, np.ndarray], TickCategories]:
        """The whole table: publications up to ``upto`` (default: the env's current time, or
        every generated one without env) and every answer."""
        if upto is None and self._env is not None:
            upto = float(self._env.now)
        if self._answers_taken or self._taken_until > -math.inf:
            raise ValueError("oracle ticks: part of the table was taken by take_ticks")
        cats = self._categories_for()
        parts = self._parts(-math.inf, math.inf if upto is None else upto, True)
        return tick_block(parts, self._answers, cats, self._paths.at_many), cats

    def take_ticks(self, upto: float, *, final: bool = False) -> PendingTicks:
        """The next block of the table, to be built by the caller: the rows not taken yet with
        ``t_s < upto`` (with ``final``: ``t_s <= upto`` and every answer left), string
        columns coded into the categories shared by every block taken (so build the blocks in
        order). The feeders then forget the publications no later read can need (older than
        ``upto`` minus the lookback of the TWAP and of the cross-check, and one round). Call
        with ``upto`` not after the env's current time, and not decreasing."""
        if self._categories is None:
            self._categories = self._categories_for()
        parts = self._parts(self._taken_until, upto, final)
        if final:
            answers, self._answers = self._answers, []
        else:
            answers = [a for a in self._answers if a.t_s < upto]
            self._answers = [a for a in self._answers if not a.t_s < upto]
        self._answers_taken += len(answers)
        self._taken_until = upto
        for st in self._feeds.values():
            keep = upto - st.lookback_s - st.round_s
            for f in (*st.primary, *st.secondary):
                f.forget_before(min(keep, upto))
        return PendingTicks(tuple(parts), tuple(answers), self._categories, self._paths.at_many)

    def ticks_columns(self, upto: float | None = None) -> dict[str, np.ndarray]:
        """The oracle ticks as numpy columns (strings as ``object`` arrays); publications up to
        ``upto`` (default: the env's current time, or every generated one without env)."""
        cols, cats = self._table(upto)
        out = {}
        for c in TICK_COLUMNS:
            if c in STR_COLUMNS:
                out[c] = np.asarray(cats.categories(c), dtype=object)[cols[c]]
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
            if c in STR_COLUMNS:
                # codes are in range by construction (every code comes from ``cats``)
                data[c] = pd.Categorical.from_codes(
                    cols[c], categories=cats.categories(c), validate=False
                )
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
        """Number of distinct reads recorded (answer rows, taken or not)."""
        return self._answers_taken + len(self._answers)

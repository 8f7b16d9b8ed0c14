"""Oracle aggregator: one price from several feeder sources, with explicit fallbacks.

A pure function of the source states and ``now`` (simulated seconds); no clock, no I/O.

Rules (spec ``oracle_fx.md``; invariant ORACLE_FALLBACK)
--------------------------------------------------------
1. **Fresh**: a source is fresh when ``0 <= now − observed_at <= staleness_s``, ``observed_at``
   being when its published value was observed (carried with every publication). Freshness
   follows the observation, never the publication: a feeder that republishes an old value (a
   freeze) goes stale ``staleness_s`` after it observed it, however often it republishes. An
   observation stamped *after* ``now`` cannot be aged and is treated as not fresh.
2. **Outliers (MAD)**: with ``m`` the median of the fresh prices (mean of the two middle values
   for an even count) and ``MAD`` the median of ``|p − m|``, a fresh source is kept when
   ``|p − m| <= k_mad · max(MAD, mad_floor · m)``.
   *MAD = 0 (or tiny)*: when more than half of the fresh sources report the same value the MAD is
   0 and the literal rule would drop every source that differs at all — honest sources a hair
   away would be discarded and could break the quorum for nothing. The relative scale floor
   ``mad_floor`` (default 1e-4, i.e. a tolerance of ``k_mad · 1 bp`` = 5 bp by default) keeps
   such near-equal sources while still dropping liars; it only binds when the MAD is below
   ``mad_floor · m``. The answer does not depend on this choice (a majority at ``m`` fixes the
   median at ``m``); it only decides which sources count for the quorum and are reported.
   ``mad_floor = 0`` gives the literal rule (MAD = 0 keeps exactly the sources equal to ``m``).
3. **Quorum**: with at least ``quorum`` kept sources (default: a majority of the configured
   sources, ``len(primary) // 2 + 1``) the answer is the **upper median** of the kept prices
   (``sorted[n // 2]``), status ``OK``.
4. **Fallback** without a primary quorum: the TWAP of ``history`` (past OK answers with the
   observation time of their input, see :mod:`market.oracle.twap`) when its newest input was
   observed no more than ``twap_max_age_s`` before ``now`` -> ``FALLBACK_TWAP``; else the
   ``secondary`` set under rules 1–3 (its quorum is ``secondary_quorum``, default a majority of
   the secondary set) -> ``FAILOVER``; else ``NO_PRICE``.
5. **Cross-check** (:func:`disagreement`, :func:`contested`): a median cannot catch a lying
   *majority* of primaries. The secondary set, aggregated under rules 1–3, is an independent
   second opinion: when it has a quorum and its answer differs from the primary ``OK`` answer
   by more than ``divergence`` (relative, ``(max − min) / min``), the two disagree. A caller
   that has seen them disagree for ``divergence_for_s`` (the divergence watch's hold; shorter
   disagreements are timing, e.g. a CDI step seen one poll apart) replaces the answer by
   :func:`contested`: ``NO_PRICE`` with a reason starting with
   :data:`PRIMARY_SECONDARY_DISAGREE`. Which set lies is unknown, so nothing is priced (the
   conservative choice; the engine defers and then declines as for any ``NO_PRICE``).

Every :class:`OracleAnswer` carries ``status``, ``price`` (``None`` for ``NO_PRICE``), the ids of
the sources used (sorted; empty for ``FALLBACK_TWAP`` and ``NO_PRICE``), ``age_s`` (OK /
FAILOVER: ``now`` minus the oldest used source's ``observed_at``; FALLBACK_TWAP: ``now`` minus
the newest TWAP input's ``observed_at``; ``None`` for NO_PRICE), ``as_of = now`` and, for every
status but OK, a ``reason`` saying why the primary set was not used.

The result depends only on the multiset of sources (never on their order) and is deterministic.

Divergence watch (:func:`divergence_step`): a pure step function over :class:`DivergenceState`.
The gap is the largest pairwise relative gap between fresh primary sources,
``(max − min) / min`` (0 with fewer than two fresh sources; outliers included, because a lying
source is exactly what the watch is for). When the gap exceeds ``divergence`` continuously
(at every step) for longer than ``divergence_for_s`` the state turns ``red``; it clears at the
first step where the gap is back at or below ``divergence``.

Cost: plain-Python sorting of 3–9 floats; no numpy (its per-call overhead dominates at this size).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from market.oracle.twap import twap_with_newest
from market.validation import TEXT, FieldError, Integer, Number

__all__ = [
    "FAILOVER",
    "FALLBACK_TWAP",
    "NO_PRICE",
    "OK",
    "PRIMARY_SECONDARY_DISAGREE",
    "STATUSES",
    "Disagreement",
    "DivergenceState",
    "OracleAnswer",
    "OracleConfig",
    "SourceState",
    "aggregate",
    "contested",
    "disagreement",
    "divergence_gap",
    "divergence_step",
]

OK = "OK"
FALLBACK_TWAP = "FALLBACK_TWAP"
FAILOVER = "FAILOVER"
NO_PRICE = "NO_PRICE"
#: Every status an :class:`OracleAnswer` can carry, best first.
STATUSES = (OK, FALLBACK_TWAP, FAILOVER, NO_PRICE)
#: How the reason of a ``NO_PRICE`` answer starts when the secondary set contradicted the
#: primary answer (rule 5).
PRIMARY_SECONDARY_DISAGREE = "primary_secondary_disagree"

_INF = math.inf
_PRICE = Number(0, lo_open=True, text="must be a finite number > 0")
_SECONDS = Number(text="must be a finite number of seconds")
_POSITIVE = Number(0, lo_open=True, text="must be a finite number > 0")
_MAD_FLOOR = Number(0, 1, hi_open=True)
_QUORUM = Integer(1, text="must be None or an integer >= 1")


def _set(obj: object, name: str, value: Any, checked: Any) -> None:
    """Store ``checked`` (the checked ``value`` of attribute ``name``) on a frozen instance in
    ``__post_init__`` where checking normalised it (an int price to ``float``)."""
    if checked is not value:
        object.__setattr__(obj, name, checked)


@dataclass(frozen=True, slots=True)
class SourceState:
    """Latest publication of one feeder: ``price`` (> 0, finite), observed at ``observed_at``
    (seconds; when the value was observed, not when it was published or republished)."""

    source_id: str
    price: float
    observed_at: float

    def __post_init__(self) -> None:
        sid = TEXT.check("source.source_id", self.source_id)
        price, observed = self.price, self.observed_at
        try:  # the message names the source: source[<id>].price
            _set(self, "price", price, _PRICE.check("price", price))
            _set(self, "observed_at", observed, _SECONDS.check("observed_at", observed))
        except FieldError as err:
            raise err.prefixed(f"source[{sid}].{err.field}") from None


@dataclass(frozen=True, slots=True)
class OracleConfig:
    """Aggregator parameters (seconds, relative fractions); validated on construction."""

    staleness_s: float = 30.0
    k_mad: float = 5.0
    quorum: int | None = None
    twap_window_s: float = 300.0
    twap_max_age_s: float = 300.0
    divergence: float = 0.01
    divergence_for_s: float = 60.0
    #: relative floor of the MAD scale (see the module docstring); 0 = literal MAD rule
    mad_floor: float = 1e-4
    #: quorum of the secondary set; None = a majority of the secondary sources
    secondary_quorum: int | None = None

    def __post_init__(self) -> None:
        for name in (
            "staleness_s",
            "k_mad",
            "twap_window_s",
            "twap_max_age_s",
            "divergence",
            "divergence_for_s",
        ):
            value = getattr(self, name)
            _set(self, name, value, _POSITIVE.check("oracle." + name, value))
        floor = self.mad_floor
        _set(self, "mad_floor", floor, _MAD_FLOOR.check("oracle.mad_floor", floor))
        for name in ("quorum", "secondary_quorum"):
            q = getattr(self, name)
            if q is not None:
                _set(self, name, q, _QUORUM.check("oracle." + name, q))


@dataclass(frozen=True, slots=True)
class OracleAnswer:
    """One aggregated answer; see the module docstring for each field's rule."""

    status: str
    price: float | None
    sources: tuple[str, ...]
    age_s: float | None
    as_of: float
    reason: str | None = None

    @property
    def priced(self) -> bool:
        """True unless the status is ``NO_PRICE``."""
        return self.status != NO_PRICE

    @property
    def is_fallback(self) -> bool:
        """True for ``FALLBACK_TWAP`` and ``FAILOVER``."""
        return self.status == FALLBACK_TWAP or self.status == FAILOVER

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (``sources`` as a list)."""
        return {
            "status": self.status,
            "price": self.price,
            "sources": list(self.sources),
            "age_s": self.age_s,
            "as_of": self.as_of,
            "reason": self.reason,
        }


def _check_now(now: float) -> None:
    _SECONDS.check("now", now)


def _fresh(sources: Sequence[SourceState], now: float, staleness_s: float, label: str) -> list:
    """Fresh sources, after checking types and duplicate ids over the whole set."""
    seen: set[str] = set()
    fresh = []
    for s in sources:
        if type(s) is not SourceState:
            raise FieldError(f"{label} source", s, "must be a SourceState")
        sid = s.source_id
        if sid in seen:
            raise FieldError(f"{label} source_id", sid, "must be unique within the set")
        seen.add(sid)
        if 0 <= now - s.observed_at <= staleness_s:
            fresh.append(s)
    return fresh


def _select(
    sources: Sequence[SourceState], now: float, cfg: OracleConfig, quorum: int | None, label: str
) -> tuple[OracleAnswer | None, str]:
    """Rules 1–3 on one source set: an answer (status OK) or None and why not."""
    fresh = _fresh(sources, now, cfg.staleness_s, label)
    q = quorum if quorum is not None else len(sources) // 2 + 1
    n = len(fresh)
    if n < q:
        return None, f"{label}: {n} fresh of {len(sources)} < quorum {q}"
    prices = sorted([s.price for s in fresh])
    h = n // 2
    m = prices[h] if n & 1 else (prices[h - 1] + prices[h]) / 2
    devs = sorted([abs(p - m) for p in prices])
    mad = devs[h] if n & 1 else (devs[h - 1] + devs[h]) / 2
    floor = cfg.mad_floor * m
    tol = cfg.k_mad * (mad if mad > floor else floor)
    kept = [s for s in fresh if abs(s.price - m) <= tol]
    k = len(kept)
    if k < q:
        return None, f"{label}: {k} fresh within MAD of {len(sources)} < quorum {q}"
    kept_prices = sorted([s.price for s in kept])
    oldest = min([s.observed_at for s in kept])
    ids = tuple(sorted([s.source_id for s in kept]))
    answer = OracleAnswer(
        status=OK, price=kept_prices[k // 2], sources=ids, age_s=now - oldest, as_of=now
    )
    return answer, ""


def aggregate(
    primary: Sequence[SourceState],
    now: float,
    cfg: OracleConfig,
    *,
    history: Sequence[tuple[float, float, float]] = (),
    secondary: Sequence[SourceState] = (),
) -> OracleAnswer:
    """Aggregate ``primary`` at ``now`` with fallbacks, rules 1–4 (see the module docstring).

    ``history``: past OK answers as ``(t, price, observed_at)`` in non-decreasing ``t`` (for the
    TWAP, :class:`market.oracle.twap.TwapInput`).
    ``secondary``: the failover source set. Raises ``ValueError`` on a non-finite ``now``, a
    non-``SourceState`` element or a duplicate source id within a set (both sets are checked on
    every call, whichever is used), or bad history entries in the scanned window.
    """
    _check_now(now)
    answer, why = _select(primary, now, cfg, cfg.quorum, "primary")
    if answer is not None:
        if secondary:
            _fresh(secondary, now, cfg.staleness_s, "secondary")  # validate ids even when unused
        return answer
    reasons = [why]
    tw = twap_with_newest(history, now, cfg.twap_window_s)
    if tw is not None:
        age = now - tw.observed_at
        if age <= cfg.twap_max_age_s:
            return OracleAnswer(
                status=FALLBACK_TWAP, price=tw.price, sources=(), age_s=age, as_of=now, reason=why
            )
        reasons.append(
            f"twap: newest input observed {age:g} s ago > twap_max_age_s={cfg.twap_max_age_s:g}"
        )
    else:
        reasons.append("twap: no history")
    if secondary:
        sec, why2 = _select(secondary, now, cfg, cfg.secondary_quorum, "secondary")
        if sec is not None:
            return OracleAnswer(
                status=FAILOVER,
                price=sec.price,
                sources=sec.sources,
                age_s=sec.age_s,
                as_of=now,
                reason="; ".join(reasons),
            )
        reasons.append(why2)
    else:
        reasons.append("secondary: none configured")
    return OracleAnswer(
        status=NO_PRICE, price=None, sources=(), age_s=None, as_of=now, reason="; ".join(reasons)
    )


# ---------------------------------------------------------------------------- cross-check
class Disagreement(NamedTuple):
    """The primary answer and the secondary set's answer, and their relative gap."""

    primary: float
    secondary: float
    gap: float


def disagreement(
    answer: OracleAnswer, secondary: Sequence[SourceState], now: float, cfg: OracleConfig
) -> Disagreement | None:
    """Rule 5 at one instant: how the secondary set's answer at ``now`` (rules 1–3, quorum
    ``cfg.secondary_quorum``) contradicts the ``OK`` primary ``answer``, when their gap
    ``(max − min) / min`` exceeds ``cfg.divergence``; ``None`` when they agree, when the
    secondary set has no quorum (nothing to judge by) or when ``answer`` is not ``OK``."""
    p = answer.price
    if answer.status != OK or p is None or not secondary:
        return None
    # The secondary answer is one of the fresh secondary prices: when every one of them is
    # within ``divergence`` of ``p`` so is the answer, and the set need not be aggregated.
    for s in _fresh(secondary, now, cfg.staleness_s, "secondary"):
        if _gap(p, s.price) > cfg.divergence:
            break
    else:
        return None
    sec, _ = _select(secondary, now, cfg, cfg.secondary_quorum, "secondary")
    if sec is None or sec.price is None:
        return None
    gap = _gap(p, sec.price)
    return Disagreement(p, sec.price, gap) if gap > cfg.divergence else None


def _gap(a: float, b: float) -> float:
    """Relative gap ``(max − min) / min`` of two positive prices."""
    return (a - b) / b if a > b else (b - a) / a


def contested(answer: OracleAnswer, seen: Disagreement, cfg: OracleConfig) -> OracleAnswer:
    """The ``NO_PRICE`` answer that replaces the primary ``answer`` once the secondary set has
    contradicted it for ``cfg.divergence_for_s`` (``seen``: the disagreement at ``answer``'s
    time); the reason starts with :data:`PRIMARY_SECONDARY_DISAGREE` and says both prices."""
    reason = (
        f"{PRIMARY_SECONDARY_DISAGREE}: primary {seen.primary:.6g} vs secondary "
        f"{seen.secondary:.6g} ({seen.gap:.2%} > divergence={cfg.divergence:g} for "
        f"divergence_for_s={cfg.divergence_for_s:g})"
    )
    return OracleAnswer(
        status=NO_PRICE, price=None, sources=(), age_s=None, as_of=answer.as_of, reason=reason
    )


# ---------------------------------------------------------------------------- divergence watch
@dataclass(frozen=True, slots=True)
class DivergenceState:
    """State of the divergence watch.

    ``red``: the watch is red. ``since``: time the current above-threshold episode started (None
    when the gap is at or below the threshold). ``red_since``: time of the first step that saw
    red in this episode. ``gap``: the last observed gap. ``as_of``: time of the last step.
    """

    red: bool = False
    since: float | None = None
    red_since: float | None = None
    gap: float = 0.0
    as_of: float | None = field(default=None)


def divergence_gap(sources: Sequence[SourceState], now: float, cfg: OracleConfig) -> float:
    """Largest pairwise relative gap ``(max − min) / min`` between fresh sources (0 if < 2)."""
    _check_now(now)
    fresh = _fresh(sources, now, cfg.staleness_s, "divergence")
    if len(fresh) < 2:
        return 0.0
    prices = [s.price for s in fresh]
    lo = min(prices)
    return (max(prices) - lo) / lo


def divergence_step(
    state: DivergenceState, sources: Sequence[SourceState], now: float, cfg: OracleConfig
) -> DivergenceState:
    """Advance the divergence watch to ``now`` (not earlier than ``state.as_of``).

    Red when the gap has stayed above ``cfg.divergence`` at every step since ``since`` and
    ``now − since > cfg.divergence_for_s``.
    """
    if state.as_of is not None and now < state.as_of:
        raise FieldError("now", now, f"must not be earlier than state.as_of={state.as_of!r}")
    gap = divergence_gap(sources, now, cfg)
    if gap <= cfg.divergence:
        return DivergenceState(red=False, since=None, red_since=None, gap=gap, as_of=now)
    since = state.since if state.since is not None else now
    red = now - since > cfg.divergence_for_s
    red_since = (state.red_since if state.red_since is not None else now) if red else None
    return DivergenceState(red=red, since=since, red_since=red_since, gap=gap, as_of=now)

"""Time-weighted average price (TWAP) of past oracle answers.

``history`` is a sequence of :class:`TwapInput` ``(t, price, observed_at)`` — past aggregated
(``OK``) answers: ``t`` when the answer was given (simulated seconds, non-decreasing), ``price``
and ``observed_at``, when its input was observed (its oldest used source's observation, so
``observed_at <= t``). Each answer *stands* from its own time until the next answer's time; the
newest one at or before ``now`` stands until ``now``. The TWAP over the window
``[now − window_s, now]`` is

    Σ price_i · |[t_i, t_{i+1}) ∩ window|  /  Σ |[t_i, t_{i+1}) ∩ window|

so an answer given before the window that was still standing when it opened contributes the
part inside the window, and time before the first answer carries no weight. Entries with
``t > now`` are not visible yet and are ignored. When the total weight is zero (the only visible
answer was given exactly at ``now``) the TWAP is that answer's price. The weights use ``t``
(how long an answer stood); how old the TWAP's input is uses ``observed_at`` (the fallback rule
of :mod:`market.oracle.aggregator` judges the newest input's observation, never when it was
given or republished).

The scan walks backwards from the newest visible entry and stops at the first entry at or before
the window start, so its cost is proportional to the number of answers inside the window, not to
the length of ``history`` (callers may pass their whole list). The result is clamped to the
``[min, max]`` of the contributing prices, which removes floating-point rounding beyond the exact
weighted mean's bounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from market.validation import FieldError, Number

__all__ = ["TwapInput", "TwapResult", "twap", "twap_with_newest"]

_INF = math.inf
_NOW = Number(text="must be a finite number of seconds")
_WINDOW = Number(0, lo_open=True)
_PRICE = Number(0, lo_open=True)


class TwapInput(NamedTuple):
    """One past answer: given at ``t``, ``price``, its input observed at ``observed_at``."""

    t: float
    price: float
    observed_at: float


class TwapResult(NamedTuple):
    """A TWAP and its newest input: given at ``newest_t``, observed at ``observed_at``."""

    price: float
    newest_t: float
    observed_at: float


def twap_with_newest(
    history: Sequence[tuple[float, float, float]], now: float, window_s: float
) -> TwapResult | None:
    """TWAP of ``history`` over ``[now − window_s, now]`` and its newest input's times.

    Returns ``None`` when no entry has ``t <= now``. Raises ``ValueError`` for a non-positive
    or non-finite ``window_s``, a non-finite ``now``, times not in non-decreasing order (inside
    the scanned part), a price that is not finite and > 0, or a newest input whose
    ``observed_at`` is not a finite time at or before its ``t``.
    """
    _NOW.check("now", now)
    _WINDOW.check("window_s", window_s)
    i = len(history) - 1
    while i >= 0 and history[i][0] > now:
        i -= 1
    if i < 0:
        return None
    start = now - window_s
    newest = i
    newest_t, last_price, observed_at = history[i]
    end = now
    num = 0.0
    den = 0.0
    lo_p = _INF
    hi_p = -_INF
    while i >= 0:
        entry = history[i]
        t, p = entry[0], entry[1]
        if not t <= end:
            raise FieldError(
                f"history[{i}].t", t, f"must be finite and <= the next entry's time {end!r}"
            )
        if not 0 < p < _INF:
            _PRICE.check(f"history[{i}].price", p)  # raises
        lo = t if t > start else start
        dur = end - lo
        if dur > 0:
            num += p * dur
            den += dur
            if p < lo_p:
                lo_p = p
            if p > hi_p:
                hi_p = p
        if t <= start:
            break
        end = t
        i -= 1
    if not -_INF < observed_at <= newest_t:  # newest_t was checked by the scan
        raise FieldError(
            f"history[{newest}].observed_at",
            observed_at,
            f"must be finite and <= its t {newest_t!r}",
        )
    if den <= 0:
        return TwapResult(float(last_price), float(newest_t), float(observed_at))
    value = num / den
    if value < lo_p:
        value = lo_p
    elif value > hi_p:
        value = hi_p
    return TwapResult(value, float(newest_t), float(observed_at))


def twap(
    history: Sequence[tuple[float, float, float]], now: float, window_s: float
) -> float | None:
    """TWAP of ``history`` over ``[now − window_s, now]`` (see the module docstring), or
    ``None`` when no entry has ``t <= now``."""
    out = twap_with_newest(history, now, window_s)
    return None if out is None else out.price

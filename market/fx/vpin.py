"""VPIN (volume-synchronised probability of informed trading) by bulk volume classification,
and the venue filter that reads it.

:class:`VpinMeter` follows one venue's trade flow bar by bar (``update(price, volume)``):

- **classification**: a bar's volume is split into buys ``V_b = volume·Φ(ΔP/σ_ΔP)`` and sells
  ``volume − V_b``, where ``ΔP`` is the bar's price change (0 for the first bar) and ``Φ`` the
  standard normal CDF. ``σ_ΔP`` is ``sigma`` when given, else the running standard deviation
  of every ``ΔP`` seen so far (Welford's update; while it is 0 or undefined, ``Φ(ΔP/σ)`` is
  taken as its limit: 1 for a rise, 0 for a fall, ½ for no change);
- **buckets**: volume fills buckets of ``bucket_volume`` each in arrival order; a bar that
  overflows its bucket carries the rest, with the same buy share, into the next ones;
- **VPIN** = ``Σ |V_sell − V_buy| / (m·V)`` over the last ``m = min(n, completed)`` buckets
  (``n = n_buckets``, 50 by default): ``None`` before the first bucket completes. Each term lies
  in ``[0, V]``, so VPIN lies in ``[0, 1]``: one-sided flow gives 1, flow balanced inside every
  bucket gives 0, and noise whose bars are about a bucket each gives about ½ (``Φ`` of a
  standard normal is uniform).

An update costs O(1) plus one step per bucket it completes (at most ``n_buckets``); the sum over the window is kept
running and recomputed exactly (``math.fsum``) each time the window has turned over once, so
rounding never accumulates.

:class:`ToxicityFilter` excludes a venue while its VPIN is above a threshold: a fixed value, or
the ``quantile`` of the venue's own VPIN after each completed bucket (its last ``history``
values; the fixed ``fallback`` applies until ``n_buckets`` of them exist). A venue is usable
again as soon as its VPIN is back at or below the threshold.
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from market.validation import FieldError, Integer, Number

__all__ = ["ToxicityFilter", "VpinMeter"]

_POSITIVE = Number(0.0, None, lo_open=True, text="must be a finite number > 0")
_VOLUME = Number(0.0, None, text="must be a finite number >= 0")
_PRICE = Number(0.0, None, lo_open=True, text="must be a finite price > 0")
_N = Integer(1, 100_000)
_UNIT = Number(0.0, 1.0, text="must be a number in [0, 1]")


def _phi(z: float) -> float:
    """Standard normal CDF."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


class VpinMeter:
    """Streaming VPIN of one venue's flow (see the module docstring)."""

    __slots__ = (
        "_bucket_buy",
        "_bucket_vol",
        "_imbalances",
        "_last_price",
        "_m2",
        "_mean",
        "_n_dp",
        "_since_exact",
        "_sum",
        "bucket_volume",
        "buckets",
        "n_buckets",
        "sigma",
    )

    def __init__(self, bucket_volume: float, n_buckets: int = 50, sigma: float | None = None):
        self.bucket_volume = _POSITIVE.check("bucket_volume", bucket_volume)
        self.n_buckets = _N.check("n_buckets", n_buckets)
        self.sigma = None if sigma is None else _POSITIVE.check("sigma", sigma)
        self.buckets = 0  # completed buckets
        self._imbalances: deque[float] = deque()
        self._sum = 0.0
        self._since_exact = 0
        self._bucket_vol = 0.0
        self._bucket_buy = 0.0
        self._last_price: float | None = None
        self._n_dp = 0
        self._mean = 0.0
        self._m2 = 0.0

    @property
    def vpin(self) -> float | None:
        """VPIN over the last ``min(n_buckets, buckets)`` buckets; ``None`` before the first."""
        m = len(self._imbalances)
        if m == 0:
            return None
        return min(1.0, max(0.0, self._sum / (m * self.bucket_volume)))

    def buy_share(self, dp: float) -> float:
        """``Φ(ΔP/σ_ΔP)`` with the current ``σ_ΔP`` (module docstring)."""
        sigma = self.sigma
        if sigma is None and self._n_dp >= 2:
            sigma = math.sqrt(self._m2 / (self._n_dp - 1))
        if not sigma:
            return 1.0 if dp > 0 else 0.0 if dp < 0 else 0.5
        return _phi(dp / sigma)

    def update(self, price: float, volume: float) -> float | None:
        """Add one bar (its last ``price`` and its ``volume``); returns :attr:`vpin` after it."""
        price = _PRICE.check("price", price)
        volume = _VOLUME.check("volume", volume)
        dp = 0.0
        if self._last_price is not None:
            dp = price - self._last_price
            if self.sigma is None:  # Welford: running mean and squared deviations of ΔP
                self._n_dp += 1
                delta = dp - self._mean
                self._mean += delta / self._n_dp
                self._m2 += delta * (dp - self._mean)
        self._last_price = price
        share = self.buy_share(dp)
        v = self.bucket_volume
        room = v - self._bucket_vol
        if volume < room:  # the bar ends inside the open bucket
            self._bucket_vol += volume
            self._bucket_buy += volume * share
            return self.vpin
        buy = min(v, self._bucket_buy + room * share)
        self._complete(abs(v - 2.0 * buy))  # |V_sell − V_buy| = |V − 2·V_buy|
        volume -= room
        full = int(volume // v)  # whole buckets of this bar alone: only the last n matter
        for _ in range(min(full, self.n_buckets)):
            self._complete(abs(v - 2.0 * v * share))
        self.buckets += full - min(full, self.n_buckets)
        rest = max(0.0, volume - full * v)
        self._bucket_vol = rest
        self._bucket_buy = rest * share
        return self.vpin

    def _complete(self, imbalance: float) -> None:
        q = self._imbalances
        q.append(imbalance)
        self._sum += imbalance
        if len(q) > self.n_buckets:
            self._sum -= q.popleft()
        self.buckets += 1
        self._since_exact += 1
        if self._since_exact >= self.n_buckets:
            self._sum = math.fsum(q)
            self._since_exact = 0


class ToxicityFilter:
    """Whether one venue may be routed to, from its VPIN (see the module docstring)."""

    __slots__ = (
        "_history",
        "_order",
        "excluded",
        "fallback",
        "history",
        "min_history",
        "quantile",
        "threshold",
    )

    def __init__(
        self,
        *,
        threshold: float | None = None,
        quantile: float | None = None,
        fallback: float = 1.0,
        history: int = 1_000,
        min_history: int = 50,
    ) -> None:
        if (threshold is None) == (quantile is None):
            raise FieldError("threshold", threshold, "give exactly one of threshold and quantile")
        self.threshold = None if threshold is None else _UNIT.check("threshold", threshold)
        self.quantile = None if quantile is None else _UNIT.check("quantile", quantile)
        self.fallback = _UNIT.check("fallback", fallback)
        self.history = _N.check("history", history)
        self.min_history = _N.check("min_history", min_history)
        self._history: deque[float] = deque()
        self._order: list[float] = []
        self.excluded = False

    def current_threshold(self) -> float:
        """The threshold in force now."""
        if self.threshold is not None:
            return self.threshold
        order = self._order
        if len(order) < self.min_history:
            return self.fallback
        # the empirical quantile: the value at rank ceil(q·m) (1-based) of the sorted history
        k = max(1, math.ceil(self.quantile * len(order)))
        return order[k - 1]

    def observe(self, vpin: float | None) -> bool:
        """Take the venue's VPIN after a completed bucket (``None``: none yet) and return
        whether the venue is excluded now. The quantile is taken over the history before this
        value, then the value joins it."""
        if vpin is None:
            self.excluded = False
            return False
        vpin = _UNIT.check("vpin", vpin)
        self.excluded = vpin > self.current_threshold()
        if self.quantile is not None:
            self._history.append(vpin)
            bisect.insort(self._order, vpin)
            if len(self._history) > self.history:
                old = self._history.popleft()
                del self._order[bisect.bisect_left(self._order, old)]
        return self.excluded

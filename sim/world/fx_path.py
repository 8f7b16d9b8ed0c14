"""The USD/BRL path: a GBM with Poisson jumps on a fixed grid, held in memory one block at a time.

The path of ``n_steps + 1`` points from ``s0`` is, exactly (``dt = step_s / 365 days``):

- ``n_steps`` standard normals drawn first (the diffusion: ``(μ − σ²/2)·dt + σ·√dt·z``), then
  ``n_steps`` Poisson jump counts (intensity ``λ·dt``, drawn in blocks of :data:`JUMP_BLOCK`,
  which gives the same draws as one call), then one ``N(jump_mean, jump_sd)`` per jump;
- each step's jumps added to its increment in draw order (as ``np.bincount`` sums them), the
  log-path the running sum of the increments (``np.cumsum``, strictly sequential), and the
  path ``s0·exp(log-path)``.

:class:`BlockedGbmPath` draws the generator's stream exactly in that order and keeps, instead
of the path, what it needs to rebuild any block of ``block`` points on demand: the generator's
state before each block's normals (``bit_generator.state``, numpy's public API), the jumps
(one entry per step with jumps) and the log-path's value at the end of each block (the running
sum carried into the next block: the same additions in the same order, so every point is
bit-identical to the whole path computed at once). A 180-day horizon on a 1-second grid is
15.6 M points (124 MB as one array); held in blocks it costs a few recent blocks (a reader
moves forward in time) and one generator state per block. The whole path is checked against
``value_range`` when it is drawn (one pass, block by block).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np

__all__ = ["JUMP_BLOCK", "BlockedGbmPath", "GbmParams"]

#: Poisson jump counts drawn per call
JUMP_BLOCK = 1 << 20
#: blocks rebuilt and kept at a time (readers move forward; a lagging feeder reads one back)
_KEPT_BLOCKS = 4
_YEAR_S = 365.0 * 86_400.0


class GbmParams:
    """Per-step parameters of the path: log drift, log diffusion scale, jump intensity and the
    jump size distribution."""

    __slots__ = ("drift", "jump_mean", "jump_sd", "lam", "scale")

    def __init__(self, cfg: Any, step_s: float) -> None:
        dt = step_s / _YEAR_S
        sigma = cfg.vol_annual
        self.drift = (cfg.drift_annual - 0.5 * sigma * sigma) * dt
        self.scale = sigma * math.sqrt(dt)
        self.lam = cfg.jump_intensity_per_year * dt
        self.jump_mean = cfg.jump_mean
        self.jump_sd = cfg.jump_sd


class BlockedGbmPath:
    """Points ``0 .. n_steps`` of the path (module docstring), rebuilt ``block`` at a time.

    ``rng`` is advanced exactly as drawing the whole path would advance it. Point ``i`` lies in
    block ``i // block``; block 0 starts with the start value ``s0``."""

    def __init__(
        self,
        cfg: Any,
        s0: float,
        n_steps: int,
        step_s: float,
        rng: np.random.Generator,
        block: int,
    ) -> None:
        if n_steps < 1 or block < 2:
            raise ValueError(f"n_steps={n_steps}, block={block}: must be >= 1 and >= 2")
        self.params = p = GbmParams(cfg, step_s)
        self.s0 = float(s0)
        self.n_points = n_steps + 1
        self.block = block
        self._bit_generator = type(rng.bit_generator)
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()
        # 1. the diffusion normals, block by block; keep the generator state before each block
        self._states = []
        n_blocks = -(-self.n_points // block)
        for b in range(n_blocks):
            self._states.append(rng.bit_generator.state)
            rng.standard_normal(self._increments_of(b))
        # 2. the jump counts, then one size per jump: summed per step, in draw order
        steps, counts = [], []
        for a in range(0, n_steps, JUMP_BLOCK):
            drawn = rng.poisson(p.lam, size=min(JUMP_BLOCK, n_steps - a))
            hit = np.flatnonzero(drawn)
            steps.append(hit + a)
            counts.append(drawn[hit])
        jump_step = np.repeat(np.concatenate([*steps, np.zeros(0, dtype=np.int64)]),
                              np.concatenate([*counts, np.zeros(0, dtype=np.int64)]))  # fmt: skip
        total = len(jump_step)
        jump_log = rng.normal(p.jump_mean, p.jump_sd, size=total) if total else np.zeros(0)
        uniq, first, inverse = np.unique(jump_step, return_index=True, return_inverse=True)
        self._jump_step = uniq.astype(np.int64)  # increment index of each step with jumps
        self._jump_add = np.zeros(len(uniq))  # what np.add.at adds to that increment
        np.add.at(self._jump_add, inverse, jump_log)
        self.jump_log = np.add.reduceat(jump_log, first) if total else np.zeros(0)
        # 3. the running log-path at each block's end (and the range of the whole path)
        self._carry = np.zeros(n_blocks)
        lows, highs = np.empty(n_blocks), np.empty(n_blocks)
        for b in range(n_blocks):
            log_path = self._log_block(b)
            self._carry[b] = log_path[-1]
            values = self._exp(log_path)
            lows[b], highs[b] = values.min(), values.max()  # NaN, if any, propagates
        #: smallest, largest and last point of the path (NaN when a point is NaN)
        self.min, self.max = float(lows.min()), float(highs.max())
        self.last = float(values[-1])

    @property
    def jump_steps(self) -> np.ndarray:
        """Step index (0-based increment) of every step with jumps, in time order."""
        return self._jump_step

    def first_outside(self, lo: float, hi: float) -> tuple[int, float] | None:
        """``(index, value)`` of the first point not in ``[lo, hi]`` (NaN included), or
        ``None`` when every point is inside (rebuilds blocks only when one is out)."""
        if lo <= self.min and self.max <= hi:  # NaN fails both comparisons
            return None
        for b in range(len(self._carry)):
            values = self._exp(self._log_block(b))
            bad = np.flatnonzero(~((values >= lo) & (values <= hi)))
            if len(bad):
                return b * self.block + int(bad[0]), float(values[bad[0]])
        return None  # pragma: no cover - min/max say a point is outside

    # -- reading ---------------------------------------------------------------------------
    def block_values(self, b: int) -> np.ndarray:
        """The points of block ``b`` (read-only; rebuilt when not among the kept ones)."""
        kept = self._kept
        got = kept.get(b)
        if got is not None:
            kept.move_to_end(b)
            return got
        got = self._exp(self._log_block(b))
        got.flags.writeable = False
        kept[b] = got
        if len(kept) > _KEPT_BLOCKS:
            kept.popitem(last=False)
        return got

    def value(self, i: int) -> float:
        """Point ``i`` (``0 <= i < n_points``)."""
        b, j = divmod(i, self.block)
        return float(self.block_values(b)[j])

    def values(self, idx: np.ndarray) -> np.ndarray:
        """Points ``idx`` (int64 array inside ``[0, n_points)``), as a new array."""
        out = np.empty(len(idx))
        if len(idx) == 0:
            return out
        blocks = idx // self.block
        lo, hi = int(blocks.min()), int(blocks.max())
        if lo == hi:
            out[:] = self.block_values(lo)[idx - lo * self.block]
            return out
        for b in np.unique(blocks):
            at = blocks == b
            out[at] = self.block_values(int(b))[idx[at] - int(b) * self.block]
        return out

    def strided(self, i0: int, step: int, n: int) -> np.ndarray:
        """Points ``i0 + k·step`` (``k < n``, all inside the path): a read-only view of one
        block when they lie in one, else a new array."""
        b0, j0 = divmod(i0, self.block)
        last = i0 + (n - 1) * step
        if last // self.block == b0:
            return self.block_values(b0)[j0 : j0 + (n - 1) * step + 1 : step]
        return self.values(i0 + np.arange(n, dtype=np.int64) * step)

    # -- building --------------------------------------------------------------------------
    def _increments_of(self, b: int) -> int:
        """Increments (normals) that block ``b`` draws: block 0 starts with ``s0``."""
        start = max(0, b * self.block - 1)
        end = min(self.n_points - 1, (b + 1) * self.block - 1)
        return end - start

    def _log_block(self, b: int) -> np.ndarray:
        """The log-path (``log(point / s0)``) over block ``b``."""
        p = self.params
        gen = np.random.Generator(self._bit_generator(0))
        gen.bit_generator.state = self._states[b]
        n_inc = self._increments_of(b)
        head = 1 if b == 0 else 0
        log_path = np.empty(n_inc + head)
        log_path[0] = 0.0
        inc = log_path[head:]
        gen.standard_normal(out=inc)
        inc *= p.scale
        inc += p.drift
        first_inc = max(0, b * self.block - 1)
        a, z = np.searchsorted(self._jump_step, [first_inc, first_inc + n_inc])
        inc[self._jump_step[a:z] - first_inc] += self._jump_add[a:z]
        if b > 0:
            inc[0] += self._carry[b - 1]
        np.cumsum(inc, out=inc)
        return log_path

    def _exp(self, log_path: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):  # out of range: first_outside says so
            out = np.exp(log_path)
        out *= self.s0
        return out

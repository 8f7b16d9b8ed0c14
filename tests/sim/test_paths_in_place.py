"""The USD/BRL path held in blocks (sim/world/fx_path.py ``BlockedGbmPath``) is exactly the
path of the plain formula: same draws in the same order, same arithmetic, same jumps, whatever
the block size and in whatever order the blocks are read."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.world import UsdBrlConfig
from sim.world import fx_path


def _plain(cfg: UsdBrlConfig, s0: float, n: int, step_s: float, rng: np.random.Generator):
    """The specification: every array at once."""
    dt = step_s / fx_path._YEAR_S
    sigma = cfg.vol_annual
    drift = (cfg.drift_annual - 0.5 * sigma * sigma) * dt
    log_inc = drift + sigma * math.sqrt(dt) * rng.standard_normal(n)
    counts = rng.poisson(cfg.jump_intensity_per_year * dt, size=n)
    total = int(counts.sum())
    jump_step = np.repeat(np.arange(n, dtype=np.int64), counts)
    jump_log = rng.normal(cfg.jump_mean, cfg.jump_sd, size=total) if total else np.zeros(0)
    if total:
        log_inc += np.bincount(jump_step, weights=jump_log, minlength=n)
    path = np.empty(n + 1)
    path[0] = 0.0
    np.cumsum(log_inc, out=path[1:])
    path = s0 * np.exp(path)
    if total:
        uniq, first = np.unique(jump_step, return_index=True)
        return path, uniq, np.add.reduceat(jump_log, first), rng.random()
    return path, np.zeros(0, dtype=np.int64), np.zeros(0), rng.random()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 3 * fx_path.JUMP_BLOCK),
    step_s=st.sampled_from([1.0, 0.25, 3600.0]),
    jumps=st.sampled_from([0.0, 12.0, 1000.0]),
    vol=st.floats(0.01, 0.5),
    n_blocks=st.integers(1, 40),
    data=st.data(),
)
def test_blocked_path_is_the_plain_formula(seed, n, step_s, jumps, vol, n_blocks, data) -> None:
    cfg = UsdBrlConfig(vol_annual=vol, jump_intensity_per_year=jumps, jump_sd=0.05)
    rng = np.random.default_rng(seed)
    path = fx_path.BlockedGbmPath(cfg, 5.8, n, step_s, rng, block=max(2, -(-(n + 1) // n_blocks)))
    want, uniq, sums, after = _plain(cfg, 5.8, n, step_s, np.random.default_rng(seed))
    assert rng.random() == after  # the generator is left in the same state
    np.testing.assert_array_equal(path.jump_steps, uniq)
    np.testing.assert_array_equal(path.jump_log, sums)
    assert path.n_points == len(want) and path.last == want[-1]
    assert (path.min, path.max) == (want.min(), want.max())
    # blocks read in a random order (rebuilt when no longer kept) are the plain path's pieces
    n_blocks = -(-path.n_points // path.block)  # at most the drawn number
    for b in data.draw(st.lists(st.integers(0, n_blocks - 1), max_size=12)):
        got = path.block_values(b)
        np.testing.assert_array_equal(got, want[b * path.block : (b + 1) * path.block])
    idx = np.asarray(data.draw(st.lists(st.integers(0, n), max_size=50)), dtype=np.int64)
    np.testing.assert_array_equal(path.values(idx), want[idx])
    i0 = data.draw(st.integers(0, n))
    stride = data.draw(st.integers(1, 7))
    k = data.draw(st.integers(1, (n - i0) // stride + 1))
    np.testing.assert_array_equal(
        path.strided(i0, stride, k), want[i0 : i0 + (k - 1) * stride + 1 : stride]
    )
    assert path.value(n) == want[n]

"""The USD/BRL path drawn in place (sim/world/paths.py ``_gbm_jumps``) is exactly the path of
the plain formula: same draws in the same order, same arithmetic, same jumps."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.config.world import UsdBrlConfig
from sim.world import paths


def _plain(cfg: UsdBrlConfig, s0: float, n: int, step_s: float, rng: np.random.Generator):
    """The specification: every array at once."""
    dt = step_s / paths._YEAR_S
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
    n=st.integers(1, 3 * paths._JUMP_BLOCK),
    step_s=st.sampled_from([1.0, 0.25, 3600.0]),
    jumps=st.sampled_from([0.0, 12.0, 1000.0]),
    vol=st.floats(0.01, 0.5),
)
def test_in_place_path_is_the_plain_formula(seed, n, step_s, jumps, vol) -> None:
    cfg = UsdBrlConfig(vol_annual=vol, jump_intensity_per_year=jumps, jump_sd=0.05)
    rng = np.random.default_rng(seed)
    got = (*paths._gbm_jumps(cfg, 5.8, n, step_s, rng), rng.random())
    want = _plain(cfg, 5.8, n, step_s, np.random.default_rng(seed))
    for g, w in zip(got[:3], want[:3], strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype
    assert got[3] == want[3]  # the generator is left in the same state

"""The world's exogenous reference paths: CDI and USD/BRL, drawn once at build time from the
run's :class:`sim.seeds.SeedTree` (``world.cdi``, ``world.usdbrl``), so they are a pure
function of (scenario, seed).

Paths (units: CDI in bps of an annual 252-day rate, USD/BRL in BRL per USD)
---------------------------------------------------------------------------
- **CDI**: a step path. Regular policy meetings every ``meeting_interval_days`` from
  ``first_meeting_day`` (or at ``meeting_dates``) move it by ``25·k`` bps with
  ``k = clip(round(N(drift_steps, vol_steps)), ±max_steps)``; a cut never takes it below
  ``floor_bps`` (it is shortened by whole 25 bps steps instead). Forced ``shocks`` are
  extraordinary meetings with a fixed ``delta_bps``. A decision takes effect at the meeting's
  ``t_s`` (start of its day, or the fractional ``at_day`` of a shock). Meetings cover the whole
  run including the run-off after the horizon.
- **USD/BRL**: GBM with Poisson jumps, exact on a grid of ``grid_s`` seconds over the oracle
  window ``[0, horizon + oracles tail]`` and on a 1-hour grid after it (run-off), held
  constant between grid points (the value at ``t`` is the one at the grid point ``<= t``).

Every drawn value is checked before the paths are used: USD/BRL must be finite and inside
:data:`USDBRL_RANGE`, the CDI inside ``[0, MAX_RATE_BPS]``; otherwise :func:`build_paths` raises
:class:`PathError` (a ``ScenarioError``, so ``ce run`` exits 2 with its one line and writes no
run directory) naming the section and the parameters that drove the path out.

Queries are O(1) (USD/BRL: an index) or O(log meetings) (CDI: ``bisect``), with vectorised
``*_many`` variants for the feeders; a feeder polling whole seconds on the USD/BRL grid reads a
strided view of it (:meth:`ExogenousPaths.usdbrl_on_grid`, the same values without indexing). Before 0 a path returns its start value, after its end its
last value.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from market.calendar import DAY_S, sim_date
from sim.config.limits import MAX_RATE_BPS
from sim.config.scenario import ScenarioError
from sim.config.world import CDI_STEP_BPS, CdiConfig, ExogenousConfig
from sim.world.fx_path import BlockedGbmPath

__all__ = ["USDBRL_RANGE", "ExogenousPaths", "PathError", "PolicyMeeting", "build_paths"]

#: BRL per USD a drawn path must stay in: far outside any real quote, but every value a
#: feeder, the aggregator and the oracle_ticks table can use (positive, finite, no underflow)
USDBRL_RANGE = (1e-4, 1e6)

_COARSE_GRID_S = 3_600.0


class PathError(ScenarioError):
    """A drawn path leaves the range the engine can use: one line naming the section and the
    parameters to change."""


@dataclass(frozen=True, slots=True)
class PolicyMeeting:
    """A CDI decision: at ``t_s`` the rate moves by ``delta_bps`` to ``rate_bps``."""

    t_s: float
    date: date
    delta_bps: int
    rate_bps: int
    kind: str  # "regular" | "extraordinary"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (date as ISO string)."""
        return {
            "t_s": self.t_s,
            "date": self.date.isoformat(),
            "delta_bps": self.delta_bps,
            "rate_bps": self.rate_bps,
            "kind": self.kind,
        }


class ExogenousPaths:
    """The true CDI and USD/BRL paths of one run (precomputed; cheap to query)."""

    def __init__(
        self,
        meetings: Sequence[PolicyMeeting],
        cdi_start_bps: int,
        fx_fine: BlockedGbmPath,
        fx_grid_s: float,
        fx_coarse: BlockedGbmPath,
        fx_jump_t: np.ndarray,
        fx_jump_log: np.ndarray,
    ) -> None:
        self._meetings = tuple(meetings)
        self._change_t = [m.t_s for m in self._meetings]
        self._rates = [cdi_start_bps] + [m.rate_bps for m in self._meetings]
        self._change_t_arr = np.asarray(self._change_t, dtype=np.float64)
        self._rates_arr = np.asarray(self._rates, dtype=np.int64)
        self._fine = fx_fine
        self._grid = float(fx_grid_s)
        self._fine_end = (fx_fine.n_points - 1) * self._grid
        self._coarse = fx_coarse
        self._jump_t = fx_jump_t
        self._jump_log = fx_jump_log

    # -- CDI ----------------------------------------------------------------------------------
    @property
    def policy_meetings(self) -> tuple[PolicyMeeting, ...]:
        """Every CDI decision of the run (regular and extraordinary), in time order."""
        return self._meetings

    def cdi_bps_at(self, t_s: float) -> int:
        """True CDI at ``t_s`` in bps (a decision at ``t`` is in force from ``t`` on)."""
        return self._rates[bisect.bisect_right(self._change_t, t_s)]

    def cdi_at(self, t_s: float) -> float:
        """True CDI at ``t_s`` as an annual fraction (0.149 = 14.90 %)."""
        return self._rates[bisect.bisect_right(self._change_t, t_s)] / 10_000.0

    def cdi_constant_on(self, t0_s: float, t1_s: float) -> float | None:
        """:meth:`cdi_at` when the CDI is the same at every time of ``[t0_s, t1_s]`` (no
        decision takes effect in ``(t0_s, t1_s]``), else ``None``."""
        i = bisect.bisect_right(self._change_t, t0_s)
        if i != bisect.bisect_right(self._change_t, t1_s):
            return None
        return self._rates[i] / 10_000.0

    def cdi_bps_at_many(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`cdi_bps_at` (int64 array)."""
        idx = np.searchsorted(self._change_t_arr, t_s, side="right")
        return self._rates_arr[idx]

    def cdi_at_many(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`cdi_at` (float64 array)."""
        return self.cdi_bps_at_many(t_s) / 10_000.0

    # -- USD/BRL ------------------------------------------------------------------------------
    def usdbrl_at(self, t_s: float) -> float:
        """True USD/BRL mid at ``t_s`` (BRL per USD)."""
        if t_s <= self._fine_end:
            return self._fine.value(int(t_s // self._grid) if t_s > 0 else 0)
        j = int((t_s - self._fine_end) // _COARSE_GRID_S)
        c = self._coarse
        return c.value(min(j, c.n_points - 1))

    def usdbrl_at_many(self, t_s: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`usdbrl_at` (float64 array)."""
        t = np.asarray(t_s, dtype=np.float64)
        if len(t) == 0:
            return np.zeros(0)
        lo, hi = float(t.min()), float(t.max())
        # t // 1.0 == floor(t) == trunc(t) for t >= 0 (and t < 0 is clipped to 0 below)
        fine_i = (t if self._grid == 1.0 else t // self._grid).astype(np.int64)
        if lo < 0 or hi > self._fine_end:
            np.clip(fine_i, 0, self._fine.n_points - 1, out=fine_i)
        out = self._fine.values(fine_i)
        if hi > self._fine_end:
            late = t > self._fine_end
            j = ((t[late] - self._fine_end) // _COARSE_GRID_S).astype(np.int64)
            out[late] = self._coarse.values(np.minimum(j, self._coarse.n_points - 1))
        return out

    def usdbrl_on_grid(self, t0_s: float, step_s: float, n: int) -> np.ndarray | None:
        """:meth:`usdbrl_at_many` of the times ``t0_s + k·step_s`` (``k < n``), read straight
        off the fine grid (a strided read-only view when they lie in one block), or ``None`` when that
        would not be exactly the same values: it needs whole-second ``t0_s >= 0``, ``step_s``
        and ``grid_s`` with ``step_s`` a multiple of ``grid_s``, and the last time inside the
        fine window (all float arithmetic is then exact)."""
        g = self._grid
        if n <= 0 or not t0_s >= 0.0 or not (t0_s.is_integer() and step_s.is_integer()):
            return None
        m = step_s / g
        if not (g.is_integer() and m.is_integer() and m >= 1.0):
            return None
        last = t0_s + (n - 1) * step_s
        if last > self._fine_end or last >= 2.0**52:
            return None
        return self._fine.strided(int(t0_s // g), int(m), n)

    @property
    def usdbrl_grid_s(self) -> float:
        """Resolution of the USD/BRL path over the oracle window (seconds)."""
        return self._grid

    @property
    def usdbrl_jumps(self) -> tuple[np.ndarray, np.ndarray]:
        """``(t_s, log_size)`` of every USD/BRL jump (summed per grid step), in time order."""
        return self._jump_t, self._jump_log

    def at(self, feed: str) -> Any:
        """The scalar path function of an oracle feed: ``"cdi"`` -> :meth:`cdi_at`,
        ``"usdbrl"`` -> :meth:`usdbrl_at`."""
        return {"cdi": self.cdi_at, "usdbrl": self.usdbrl_at}[feed]

    def at_many(self, feed: str) -> Any:
        """The vectorised path function of an oracle feed."""
        return {"cdi": self.cdi_at_many, "usdbrl": self.usdbrl_at_many}[feed]

    def on_grid(self, feed: str) -> Any:
        """The feed's exact grid-slice function ``(t0_s, step_s, n) -> array | None`` for the
        feeders (see :meth:`usdbrl_on_grid`), or ``None`` when the feed has none (CDI: a step
        path, read with :meth:`cdi_at_many`)."""
        return {"cdi": None, "usdbrl": self.usdbrl_on_grid}[feed]

    def constant_on(self, feed: str) -> Any:
        """The feed's ``(t0_s, t1_s) -> value | None`` test "is the path constant on
        ``[t0_s, t1_s]``" (CDI: :meth:`cdi_constant_on`), or ``None`` (USD/BRL moves every
        grid step)."""
        return {"cdi": self.cdi_constant_on, "usdbrl": None}[feed]


# --------------------------------------------------------------------------------- building


def _meeting_times(cfg: CdiConfig, start_date: date, end_s: float) -> list[float]:
    if cfg.meeting_dates is not None:
        days = [(d - start_date).days for d in cfg.meeting_dates]
        return [d * DAY_S for d in days if 0 <= d * DAY_S <= end_s]
    n = max(0, math.floor((end_s / DAY_S - cfg.first_meeting_day) / cfg.meeting_interval_days) + 1)
    return [(cfg.first_meeting_day + k * cfg.meeting_interval_days) * DAY_S for k in range(n)]


def _cdi_meetings(
    cfg: CdiConfig, start_date: date, end_s: float, rng: np.random.Generator
) -> list[PolicyMeeting]:
    regular = _meeting_times(cfg, start_date, end_s)
    draws = rng.normal(cfg.drift_steps, cfg.vol_steps, size=len(regular))
    steps = np.clip(np.rint(draws), -cfg.max_steps, cfg.max_steps).astype(np.int64)
    events = [(t, 0, int(k) * CDI_STEP_BPS) for t, k in zip(regular, steps, strict=True)]
    events += [(s.at_day * DAY_S, 1, s.delta_bps) for s in cfg.shocks]
    events.sort(key=lambda e: (e[0], e[1]))
    rate = cfg.start_bps
    out = []
    for t, extra, wanted in events:
        new = rate + wanted
        if new < cfg.floor_bps:  # shorten the cut by whole steps so the rate stays >= floor
            new = rate - CDI_STEP_BPS * ((rate - cfg.floor_bps) // CDI_STEP_BPS)
        d = sim_date(start_date, t)
        kind = "extraordinary" if extra else "regular"
        out.append(PolicyMeeting(float(t), d, new - rate, new, kind))
        rate = new
    return out


def _check_cdi(meetings: Sequence[PolicyMeeting]) -> None:
    """:class:`PathError` when a decision takes the CDI above ``MAX_RATE_BPS`` (the floor
    keeps it >= 0)."""
    for m in meetings:
        if m.rate_bps > MAX_RATE_BPS:
            raise PathError(
                f"exogenous.cdi: the CDI drawn for this seed reaches {m.rate_bps} bps on day "
                f"{m.t_s / DAY_S:g}: must stay <= {MAX_RATE_BPS} bps; lower drift_steps, "
                "vol_steps, max_steps or the shocks' delta_bps, or raise meeting_interval_days"
            )


def _check_usdbrl(path: BlockedGbmPath, step_s: float, t0_s: float) -> None:
    """:class:`PathError` when a point of ``path`` (sampled every ``step_s`` from ``t0_s``) is
    not finite or outside :data:`USDBRL_RANGE`."""
    lo, hi = USDBRL_RANGE
    bad = path.first_outside(lo, hi)
    if bad is None:
        return
    raise PathError(
        f"exogenous.usdbrl: the USD/BRL path drawn for this seed reaches {bad[1]:.3g} "
        f"on day {(t0_s + bad[0] * step_s) / DAY_S:.3g}: must stay in [{lo:g}, {hi:g}]; lower "
        "vol_annual, |drift_annual|, jump_intensity_per_year, |jump_mean| or jump_sd, or "
        "shorten horizon_days + engine.runoff_days"
    )


def build_paths(
    cfg: ExogenousConfig,
    start_date: date,
    fine_end_s: float,
    end_s: float,
    rng_cdi: np.random.Generator,
    rng_fx: np.random.Generator,
) -> ExogenousPaths:
    """Draw both paths: USD/BRL on ``grid_s`` up to ``fine_end_s`` and hourly up to ``end_s``;
    CDI meetings up to ``end_s``. Raises :class:`PathError` when a drawn value is out of range
    (module docstring)."""
    if not 0 < fine_end_s <= end_s:
        raise ValueError(f"fine_end_s={fine_end_s} must be in (0, end_s={end_s}]")
    meetings = _cdi_meetings(cfg.cdi, start_date, end_s, rng_cdi)
    fx = cfg.usdbrl
    n_fine = math.ceil(fine_end_s / fx.grid_s)
    block = max(2, math.ceil(DAY_S / fx.grid_s))  # one simulated day of points
    fine = BlockedGbmPath(fx, fx.start, n_fine, fx.grid_s, rng_fx, block)
    jt = (fine.jump_steps + 1) * fx.grid_s
    tail_s = max(0.0, end_s - n_fine * fx.grid_s)
    n_coarse = max(1, math.ceil(tail_s / _COARSE_GRID_S))
    coarse = BlockedGbmPath(fx, fine.last, n_coarse, _COARSE_GRID_S, rng_fx, n_coarse + 1)
    ct = n_fine * fx.grid_s + (coarse.jump_steps + 1) * _COARSE_GRID_S
    _check_cdi(meetings)
    _check_usdbrl(fine, fx.grid_s, 0.0)
    _check_usdbrl(coarse, _COARSE_GRID_S, n_fine * fx.grid_s)
    return ExogenousPaths(
        meetings,
        cfg.cdi.start_bps,
        fine,
        fx.grid_s,
        coarse,
        np.concatenate([jt.astype(np.float64), ct.astype(np.float64)]),
        np.concatenate([fine.jump_log, coarse.jump_log]),
    )

"""Loan-request arrivals: a non-homogeneous Poisson process with daily x weekly seasonality.

The rate is piecewise constant per hour of simulated time: in hour ``h`` (0..23) of weekday
``d`` (0 = Monday) it is ``arrivals_per_day / 24 * daily[h] / mean(daily) * weekly[d] /
mean(weekly)`` requests per hour, so the long-run mean is ``arrivals_per_day`` a day. Hour 0 of
simulated time is midnight of ``start_date``.

:func:`arrival_times` draws the whole horizon at once (one Poisson count per hour, then
uniform times inside each hour, sorted): vectorised, a few ms for a year of hours, and a pure
function of the config, the start weekday, the horizon and the generator state.

Who arrives (features, requested amount and term, true hazard) is drawn separately from the
population section (:func:`sim.agents.population.sample_borrowers`) once the count is known.
"""

from __future__ import annotations

from datetime import date

import numpy as np

from sim.config.market import BorrowersConfig

__all__ = ["arrival_times", "hourly_rates", "prepayment_month"]

_HOUR_S = 3600.0


def hourly_rates(cfg: BorrowersConfig, start_date: date, hours: int) -> np.ndarray:
    """Expected arrivals in each of the first ``hours`` hours of simulated time (float64)."""
    if hours < 0:
        raise ValueError(f"hours={hours}: must be >= 0")
    daily = np.asarray(cfg.daily_profile, dtype=np.float64)
    weekly = np.asarray(cfg.weekly_profile, dtype=np.float64)
    daily = daily / daily.mean()
    weekly = weekly / weekly.mean()
    h = np.arange(hours)
    weekday = (start_date.weekday() + h // 24) % 7
    return cfg.arrivals_per_day / 24.0 * daily[h % 24] * weekly[weekday]


def arrival_times(
    cfg: BorrowersConfig, start_date: date, horizon_s: float, rng: np.random.Generator
) -> np.ndarray:
    """Sorted arrival times in ``[0, horizon_s)`` seconds (float64), drawn from ``rng``."""
    if not horizon_s > 0:
        raise ValueError(f"horizon_s={horizon_s}: must be > 0")
    hours = int(np.ceil(horizon_s / _HOUR_S))
    lam = hourly_rates(cfg, start_date, hours)
    # the last hour may be partial
    last = horizon_s - (hours - 1) * _HOUR_S
    lam[-1] *= last / _HOUR_S
    counts = rng.poisson(lam)
    n = int(counts.sum())
    starts = np.repeat(np.arange(hours, dtype=np.float64) * _HOUR_S, counts)
    widths = np.full(hours, _HOUR_S)
    widths[-1] = last
    t = starts + rng.random(n) * np.repeat(widths, counts)
    t.sort(kind="stable")
    return t


def prepayment_month(hazard_monthly: float, rng: np.random.Generator) -> int:
    """Month (1, 2, ...) in which a loan would be prepaid under a constant monthly hazard, or a
    huge number when the hazard is 0 (geometric draw)."""
    if hazard_monthly <= 0:
        return 1 << 30
    return int(rng.geometric(hazard_monthly))

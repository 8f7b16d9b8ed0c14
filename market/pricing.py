"""Risk-based pricing: the engine's rate floor, the auction reserve it opens with, the platform fee.

Rules (spec/money.md "Risk-based price", spec/auction.md "Fee"):

* Rate floor: ``r_min = (k + PD * LGD) / (1 - PD)`` (annual, APR-365), with PD the probability
  of default over the loan, LGD the loss given default and ``k`` = funding cost + operating cost +
  target margin. It is the smallest rate whose expected repayment covers ``k`` after losses:
  ``(1 - PD) * (1 + r) + PD * (1 - LGD) = 1 + k``.
* :func:`quote` declines (``reason="ABOVE_POLICY_CAP"``) when ``r_min`` exceeds the policy cap;
  otherwise the auction opens with ``max_rate_bps = r_min + headroom`` **rounded up to the
  tick** (the smallest multiple of ``tick_bps`` that is >= ``r_min`` in bps + ``headroom_bps``).
  ``r_min_bps`` is ``r_min`` in bps rounded up (never quote below the floor).
* Platform fee: ``fee_cents = ceil(F * fee_bps / 10000)`` in integer arithmetic.

``quote`` works in exact rationals: PD, LGD and k are read as the decimals they print as (a
float ``0.1`` is 1/10), and an ``r_min`` within 1e-6 bp of a whole bp (float noise such as ``0.1
+ 0.2``) is taken as that bp (:data:`market.rates.BPS_SNAP`), so ties at a tick are never
decided by binary noise. For plain floats away from a bp boundary :func:`quote` first computes
``r_min`` in binary floating point (much cheaper than ``Fraction`` arithmetic) and uses it only
when ``r_min`` is farther than the float error bound (plus :data:`BPS_SNAP`) from every whole
bp, where every decision (ceil to bps, snap, above cap) is the same as the exact one; otherwise
it falls back to the exact path. The tests check the two agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from market.money import CENTS, ceil_div
from market.rates import BPS_PER_UNIT, BPS_SNAP, ceil_bps
from market.validation import Integer, Rational

__all__ = [
    "ABOVE_POLICY_CAP",
    "PriceQuote",
    "fee_cents",
    "quote",
    "risk_rate_floor",
    "risk_rate_floor_exact",
]

ABOVE_POLICY_CAP = "ABOVE_POLICY_CAP"
"""Decline reason: the risk floor exceeds the policy cap."""

Number = float | int | Decimal | Fraction

#: PD, LGD and k, read as the decimals they print as (a float ``0.1`` is 1/10)
_PD = Rational(0, 1, hi_open=True)
_LGD = Rational(0, 1)
_K = Rational(0, text="must be a finite number >= 0 (funding + operating cost + margin)")
_BPS = Integer(0)
_TICK_BPS = Integer(1)


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """Outcome of :func:`quote`. ``max_rate_bps`` is ``None`` when declined."""

    approved: bool
    reason: str | None
    r_min_bps: int
    max_rate_bps: int | None


def fee_cents(funded_cents: int, fee_bps: int) -> int:
    """Platform fee on a funded amount: ``ceil(funded_cents * fee_bps / 10000)`` (exact).

    ``funded_cents >= 0``, ``fee_bps >= 0`` ints.
    """
    f = CENTS.check("funded_cents", funded_cents)
    return ceil_div(f * _BPS.check("fee_bps", fee_bps), BPS_PER_UNIT)


def risk_rate_floor_exact(pd: Number, lgd: Number, k: Number) -> Fraction:
    """``(k + pd * lgd) / (1 - pd)`` as an exact ``Fraction`` (inputs read as decimals)."""
    p, g, kk = _PD.check("pd", pd), _LGD.check("lgd", lgd), _K.check("k", k)
    return (kk + p * g) / (1 - p)


def risk_rate_floor(pd: float, lgd: float, k: float) -> float:
    """Risk-based rate floor ``r_min = (k + pd * lgd) / (1 - pd)`` as a float (annual).

    ``pd`` in [0, 1), ``lgd`` in [0, 1], ``k >= 0``. Computed exactly, then rounded once to the
    nearest float, so it is non-decreasing in each of pd, lgd and k.
    """
    return float(risk_rate_floor_exact(pd, lgd, k))


def quote(
    pd: float,
    lgd: float,
    k: float,
    *,
    headroom_bps: int,
    tick_bps: int,
    policy_cap_bps: int,
    clamp_to_cap: bool = False,
) -> PriceQuote:
    """Price a loan request from its risk.

    Declines with ``reason="ABOVE_POLICY_CAP"`` when ``r_min > policy_cap_bps`` (exactly, not
    after rounding); otherwise approves with ``max_rate_bps = ceil_to_tick(r_min_bps_exact +
    headroom_bps)``. With ``clamp_to_cap=True`` (not the spec default) the reserve is also
    limited to the largest tick multiple <= the cap, and the request is declined if that is
    below ``r_min`` (no on-tick rate between floor and cap).

    ``headroom_bps >= 0``, ``tick_bps >= 1``, ``policy_cap_bps >= 0``.
    """
    if (
        type(pd) is float
        and type(lgd) is float
        and type(k) is float
        and 0.0 <= pd <= _FAST_MAX_PD
        and 0.0 <= lgd <= 1.0
        and 0.0 <= k < _FAST_MAX_K
        and not clamp_to_cap
        and type(headroom_bps) is int
        and type(tick_bps) is int
        and type(policy_cap_bps) is int
        and headroom_bps >= 0
        and tick_bps >= 1
        and policy_cap_bps >= 0
    ):
        r = (k + pd * lgd) / (1.0 - pd) * 10_000.0
        r_ceil = math.ceil(r)
        if r_ceil - r > _FAST_MARGIN and r - (r_ceil - 1) > _FAST_MARGIN:
            # r_min is not within the error bound + BPS_SNAP of a whole bp: exact decisions
            if r > policy_cap_bps:
                return PriceQuote(False, ABOVE_POLICY_CAP, r_ceil, None)
            max_rate = ceil_div(r_ceil + headroom_bps, tick_bps) * tick_bps
            return PriceQuote(True, None, r_ceil, max_rate)
    return _quote_exact(
        pd,
        lgd,
        k,
        headroom_bps=headroom_bps,
        tick_bps=tick_bps,
        policy_cap_bps=policy_cap_bps,
        clamp_to_cap=clamp_to_cap,
    )


#: fast-path domain: r_min <= (1 + 1) / (1 - 0.999) * 1e4 = 2e7 bps; the float result is then
#: within ~1.2e-6 bp of the exact one (inputs read as decimals differ from the floats by <= 1/2
#: ulp and each of the 5 operations adds <= 1/2 ulp: relative error <= ~5.6e-14 with the
#: 1 / (1 - pd) <= 1e3 amplification of pd's error), far inside the margin below
_FAST_MAX_PD = 0.999
_FAST_MAX_K = 1.0
_FAST_MARGIN = 1e-6 + 1e-4  # BPS_SNAP plus ~80x the bound on the float error


def _quote_exact(
    pd: Number,
    lgd: Number,
    k: Number,
    *,
    headroom_bps: int,
    tick_bps: int,
    policy_cap_bps: int,
    clamp_to_cap: bool = False,
) -> PriceQuote:
    """:func:`quote` in exact rational arithmetic (the reference the fast path must match)."""
    r_min = risk_rate_floor_exact(pd, lgd, k) * BPS_PER_UNIT  # exact, in bps
    headroom = _BPS.check("headroom_bps", headroom_bps)
    tick = _TICK_BPS.check("tick_bps", tick_bps)
    cap = _BPS.check("policy_cap_bps", policy_cap_bps)
    r_min_bps = ceil_bps(r_min)
    if abs(r_min - round(r_min)) <= BPS_SNAP:  # float noise: treat as the integer bp
        r_min = Fraction(round(r_min))
    if r_min > cap:
        return PriceQuote(False, ABOVE_POLICY_CAP, r_min_bps, None)
    # the tick multiples are integers, so ceil_to_tick(exact) == ceil_to_tick(ceil(exact))
    max_rate = ceil_div(r_min_bps + headroom, tick) * tick
    if clamp_to_cap:
        max_rate = min(max_rate, (cap // tick) * tick)
        if max_rate < r_min:
            return PriceQuote(False, ABOVE_POLICY_CAP, r_min_bps, None)
    return PriceQuote(True, None, r_min_bps, max_rate)

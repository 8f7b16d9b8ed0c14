"""Tests for market.pricing: risk floor, quote, platform fee."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from market.pricing import (
    ABOVE_POLICY_CAP,
    PriceQuote,
    fee_cents,
    quote,
    risk_rate_floor,
    risk_rate_floor_exact,
)
from market.rates import BPS_SNAP

PD = st.floats(0.0, 0.999, allow_nan=False)
LGD = st.floats(0.0, 1.0, allow_nan=False)
K = st.floats(0.0, 1.0, allow_nan=False)


def test_fee_examples() -> None:
    assert fee_cents(1_000_000, 50) == 5_000  # spec example: R$10,000 at 0.50 %
    assert fee_cents(1, 50) == 1  # ceil
    assert fee_cents(199, 50) == 1
    assert fee_cents(200, 50) == 1
    assert fee_cents(201, 50) == 2
    assert fee_cents(0, 50) == 0
    assert fee_cents(123_457, 0) == 0


@given(st.integers(0, 10**15), st.integers(0, 10_000))
def test_fee_is_exact_ceiling(funded: int, bps: int) -> None:
    fee = fee_cents(funded, bps)
    exact = Fraction(funded * bps, 10_000)
    assert fee - 1 < exact <= fee
    assert fee <= funded


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((-1, 50), r"funded_cents=-1: must be a whole number of centavos >= 0"),
        ((100.0, 50), r"funded_cents=100\.0: must be a whole number of centavos"),
        ((100, -5), r"fee_bps=-5: must be an integer >= 0"),
        ((100, 0.5), r"fee_bps=0\.5: must be an integer >= 0"),
    ],
)
def test_fee_validation(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fee_cents(*args)


def test_risk_floor_examples() -> None:
    assert risk_rate_floor(0.0, 0.6, 0.15) == 0.15
    assert risk_rate_floor(0.02, 0.6, 0.15) == pytest.approx(0.162 / 0.98, rel=1e-15)
    assert risk_rate_floor(0.1, 1.0, 0.0) == pytest.approx(0.1 / 0.9, rel=1e-15)
    # break-even: (1 - PD)(1 + r) + PD (1 - LGD) = 1 + k
    pd, lgd, k = 0.05, 0.45, 0.2
    r = risk_rate_floor(pd, lgd, k)
    assert (1 - pd) * (1 + r) + pd * (1 - lgd) == pytest.approx(1 + k, rel=1e-14)


@given(PD, PD, LGD, K)
def test_risk_floor_monotone_in_pd(p1: float, p2: float, lgd: float, k: float) -> None:
    assume(p1 < p2)
    assert risk_rate_floor(p1, lgd, k) <= risk_rate_floor(p2, lgd, k)


@given(PD, LGD, LGD, K)
def test_risk_floor_monotone_in_lgd(pd: float, g1: float, g2: float, k: float) -> None:
    assume(g1 < g2)
    assert risk_rate_floor(pd, g1, k) <= risk_rate_floor(pd, g2, k)
    if pd > 0:  # strictly, exactly
        assert risk_rate_floor_exact(pd, g1, k) < risk_rate_floor_exact(pd, g2, k)


@given(PD, LGD, K, K)
def test_risk_floor_monotone_in_k(pd: float, lgd: float, k1: float, k2: float) -> None:
    assume(k1 < k2)
    assert risk_rate_floor(pd, lgd, k1) <= risk_rate_floor(pd, lgd, k2)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((1.0, 0.5, 0.1), r"pd=1\.0: must be a finite number in \[0, 1\)"),
        ((-0.01, 0.5, 0.1), r"pd=-0\.01: must be a finite number in \[0, 1\)"),
        ((float("nan"), 0.5, 0.1), r"pd=nan: must be a finite number"),
        ((0.1, 1.5, 0.1), r"lgd=1\.5: must be a finite number in \[0, 1\]"),
        ((0.1, 0.5, -0.1), r"k=-0\.1: must be a finite number >= 0"),
        ((0.1, "0.5", 0.1), r'lgd="0\.5": must be a finite number in \[0, 1\]'),
    ],
)
def test_risk_floor_validation(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        risk_rate_floor(*args)
    with pytest.raises(ValueError, match=match):
        quote(*args, headroom_bps=0, tick_bps=5, policy_cap_bps=10_000)


def test_quote_examples() -> None:
    # r_min = 0.162 / 0.98 = 16.5306... % -> 1654 bps (up); + 200 = 1853.06 -> tick 5 up -> 1855
    q = quote(0.02, 0.6, 0.15, headroom_bps=200, tick_bps=5, policy_cap_bps=5000)
    assert q == PriceQuote(True, None, 1654, 1855)
    # exactly on a tick stays there (no binary noise): r_min = 0.15 -> 1500 + 100 = 1600
    q = quote(0.0, 0.6, 0.15, headroom_bps=100, tick_bps=5, policy_cap_bps=5000)
    assert q == PriceQuote(True, None, 1500, 1600)
    # 0.1 + 0.2 == 0.30000000000000004: float noise 4e-13 bp above 3000 is snapped, not a tick
    q = quote(0.0, 0.0, 0.1 + 0.2, headroom_bps=0, tick_bps=5, policy_cap_bps=5000)
    assert q.r_min_bps == 3000 and q.max_rate_bps == 3000


def test_quote_declines_above_cap() -> None:
    q = quote(0.3, 0.9, 0.2, headroom_bps=200, tick_bps=5, policy_cap_bps=5000)
    # r_min = (0.2 + 0.27) / 0.7 = 67.14 %
    assert q == PriceQuote(False, ABOVE_POLICY_CAP, 6715, None)
    # r_min exactly at the cap is approved (decline only when r_min > cap)
    q = quote(0.0, 0.0, 0.5, headroom_bps=200, tick_bps=5, policy_cap_bps=5000)
    assert q.approved and q.max_rate_bps == 5200
    # r_min just above the cap by a fraction of a bp is declined even though ceil hits the cap+1
    q = quote(0.0, 0.0, Fraction(50001, 100000), headroom_bps=0, tick_bps=5, policy_cap_bps=5000)
    assert not q.approved and q.r_min_bps == 5001


def test_quote_clamp_to_cap_option() -> None:
    q = quote(0.0, 0.0, 0.48, headroom_bps=500, tick_bps=5, policy_cap_bps=5000, clamp_to_cap=True)
    assert q == PriceQuote(True, None, 4800, 5000)
    # r_min 5003 <= cap 5004 but no tick multiple lies in [5003, 5004]
    q = quote(0.0, 0.0, 0.5003, headroom_bps=0, tick_bps=5, policy_cap_bps=5004, clamp_to_cap=True)
    assert q == PriceQuote(False, ABOVE_POLICY_CAP, 5003, None)
    q = quote(0.0, 0.0, 0.5003, headroom_bps=0, tick_bps=5, policy_cap_bps=5004)
    assert q == PriceQuote(True, None, 5003, 5005)  # spec default: no clamp


@given(
    PD,
    LGD,
    K,
    st.integers(0, 2_000),
    st.integers(1, 100),
    st.integers(0, 20_000),
)
def test_quote_properties(
    pd: float, lgd: float, k: float, headroom: int, tick: int, cap: int
) -> None:
    q = quote(pd, lgd, k, headroom_bps=headroom, tick_bps=tick, policy_cap_bps=cap)
    exact_bps = risk_rate_floor_exact(pd, lgd, k) * 10_000
    if abs(exact_bps - round(exact_bps)) <= BPS_SNAP:
        exact_bps = Fraction(round(exact_bps))  # float noise is snapped to the whole bp
    assert q.r_min_bps == math.ceil(exact_bps)
    if exact_bps > cap:
        assert not q.approved and q.reason == ABOVE_POLICY_CAP and q.max_rate_bps is None
    else:
        assert q.approved and q.reason is None and q.max_rate_bps is not None
        m = q.max_rate_bps
        assert m % tick == 0
        assert m >= exact_bps + headroom  # covers floor + headroom
        assert m - tick < exact_bps + headroom  # the smallest such tick multiple
        clamped = quote(
            pd, lgd, k, headroom_bps=headroom, tick_bps=tick, policy_cap_bps=cap, clamp_to_cap=True
        )
        if clamped.approved:
            assert clamped.max_rate_bps is not None
            assert exact_bps <= clamped.max_rate_bps <= min(cap, m)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"headroom_bps": -1, "tick_bps": 5, "policy_cap_bps": 100}, r"headroom_bps=-1"),
        (
            {"headroom_bps": 0, "tick_bps": 0, "policy_cap_bps": 100},
            r"tick_bps=0: must be an integer >= 1",
        ),
        ({"headroom_bps": 0, "tick_bps": 5, "policy_cap_bps": -3}, r"policy_cap_bps=-3"),
        ({"headroom_bps": 0, "tick_bps": 5.0, "policy_cap_bps": 100}, r"tick_bps=5\.0"),
    ],
)
def test_quote_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        quote(0.01, 0.5, 0.1, **kwargs)


_FAST_KW = {"headroom_bps": 150, "tick_bps": 5, "policy_cap_bps": 6000}


@given(
    pd=st.floats(0.0, 0.9995, allow_nan=False),
    lgd=st.floats(0.0, 1.0, allow_nan=False),
    k=st.floats(0.0, 1.2, allow_nan=False),
    cap=st.integers(0, 30_000),
)
def test_float_fast_path_equals_exact(pd: float, lgd: float, k: float, cap: int) -> None:
    from market.pricing import _quote_exact

    kw = {**_FAST_KW, "policy_cap_bps": cap}
    assert quote(pd, lgd, k, **kw) == _quote_exact(pd, lgd, k, **kw)


@given(
    target=st.integers(0, 20_000),
    pd=st.sampled_from([0.0, 0.01, 0.1, 0.3, 0.7]),
    lgd=st.sampled_from([0.0, 0.45, 0.6, 1.0]),
    ulps=st.integers(-64, 64),
    nudge=st.sampled_from([0.0, 1e-12, -1e-12, 5e-11, -5e-11, 1e-10, -1e-10]),
)
def test_fast_path_near_bp_boundaries_equals_exact(
    target: int, pd: float, lgd: float, ulps: int, nudge: float
) -> None:
    """k chosen so that r_min lands on / next to a whole bp and a cap equal to it."""
    from market.pricing import _quote_exact

    k = target / 10_000 * (1.0 - pd) - pd * lgd + nudge
    if k < 0:
        return
    for _ in range(abs(ulps)):
        k = math.nextafter(k, math.inf if ulps > 0 else 0.0)
    for cap in (target - 1, target, target + 1):
        if cap < 0:
            continue
        kw = {**_FAST_KW, "policy_cap_bps": cap}
        assert quote(pd, lgd, k, **kw) == _quote_exact(pd, lgd, k, **kw)

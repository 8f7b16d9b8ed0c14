"""FX mechanisms: venue quotes, the best-execution router, VPIN and the toxicity filter."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from market.fx import BUY, SELL, Level, ToxicityFilter, VenueQuote, VpinMeter, ladder_quote, route
from market.validation import FieldError

# --------------------------------------------------------------------------------- quotes


def test_ladder_quote_levels_and_mid() -> None:
    q = ladder_quote("v1", 5.0, spread_bps=10, sizes_usd_cents=[100, 200], step_bps=5, fee_bps=3)
    assert [lv.price for lv in q.asks] == pytest.approx([5.0025, 5.005])
    assert [lv.price for lv in q.bids] == pytest.approx([4.9975, 4.995])
    assert q.mid == pytest.approx(5.0) and q.fee_bps == 3
    assert q.all_in(BUY, 5.0) == pytest.approx(5.0015) and q.all_in(SELL, 5.0) == pytest.approx(
        4.9985
    )


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: VenueQuote("v", (Level(5.01, 1),), (Level(5.0, 1),)),
            "v.bids[0].price=5.01: must be below the best ask 5.0 (a positive spread)",
        ),
        (lambda: VenueQuote("v", (), (Level(5.0, 1),)), "v.bids=0: must hold 1 to 1000 levels"),
        (
            lambda: VenueQuote("v", (Level(4.9, 1),), (Level(5.0, 0),)),
            "v.asks[0].size_usd_cents=0: must be a positive integer below 2**63",
        ),
        (
            lambda: VenueQuote("v", (Level(4.9, 1), Level(4.95, 1)), (Level(5.0, 1),)),
            "v.bids[1].price=4.95: must be below level 0's 4.9",
        ),
        (
            lambda: ladder_quote("v", 5.0, spread_bps=-1, sizes_usd_cents=[1]),
            "v.spread_bps=-1: must be a number of bps in (0, 10000]",
        ),
        (
            lambda: ladder_quote("v", 5.0, spread_bps=1, sizes_usd_cents=[1], fee_bps=-2),
            "v.fee_bps=-2: must be an integer number of bps in [0, 10000]",
        ),
        (
            lambda: ladder_quote("v", math.inf, spread_bps=1, sizes_usd_cents=[1]),
            "v.mid=inf: must be a finite price in (0, 1e6] BRL per USD",
        ),
    ],
)
def test_bad_quotes_are_one_line(build, message: str) -> None:
    with pytest.raises(FieldError) as err:
        build()
    assert str(err.value) == message


def test_route_refuses_unknown_excluded_venue() -> None:
    q = ladder_quote("a", 5.0, spread_bps=10, sizes_usd_cents=[100])
    with pytest.raises(FieldError, match='exclude="zz": must name a venue of the quotes'):
        route(BUY, 10, [q], 5.0, exclude={"zz": "vpin"})


# --------------------------------------------------------------------------------- router


@st.composite
def _books(draw, max_venues: int = 4, max_levels: int = 4, max_size: int = 50):
    n = draw(st.integers(1, max_venues))
    quotes = []
    for v in range(n):
        mid = 5.0 * (1 + draw(st.integers(-30, 30)) / 10_000)
        sizes = draw(st.lists(st.integers(1, max_size), min_size=1, max_size=max_levels))
        quotes.append(
            ladder_quote(
                f"v{v}",
                mid,
                spread_bps=draw(st.integers(1, 40)),
                sizes_usd_cents=sizes,
                step_bps=draw(st.integers(1, 10)),
                fee_bps=draw(st.integers(0, 20)),
            )
        )
    return quotes


def _cost(r, quotes) -> float:
    """Unrounded all-in value of a route's fills (what the router ranks by)."""
    fee = {q.venue: q for q in quotes}
    return sum(f.usd_cents * fee[f.venue].all_in(r.side, f.price) for f in r.fills)


@settings(max_examples=200, deadline=None)
@given(
    quotes=_books(), side=st.sampled_from([BUY, SELL]), needed=st.integers(1, 300), data=st.data()
)
def test_route_conserves_amounts_and_skips_excluded(quotes, side, needed, data) -> None:
    names = [q.venue for q in quotes]
    excluded = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    r = route(side, needed, quotes, 5.0, exclude={v: "vpin" for v in excluded})
    assert r.filled_usd_cents + r.unfilled_usd_cents == needed
    assert sum(f.usd_cents for f in r.fills) == r.filled_usd_cents
    assert not {f.venue for f in r.fills} & set(excluded)
    book = {q.venue: q for q in quotes}
    for f in r.fills:
        assert 0 < f.usd_cents <= book[f.venue].levels(side)[f.level].size_usd_cents
    usable = sum(
        lv.size_usd_cents for q in quotes if q.venue not in excluded for lv in q.levels(side)
    )
    assert r.filled_usd_cents == min(needed, usable)  # unfilled only when the book is exhausted
    notional = sum(f.notional_brl_cents for f in r.fills)
    assert r.brl_cents == (
        notional + r.fee_brl_cents if side == BUY else notional - r.fee_brl_cents
    )
    assert (r.avg_rate is None) == (r.filled_usd_cents == 0)


@settings(max_examples=200, deadline=None)
@given(quotes=_books(), side=st.sampled_from([BUY, SELL]), needed=st.integers(1, 200))
def test_route_is_never_worse_than_the_best_single_venue(quotes, side, needed) -> None:
    r = route(side, needed, quotes, 5.0)
    for q in quotes:
        alone = route(side, needed, [q], 5.0)
        if alone.unfilled_usd_cents:
            continue
        ours, theirs = _cost(r, quotes), _cost(alone, [q])
        if side == BUY:
            assert ours <= theirs * (1 + 1e-12)
        else:
            assert ours >= theirs * (1 - 1e-12)


def _brute_force(quotes, side: str, needed: int) -> float | None:
    """Best unrounded all-in value over every integer split of ``needed`` across the levels."""
    levels = [
        (q.all_in(side, lv.price), lv.size_usd_cents) for q in quotes for lv in q.levels(side)
    ]
    best = None
    for takes in itertools.product(*(range(size + 1) for _, size in levels)):
        if sum(takes) != needed:
            continue
        value = sum(t * p for t, (p, _) in zip(takes, levels, strict=True))
        if best is None or (value < best if side == BUY else value > best):
            best = value
    return best


@settings(max_examples=150, deadline=None)
@given(
    quotes=_books(max_venues=2, max_levels=2, max_size=4),
    side=st.sampled_from([BUY, SELL]),
    needed=st.integers(1, 10),
)
def test_route_matches_the_brute_force_optimum_on_small_ladders(quotes, side, needed) -> None:
    r = route(side, needed, quotes, 5.0)
    best = _brute_force(quotes, side, needed)
    if best is None:  # the book cannot fill it: the router says so
        assert r.unfilled_usd_cents > 0
        return
    assert r.unfilled_usd_cents == 0
    assert _cost(r, quotes) == pytest.approx(best, rel=1e-12)


def test_route_reference_example() -> None:
    a = ladder_quote("a", 5.0, spread_bps=10, sizes_usd_cents=[1000] * 3, step_bps=2, fee_bps=5)
    b = ladder_quote("b", 5.0, spread_bps=6, sizes_usd_cents=[500] * 3, step_bps=3, fee_bps=10)
    r = route(BUY, 2500, [a, b], 5.0)
    # all-in asks: a0 5.0050, a1 5.0060, b0 5.0065, a2 5.0070 ...
    assert [(f.venue, f.level, f.usd_cents) for f in r.fills] == [
        ("a", 0, 1000),
        ("a", 1, 1000),
        ("b", 0, 500),
    ]
    assert r.brl_cents == 12_516 and r.avg_rate == pytest.approx(5.0064)
    assert r.delta_bps == pytest.approx(12.8)
    gone = route(SELL, 99_999, [a, b], 5.0, exclude={"b": "vpin above 0.9 quantile"})
    assert gone.unfilled_usd_cents == 96_999 and gone.venues_used == ("a",)
    assert gone.excluded == (("b", "vpin above 0.9 quantile"),)


# --------------------------------------------------------------------------------- VPIN


def _vpin_reference(bars, bucket: float, n: int, sigma: float) -> float | None:
    """Non-streaming VPIN: classify every bar, cut the volume into buckets, average the last n."""
    buckets, vol, buy, last = [], 0.0, 0.0, None
    for price, volume in bars:
        dp = 0.0 if last is None else price - last
        last = price
        share = 0.5 * math.erfc(-(dp / sigma) / math.sqrt(2.0))
        while volume > 0:
            take = min(volume, bucket - vol)
            if volume < bucket - vol:
                vol, buy, volume = vol + volume, buy + volume * share, 0.0
                break
            buckets.append(abs(bucket - 2 * min(bucket, buy + take * share)))
            volume -= take
            vol, buy = 0.0, 0.0
    if not buckets:
        return None
    tail = buckets[-n:]
    return min(1.0, math.fsum(tail) / (len(tail) * bucket))


@settings(max_examples=150, deadline=None)
@given(
    bars=st.lists(st.tuples(st.floats(1.0, 10.0), st.floats(0.0, 500.0)), min_size=1, max_size=200),
    bucket=st.floats(1.0, 300.0),
    n=st.integers(1, 60),
)
def test_vpin_streams_the_reference_and_stays_in_unit_interval(bars, bucket, n) -> None:
    m = VpinMeter(bucket, n, sigma=0.05)
    for price, volume in bars:
        v = m.update(price, volume)
        assert v is None or 0.0 <= v <= 1.0
    want = _vpin_reference(bars, bucket, n, 0.05)
    assert (m.vpin is None) == (want is None)
    if want is not None:
        assert m.vpin == pytest.approx(want, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    bars=st.lists(st.tuples(st.floats(0.01, 1e6), st.floats(0.0, 1e12)), min_size=1, max_size=50),
    bucket=st.floats(1e-3, 1e6),
)
def test_vpin_is_always_in_unit_interval_with_estimated_sigma(bars, bucket) -> None:
    m = VpinMeter(bucket, 50)
    for price, volume in bars:
        v = m.update(price, volume)
        assert v is None or 0.0 <= v <= 1.0


def test_vpin_reference_values() -> None:
    up = VpinMeter(100.0, 50)
    for i in range(500):
        up.update(5.0 + 0.001 * i, 100.0)
    assert up.vpin == 1.0  # all-buy flow
    flat = VpinMeter(100.0, 50)
    for _ in range(1000):
        flat.update(5.0, 37.0)
    assert flat.vpin == 0.0  # balanced inside every bucket
    noise = VpinMeter(100.0, 50)
    rng = np.random.default_rng(7)
    price, seen = 5.0, []
    for _ in range(20_000):
        price += rng.normal(0.0, 0.001)
        seen.append(noise.update(price, 100.0))  # one bar a bucket: |1 − 2U|, U uniform
    assert np.mean(seen[100:]) == pytest.approx(0.5, abs=0.02)


def test_vpin_bad_input_is_one_line() -> None:
    with pytest.raises(FieldError, match=r"^bucket_volume=0.0: must be a finite number > 0$"):
        VpinMeter(0.0)
    m = VpinMeter(10.0)
    with pytest.raises(FieldError, match=r"^volume=-1: must be a finite number >= 0$"):
        m.update(5.0, -1)


def test_toxicity_filter_fixed_and_quantile() -> None:
    fixed = ToxicityFilter(threshold=0.6)
    assert [fixed.observe(v) for v in (None, 0.5, 0.61, 0.6, 0.7)] == [
        False,
        False,
        True,
        False,
        True,
    ]
    q = ToxicityFilter(quantile=0.9, min_history=10, fallback=1.0)
    for v in np.linspace(0.5, 0.1, 20):  # falling: never above its own past
        q.observe(float(v))
    assert not q.excluded and q.current_threshold() == pytest.approx(0.458, abs=1e-3)
    assert q.observe(0.95) is True  # above its own 0.9 quantile
    assert q.observe(0.2) is False  # back below: usable again
    with pytest.raises(FieldError):
        ToxicityFilter(threshold=0.5, quantile=0.9)

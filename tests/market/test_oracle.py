"""Unit tests for the oracle aggregator, TWAP, cross-check and divergence watch
(market/oracle/aggregator.py, twap.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from market.oracle.aggregator import (
    FAILOVER,
    FALLBACK_TWAP,
    NO_PRICE,
    OK,
    PRIMARY_SECONDARY_DISAGREE,
    Disagreement,
    DivergenceState,
    OracleAnswer,
    OracleConfig,
    SourceState,
    aggregate,
    contested,
    disagreement,
    divergence_gap,
    divergence_step,
)
from market.oracle.twap import TwapInput, TwapResult, twap, twap_with_newest
from market.validation import show

CFG = OracleConfig()
NOW = 1_000.0


def src(sid: str, price: float, age: float = 1.0) -> SourceState:
    """A source whose value was observed ``age`` seconds before ``NOW``."""
    return SourceState(sid, price, NOW - age)


# ---------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("staleness_s", 0, "must be a finite number > 0"),
        ("staleness_s", -1.0, "must be a finite number > 0"),
        ("k_mad", 0.0, "must be a finite number > 0"),
        ("k_mad", math.nan, "must be a finite number > 0"),
        ("twap_window_s", math.inf, "must be a finite number > 0"),
        ("twap_max_age_s", 0, "must be a finite number > 0"),
        ("divergence", 0.0, "must be a finite number > 0"),
        ("divergence_for_s", -5, "must be a finite number > 0"),
        ("divergence", True, "must be a finite number > 0"),
        ("quorum", 0, "must be None or an integer >= 1"),
        ("quorum", 2.0, "must be None or an integer >= 1"),
        ("secondary_quorum", -1, "must be None or an integer >= 1"),
        ("mad_floor", -0.1, r"must be a finite number in \[0, 1\)"),
    ],
)
def test_config_validation_names_field_value_and_rule(field: str, value: object, rule: str) -> None:
    prefix = re.escape(f"oracle.{field}={show(value)}: ")
    with pytest.raises(ValueError, match=prefix + rule.replace("(", r"\(")):
        OracleConfig(**{field: value})  # type: ignore[arg-type]


def test_config_defaults_match_spec() -> None:
    assert (CFG.staleness_s, CFG.k_mad, CFG.quorum) == (30.0, 5.0, None)
    assert (CFG.twap_window_s, CFG.twap_max_age_s) == (300.0, 300.0)
    assert (CFG.divergence, CFG.divergence_for_s) == (0.01, 60.0)


@pytest.mark.parametrize("price", [0, -1.0, math.nan, math.inf, True, "5.0", None])
def test_source_price_validation(price: object) -> None:
    with pytest.raises(ValueError, match=r"source\[a\]\.price=.*must be a finite number > 0"):
        SourceState("a", price, 0.0)  # type: ignore[arg-type]


def test_source_id_and_time_validation_and_coercion() -> None:
    with pytest.raises(ValueError, match=r'source\.source_id="": must be a non-empty string'):
        SourceState("", 1.0, 0.0)
    with pytest.raises(ValueError, match=r"source\[a\]\.observed_at=nan: must be a finite"):
        SourceState("a", 1.0, math.nan)
    s = SourceState("a", np.float32(2.5), np.int64(7))  # type: ignore[arg-type]
    assert type(s.price) is float and type(s.observed_at) is float


def test_duplicate_ids_and_foreign_objects_rejected() -> None:
    unique = "must be unique within the set"
    with pytest.raises(ValueError, match=f'primary source_id="a": {unique}'):
        aggregate([src("a", 5.0), src("b", 5.0), src("a", 5.1)], NOW, CFG)
    with pytest.raises(ValueError, match=f'secondary source_id="x": {unique}'):
        aggregate([], NOW, CFG, secondary=[src("x", 5.0), src("x", 5.0)])
    with pytest.raises(ValueError, match=f'secondary source_id="x": {unique}'):  # even if unused
        aggregate([src("a", 5.0)], NOW, CFG, secondary=[src("x", 5.0), src("x", 5.0)])
    with pytest.raises(ValueError, match=r"primary source=\(.*: must be a SourceState"):
        aggregate([("a", 5.0, NOW)], NOW, CFG)  # type: ignore[list-item]
    with pytest.raises(ValueError, match=r"now=nan: must be a finite number of seconds"):
        aggregate([src("a", 5.0)], math.nan, CFG)


# ---------------------------------------------------------------------------- OK
def test_ok_is_median_of_fresh_with_sorted_ids_age_and_as_of() -> None:
    ans = aggregate([src("c", 5.02, 3.0), src("a", 5.00, 10.0), src("b", 5.01, 1.0)], NOW, CFG)
    assert ans == OracleAnswer(OK, 5.01, ("a", "b", "c"), 10.0, NOW, None)
    assert ans.priced and not ans.is_fallback
    assert ans.to_dict()["sources"] == ["a", "b", "c"]


def test_even_count_uses_upper_median() -> None:
    ans = aggregate([src("a", 1.0), src("b", 2.0), src("c", 3.0), src("d", 4.0)], NOW, CFG)
    assert ans.status == OK and ans.price == 3.0 and len(ans.sources) == 4


def test_freshness_boundary_is_inclusive_and_future_updates_are_not_fresh() -> None:
    srcs = [src("a", 5.0, 30.0), src("b", 5.0, 30.000001), src("c", 5.0, -0.5)]
    ans = aggregate(srcs, NOW, OracleConfig(quorum=1))
    assert ans.status == OK and ans.sources == ("a",) and ans.age_s == 30.0


def test_stale_sources_do_not_count_for_quorum() -> None:
    srcs = [src("a", 5.0), src("b", 5.0, 31.0), src("c", 5.0, 40.0)]
    assert aggregate(srcs, NOW, CFG).status == NO_PRICE  # 1 fresh < majority 2
    assert aggregate(srcs, NOW, OracleConfig(quorum=1)).status == OK


# ---------------------------------------------------------------------------- MAD filter
def test_mad_filter_drops_a_liar() -> None:
    srcs = [src("a", 5.00), src("b", 5.01), src("c", 4.99), src("d", 5.02), src("e", 50.0)]
    ans = aggregate(srcs, NOW, CFG)
    assert ans.status == OK and ans.sources == ("a", "b", "c", "d")
    assert ans.price == 5.01  # upper median of the four kept


def test_mad_filter_can_break_quorum() -> None:
    # 3 configured, 2 fresh that disagree wildly plus one stale: MAD keeps both (|p-m| = MAD),
    # but with k_mad < 1 both are farther than k_mad MADs and the quorum of 2 fails.
    srcs = [src("a", 5.0), src("b", 6.0), src("c", 5.5, 99.0)]
    assert aggregate(srcs, NOW, CFG).status == OK
    ans = aggregate(srcs, NOW, OracleConfig(k_mad=0.5))
    assert ans.status == NO_PRICE and "0 fresh within MAD of 3 < quorum 2" in (ans.reason or "")


def test_mad_zero_uses_relative_floor_and_mad_floor_zero_is_literal() -> None:
    # three identical: MAD = 0. A 3 bp neighbour is within k_mad * 1 bp = 5 bp; 1 % is not.
    srcs = [src("a", 5.0), src("b", 5.0), src("c", 5.0), src("d", 5.0015), src("e", 5.05)]
    ans = aggregate(srcs, NOW, CFG)
    assert ans.status == OK and ans.sources == ("a", "b", "c", "d") and ans.price == 5.0
    literal = aggregate(srcs, NOW, OracleConfig(mad_floor=0.0))
    assert literal.status == OK and literal.sources == ("a", "b", "c") and literal.price == 5.0


# ---------------------------------------------------------------------------- fallbacks
STALE = [src("a", 5.0, 100.0), src("b", 5.0, 100.0), src("c", 5.0, 100.0)]
HISTORY = [TwapInput(NOW - 250.0, 4.0, NOW - 251.0), TwapInput(NOW - 100.0, 6.0, NOW - 101.0)]


def test_fallback_twap_when_no_quorum_and_twap_fresh() -> None:
    ans = aggregate(STALE, NOW, CFG, history=HISTORY, secondary=[src("x", 9.0)])
    # window [700, 1000]: 4.0 stands 150 s (750..900), 6.0 stands 100 s (900..1000)
    assert ans.status == FALLBACK_TWAP and ans.is_fallback
    assert ans.price == pytest.approx((4.0 * 150 + 6.0 * 100) / 250)
    assert ans.sources == () and ans.age_s == 101.0 and ans.as_of == NOW  # from observation
    assert "primary: 0 fresh of 3 < quorum 2" in (ans.reason or "")


def test_failover_when_twap_too_old() -> None:
    old = [TwapInput(NOW - 400.0, 4.0, NOW - 400.0)]
    sec = [src("y", 5.2, 2.0), src("x", 5.1, 5.0), src("z", 5.3, 40.0)]
    ans = aggregate(STALE, NOW, CFG, history=old, secondary=sec)
    assert ans.status == FAILOVER and ans.price == 5.2 and ans.sources == ("x", "y")
    assert ans.age_s == 5.0
    assert "twap: newest input observed 400 s ago > twap_max_age_s=300" in (ans.reason or "")


def test_failover_secondary_quorum_is_its_own_majority_or_configured() -> None:
    sec = [src("x", 5.1), src("y", 5.2, 99.0), src("z", 5.3, 99.0)]
    assert aggregate(STALE, NOW, CFG, secondary=sec).status == NO_PRICE
    ans = aggregate(STALE, NOW, OracleConfig(secondary_quorum=1), secondary=sec)
    assert ans.status == FAILOVER and ans.sources == ("x",)


def test_no_price_explains_every_step() -> None:
    ans = aggregate(STALE, NOW, CFG)
    assert ans.status == NO_PRICE and ans.price is None and ans.age_s is None
    assert ans.sources == () and not ans.priced
    assert ans.reason == (
        "primary: 0 fresh of 3 < quorum 2; twap: no history; secondary: none configured"
    )


def test_history_in_the_future_is_not_visible() -> None:
    ans = aggregate(STALE, NOW, CFG, history=[TwapInput(NOW + 1.0, 5.0, NOW)])
    assert ans.status == NO_PRICE


# ---------------------------------------------------------------------------- observation time
def test_a_republished_old_observation_is_stale_whenever_it_was_published() -> None:
    """A frozen feeder republishes on heartbeat; its publications are recent, its value is not.
    Freshness, quorum, the answer's age and the fallback all follow the observation."""
    frozen = [src(f"p{i}", 5.0, 31.0 + i) for i in range(5)]  # republished 1 s ago, say
    ans = aggregate(frozen, NOW, CFG)
    assert ans.status == NO_PRICE and "0 fresh of 5 < quorum 3" in (ans.reason or "")
    mixed = [*frozen[:2], src("p2", 5.1, 2.0), src("p3", 5.2, 29.0), src("p4", 5.3, 30.0)]
    ans = aggregate(mixed, NOW, CFG)
    assert ans.status == OK and ans.sources == ("p2", "p3", "p4") and ans.age_s == 30.0


def test_fallback_twap_judges_its_newest_input_by_observation() -> None:
    # the newest round was given 100 s ago, from an input observed 350 s ago: too old
    given_late = [
        TwapInput(NOW - 250.0, 4.0, NOW - 400.0),
        TwapInput(NOW - 100.0, 6.0, NOW - 350.0),
    ]
    sec = [src("x", 5.1), src("y", 5.2)]
    ans = aggregate(STALE, NOW, CFG, history=given_late, secondary=sec)
    assert ans.status == FAILOVER and ans.price == 5.2
    assert "twap: newest input observed 350 s ago > twap_max_age_s=300" in (ans.reason or "")
    ans = aggregate(STALE, NOW, OracleConfig(twap_max_age_s=350.0), history=given_late)
    assert ans.status == FALLBACK_TWAP and ans.age_s == 350.0


# ---------------------------------------------------------------------------- cross-check
PRIMARY_OK = aggregate([src("a", 5.00), src("b", 5.01), src("c", 5.02)], NOW, CFG)


def test_disagreement_needs_an_ok_answer_and_a_secondary_quorum() -> None:
    assert PRIMARY_OK.status == OK and PRIMARY_OK.price == 5.01
    agree = [src("x", 5.03), src("y", 5.04)]
    assert disagreement(PRIMARY_OK, agree, NOW, CFG) is None  # 0.4 % <= 1 %
    far = [src("x", 5.20), src("y", 5.25, 40.0), src("z", 5.30, 45.0)]
    assert disagreement(PRIMARY_OK, far, NOW, CFG) is None  # 1 fresh of 3 < quorum 2
    assert disagreement(PRIMARY_OK, [], NOW, CFG) is None
    no_price = aggregate(STALE, NOW, CFG)
    assert disagreement(no_price, far, NOW, CFG) is None
    seen = disagreement(PRIMARY_OK, far, NOW, OracleConfig(secondary_quorum=1))
    assert seen == Disagreement(5.01, 5.20, pytest.approx(0.19 / 5.01))
    with pytest.raises(ValueError, match='secondary source_id="x": must be unique'):
        disagreement(PRIMARY_OK, [src("x", 5.0), src("x", 5.0)], NOW, CFG)  # even if agreeing


def test_disagreement_gap_is_relative_to_the_lower_price_and_strict() -> None:
    low = [src("x", 4.96), src("y", 4.96)]  # 5.01 / 4.96 − 1 = 1.008 %
    seen = disagreement(PRIMARY_OK, low, NOW, CFG)
    assert seen is not None and seen.gap == pytest.approx(0.05 / 4.96)
    at = OracleConfig(divergence=0.05 / 4.96 + 1e-12)
    assert disagreement(PRIMARY_OK, low, NOW, at) is None


def test_contested_answer_is_no_price_with_its_reason() -> None:
    seen = Disagreement(5.25, 5.0, 0.05)
    ans = contested(PRIMARY_OK, seen, CFG)
    assert ans.status == NO_PRICE and ans.price is None and not ans.priced
    assert ans.sources == () and ans.age_s is None and ans.as_of == NOW
    assert ans.reason == (
        f"{PRIMARY_SECONDARY_DISAGREE}: primary 5.25 vs secondary 5 "
        "(5.00% > divergence=0.01 for divergence_for_s=60)"
    )


# ---------------------------------------------------------------------------- TWAP
def test_twap_weights_by_time_stood_and_clips_to_window() -> None:
    h = [TwapInput(0.0, 10.0, 0.0), TwapInput(100.0, 20.0, 97.0)]
    assert twap(h, 200.0, 300.0) == pytest.approx(15.0)
    assert twap(h, 200.0, 150.0) == pytest.approx((10.0 * 50 + 20.0 * 100) / 150)
    assert twap(h, 500.0, 300.0) == 20.0  # last answer stood over the whole window
    assert twap_with_newest(h, 200.0, 300.0) == TwapResult(pytest.approx(15.0), 100.0, 97.0)


def test_twap_edge_cases() -> None:
    assert twap([], 10.0, 300.0) is None
    assert twap([(11.0, 5.0, 11.0)], 10.0, 300.0) is None
    assert twap([(10.0, 5.0, 9.0)], 10.0, 300.0) == 5.0  # zero weight: the standing price
    same_t = [(5.0, 1.0, 4.0), (5.0, 3.0, 2.0)]  # same t: the later one stands
    assert twap_with_newest(same_t, 10.0, 300.0) == TwapResult(3.0, 5.0, 2.0)
    with pytest.raises(
        ValueError, match=r"history\[0\]\.t=6\.0: must be finite and <= the next entry's time"
    ):
        twap([(6.0, 1.0, 6.0), (5.0, 3.0, 5.0)], 10.0, 300.0)
    with pytest.raises(ValueError, match=r"history\[1\]\.price=-3\.0: must be a finite number > 0"):
        twap([(4.0, 1.0, 4.0), (5.0, -3.0, 5.0)], 10.0, 300.0)
    with pytest.raises(ValueError, match=r"window_s=0: must be a finite number > 0"):
        twap([(4.0, 1.0, 4.0)], 10.0, 0)
    for bad in (6.0, math.nan, -math.inf):  # observed after it was given, or not a time
        with pytest.raises(
            ValueError, match=r"history\[1\]\.observed_at=.*: must be finite and <= its t 5\.0"
        ):
            twap([(4.0, 1.0, 4.0), (5.0, 3.0, bad)], 10.0, 300.0)


def test_twap_scan_stops_at_window_start() -> None:
    # entries far before the window are never read (a malformed one there is not even seen)
    h = [(0.0, -1.0, 0.0), (500.0, 2.0, 499.0), (900.0, 4.0, 899.0)]
    assert twap(h, 1000.0, 300.0) == pytest.approx((2.0 * 200 + 4.0 * 100) / 300)


# ---------------------------------------------------------------------------- divergence
def _div(prices: list[float], now: float, state: DivergenceState) -> DivergenceState:
    return divergence_step(
        state, [SourceState(f"s{i}", p, now - 1.0) for i, p in enumerate(prices)], now, CFG
    )


def test_divergence_gap_is_max_pairwise_relative_gap_of_fresh_sources() -> None:
    srcs = [src("a", 5.0), src("b", 5.1), src("c", 5.05), src("d", 9.0, 31.0)]
    assert divergence_gap(srcs, NOW, CFG) == pytest.approx(0.02)
    assert divergence_gap([src("a", 5.0)], NOW, CFG) == 0.0


def test_divergence_turns_red_only_after_divergence_for_s() -> None:
    wide, narrow = [5.0, 5.1], [5.0, 5.01]
    st = _div(wide, 100.0, DivergenceState())
    assert not st.red and st.since == 100.0 and st.gap == pytest.approx(0.02)
    st = _div(wide, 130.0, st)
    assert not st.red and st.since == 100.0
    st = _div(wide, 160.0, st)  # exactly 60 s: not yet longer than divergence_for_s
    assert not st.red
    st = _div(wide, 160.5, st)
    assert st.red and st.since == 100.0 and st.red_since == 160.5
    st = _div(wide, 170.0, st)
    assert st.red and st.red_since == 160.5
    st = _div(narrow, 171.0, st)
    assert not st.red and st.since is None and st.red_since is None
    st = _div(wide, 172.0, st)  # a new episode starts the clock again
    assert not st.red and st.since == 172.0


def test_divergence_interrupted_episode_does_not_turn_red() -> None:
    st = DivergenceState()
    for t, prices in [
        (0.0, [5.0, 5.2]),
        (50.0, [5.0, 5.0]),
        (70.0, [5.0, 5.2]),
        (100.0, [5.0, 5.2]),
    ]:
        st = _div(prices, t, st)
    assert not st.red and st.since == 70.0


def test_divergence_rejects_time_going_backwards() -> None:
    st = _div([5.0, 5.2], 100.0, DivergenceState())
    with pytest.raises(
        ValueError, match=r"now=99\.0: must not be earlier than state\.as_of=100\.0"
    ):
        _div([5.0, 5.2], 99.0, st)

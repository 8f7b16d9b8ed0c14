"""Hypothesis properties of the oracle aggregator (invariant ORACLE_FALLBACK and friends)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from market.oracle.aggregator import (
    FAILOVER,
    FALLBACK_TWAP,
    NO_PRICE,
    OK,
    STATUSES,
    DivergenceState,
    OracleConfig,
    SourceState,
    aggregate,
    disagreement,
    divergence_step,
)
from market.oracle.twap import TwapInput, twap, twap_with_newest

NOW = 10_000.0
prices = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
# how long before NOW a value was observed: some in the future, some stale
ages = st.floats(min_value=-5.0, max_value=120.0, allow_nan=False)
configs = st.builds(
    OracleConfig,
    staleness_s=st.sampled_from([5.0, 30.0, 60.0]),
    k_mad=st.sampled_from([0.5, 1.0, 3.0, 5.0]),
    quorum=st.none() | st.integers(1, 5),
    twap_window_s=st.sampled_from([60.0, 300.0]),
    twap_max_age_s=st.sampled_from([30.0, 300.0]),
    mad_floor=st.sampled_from([0.0, 1e-4, 1e-3]),
    secondary_quorum=st.none() | st.integers(1, 3),
)


@st.composite
def source_sets(draw: st.DrawFn, prefix: str, max_size: int = 9) -> list[SourceState]:
    n = draw(st.integers(0, max_size))
    return [SourceState(f"{prefix}{i}", draw(prices), NOW - draw(ages)) for i in range(n)]


@st.composite
def histories(draw: st.DrawFn) -> list[TwapInput]:
    """Past answers, each given at ``t`` from an input observed up to 400 s earlier."""
    gaps = draw(st.lists(st.floats(0.0, 200.0), max_size=12))
    t = NOW - draw(st.floats(0.0, 1_000.0))
    out = []
    for g in gaps:
        t += g
        out.append(TwapInput(t, draw(prices), t - draw(st.floats(0.0, 400.0))))
    return out


def _fresh(s: SourceState, cfg: OracleConfig) -> bool:
    return 0.0 <= NOW - s.observed_at <= cfg.staleness_s


@given(source_sets("p"), source_sets("s"), histories(), configs)
def test_never_an_answer_from_an_input_observed_longer_ago_than_its_rule_allows(
    primary, secondary, history, cfg
):
    """OK / FAILOVER: every used source observed within ``staleness_s``; FALLBACK_TWAP: the
    TWAP's newest input observed within ``twap_max_age_s`` (when it was given does not count)."""
    ans = aggregate(primary, NOW, cfg, history=history, secondary=secondary)
    assert ans.status in STATUSES and ans.as_of == NOW
    assert (ans.price is None) == (ans.status == NO_PRICE)
    assert list(ans.sources) == sorted(set(ans.sources))
    if ans.status in (OK, FAILOVER):
        used_set = {s.source_id: s for s in (primary if ans.status == OK else secondary)}
        used = [used_set[i] for i in ans.sources]
        assert used and all(_fresh(s, cfg) for s in used)
        assert 0.0 <= ans.age_s <= cfg.staleness_s
        assert ans.age_s == NOW - min(s.observed_at for s in used)
        # the price is the upper median of the sources reported as used
        assert ans.price == sorted(s.price for s in used)[len(used) // 2]
    elif ans.status == FALLBACK_TWAP:
        newest = [e for e in history if e.t <= NOW][-1]
        assert ans.sources == () and 0.0 <= ans.age_s <= cfg.twap_max_age_s
        assert ans.age_s == NOW - newest.observed_at
        assert ans.price == twap(history, NOW, cfg.twap_window_s)
    else:
        assert ans.sources == () and ans.age_s is None


@given(
    n=st.integers(1, 9),
    data=st.data(),
    base=st.floats(0.01, 1e5),
    k_mad=st.sampled_from([1.0, 2.0, 5.0]),
)
def test_a_lying_minority_cannot_move_the_answer_out_of_the_honest_range(n, data, base, k_mad):
    cfg = OracleConfig(k_mad=k_mad)
    honest_n = data.draw(st.integers(n // 2 + 1, n), label="honest_n")
    # "identical-ish": relative spread within k_mad * mad_floor, so no honest source is an outlier
    spread = k_mad * cfg.mad_floor * 0.8
    honest = [base * (1 + data.draw(st.floats(0.0, spread))) for _ in range(honest_n)]
    liars = data.draw(st.lists(prices, min_size=n - honest_n, max_size=n - honest_n))
    liar_ages = data.draw(st.lists(ages, min_size=len(liars), max_size=len(liars)))
    srcs = [SourceState(f"h{i}", p, NOW - 1.0) for i, p in enumerate(honest)]
    srcs += [
        SourceState(f"l{i}", p, NOW - a)
        for i, (p, a) in enumerate(zip(liars, liar_ages, strict=True))
    ]
    order = data.draw(st.permutations(srcs), label="order")
    ans = aggregate(order, NOW, cfg)
    assert ans.status == OK
    assert min(honest) <= ans.price <= max(honest)
    assert {f"h{i}" for i in range(honest_n)} <= set(ans.sources)


@given(histories(), st.floats(1.0, 1_000.0))
def test_twap_lies_within_the_range_of_its_inputs(history, window_s):
    out = twap_with_newest(history, NOW, window_s)
    visible = [e for e in history if e.t <= NOW]
    if not visible:
        assert out is None
        return
    value, newest, observed = out
    assert (newest, observed) == (visible[-1].t, visible[-1].observed_at)
    start = NOW - window_s
    before = [e for e in visible if e.t <= start]
    inputs = [e.price for e in visible if e.t > start] + ([before[-1].price] if before else [])
    assert min(inputs) <= value <= max(inputs)


@given(histories(), st.floats(1.0, 1_000.0), prices)
def test_twap_of_a_constant_is_that_constant(history, window_s, c):
    flat = [e._replace(price=c) for e in history]
    assert twap(flat, NOW, window_s) in (None, c)


@given(st.booleans(), st.booleans(), st.booleans(), st.integers(3, 7), st.integers(1, 5), prices)
def test_fallback_order_is_respected(primary_ok, twap_fresh, secondary_ok, n, m, p):
    cfg = OracleConfig()
    primary = [SourceState(f"p{i}", p, NOW - (1.0 if primary_ok else 31.0 + i)) for i in range(n)]
    # a minority of fresh primaries never gives a quorum
    primary += [SourceState("p-extra", p, NOW - 1.0)] if not primary_ok else []
    given = NOW - 10.0  # given recently, from an input observed 200 s (fresh) or 400 s ago
    history = [TwapInput(given, p * 1.01, NOW - (200.0 if twap_fresh else 400.0))]
    secondary = [
        SourceState(f"s{i}", p * 0.99, NOW - (2.0 if secondary_ok else 45.0)) for i in range(m)
    ]
    ans = aggregate(primary, NOW, cfg, history=history, secondary=secondary)
    expected = (
        OK
        if primary_ok
        else FALLBACK_TWAP
        if twap_fresh
        else FAILOVER
        if secondary_ok
        else NO_PRICE
    )
    assert ans.status == expected
    assert (
        ans.price == {OK: p, FALLBACK_TWAP: p * 1.01, FAILOVER: p * 0.99, NO_PRICE: None}[expected]
    )


@given(source_sets("p"), source_sets("s"), histories(), configs, st.data())
def test_permutation_of_sources_does_not_change_the_answer(primary, secondary, history, cfg, data):
    base = aggregate(primary, NOW, cfg, history=history, secondary=secondary)
    p2 = data.draw(st.permutations(primary))
    s2 = data.draw(st.permutations(secondary))
    assert aggregate(p2, NOW, cfg, history=history, secondary=s2) == base


@given(source_sets("p"), source_sets("s"), histories(), configs)
def test_determinism(primary, secondary, history, cfg):
    a = aggregate(primary, NOW, cfg, history=history, secondary=secondary)
    copies = [SourceState(s.source_id, s.price, s.observed_at) for s in primary]
    b = aggregate(tuple(copies), NOW, cfg, history=tuple(history), secondary=list(secondary))
    assert a == b and repr(a) == repr(b)


@given(
    st.lists(
        st.tuples(st.floats(0.0, 40.0), st.lists(st.floats(4.0, 6.0), min_size=0, max_size=5)),
        max_size=30,
    )
)
@settings(max_examples=100)
def test_divergence_red_only_after_a_long_enough_unbroken_episode(steps):
    cfg = OracleConfig()
    st_ = DivergenceState()
    t = 0.0
    episode_start = None  # independent model of the current above-threshold episode
    for dt, ps in steps:
        t += dt
        srcs = [SourceState(f"s{i}", p, t) for i, p in enumerate(ps)]
        st_ = divergence_step(st_, srcs, t, cfg)
        above = len(ps) >= 2 and (max(ps) - min(ps)) / min(ps) > cfg.divergence
        if not above:
            episode_start = None
        elif episode_start is None:
            episode_start = t
        assert st_.since == episode_start
        assert st_.red == (above and t - episode_start > cfg.divergence_for_s)
        assert (st_.red_since is not None) == st_.red


@given(
    n=st.integers(1, 9),
    m=st.integers(1, 5),
    data=st.data(),
    base=st.floats(0.01, 1e5),
    bias=st.floats(0.011, 1.0) | st.floats(-0.5, -0.011),
)
def test_a_lying_majority_passes_the_median_but_not_honest_secondaries(n, m, data, base, bias):
    """Any majority of primaries lying by more than ``divergence`` wins the median; an honest
    secondary set with a quorum then contradicts the answer (rule 5)."""
    cfg = OracleConfig()
    liars_n = data.draw(st.integers(n // 2 + 1, n), label="liars_n")
    spread = cfg.k_mad * cfg.mad_floor * 0.8  # liars agree with each other, like honest sources
    lie = base * (1 + bias)
    srcs = [
        SourceState(f"l{i}", lie * (1 + data.draw(st.floats(0.0, spread))), NOW - 1.0)
        for i in range(liars_n)
    ]
    srcs += [SourceState(f"h{i}", base, NOW - 1.0) for i in range(n - liars_n)]
    ans = aggregate(data.draw(st.permutations(srcs), label="order"), NOW, cfg)
    assert ans.status == OK and abs(ans.price / base - 1) > cfg.divergence  # the median lies
    honest = [
        SourceState(f"s{i}", base * (1 + data.draw(st.floats(-1e-4, 1e-4))), NOW - 2.0)
        for i in range(m)
    ]
    seen = disagreement(ans, honest, NOW, cfg)
    assert seen is not None and seen.primary == ans.price and seen.gap > cfg.divergence


@given(source_sets("p"), source_sets("s"), configs)
def test_disagreement_is_the_gap_to_the_secondary_sets_own_answer(primary, secondary, cfg):
    """Rule 5 against the secondary set aggregated alone (as a primary set with its quorum)."""
    ans = aggregate(primary, NOW, cfg)
    seen = disagreement(ans, secondary, NOW, cfg)
    alone = OracleConfig(
        staleness_s=cfg.staleness_s,
        k_mad=cfg.k_mad,
        mad_floor=cfg.mad_floor,
        quorum=cfg.secondary_quorum,
    )
    sec = aggregate(secondary, NOW, alone)
    if ans.status != OK or sec.status != OK:
        assert seen is None
        return
    gap = abs(ans.price - sec.price) / min(ans.price, sec.price)
    if gap > cfg.divergence:
        assert seen is not None and (seen.primary, seen.secondary) == (ans.price, sec.price)
        assert seen.gap == gap
    else:
        assert seen is None

"""LenderBook.plan's draws: who participates, the per-participant draws, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.agents.lenders import LenderBook
from sim.config.market import LenderGroup, LendersConfig

#: an auction every lender that participates can bid in (cheap rate, long TTL, rich lenders)
EASY = dict(
    t0=0.0, ttl_s=10**12, amount_cents=1_000_000, max_rate_bps=9000, pd=0.02, lgd=0.6,
    cdi_apr=0.12, tick_bps=5, min_offer_cents=1000,
)  # fmt: skip
RICH = 10**12


def _book(*groups: LenderGroup, seed: int = 0) -> LenderBook:
    return LenderBook(LendersConfig(groups=groups), np.random.default_rng(seed))


def _participation(book: LenderBook, auctions: int, rng: np.random.Generator) -> np.ndarray:
    """(auctions, lenders) 0/1 matrix of who bid, releasing each auction's offers."""
    out = np.zeros((auctions, len(book)), dtype=np.int8)
    for a in range(auctions):
        plans = book.plan(free_cents=lambda acct: RICH, rng=rng, **EASY)
        out[a, [p.index for p in plans]] = 1
        book.release(plans)
    return out


def test_participation_is_independent_bernoulli_per_lender_and_auction() -> None:
    p, n, auctions = 0.1, 120, 1500
    book = _book(LenderGroup(name="g", count=n, participation=p))
    m = _participation(book, auctions, np.random.default_rng(7))
    counts = m.sum(axis=1)
    # per auction: Binomial(n, p) (mean 12, variance 10.8)
    assert counts.mean() == pytest.approx(n * p, abs=5 * np.sqrt(n * p * (1 - p) / auctions))
    assert counts.var() == pytest.approx(n * p * (1 - p), rel=0.15)
    # per lender: frequency p wherever it sits in the group (no edge effect at either end)
    freq = m.mean(axis=0)
    sd = np.sqrt(p * (1 - p) / auctions)
    assert np.all(np.abs(freq - p) < 5 * sd)
    assert abs(freq[:10].mean() - p) < 4 * sd / np.sqrt(10)
    assert abs(freq[-10:].mean() - p) < 4 * sd / np.sqrt(10)
    # no memory from one auction to the next, nor from one lender to its neighbour
    same_lender = np.corrcoef(m[:-1].ravel(), m[1:].ravel())[0, 1]
    neighbours = np.corrcoef(m[:, :-1].ravel(), m[:, 1:].ravel())[0, 1]
    wrap = np.corrcoef(m[:-1, -1], m[1:, 0])[0, 1]  # last lender, then first of next auction
    assert abs(same_lender) < 0.02 and abs(neighbours) < 0.02 and abs(wrap) < 0.1


def test_groups_participate_at_their_own_rates_and_zero_never() -> None:
    book = _book(
        LenderGroup(name="a", count=50, participation=0.3),
        LenderGroup(name="never", count=30, participation=0.0),
        LenderGroup(name="always", count=7, participation=1.0),
        LenderGroup(name="b", count=40, participation=0.05),
    )
    m = _participation(book, 600, np.random.default_rng(3))
    assert m[:, :50].mean() == pytest.approx(0.3, abs=0.02)
    assert not m[:, 50:80].any()
    assert m[:, 80:87].all()
    assert m[:, 87:].mean() == pytest.approx(0.05, abs=0.01)


def test_commit_delay_share_and_reveal_draws_follow_the_group() -> None:
    g = LenderGroup(
        name="g", count=200, participation=0.5, commit_delay_mean_s=900.0,
        min_loan_share=0.1, max_loan_share=0.3, max_offer_capital_share=1.0,
        capital_cents=10**9, reveal_fail_prob=0.2, reveal_delay_max_s=100.0,
    )  # fmt: skip
    book = _book(g)
    rng = np.random.default_rng(11)
    delays, shares, reveals = [], [], []
    for _ in range(100):
        plans = book.plan(free_cents=lambda acct: RICH, rng=rng, **EASY)
        for p in plans:
            delays.append(p.at)
            shares.append(p.amount_cents / EASY["amount_cents"])
            reveals.append(-1.0 if p.reveal_after_s is None else p.reveal_after_s)
        book.release(plans)
    delays, shares, reveals = np.array(delays), np.array(shares), np.array(reveals)
    assert len(delays) > 5000
    assert delays.mean() == pytest.approx(900.0, rel=0.05)  # Exp(900)
    assert np.median(delays) == pytest.approx(900.0 * np.log(2), rel=0.06)
    assert shares.min() >= 0.1 - 1e-3 and shares.max() <= 0.3
    assert shares.mean() == pytest.approx(0.2, abs=0.005)
    assert np.mean(reveals < 0) == pytest.approx(0.2, abs=0.02)
    shown = reveals[reveals >= 0]
    assert shown.max() <= 100.0 and shown.mean() == pytest.approx(50.0, rel=0.05)


def test_free_cash_is_asked_only_of_participants_that_would_bid() -> None:
    book = _book(LenderGroup(name="g", count=100, participation=0.5))
    asked: list[str] = []

    def free(acct: str) -> int:
        asked.append(acct)
        return RICH

    rng = np.random.default_rng(0)
    assert book.plan(free_cents=free, rng=rng, **{**EASY, "max_rate_bps": 100}) == []
    assert asked == []  # everyone priced out above the reserve: no balance lookups
    plans = book.plan(free_cents=free, rng=rng, **EASY)
    assert asked == [p.account for p in plans]


@given(seed=st.integers(0, 2**32 - 1), auctions=st.integers(1, 6))
def test_plans_are_deterministic_and_a_new_generator_starts_fresh_buffers(seed, auctions):
    def run(book: LenderBook, rng: np.random.Generator) -> list:
        out = []
        for _ in range(auctions):
            plans = book.plan(free_cents=lambda acct: 10**8, rng=rng, **EASY)
            out.append(plans)
            book.release(plans)
        return out

    a = run(LenderBook(LendersConfig(), np.random.default_rng(seed)), np.random.default_rng(1))
    b = run(LenderBook(LendersConfig(), np.random.default_rng(seed)), np.random.default_rng(1))
    assert a == b
    # a book that planned with another generator, handed a fresh one, plans as a new book
    used = LenderBook(LendersConfig(), np.random.default_rng(seed))
    run(used, np.random.default_rng(99))
    assert run(used, np.random.default_rng(1)) == a

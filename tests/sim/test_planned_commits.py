"""Planned commits are named records, and each auction keeps the commitments it made."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from market.auction.commitment import commitment_hash, lender_address, offer_commitment
from sim.agents.lenders import LenderBook, PlannedCommit
from sim.agents.pool import Pool
from sim.config.market import LenderGroup, LendersConfig, PoolConfig
from sim.engine.auctions import PlannedCommitments

#: an auction every lender that participates can bid in
EASY = dict(
    t0=0.0, ttl_s=10**12, amount_cents=1_000_000, max_rate_bps=9000, pd=0.02, lgd=0.6,
    cdi_apr=0.12, tick_bps=5, min_offer_cents=1000,
)  # fmt: skip
STRATEGIES = ("truthful", "shading", "late_sniper", "multi_offer_manipulator")


def _plans() -> list[PlannedCommit]:
    groups = [
        LenderGroup(name=s[:4], count=4, participation=1.0, strategy=s, n_offers=2)
        for s in STRATEGIES
    ]
    book = LenderBook(LendersConfig(groups=groups), np.random.default_rng(0))
    plans = book.plan(free_cents=lambda acct: 10**12, rng=np.random.default_rng(1), **EASY)
    pool = Pool(PoolConfig(capital_cents=10**9))
    pool.deposit(10**9)
    pool_terms = {k: v for k, v in EASY.items() if k != "ttl_s"}
    pooled = pool.plan(free_cents=10**9, rng=np.random.default_rng(2), **pool_terms)
    assert pooled is not None
    return [*plans, pooled]


def test_planned_commits_are_named_records_built_by_keyword() -> None:
    plans = _plans()
    assert {p.strategy for p in plans} == {*STRATEGIES, "pool"}
    names = [f.name for f in dataclasses.fields(PlannedCommit)]
    for p in plans:
        assert type(p) is PlannedCommit and not isinstance(p, tuple)
        with pytest.raises(TypeError):
            p[0]  # type: ignore[index]  # no positional access
        assert p.address == lender_address(p.lender)
        assert (p.at is None) == (p.strategy == "late_sniper")
    with pytest.raises(TypeError):  # keyword only: two fields can never be swapped silently
        PlannedCommit(*[getattr(plans[0], n) for n in names])  # type: ignore[misc]


def test_an_auction_answers_its_own_commitments_and_hashes_anything_else() -> None:
    plans = _plans()
    salts = [bytes([k]) * 32 for k in range(len(plans))]
    made = PlannedCommitments(7, plans, salts)
    for p, salt, c in zip(plans, salts, made.made, strict=True):
        assert c == commitment_hash(7, p.address, p.amount_cents, p.rate_bps, salt)
        assert made(7, p.lender, p.amount_cents, p.rate_bps, salt) == c
        assert c == offer_commitment(7, p.lender, p.amount_cents, p.rate_bps, salt)
    p, salt = plans[0], salts[0]
    other = made(7, p.lender, p.amount_cents + 100, p.rate_bps, salt)  # not planned: hashed
    assert other == offer_commitment(7, p.lender, p.amount_cents + 100, p.rate_bps, salt)
    assert made(8, p.lender, p.amount_cents, p.rate_bps, salt) == offer_commitment(
        8, p.lender, p.amount_cents, p.rate_bps, salt
    )

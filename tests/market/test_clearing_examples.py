"""Hand-made clearing cases, checked on both engines (numpy and the pure-Python reference)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from market.auction.clearing import OfferColumns, clear, clear_columns
from market.auction.clearing_reference import clear_reference
from market.auction.json_codec import parse_clear_input
from market.auction.types import AuctionRequest, AuctionRules, ClearingResult, Offer

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios" / "auctions"
Engine = Callable[[AuctionRequest, list[Offer], AuctionRules], ClearingResult]


def numpy_bincount(req: AuctionRequest, offers: list[Offer], rules: AuctionRules):
    cols = OfferColumns.from_offers(offers)
    return clear_columns(req, cols, rules, r_star_method="bincount").to_result(cols)


def numpy_sort(req: AuctionRequest, offers: list[Offer], rules: AuctionRules):
    cols = OfferColumns.from_offers(offers)
    return clear_columns(req, cols, rules, r_star_method="sort").to_result(cols)


ENGINES = pytest.mark.parametrize(
    "engine", [clear, clear_reference, numpy_bincount, numpy_sort], ids=lambda f: f.__name__
)


def req(amount: int = 1_000_000, max_rate: int = 3000) -> AuctionRequest:
    return AuctionRequest(7, "b1", amount, max_rate, 12, 0)


def offer(oid: str, amount: int, rate: int, t: int = 0, revealed: bool = True, lender: str = ""):
    return Offer(oid, lender or "l" + oid, amount, rate, t, revealed)


def allocs(res: ClearingResult) -> list[tuple[str, int, int]]:
    return [(a.offer_id, a.amount_cents, a.rate_bps) for a in res.allocations]


def excl(res: ClearingResult) -> list[tuple[str, str]]:
    return [(e.offer_id, e.reason) for e in res.excluded]


@ENGINES
def test_spec_example_file(engine: Engine) -> None:
    doc = json.loads((SCENARIOS / "example.json").read_text())
    inp = parse_clear_input(doc)
    res = engine(inp.request, list(inp.offers), inp.rules)
    assert res.to_dict() == {
        "status": "FILLED",
        "clearing_rate_bps": 2500,
        "paid_rate": "uniform",
        "filled_cents": 1000000,
        "fee_cents": 5000,
        "allocations": [
            {"offer_id": "o1", "lender": "l1", "amount_cents": 300000, "rate_bps": 2500},
            {"offer_id": "o2", "lender": "l2", "amount_cents": 250000, "rate_bps": 2500},
            {"offer_id": "o3", "lender": "l3", "amount_cents": 180000, "rate_bps": 2500},
            {"offer_id": "o4", "lender": "l4", "amount_cents": 179999, "rate_bps": 2500},
            {"offer_id": "o5", "lender": "l5", "amount_cents": 90001, "rate_bps": 2500},
        ],
        "excluded": [
            {"offer_id": "o6", "reason": "NOT_ALLOCATED"},
            {"offer_id": "o7", "reason": "BELOW_MIN_OFFER"},
            {"offer_id": "o8", "reason": "OFF_TICK"},
            {"offer_id": "o9", "reason": "ABOVE_RESERVE"},
            {"offer_id": "o10", "reason": "NOT_REVEALED"},
        ],
    }


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.json")), ids=lambda p: p.stem)
def test_every_scenario_file_clears_the_same_on_both_engines(path: Path) -> None:
    inp = parse_clear_input(json.loads(path.read_text()))
    res = clear(inp.request, inp.offers, inp.rules)
    assert res == clear_reference(inp.request, inp.offers, inp.rules)
    expected = {"partial": "PARTIAL", "unfilled": "UNFILLED"}.get(path.stem, "FILLED")
    assert res.status == expected


@ENGINES
def test_largest_remainder_ties_by_committed_at_then_id(engine: Engine) -> None:
    # R = 5 over three equal offers: 1.666.. each -> floors 1,1,1, two cents to the largest
    # remainders, which all tie: committed_at first (m3 at t=1), then offer_id (m1 < m2 at t=2)
    offers = [
        offer("base", 95, 100),
        offer("m2", 1000, 200, t=2),
        offer("m1", 1000, 200, t=2),
        offer("m3", 1000, 200, t=1),
    ]
    res = engine(req(100, 3000), offers, AuctionRules(min_offer_cents=0))
    assert allocs(res) == [("base", 95, 200), ("m3", 2, 200), ("m1", 2, 200), ("m2", 1, 200)]
    assert res.filled_cents == 100 and res.clearing_rate_bps == 200


@ENGINES
def test_pro_rata_is_to_amounts(engine: Engine) -> None:
    offers = [offer("a", 300, 100), offer("b", 100, 100)]
    res = engine(req(200), offers, AuctionRules(min_offer_cents=0))
    assert allocs(res) == [("a", 150, 100), ("b", 50, 100)]


@ENGINES
def test_marginal_offer_with_zero_is_not_allocated(engine: Engine) -> None:
    offers = [offer("a", 99, 100), offer("b", 10, 200, t=1), offer("c", 10, 200, t=2)]
    res = engine(req(100), offers, AuctionRules(min_offer_cents=0))
    assert allocs(res) == [("a", 99, 200), ("b", 1, 200)]
    assert excl(res) == [("c", "NOT_ALLOCATED")]


@ENGINES
def test_partial(engine: Engine) -> None:
    offers = [offer("a", 300_000, 2000), offer("b", 400_000, 2500), offer("c", 500_000, 3500)]
    res = engine(req(), offers, AuctionRules(min_fill_ratio=0.7))
    assert res.status == "PARTIAL" and res.filled_cents == 700_000
    assert res.clearing_rate_bps == 2500 and res.fee_cents == 3500
    assert excl(res) == [("c", "ABOVE_RESERVE")]


@ENGINES
def test_min_fill_ratio_boundary(engine: Engine) -> None:
    offers = [offer("a", 900_000, 2000)]
    assert engine(req(), offers, AuctionRules(min_fill_ratio=0.9)).status == "PARTIAL"
    res = engine(req(), offers, AuctionRules(min_fill_ratio=0.9000001))
    assert res.status == "UNFILLED" and res.clearing_rate_bps is None
    assert res.filled_cents == 0 and res.fee_cents == 0 and res.allocations == ()
    assert excl(res) == [("a", "NOT_ALLOCATED")]
    # default ratio 1.0: anything short of the amount is UNFILLED
    assert engine(req(), offers, AuctionRules()).status == "UNFILLED"


@ENGINES
def test_unfilled_when_nothing_is_eligible(engine: Engine) -> None:
    offers = [offer("a", 5, 2000), offer("b", 5000, 4000)]
    res = engine(req(), offers, AuctionRules(min_fill_ratio=0.01))
    assert res.status == "UNFILLED"
    assert excl(res) == [("a", "BELOW_MIN_OFFER"), ("b", "ABOVE_RESERVE")]
    assert engine(req(), [], AuctionRules()).status == "UNFILLED"


@ENGINES
def test_exclusion_reasons_first_match_wins_and_input_order(engine: Engine) -> None:
    offers = [
        offer("z", 5, 3001, revealed=False),  # everything wrong: NOT_REVEALED first
        offer("y", 5, 3001),  # below min, off tick, above reserve: BELOW_MIN_OFFER
        offer("x", 5000, 3001),  # off tick and above reserve: OFF_TICK
        offer("w", 5000, 3005),  # ABOVE_RESERVE
        offer("v", 5000, 3000),  # eligible, at the reserve: wins
        offer("u", 1000, 3000, t=1),  # exactly min_offer_cents: eligible
    ]
    res = engine(req(6000), offers, AuctionRules())
    assert allocs(res) == [("v", 5000, 3000), ("u", 1000, 3000)]
    assert excl(res) == [
        ("z", "NOT_REVEALED"),
        ("y", "BELOW_MIN_OFFER"),
        ("x", "OFF_TICK"),
        ("w", "ABOVE_RESERVE"),
    ]


MIXED = [offer("a", 400, 1000), offer("b", 300, 1500, t=1), offer("c", 600, 2000, t=2)]


@ENGINES
@pytest.mark.parametrize(
    ("pricing", "amount", "rates"),
    [
        ("uniform", 1000, [2000, 2000, 2000]),
        ("pay_as_bid", 1000, [1000, 1500, 2000]),
        # c (r*) is left partly unallocated: r*
        ("first_rejected", 1000, [2000, 2000, 2000]),
    ],
)
def test_pricing_rules(engine: Engine, pricing: str, amount: int, rates: list[int]) -> None:
    rules = AuctionRules(min_offer_cents=0, pricing=pricing)
    res = engine(req(amount, 2500), MIXED, rules)
    assert [a.rate_bps for a in res.allocations] == rates
    assert [a.amount_cents for a in res.allocations] == [400, 300, 300]
    assert res.paid_rate == pricing and res.clearing_rate_bps == 2000


@ENGINES
def test_first_rejected_marginal_fully_used_pays_next_eligible_rate(engine: Engine) -> None:
    rules = AuctionRules(min_offer_cents=0, pricing="first_rejected")
    res = engine(req(700, 2500), MIXED, rules)
    assert res.clearing_rate_bps == 1500
    assert allocs(res) == [("a", 400, 2000), ("b", 300, 2000)]


@ENGINES
def test_first_rejected_without_eligible_rate_above_pays_the_reserve(engine: Engine) -> None:
    rules = AuctionRules(min_offer_cents=0, pricing="first_rejected", min_fill_ratio=0.5)
    offers = [*MIXED, offer("d", 500, 2600), offer("e", 500, 2003)]  # neither is eligible
    res = engine(req(1300, 2500), offers, rules)
    assert res.status == "FILLED" and res.clearing_rate_bps == 2000
    assert [a.rate_bps for a in res.allocations] == [2500, 2500, 2500]
    # PARTIAL: everything eligible is taken, so nothing above r* either
    res = engine(req(2000, 2500), offers, rules)
    assert res.status == "PARTIAL" and [a.rate_bps for a in res.allocations] == [2500] * 3


@ENGINES
def test_first_rejected_wholly_unallocated_marginal_offer_pays_r_star(engine: Engine) -> None:
    rules = AuctionRules(min_offer_cents=0, pricing="first_rejected")
    offers = [offer("a", 99, 100), offer("b", 10, 200, t=1), offer("c", 10, 200, t=2)]
    res = engine(req(100, 300), [*offers, offer("d", 50, 250)], rules)
    assert allocs(res) == [("a", 99, 200), ("b", 1, 200)]


@ENGINES
def test_fee_is_ceiling_of_filled(engine: Engine) -> None:
    res = engine(req(1999), [offer("a", 5000, 100)], AuctionRules(platform_fee_bps=50))
    assert res.fee_cents == 10  # 9.995 rounds up
    assert res.borrower_receives_cents == 1989


@ENGINES
def test_integer_safety_beyond_int64(engine: Engine) -> None:
    # R·a_i ≈ 2**124 and Σ amounts ≈ 2**64: both overflow int64
    big = 2**62
    offers = [
        offer("a", big - 1, 100),
        offer("b", big - 3, 200, t=1),
        offer("c", big - 7, 200, t=2),
        offer("d", big - 11, 200, t=3),
    ]
    amount = big - 1 + big  # a in full, R = 2**62 over b, c, d
    res = engine(req(amount), offers, AuctionRules(min_offer_cents=0))
    rest, total = big, 3 * big - 21
    exact = [rest * (big - k) for k in (3, 7, 11)]
    floors = [p // total for p in exact]
    missing = rest - sum(floors)
    order = sorted(range(3), key=lambda i: -(exact[i] % total))
    for i in order[:missing]:
        floors[i] += 1
    assert [a.amount_cents for a in res.allocations] == [big - 1, *floors]
    assert sum(a.amount_cents for a in res.allocations) == amount
    assert (big - 1) * big > 2**63  # the edge this test is about


@ENGINES
def test_wide_time_and_rate_ranges_sort_correctly(engine: Engine) -> None:
    # (rate range) x (time range) overflows a packed int64 key: the lexsort fallback is used
    offers = [
        offer("d", 1000, 5000, t=0),
        offer("c", 1000, 5000, t=2**53),
        offer("b", 1000, 0, t=2**53),
        offer("a", 1000, 0, t=7),
        offer("e", 1000, 5000, t=0),
    ]
    res = engine(req(5000, 5000), offers, AuctionRules())
    assert [a.offer_id for a in res.allocations] == ["a", "b", "d", "e", "c"]


def test_columns_validation_names_the_row() -> None:
    ids = ["a", "b"]
    with pytest.raises(ValueError, match=r"offers\[1\]\.amount_cents=-5"):
        OfferColumns(ids, ids, np.array([5, -5]), np.array([1, 1]), np.array([0, 0]), [1, 1])
    with pytest.raises(ValueError, match=r'offers\[1\]\.offer_id="a": must be unique'):
        OfferColumns(["a", "a"], ids, np.array([5, 5]), np.array([1, 1]), np.zeros(2), [1, 1])
    with pytest.raises(ValueError, match=r"len\(columns\.rate_bps\)=1: must equal 2"):
        OfferColumns(ids, ids, np.array([5, 5]), np.array([1]), np.zeros(2), [1, 1])
    with pytest.raises(ValueError, match=r"offers\[0\]\.committed_at=nan"):
        OfferColumns(ids, ids, np.array([5, 5]), np.array([1, 1]), np.array([np.nan, 1]), [1, 1])


def test_duplicate_offer_ids_are_refused_by_both_engines() -> None:
    offers = [offer("a", 5000, 100), offer("a", 5000, 200)]
    for engine in (clear, clear_reference):
        with pytest.raises(ValueError, match=r'offers\[1\]\.offer_id="a": must be unique'):
            engine(req(), offers, AuctionRules())

"""Validation and serialisation of the auction value types."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.auction.clearing_reference import clear_reference
from market.auction.types import (
    Allocation,
    AuctionRequest,
    AuctionRules,
    ClearingResult,
    Exclusion,
    FieldError,
    Offer,
    OfferRecord,
)
from market.validation import NON_NEGATIVE_INT64, POSITIVE_INT64, SECONDS, TEXT


def test_rules_defaults_match_spec() -> None:
    r = AuctionRules()
    assert dataclasses.asdict(r) == {
        "tick_bps": 5,
        "max_offers_per_lender": 3,
        "cooldown_s": 60,
        "snipe_window_s": 120,
        "snipe_extension_s": 600,
        "max_extensions": 6,
        "ttl_s": 86400,
        "reveal_window_s": 600,
        "min_offer_cents": 1000,
        "min_fill_ratio": 1.0,
        "pricing": "uniform",
        "platform_fee_bps": 50,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tick_bps": 0}, "rules.tick_bps=0: must be"),
        ({"tick_bps": True}, "rules.tick_bps=true"),
        ({"tick_bps": 5.0}, "rules.tick_bps=5.0"),
        ({"max_offers_per_lender": 0}, "rules.max_offers_per_lender=0"),
        ({"cooldown_s": -1}, "rules.cooldown_s=-1"),
        ({"max_extensions": -1}, "rules.max_extensions=-1"),
        ({"ttl_s": 0}, "rules.ttl_s=0"),
        ({"reveal_window_s": 0}, "rules.reveal_window_s=0"),
        ({"min_offer_cents": -1}, "rules.min_offer_cents=-1"),
        ({"min_fill_ratio": -0.001}, "rules.min_fill_ratio=-0.001: must be a number in [0, 1]"),
        ({"min_fill_ratio": 1.5}, "rules.min_fill_ratio=1.5: must be a number in [0, 1]"),
        ({"min_fill_ratio": float("inf")}, "rules.min_fill_ratio=inf"),
        ({"min_fill_ratio": True}, "rules.min_fill_ratio=true"),
        ({"min_fill_ratio": "0.5"}, 'rules.min_fill_ratio="0.5"'),
        ({"pricing": "vickrey"}, 'rules.pricing="vickrey": must be one of uniform'),
        ({"platform_fee_bps": 10001}, "rules.platform_fee_bps=10001"),
    ],
)
def test_bad_rules(kwargs: dict, message: str) -> None:
    with pytest.raises(FieldError) as err:
        AuctionRules(**kwargs)
    assert str(err.value).startswith(message)


def test_numpy_scalars_are_normalised() -> None:
    r = AuctionRules(tick_bps=np.int64(10), min_fill_ratio=np.float64(0.5))
    assert type(r.tick_bps) is int and r.tick_bps == 10
    assert type(r.min_fill_ratio) is float
    o = Offer("o1", "l1", np.int32(5000), np.int64(100), np.int64(3))
    assert type(o.amount_cents) is int and type(o.rate_bps) is int and type(o.committed_at) is int


def test_min_fill_cents_reads_the_decimal_ratio() -> None:
    assert AuctionRules(min_fill_ratio=0.9).min_fill_cents(1_000_000) == 900_000
    assert AuctionRules(min_fill_ratio=0.1).min_fill_cents(30) == 3  # 0.1*30 = 3.0000000000000004
    assert AuctionRules(min_fill_ratio=0.5).min_fill_cents(3) == 2
    assert AuctionRules().min_fill_cents(7) == 7
    for zero in (0, 0.0, -0.0, np.float64(0)):  # 0: any partial fill (S = 0 is UNFILLED apart)
        assert AuctionRules(min_fill_ratio=zero).min_fill_cents(1_000_000) == 0


def test_fee_is_ceiling() -> None:
    r = AuctionRules(platform_fee_bps=50)
    assert r.fee_cents(1_000_000) == 5000
    assert r.fee_cents(1) == 1
    assert r.fee_cents(199) == 1 and r.fee_cents(201) == 2
    assert AuctionRules(platform_fee_bps=0).fee_cents(10**9) == 0


_REQUEST_GOOD = (7, "b1", 100_000, 2500, 12, 10.5)
_INT_EDGES = [0, 1, 2**63 - 1, 2**63, -1, True, 3.0, "5", np.int64(9), np.int32(0)]
_REQUEST_EDGES = (
    _INT_EDGES,
    ["", 5, "\n", "x"],
    _INT_EDGES,
    _INT_EDGES,
    _INT_EDGES,
    [0.0, 0, 2.0**53, 2.0**53 + 2, -0.5, float("nan"), float("inf"), np.float64(3.0), True],
)


def _request_by_field_checks(args: tuple) -> tuple:
    """What AuctionRequest must store: each field check in __post_init__'s order."""
    p = "request."
    auction_id, borrower, amount, rate, term, opened_at = args
    return (
        NON_NEGATIVE_INT64.check(p + "auction_id", auction_id),
        TEXT.check(p + "borrower", borrower),
        POSITIVE_INT64.check(p + "amount_cents", amount),
        NON_NEGATIVE_INT64.check(p + "max_rate_bps", rate),
        POSITIVE_INT64.check(p + "term_months", term),
        SECONDS.check(p + "opened_at", opened_at),
    )


def _same_as_field_checks(args: tuple) -> None:
    try:
        want = _request_by_field_checks(args)
    except FieldError as e:
        with pytest.raises(FieldError) as err:
            AuctionRequest(*args)
        assert str(err.value) == str(e)
        return
    r = AuctionRequest(*args)
    got = (r.auction_id, r.borrower, r.amount_cents, r.max_rate_bps, r.term_months, r.opened_at)
    assert got == want and [type(x) for x in got] == [type(x) for x in want]


@pytest.mark.parametrize(
    ("field", "value"),
    [(k, v) for k, edges in enumerate(_REQUEST_EDGES) for v in edges],
)
def test_request_accepts_exactly_what_the_field_checks_accept(field: int, value) -> None:
    """One edge value at a time (the others the common valid ones): AuctionRequest stores what
    the field checks return or raises their error."""
    args = list(_REQUEST_GOOD)
    args[field] = value
    _same_as_field_checks(tuple(args))


@given(
    args=st.tuples(
        *(
            st.sampled_from([good, *edges])
            for good, edges in zip(_REQUEST_GOOD, _REQUEST_EDGES, strict=True)
        )
    )
)
def test_request_checks_mixed_edge_values(args: tuple) -> None:
    _same_as_field_checks(args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_cents": 0}, "request.amount_cents=0: must be a positive integer"),
        ({"amount_cents": 10.0}, "request.amount_cents=10.0"),
        ({"max_rate_bps": -5}, "request.max_rate_bps=-5"),
        ({"borrower": ""}, 'request.borrower="": must be a non-empty string'),
        ({"term_months": 0}, "request.term_months=0"),
        ({"opened_at": -1}, "request.opened_at=-1"),
        ({"opened_at": float("nan")}, "request.opened_at=nan"),
        ({"auction_id": "7"}, 'request.auction_id="7"'),
    ],
)
def test_bad_request(kwargs: dict, message: str) -> None:
    base = {
        "auction_id": 7,
        "borrower": "b1",
        "amount_cents": 100,
        "max_rate_bps": 3000,
        "term_months": 12,
        "opened_at": 0,
    }
    with pytest.raises(FieldError) as err:
        AuctionRequest(**(base | kwargs))
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"amount_cents": -5}, "offer.amount_cents=-5: must be a positive integer"),
        ({"amount_cents": 0}, "offer.amount_cents=0"),
        ({"amount_cents": 2**63}, "offer.amount_cents=9223372036854775808"),
        ({"rate_bps": -1}, "offer.rate_bps=-1"),
        ({"rate_bps": True}, "offer.rate_bps=true"),
        ({"revealed": 1}, "offer.revealed=1: must be true or false"),
        ({"offer_id": 3}, "offer.offer_id=3"),
        ({"committed_at": 2**60}, "offer.committed_at="),
    ],
)
def test_bad_offer(kwargs: dict, message: str) -> None:
    base = {
        "offer_id": "o1",
        "lender": "l1",
        "amount_cents": 100,
        "rate_bps": 100,
        "committed_at": 0,
        "revealed": True,
    }
    with pytest.raises(FieldError) as err:
        Offer(**(base | kwargs))
    assert str(err.value).startswith(message)


def test_unrevealed_offer_may_have_unknown_amount() -> None:
    o = Offer("o1", "l1", 0, 0, 5.5, revealed=False)
    assert o.amount_cents == 0 and o.committed_at == 5.5


def test_types_are_frozen() -> None:
    o = Offer("o1", "l1", 100, 100, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.amount_cents = 5  # type: ignore[misc]


def test_result_to_dict_key_order() -> None:
    res = ClearingResult(
        "FILLED",
        2400,
        "uniform",
        1000,
        5,
        (Allocation("o1", "l1", 1000, 2400),),
        (Exclusion("o9", "OFF_TICK"),),
    )
    d = res.to_dict()
    assert list(d) == [
        "status",
        "clearing_rate_bps",
        "paid_rate",
        "filled_cents",
        "fee_cents",
        "allocations",
        "excluded",
    ]
    assert list(d["allocations"][0]) == ["offer_id", "lender", "amount_cents", "rate_bps"]
    assert d["excluded"] == [{"offer_id": "o9", "reason": "OFF_TICK"}]
    assert res.borrower_receives_cents == 995


def test_messages_stay_on_one_line_and_print_huge_ints() -> None:
    with pytest.raises(FieldError) as err:
        AuctionRequest(1, "b", 10**5000, 1, 1, 0)  # repr() of this int would raise
    assert str(err.value) == (
        "request.amount_cents=<integer of about 5000 digits>: must be a positive integer "
        "below 2**63"
    )
    with pytest.raises(FieldError) as err:
        Offer("o\n1\u2028", "l", 0, 0, 0, True)
    assert str(err.value).splitlines() == [str(err.value)]
    assert str(err.value).startswith("offer.amount_cents=0")
    assert "\n" not in str(FieldError("f", "a\nb\u0085c", "rule"))
    assert str(FieldError("f", "a\nb\u2028", "r")) == 'f="a\\nb\\u2028": r'


# --- offers: a checked Offer and the lifecycle's OfferRecord ------------------------------


@given(
    offer_id=st.text(min_size=1, max_size=8),
    lender=st.text(min_size=1, max_size=8),
    amount=st.integers(1, 2**63 - 1),
    rate=st.integers(0, 2**63 - 1),
    t=st.one_of(st.integers(0, 2**53), st.floats(0, 2.0**53)),
    revealed=st.booleans(),
)
def test_an_offer_and_a_record_of_the_same_values_clear_alike(
    offer_id, lender, amount, rate, t, revealed
):
    checked = Offer(offer_id, lender, amount, rate, t, revealed)
    record = OfferRecord(offer_id, lender, amount, rate, t, revealed)
    names = [f.name for f in dataclasses.fields(Offer)]
    assert names == [f.name for f in dataclasses.fields(OfferRecord)]
    assert dataclasses.astuple(checked) == dataclasses.astuple(record)
    request = AuctionRequest(1, "b", max(amount // 2, 1), 2**63 - 1, 12, 0)
    rules = AuctionRules(tick_bps=1, min_offer_cents=0)
    assert clear_reference(request, [checked], rules) == clear_reference(request, [record], rules)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.amount_cents = 1  # type: ignore[misc]


def test_offer_record_takes_no_checks_and_offer_all_of_them() -> None:
    assert OfferRecord("", "", -1, -1, -1.0).amount_cents == -1  # built only from checked values
    with pytest.raises(FieldError, match=r"offer\.offer_id=\"\": must be a non-empty string"):
        Offer("", "l", 1, 1, 0)


@given(
    ratio=st.floats(0.0, 1.0, allow_nan=False),
    amount=st.integers(1, 10**15),
)
def test_min_fill_cents_is_the_exact_decimal_ceiling(ratio, amount):
    rules = AuctionRules(min_fill_ratio=ratio)
    assert rules.min_fill_cents(amount) == math.ceil(Fraction(repr(ratio)) * amount)

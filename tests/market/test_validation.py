"""market.validation: every rejected value gives ``field=value: rule``, every accepted value
round-trips."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.money import CENTS, POSITIVE_CENTS
from market.validation import (
    FLAG,
    INT64_MAX,
    NON_NEGATIVE_INT64,
    POSITIVE_INT64,
    SECONDS,
    TEXT,
    Bytes,
    Day,
    FieldError,
    Instance,
    Integer,
    Number,
    OneOf,
    Pattern,
    Rational,
    Rule,
    show,
)

RULES: dict[str, Rule] = {
    "positive_int64": POSITIVE_INT64,
    "non_negative_int64": NON_NEGATIVE_INT64,
    "cents": CENTS,
    "positive_cents": POSITIVE_CENTS,
    "integer": Integer(),
    "small": Integer(-3, 3),
    "seconds": SECONDS,
    "text": TEXT,
    "flag": FLAG,
    "ratio": Number(0, 1, lo_open=True),
    "finite": Number(),
    "rate": Rational(0, 1, hi_open=True),
    "binary": Rational(decimal_floats=False),
    "one_of": OneOf(("uniform", "pay_as_bid")),
    "bytes4": Bytes(4),
    "hex": Pattern(r"0x[0-9a-f]{4}", "must be 0x and 4 hex digits"),
    "day": Day(),
    "sequence": Instance((list, tuple), "must be a list or tuple"),
}

VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["uniform", "pay_as_bid", "0xbeef", "0xBEEF", "", "\n", "\u2028"]),
    st.binary(max_size=6),
    st.binary(min_size=4, max_size=4).map(bytearray),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.integers(0, 255).map(np.uint8),
    st.floats(allow_nan=True, width=32).map(np.float32),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.fractions(),
    st.dates(),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.tuples(st.integers()),
)


def _same(a: object, b: object) -> bool:
    """Equal values (nan aside, which no rule accepts)."""
    return type(a) is type(b) and a == b


@given(name=st.sampled_from(sorted(RULES)), value=VALUES, field=st.sampled_from(["x", "a.b[2]"]))
def test_rejected_values_give_field_value_rule(name: str, value: object, field: str) -> None:
    rule = RULES[name]
    try:
        out = rule.check(field, value)
    except FieldError as err:
        assert str(err) == f"{field}={show(value)}: {rule.text}"
        assert (err.field, err.rule) == (field, rule.text) and err.value is value
        assert "\n" not in str(err) and isinstance(err, ValueError)
        assert rule.text.startswith("must ")
        return
    # accepted: checking the accepted value gives it back unchanged (round trip)
    assert _same(rule.check(field, out), out)
    if isinstance(rule, Rational):
        if not isinstance(value, float | np.floating):
            assert out == Fraction(value)  # type: ignore[arg-type]  # ints, Decimal, Fraction
        elif rule.decimal_floats:
            assert out == Fraction(repr(float(value)))  # the float's shortest decimal
        else:
            assert out == Fraction(float(value))  # the binary number it is
    elif isinstance(rule, Number):
        assert type(out) is float and out == float(value)  # type: ignore[arg-type]
    elif isinstance(rule, Bytes):
        assert type(out) is bytes and out == bytes(value)  # type: ignore[arg-type]
    else:
        assert out == value
        if isinstance(rule, Integer):
            assert type(out) is int


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        (POSITIVE_INT64, 0, "f=0: must be a positive integer below 2**63"),
        (NON_NEGATIVE_INT64, INT64_MAX + 1, "f=9223372036854775808: must be a non-negative"),
        (NON_NEGATIVE_INT64, True, "f=true: must be a non-negative integer below 2**63"),
        (Integer(1), 2.0, "f=2.0: must be an integer >= 1"),
        (SECONDS, math.nan, "f=nan: must be a non-negative number of seconds <= 2**53"),
        (TEXT, "", 'f="": must be a non-empty string'),
        (TEXT, None, "f=null: must be a non-empty string"),
        (FLAG, 1, "f=1: must be true or false"),
        (Number(0, 1, lo_open=True), 0, "f=0: must be a finite number in (0, 1]"),
        (Rational(0), Decimal("-1"), "f=Decimal('-1'): must be a finite number >= 0"),
        (OneOf(("a", "b")), "c", 'f="c": must be one of a, b'),
        (Day(), datetime(2025, 1, 2), "f=datetime.datetime(2025, 1, 2, 0, 0): must be a"),
        (CENTS, 1.5, "f=1.5: must be a whole number of centavos >= 0 (floats never hold money)"),
    ],
)
def test_messages(rule: Rule, value: object, message: str) -> None:
    with pytest.raises(FieldError) as err:
        rule.check("f", value)
    assert str(err.value).startswith(message)


def test_accepted_values_are_normalised() -> None:
    assert type(POSITIVE_INT64.check("f", np.int32(5))) is int
    assert SECONDS.check("f", np.int64(7)) == 7 and type(SECONDS.check("f", 2.5)) is float
    assert Number().check("f", Decimal("0.5")) == 0.5
    assert Rational().check("f", 0.1) == Fraction(1, 10)  # a float read as its decimal
    assert Rational(decimal_floats=False).check("f", 0.1) == Fraction(0.1)
    assert Bytes(2).check("f", bytearray(b"ab")) == b"ab"
    assert Day().check("f", date(2025, 1, 2)) == date(2025, 1, 2)


@given(st.one_of(st.text(), st.integers(), st.floats(), st.binary(), st.lists(st.text())))
def test_shown_values_are_one_short_line(value: object) -> None:
    text = show(value)
    assert "\n" not in text and text.isprintable() and len(text) <= 60

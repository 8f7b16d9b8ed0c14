"""Tests for market.money: exact centavo <-> token conversion and half-even rounding."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.money import (
    CENTAVO_UNITS,
    CENTS,
    POSITIVE_CENTS,
    ceil_div,
    cents_to_token_units,
    div_round_half_even,
    format_brl,
    round_half_even,
    token_units_to_cents,
)

AMOUNTS = st.integers(min_value=0, max_value=10**30)


def test_centavo_is_1e16_base_units() -> None:
    assert CENTAVO_UNITS == 10**16
    assert cents_to_token_units(100) == 10**18  # R$1 = one whole 18-decimal token
    assert token_units_to_cents(10**18) == 100
    assert cents_to_token_units(0) == 0


@given(AMOUNTS)
def test_token_round_trip_exact(cents: int) -> None:
    units = cents_to_token_units(cents)
    assert isinstance(units, int)
    assert token_units_to_cents(units) == cents


@given(AMOUNTS, st.integers(min_value=1, max_value=CENTAVO_UNITS - 1))
def test_non_whole_centavo_rejected(cents: int, dust: int) -> None:
    units = cents * CENTAVO_UNITS + dust
    with pytest.raises(ValueError) as exc:
        token_units_to_cents(units)
    msg = str(exc.value)
    assert f"units={units}" in msg
    assert "whole number of centavos" in msg
    assert f"remainder {dust}" in msg


@pytest.mark.parametrize("bad", [-1, 1.0, 1.5, "100", True, None, Decimal(1)])
def test_cents_to_token_units_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="cents="):
        cents_to_token_units(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-(10**16), 1e16, "1", False])
def test_token_units_to_cents_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="units="):
        token_units_to_cents(bad)  # type: ignore[arg-type]


def test_numpy_integers_accepted() -> None:
    assert cents_to_token_units(np.int64(7)) == 7 * 10**16
    assert token_units_to_cents(np.uint64(10**16)) == 1
    assert type(CENTS.check("x", np.int32(5))) is int


def test_cents_rules_messages() -> None:
    with pytest.raises(ValueError, match=r"offer\.amount_cents=0: must be a whole number of"):
        POSITIVE_CENTS.check("offer.amount_cents", 0)
    with pytest.raises(ValueError, match=r"x=-3: must be a whole number of centavos >= 0"):
        CENTS.check("x", -3)
    with pytest.raises(ValueError, match=r"x=1\.0: .*floats never hold money"):
        CENTS.check("x", 1.0)


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (0.5, 0),
        (1.5, 2),
        (2.5, 2),
        (-0.5, 0),
        (-1.5, -2),
        (2.4999999, 2),
        (0.5000000000000001, 1),  # exact binary value is above the tie
        (Decimal("2.5"), 2),
        (Decimal("3.5"), 4),
        (Decimal("2.675"), 3),
        (Fraction(5, 2), 2),
        (Fraction(7, 2), 4),
        (Fraction(-7, 2), -4),
        (17, 17),
        (np.float64(6.5), 6),
    ],
)
def test_round_half_even(x: object, expected: int) -> None:
    got = round_half_even(x)  # type: ignore[arg-type]
    assert got == expected
    assert type(got) is int


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), Decimal("NaN"), "1.5", True])
def test_round_half_even_rejects(bad: object) -> None:
    with pytest.raises(ValueError, match="x="):
        round_half_even(bad)  # type: ignore[arg-type]


@given(st.integers(-(10**20), 10**20), st.integers(1, 10**12))
def test_div_round_half_even_matches_fraction(n: int, d: int) -> None:
    q = div_round_half_even(n, d)
    assert abs(Fraction(n, d) - q) <= Fraction(1, 2)
    if abs(Fraction(n, d) - q) == Fraction(1, 2):
        assert q % 2 == 0
    assert div_round_half_even(n, -d) == -q or abs(Fraction(n, d) - q) == Fraction(1, 2)


@given(st.integers(-(10**20), 10**20), st.integers(1, 10**12))
def test_ceil_div(n: int, d: int) -> None:
    c = ceil_div(n, d)
    assert (c - 1) * d < n <= c * d


def test_div_helpers_reject() -> None:
    with pytest.raises(ValueError, match="denominator=0: must be non-zero"):
        div_round_half_even(1, 0)
    with pytest.raises(ValueError, match="denominator=0: must be an integer >= 1"):
        ceil_div(1, 0)
    with pytest.raises(ValueError, match=r"numerator=1\.0: must be an integer"):
        ceil_div(1.0, 2)  # type: ignore[arg-type]


def test_format_brl() -> None:
    assert format_brl(123456789) == "R$ 1.234.567,89"
    assert format_brl(5) == "R$ 0,05"
    assert format_brl(-100) == "-R$ 1,00"

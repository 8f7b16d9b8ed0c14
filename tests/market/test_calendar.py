"""Tests for market.calendar: ANBIMA/B3 national holidays 2020-2035 and DU counting."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from market.calendar import (
    SUPPORTED_YEARS,
    add_business_days,
    brazil_holidays,
    business_days_between,
    calendar_days_between,
    easter,
    is_business_day,
    roll_forward,
)

DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


def test_holidays_2025() -> None:
    assert sorted(brazil_holidays(2025)) == [
        date(2025, 1, 1),
        date(2025, 3, 3),  # Carnival Monday
        date(2025, 3, 4),  # Carnival Tuesday
        date(2025, 4, 18),  # Good Friday
        date(2025, 4, 21),
        date(2025, 5, 1),
        date(2025, 6, 19),  # Corpus Christi
        date(2025, 9, 7),
        date(2025, 10, 12),
        date(2025, 11, 2),
        date(2025, 11, 15),
        date(2025, 11, 20),
        date(2025, 12, 25),
    ]


def test_holidays_2026_movable() -> None:
    h = brazil_holidays(2026)
    for d in (date(2026, 2, 16), date(2026, 2, 17), date(2026, 4, 3), date(2026, 6, 4)):
        assert d in h
    assert len(h) == 13


def test_nov_20_only_from_2024() -> None:
    assert date(2023, 11, 20) not in brazil_holidays(2023)
    assert date(2024, 11, 20) in brazil_holidays(2024)
    assert len(brazil_holidays(2020)) == 12


def test_holidays_2020_matches_published_list() -> None:
    # Febraban/B3 2020 list
    assert sorted(brazil_holidays(2020)) == [
        date(2020, 1, 1),
        date(2020, 2, 24),
        date(2020, 2, 25),
        date(2020, 4, 10),
        date(2020, 4, 21),
        date(2020, 5, 1),
        date(2020, 6, 11),
        date(2020, 9, 7),
        date(2020, 10, 12),
        date(2020, 11, 2),
        date(2020, 11, 15),
        date(2020, 12, 25),
    ]


@pytest.mark.parametrize(
    ("year", "sunday"),
    [(2019, date(2019, 4, 21)), (2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)),
     (2026, date(2026, 4, 5)), (2035, date(2035, 3, 25)), (2038, date(2038, 4, 25)),
     (1818, date(1818, 3, 22)), (2285, date(2285, 3, 22))],
)  # fmt: skip
def test_easter_known_dates(year: int, sunday: date) -> None:
    assert easter(year) == sunday
    assert sunday.weekday() == 6


@pytest.mark.parametrize("year", [2019, 2036, 1900])
def test_year_outside_range_rejected(year: int) -> None:
    with pytest.raises(ValueError, match=rf"year={year}: .*2020-2035"):
        brazil_holidays(year)
    with pytest.raises(ValueError, match=rf"year={year}"):
        is_business_day(date(year, 6, 3))


def test_interval_touching_unsupported_year_rejected() -> None:
    with pytest.raises(ValueError, match="year=2036"):
        business_days_between(date(2035, 12, 1), date(2036, 1, 5))
    # the end is exclusive: up to Jan 1 2036 touches only 2035
    assert business_days_between(date(2035, 12, 31), date(2036, 1, 1)) == 1


def test_bad_types_rejected() -> None:
    with pytest.raises(ValueError, match=r"year=2025\.0"):
        brazil_holidays(2025.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a datetime"):
        is_business_day(datetime(2025, 1, 2, 10))
    with pytest.raises(ValueError, match="n="):
        add_business_days(date(2025, 1, 2), 1.0)  # type: ignore[arg-type]


def test_known_du_counts() -> None:
    assert business_days_between(date(2025, 1, 1), date(2026, 1, 1)) == 252
    assert business_days_between(date(2024, 1, 1), date(2025, 1, 1)) == 253
    # 2026: 261 weekdays, 12 weekday holidays (Nov 15 is a Sunday)
    assert business_days_between(date(2026, 1, 1), date(2027, 1, 1)) == 249
    # Carnival week 2025: Mon 3, Tue 4 off -> Wed..Fri
    assert business_days_between(date(2025, 3, 3), date(2025, 3, 10)) == 3


def test_is_business_day() -> None:
    assert is_business_day(date(2025, 3, 5))  # Ash Wednesday is a DU
    assert not is_business_day(date(2025, 3, 4))
    assert not is_business_day(date(2025, 3, 8))  # Saturday
    assert is_business_day(date(2025, 12, 24))  # Dec 24/31 count as DU for CDI


def _brute(start: date, end: date) -> int:
    n, d = 0, start
    while d < end:
        n += d.weekday() < 5 and d not in brazil_holidays(d.year)
        d += timedelta(days=1)
    return n


@given(DATES, DATES)
def test_business_days_between_equals_brute_force(a: date, b: date) -> None:
    start, end = min(a, b), max(a, b)
    assert business_days_between(start, end) == _brute(start, end)
    assert business_days_between(end, start) == -_brute(start, end)


@given(DATES, DATES, DATES)
def test_business_days_additive(a: date, b: date, c: date) -> None:
    a, b, c = sorted((a, b, c))
    assert business_days_between(a, b) + business_days_between(b, c) == business_days_between(a, c)


@given(DATES, st.integers(-400, 400))
def test_add_business_days(d: date, n: int) -> None:
    try:
        e = add_business_days(d, n)
    except ValueError as exc:  # walked out of 2020-2035
        assert "supported holiday calendar" in str(exc)
        return
    if n == 0:
        assert e == d
        return
    assert is_business_day(e)
    if n > 0:
        # exactly n business days in (d, e]
        assert business_days_between(d + timedelta(days=1), e + timedelta(days=1)) == n
        if is_business_day(d):
            assert business_days_between(d, e) == n
    else:
        # exactly |n| business days in [e, d)
        assert business_days_between(e, d) == -n


def test_add_business_days_examples() -> None:
    assert add_business_days(date(2025, 2, 28), 1) == date(2025, 3, 5)  # over Carnival
    assert add_business_days(date(2025, 3, 1), 0) == date(2025, 3, 1)
    assert add_business_days(date(2025, 3, 5), -1) == date(2025, 2, 28)
    assert roll_forward(date(2025, 3, 1)) == date(2025, 3, 5)
    assert roll_forward(date(2025, 3, 5)) == date(2025, 3, 5)
    assert calendar_days_between(date(2025, 1, 1), date(2026, 1, 1)) == 365


def test_supported_years() -> None:
    assert SUPPORTED_YEARS.start == 2020 and SUPPORTED_YEARS.stop - 1 == 2035
    for y in SUPPORTED_YEARS:
        h = brazil_holidays(y)
        assert all(d.year == y for d in h)
        assert len(h) == (13 if y >= 2024 else 12)  # no two holidays ever coincide in range

"""Brazilian business-day calendar (national holidays, ANBIMA/B3 convention), 2020-2035.

A **business day** (dia útil, DU) is a Monday-Friday that is not a national holiday. The holiday
list is the one ANBIMA publishes and B3 uses for DU counts in CDI / DI accrual:

* fixed: Jan 1 (Confraternização Universal), Apr 21 (Tiradentes), May 1 (Dia do Trabalho),
  Sep 7 (Independência), Oct 12 (Nossa Senhora Aparecida), Nov 2 (Finados), Nov 15 (Proclamação
  da República), Nov 20 (Dia Nacional de Zumbi e da Consciência Negra — national holiday from
  2024 on, Lei 14.759/2023), Dec 25 (Natal);
* movable, from Easter Sunday E (anonymous Gregorian algorithm, :func:`easter`): Carnival Monday
  (E − 48) and Tuesday (E − 47), Good Friday (Sexta-feira Santa, E − 2) and Corpus Christi
  (E + 60). Carnival and Corpus Christi are not federal holidays by law but are non-business days
  in the ANBIMA / B3 calendar, which is what decides DU for CDI.

State and municipal holidays, Ash Wednesday (half day) and Dec 24/31 (no trading but still DU for
CDI accrual) are deliberately *not* in the list.

Only years 2020-2035 are supported (:data:`SUPPORTED_YEARS`); any function that needs a year
outside that range raises ``ValueError`` naming the year and the range, so a scenario can never
silently run on an unverified calendar.

Date intervals are half-open: ``business_days_between(start, end)`` counts DU in
``[start, end)``, the ANBIMA convention (the start day accrues, the end day does not).

Simulated time is seconds from day 0: :data:`DAY_S` seconds a day, and :func:`sim_date` maps a
time to its calendar date.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date, timedelta
from types import MappingProxyType

from market.validation import Day, Integer

__all__ = [
    "DAY_S",
    "SUPPORTED_YEARS",
    "add_business_days",
    "brazil_holidays",
    "business_days_between",
    "calendar_days_between",
    "easter",
    "is_business_day",
    "roll_forward",
    "sim_date",
]

SUPPORTED_YEARS = range(2020, 2036)
"""Years whose holidays are known (2020..2035 inclusive)."""

DAY_S = 86_400.0
"""Seconds in a simulated day."""


def sim_date(start_date: date, t_s: float) -> date:
    """Calendar date of simulated time ``t_s`` (day 0, from ``t_s = 0``, is ``start_date``)."""
    return start_date + timedelta(days=int(t_s // DAY_S))


_FIXED: tuple[tuple[int, int], ...] = (
    (1, 1),  # Confraternização Universal
    (4, 21),  # Tiradentes
    (5, 1),  # Dia do Trabalho
    (9, 7),  # Independência do Brasil
    (10, 12),  # Nossa Senhora Aparecida
    (11, 2),  # Finados
    (11, 15),  # Proclamação da República
    (12, 25),  # Natal
)
_ZUMBI_FROM_YEAR = 2024  # Nov 20 national holiday since Lei 14.759/2023


_YEAR = Integer(
    SUPPORTED_YEARS.start,
    SUPPORTED_YEARS.stop - 1,
    text=f"must be a year in {SUPPORTED_YEARS.start}-{SUPPORTED_YEARS.stop - 1} "
    "(the supported holiday calendar)",
)
_GREGORIAN_YEAR = Integer(1583, text="must be an integer >= 1583 (Gregorian calendar)")
_DAY = Day()
_DAYS = Integer()


def easter(year: int) -> date:
    """Easter Sunday of ``year`` (Gregorian), by the anonymous Gregorian (Meeus/Jones/Butcher)
    algorithm. Valid for any year >= 1583; no range restriction here."""
    year = _GREGORIAN_YEAR.check("year", year)
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def _holidays_of(year: int) -> frozenset[date]:
    """National non-business days of ``year`` by the rules of the module docstring."""
    days = {date(year, m, d) for m, d in _FIXED}
    if year >= _ZUMBI_FROM_YEAR:
        days.add(date(year, 11, 20))
    e = easter(year)
    for offset in (-48, -47, -2, 60):  # Carnival Mon, Tue, Good Friday, Corpus Christi
        days.add(e + timedelta(days=offset))
    return frozenset(days)


#: year -> its holidays, for every supported year (a constant table, built at import)
_HOLIDAYS = MappingProxyType({y: _holidays_of(y) for y in SUPPORTED_YEARS})
#: year -> ordinals of its holidays that fall on Monday-Friday, sorted
_WEEKDAY_HOLIDAYS = MappingProxyType(
    {
        y: tuple(sorted(d.toordinal() for d in days if d.weekday() < 5))
        for y, days in _HOLIDAYS.items()
    }
)


def brazil_holidays(year: int) -> frozenset[date]:
    """National non-business days of ``year`` (ANBIMA/B3 list, see module docstring).

    Includes holidays that fall on weekends. Raises ``ValueError`` outside 2020-2035.
    """
    return _HOLIDAYS[_YEAR.check("year", year)]


def is_business_day(d: date) -> bool:
    """True when ``d`` is Monday-Friday and not a national holiday (ValueError outside 2020-2035)."""
    _DAY.check("d", d)
    holidays = _HOLIDAYS[_YEAR.check("year", d.year)]  # check the year even for weekends
    return d.weekday() < 5 and d not in holidays


def _weekdays_before(ordinal: int) -> int:
    """Number of Monday-Friday days with ordinal in [1, ordinal) (date.min is a Monday)."""
    n = ordinal - 1
    weeks, rest = divmod(n, 7)
    return 5 * weeks + min(rest, 5)


def _holidays_in(lo: int, hi: int) -> int:
    """Weekday holidays with ordinal in [lo, hi), lo < hi; every touched year must be supported."""
    first = date.fromordinal(lo).year
    last = date.fromordinal(hi - 1).year
    total = 0
    for y in range(first, last + 1):
        hs = _WEEKDAY_HOLIDAYS[_YEAR.check("year", y)]
        total += bisect_left(hs, hi) - bisect_left(hs, lo)
    return total


def business_days_between(start: date, end: date) -> int:
    """DU: business days in the half-open interval ``[start, end)``.

    Signed: ``business_days_between(b, a) == -business_days_between(a, b)``, so the count is
    additive, ``DU(a, b) + DU(b, c) == DU(a, c)`` for any dates. Zero when ``start == end``.
    Raises ``ValueError`` if the interval touches a year outside 2020-2035.
    """
    _DAY.check("start", start)
    _DAY.check("end", end)
    lo, hi = start.toordinal(), end.toordinal()
    if lo == hi:
        return 0
    if lo > hi:
        return -business_days_between(end, start)
    return _weekdays_before(hi) - _weekdays_before(lo) - _holidays_in(lo, hi)


def calendar_days_between(start: date, end: date) -> int:
    """DC: calendar days from ``start`` to ``end`` (``end - start``, signed)."""
    _DAY.check("start", start)
    _DAY.check("end", end)
    return (end - start).days


def roll_forward(d: date) -> date:
    """``d`` if it is a business day, else the next business day ("following" convention)."""
    _DAY.check("d", d)
    while not is_business_day(d):
        d += timedelta(days=1)
    return d


def add_business_days(d: date, n: int) -> date:
    """The ``n``-th business day strictly after ``d`` (``n > 0``; "D+n" settlement), strictly
    before ``d`` (``n < 0``), or ``d`` itself unchanged (``n == 0``, no rolling).

    For a business day ``d`` and ``n >= 0``: ``business_days_between(d, add_business_days(d, n))
    == n``.
    """
    _DAY.check("d", d)
    n = _DAYS.check("n", n)
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:  # day stepping: at most ~1.5 * |n| set look-ups, never leaves the range early
        d += step
        if is_business_day(d):
            remaining -= 1
    return d

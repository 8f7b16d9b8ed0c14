"""Repayment: Price schedule (Tabela Price), no-penalty prepayment, pro-rata split to lenders.

Rules (spec/money.md, "Repayment schedule"), all amounts in integer centavos:

* monthly effective rate ``i = (1 + a) ** (1/12) - 1`` for the APR-365 ``a = apr_bps / 10000``;
* ``PMT = P * i / (1 - (1 + i) ** -n)`` rounded half-even to centavos (``P / n`` when ``i = 0``);
* each month ``interest = round_half_even(balance * i)``, ``principal = PMT - interest``;
* the **last installment absorbs the rounding**: its principal is the whole remaining balance,
  so principal repaid sums to ``P`` exactly and the final balance is 0.

Degenerate tiny loans (a few centavos over many months) could make ``PMT - interest`` overshoot
the balance or fall below 0; principal is therefore clamped to ``[0, balance]`` (the payment is
then interest + clamped principal). For any realistic loan the clamp never binds and every
installment but the last equals ``PMT``.

The rule is defined in 50-digit ``decimal`` arithmetic (libmpdec): ``i`` to 50 significant
digits, ``interest = round_half_even(D)`` where ``D`` is the 50-digit ``Decimal`` product
``balance * i``, and ``PMT`` from 50-digit products and quotients; so a schedule is the same on
every platform and Python build. :func:`price_schedule_decimal` is that rule written out
directly and kept as the reference. :func:`price_schedule` / :func:`schedule_columns` give
exactly the same installments faster: the monthly rate (50-digit and as a double) and the
annuity discount are memoised together per (``apr_bps``, ``n``) (a few hundred distinct inputs
in a run; one cache lookup per schedule, after the arguments are checked), ``PMT`` is computed
in ``Decimal`` as above, and each month's interest takes a float fast path that is provably
exact or else falls back to the ``Decimal`` product:

  with ``i_f = float(i)`` (correctly rounded) and ``x = balance * i_f`` in IEEE-754 doubles,
  ``|x - D| <= |x - balance*i| + |balance*i - D| <= x * 2**-51.98`` (two roundings of relative
  error ``2**-53``, plus the 50-digit rounding). So whenever ``x`` is further than
  ``x * 2**-50`` from the tie ``floor(x) + 1/2`` (and ``x``, ``balance < 2**49``, so that the
  bound stays below 1/2), ``D`` lies strictly on the same side of that tie, in the same
  rounding cell, and ``round_half_even(D)`` is ``floor(x)`` or ``floor(x) + 1`` as ``x`` says.
  Otherwise (a band of relative width ``2**-49``: for interest near R$ 100, about one
  installment in 10**10; and any amount >= 2**49 cents) the ``Decimal`` product is computed.
  Property tests check the two paths equal, including on constructed near-ties.

Due dates are memoised per (start, term).

* **Prepayment** (no penalty): remaining principal plus interest accrued *linearly pro rata* by
  days since the last due date: ``round_half_even(balance * i * days_since_due /
  days_in_period)``. At ``days_since_due == days_in_period`` this equals the month's interest.
* **Distribution** (:func:`distribute_pro_rata`): a payment split across lenders pro rata to
  integer weights (their allocations) in whole centavos by largest remainder, ties by key; the
  parts sum exactly to the payment. :class:`ProRata` validates the weights once for repeated
  splits (a loan's installments).
"""

from __future__ import annotations

import calendar as _stdcal
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction
from functools import lru_cache

from market.money import CENTS, POSITIVE_CENTS, round_half_even
from market.validation import Day, FieldError, Instance, Integer

__all__ = [
    "Installment",
    "Prepayment",
    "ProRata",
    "distribute_pro_rata",
    "monthly_due_dates",
    "monthly_rate_decimal",
    "prepayment",
    "price_schedule",
    "price_schedule_decimal",
    "schedule_columns",
]

_CTX = Context(prec=50)
_ONE = Decimal(1)
#: Float fast path of an installment's interest (module docstring): used while balance < 2**49
#: and balance * i < 2**49, and decided only when the double ``x = balance * i_f`` is further
#: than ``x * 2**-50`` from the rounding tie ``floor(x) + 1/2``.
_FAST_LIMIT = float(2**49)
_FAST_REL = 2.0**-50


@dataclass(frozen=True, slots=True)
class Installment:
    """One monthly installment. ``balance_cents`` is the outstanding principal *after* it."""

    number: int
    payment_cents: int
    interest_cents: int
    principal_cents: int
    balance_cents: int


@dataclass(frozen=True, slots=True)
class Prepayment:
    """Amount to settle a loan early: ``total_cents = principal_cents + interest_cents``."""

    principal_cents: int
    interest_cents: int
    total_cents: int


_BPS = Integer(0)
_MONTHS = Integer(1)
_DAYS = Integer(0)
_PERIOD_DAYS = Integer(1)
_DAY = Day()
_WEIGHTS = Instance(Mapping, "must be a non-empty mapping of key -> int weight")
_KEY = Instance(str, "must be a string")


def monthly_rate_decimal(apr_bps: int) -> Decimal:
    """``(1 + apr_bps/10000) ** (1/12) - 1`` to 50 significant digits (platform independent)."""
    return _monthly_rate(_BPS.check("apr_bps", apr_bps))


@lru_cache(maxsize=4096)
def _monthly_rate(bps: int) -> Decimal:
    if bps == 0:
        return Decimal(0)
    growth = _CTX.add(_ONE, _CTX.divide(Decimal(bps), Decimal(10_000)))
    return _CTX.subtract(_CTX.power(growth, _CTX.divide(_ONE, Decimal(12))), _ONE)


def _round_cents(x: Decimal) -> int:
    """Half-even to an integer; exact (the 50-digit context holds any realistic amount)."""
    return int(x.to_integral_value(rounding=ROUND_HALF_EVEN))


def price_schedule(principal_cents: int, apr_bps: int, term_months: int) -> tuple[Installment, ...]:
    """Price (French) amortisation schedule of ``term_months`` monthly installments.

    ``principal_cents > 0``, ``apr_bps >= 0`` (APR-365, 0 gives equal principal installments of
    ``round_half_even(P / n)`` with the last absorbing the rest), ``term_months >= 1``.
    Returns installments numbered 1..n; see the module docstring for the rounding rules.
    """
    return _installments(*schedule_columns(principal_cents, apr_bps, term_months))


def schedule_columns(
    principal_cents: int, apr_bps: int, term_months: int
) -> tuple[list[int], list[int], list[int], list[int]]:
    """:func:`price_schedule` as four columns ``(payment, interest, principal, balance)`` in
    centavos, installment 1 first: the same numbers without building ``Installment`` objects
    (the simulation's loans keep only these lists)."""
    p = POSITIVE_CENTS.check("principal_cents", principal_cents)
    bps = _BPS.check("apr_bps", apr_bps)
    n = _MONTHS.check("term_months", term_months)
    i, i_f, discount = _rate_terms(bps, n)
    if discount is None:  # i == 0
        pmt = round_half_even(Fraction(p, n))
        return _amortise(p, n, pmt, i, 0.0)
    pmt = _round_cents(_CTX.divide(_CTX.multiply(Decimal(p), i), discount))
    return _amortise(p, n, pmt, i, i_f)


def price_schedule_decimal(
    principal_cents: int, apr_bps: int, term_months: int
) -> tuple[Installment, ...]:
    """Reference implementation of :func:`price_schedule`: every installment's interest as the
    50-digit ``Decimal`` product (no float fast path). Kept to prove the fast path equal
    (tests) and to benchmark it; same arguments, same result."""
    p = POSITIVE_CENTS.check("principal_cents", principal_cents)
    i = monthly_rate_decimal(apr_bps)
    n = _MONTHS.check("term_months", term_months)
    if i == 0:
        pmt = round_half_even(Fraction(p, n))
    else:
        pmt = _round_cents(_CTX.divide(_CTX.multiply(Decimal(p), i), _discount(apr_bps, n)))
    return _installments(*_amortise_decimal(p, n, pmt, i))


def _installments(
    payment: list[int], interest: list[int], principal: list[int], balance: list[int]
) -> tuple[Installment, ...]:
    """The schedule's columns as :class:`Installment` records, numbered from 1."""
    return tuple(
        [
            Installment(
                number=k + 1,
                payment_cents=payment[k],
                interest_cents=interest[k],
                principal_cents=principal[k],
                balance_cents=balance[k],
            )
            for k in range(len(payment))
        ]
    )


def _amortise_decimal(
    p: int, n: int, pmt: int, i: Decimal
) -> tuple[list[int], list[int], list[int], list[int]]:
    """The amortisation rule with each interest the 50-digit ``Decimal`` product (reference)."""
    cols: tuple[list[int], list[int], list[int], list[int]] = ([], [], [], [])
    balance = p
    for k in range(1, n + 1):
        interest = _round_cents(_CTX.multiply(Decimal(balance), i))
        principal = balance if k == n else min(max(pmt - interest, 0), balance)
        balance -= principal
        for col, v in zip(cols, (interest + principal, interest, principal, balance), strict=True):
            col.append(v)
    return cols


def _amortise(
    p: int, n: int, pmt: int, i: Decimal, i_f: float
) -> tuple[list[int], list[int], list[int], list[int]]:
    """:func:`_amortise_decimal` with the float fast path for each interest (module
    docstring); ``i_f`` is ``float(i)``. Equal to the reference for every input."""
    pay: list[int] = []
    inte: list[int] = []
    prin: list[int] = []
    bal: list[int] = []
    balance = p
    # float fast path while balance and balance * i stay below 2**49 (module docstring)
    fast = p < _FAST_LIMIT and p * i_f < _FAST_LIMIT
    mul = _CTX.multiply
    floor = math.floor
    rel = _FAST_REL
    last = n - 1
    for k in range(n):
        interest = -1
        if fast:
            x = balance * i_f
            q = floor(x)
            d = x - q - 0.5
            if d > x * rel:
                interest = q + 1
            elif -d > x * rel:
                interest = q
        if interest < 0:  # near a tie (or beyond the float range): the 50-digit rule itself
            interest = _round_cents(mul(Decimal(balance), i))
        principal = pmt - interest
        if k == last or principal > balance:  # the last one absorbs the rounding
            principal = balance
        elif principal < 0:
            principal = 0
        balance -= principal
        pay.append(interest + principal)
        inte.append(interest)
        prin.append(principal)
        bal.append(balance)
    return pay, inte, prin, bal


@lru_cache(maxsize=4096)
def _monthly_rate_float(bps: int) -> float:
    """The 50-digit monthly rate correctly rounded to a double (relative error <= 2**-53)."""
    return float(_monthly_rate(bps))


@lru_cache(maxsize=16384)
def _rate_terms(bps: int, n: int) -> tuple[Decimal, float, Decimal | None]:
    """``(i, float(i), 1 - (1 + i) ** -n)`` of ``bps`` (the discount ``None`` when ``i = 0``):
    what a schedule needs of its rate and term, in one memoised lookup."""
    i = _monthly_rate(bps)
    if i == 0:
        return i, 0.0, None
    return i, _monthly_rate_float(bps), _discount(bps, n)


@lru_cache(maxsize=16384)
def _discount(bps: int, n: int) -> Decimal:
    """``1 - (1 + i) ** -n`` for the monthly rate ``i`` of ``bps`` (50 digits)."""
    return _CTX.subtract(_ONE, _CTX.power(_CTX.add(_ONE, _monthly_rate(bps)), -n))


def prepayment(
    balance_cents: int, apr_bps: int, days_since_due: int, days_in_period: int
) -> Prepayment:
    """Settle a loan early, no penalty: the outstanding principal ``balance_cents`` (after the
    last paid installment) plus interest accrued linearly pro rata,
    ``round_half_even(balance * i * days_since_due / days_in_period)`` with ``i`` the monthly
    rate of ``apr_bps``. ``0 <= days_since_due <= days_in_period``, ``days_in_period >= 1``.
    """
    b = CENTS.check("balance_cents", balance_cents)
    i = monthly_rate_decimal(apr_bps)
    period = _PERIOD_DAYS.check("days_in_period", days_in_period)
    elapsed = _DAYS.check("days_since_due", days_since_due)
    if elapsed > period:
        raise FieldError("days_since_due", elapsed, f"must be <= days_in_period={period}")
    accrued = _CTX.divide(
        _CTX.multiply(_CTX.multiply(Decimal(b), i), Decimal(elapsed)), Decimal(period)
    )
    interest = _round_cents(accrued)
    return Prepayment(b, interest, b + interest)


def distribute_pro_rata(amount_cents: int, weights: Mapping[str, int]) -> dict[str, int]:
    """Split ``amount_cents`` across ``weights`` (e.g. lender -> allocated cents) pro rata.

    Largest-remainder method in exact integer arithmetic: each key first gets
    ``floor(amount * w / W)``; the centavos still missing go one each to the largest remainders,
    ties broken by key (ascending). The parts sum exactly to ``amount_cents`` and each part is
    within 1 centavo of its exact share ``amount * w / W``; a zero weight gets 0. The result has
    the keys in the order of ``weights``.

    ``amount_cents >= 0``; weights are ints >= 0 with a positive total; keys are strings.
    """
    amount = CENTS.check("amount_cents", amount_cents)
    pro = ProRata(weights)
    return dict(zip(pro.keys, pro.split(amount), strict=True))


class ProRata:
    """Validated weights for repeated :func:`distribute_pro_rata` splits: ``ProRata(weights)``
    checks the weights once; ``split(amount)`` returns the parts as a tuple in ``keys`` order
    (the same numbers as ``distribute_pro_rata(amount, weights)``)."""

    __slots__ = ("keys", "total", "weights")

    def __init__(self, weights: Mapping[str, int]) -> None:
        if not _WEIGHTS.check("weights", weights):  # a mapping, but empty
            raise FieldError("weights", weights, _WEIGHTS.text)
        self.keys: tuple[str, ...] = tuple([_KEY.check("weights key", k) for k in weights])
        ws = []
        for k, w in weights.items():
            try:  # the message names the key: weights['a']
                ws.append(CENTS.check("weight", w))
            except FieldError as err:
                raise err.prefixed(f"weights[{k!r}]") from None
        self.weights: tuple[int, ...] = tuple(ws)
        self.total = sum(self.weights)
        if self.total <= 0:
            raise FieldError("sum(weights)", self.total, "must be > 0")

    def split(self, amount_cents: int) -> tuple[int, ...]:
        """Parts of ``amount_cents`` (int >= 0) by largest remainder, in ``keys`` order."""
        amount = CENTS.check("amount_cents", amount_cents)
        total = self.total
        ws = self.weights
        parts = [amount * w // total for w in ws]
        missing = amount - sum(parts)
        if missing:
            # (minus the remainder, key): largest remainder first, ties by key (keys are unique)
            order = sorted(
                zip(
                    [q * total - amount * w for q, w in zip(parts, ws, strict=True)],
                    self.keys,
                    range(len(ws)),
                    strict=True,
                )
            )
            for _, _, j in order[:missing]:
                parts[j] += 1
        return tuple(parts)


def monthly_due_dates(start: date, term_months: int) -> tuple[date, ...]:
    """Due dates of a monthly schedule: the same day of month as ``start`` in each of the next
    ``term_months`` months, clamped to the month's last day (Jan 31 -> Feb 28/29 -> Mar 31).
    Calendar days only; no business-day rolling."""
    return _due_dates(_DAY.check("start", start), _MONTHS.check("term_months", term_months))


@lru_cache(maxsize=16384)
def _due_dates(start: date, n: int) -> tuple[date, ...]:
    out = []
    for k in range(1, n + 1):
        y, m0 = divmod(start.month - 1 + k, 12)
        year, month = start.year + y, m0 + 1
        out.append(date(year, month, min(start.day, _stdcal.monthrange(year, month)[1])))
    return tuple(out)

"""CET (custo efetivo total): the borrower's all-in effective annual rate.

Rule (spec/money.md, "Costs the borrower sees"): the CET is the annual rate ``x`` solving

    sum_j CF_j / (1 + x) ** ((d_j - d_0) / 365) = CF_0

where ``CF_0`` is the amount the borrower actually receives (net of fees, centavos) at day
``d_0 = 0`` and ``CF_j`` the payments at day ``d_j`` after it. Published as an annual percentage
with two decimals (:func:`cet_percent`, e.g. ``"43.93"``).

Solver: in ``y = ln(1 + x)`` and in log space the equation is
``h(y) = log(sum_j CF_j * exp(-y t_j)) - log(CF_0) = 0`` (``t_j = d_j / 365``), with ``h``
strictly decreasing, convex and free of overflow (log-sum-exp) for non-negative payments. A
bracket is grown geometrically until ``h`` changes sign and ``scipy.optimize.brentq`` finds the
root to ``xtol = 1e-15``; ``x = expm1(y)``. A root exists iff the payments on day 0 sum to less
than ``CF_0`` and the payments after day 0 are positive; otherwise ``ValueError``. A CET so
negative that ``1 + x`` underflows is returned as ``-1.0``; one above 1e300 raises.

Day-count of the spec's check (R$1,000 at 12 % a.a., 5 monthly payments of R$205.73, R$60 upfront
so ``CF_0 = R$940``; "near 3.08 % a month, 43.9 % a year"): payment ``j`` falls on day
``d_j = j * 365 / 12`` (a month is exactly 1/12 of the 365-day year). Then ``x = 43.93 %`` and
the monthly equivalent ``(1 + x) ** (1/12) - 1 = 3.081 %`` — both figures of the spec. This is
:data:`MONTH_DAYS`, the default of :func:`schedule_payments`. With integer days
``round(j * 365 / 12)`` = 30, 61, 91, 122, 152 the CET is 43.96 %; with real calendar months from
2025-06-01 (30, 61, 92, 122, 153 days) it is 43.74 %. Days may therefore be ``int`` or
``float``/``Fraction`` day counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

from market.money import CENTS, POSITIVE_CENTS
from market.schedule import Installment
from market.validation import FieldError, Number

__all__ = [
    "MONTH_DAYS",
    "cet_annual",
    "cet_monthly",
    "cet_percent",
    "percent_2dp",
    "schedule_payments",
]

MONTH_DAYS = Fraction(365, 12)
"""Days in one month under the CET convention: exactly 1/12 of a 365-day year."""

_CTX = Context(prec=1100)  # a float's exact decimal expansion has at most ~770 significant digits
_MAX_Y = math.log(1e300)  # largest ln(1 + x) returned; beyond it the CET is not representable
_DAYS = Number(0, text="must be a finite number of days >= 0")
_ANNUAL = Number(-1, lo_open=True)
_RATE = Number()


def _check_payments(
    received_cents: int, payments: Sequence[tuple[int | float | Fraction, int]]
) -> tuple[int, list[tuple[float, int]]]:
    cf0 = POSITIVE_CENTS.check("received_cents", received_cents)
    if isinstance(payments, str | bytes) or not isinstance(payments, Sequence) or not payments:
        raise FieldError("payments", payments, "must be a non-empty sequence of (days, cents)")
    flows: list[tuple[float, int]] = []
    for j, item in enumerate(payments):
        if not (isinstance(item, Sequence) and len(item) == 2):
            raise FieldError(f"payments[{j}]", item, "must be a (days, cents) pair")
        days, cents = item
        t = _DAYS.check(f"payments[{j}].days", days)
        flows.append((t / 365.0, CENTS.check(f"payments[{j}].cents", cents)))
    at_zero = sum(c for t, c in flows if t == 0)
    later = sum(c for t, c in flows if t > 0)
    if later == 0:
        raise FieldError("payments", payments, "must pay something after day 0 (else no CET)")
    if at_zero >= cf0:
        raise FieldError(
            "received_cents", cf0, f"must exceed the {at_zero} cents paid on day 0 (else no CET)"
        )
    return cf0, flows


def cet_annual(
    received_cents: int, payments: Sequence[tuple[int | float | Fraction, int]]
) -> float:
    """CET as an effective annual rate (``0.4393`` = 43.93 % a.a.).

    ``received_cents`` is CF_0 (> 0, net of fees); ``payments`` are ``(days after day 0, cents)``
    pairs with days >= 0 (int or fractional) and cents >= 0. May be negative (> -1) when the
    payments total less than what was received.
    """
    from scipy.optimize import brentq  # local: keeps `import market.cet` light

    cf0, flows = _check_payments(received_cents, payments)
    # log-space: h(y) = log(sum_j CF_j exp(-y t_j)) - log(CF_0), never overflows
    logs = [(t, math.log(c)) for t, c in flows if c > 0]
    log_cf0 = math.log(cf0)

    def h(y: float) -> float:
        terms = [lc - y * t for t, lc in logs]
        m = max(terms)
        return m + math.log(math.fsum(math.exp(a - m) for a in terms)) - log_cf0

    lo, hi = -0.1, 0.1  # grow until h(lo) > 0 > h(hi); a root exists (checked above)
    while h(lo) <= 0:
        lo *= 2.0
    while h(hi) >= 0:
        hi *= 2.0
    y = brentq(h, lo, hi, xtol=1e-15, rtol=4 * math.ulp(1.0), maxiter=500)
    if y > _MAX_Y:
        raise FieldError(
            "received_cents",
            cf0,
            f"must not be so far below the payments that the CET, exp({y:.6g}) - 1 a.a., "
            "exceeds the float range",
        )
    return math.expm1(y)


def cet_monthly(annual: float) -> float:
    """Monthly equivalent of an annual CET: ``(1 + x) ** (1/12) - 1``."""
    return math.expm1(math.log1p(_ANNUAL.check("annual", annual)) / 12)


def percent_2dp(rate: float) -> str:
    """A rate as a percentage string with 2 decimals, half-even on the float's exact value
    (``0.439324 -> "43.93"``)."""
    pct = _CTX.multiply(
        Decimal(_RATE.check("rate", rate)), Decimal(100)
    )  # exact: 100 digits hold any float * 100
    return str(pct.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN, context=_CTX))


def cet_percent(received_cents: int, payments: Sequence[tuple[int | float | Fraction, int]]) -> str:
    """The published CET: annual percentage with two decimals, e.g. ``"43.93"``."""
    return percent_2dp(cet_annual(received_cents, payments))


def schedule_payments(
    schedule: Sequence[Installment], *, month_days: float | Fraction = MONTH_DAYS
) -> list[tuple[Fraction | float, int]]:
    """CET cash flows of a monthly schedule: installment ``k`` paid on day ``k * month_days``
    (default ``365/12``, the convention that reproduces the spec's CET check)."""
    return [(inst.number * month_days, inst.payment_cents) for inst in schedule]

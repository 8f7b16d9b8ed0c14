"""Loans after confirmation: Price schedule, monthly payments, prepayment, delinquency,
default, recovery — one simpy process per loan, every movement a ledger posting.

Ledger accounts of a loan (see :mod:`sim.ledger.book`): the borrower's cash ``borrower:<id>``, the
borrower's debt ``debt:<id>`` (allowed negative: its balance is minus what the borrower still
owes), the lenders' claim ``loan:<id>:principal`` (outstanding principal, held on behalf of the
lenders), ``defaulted`` (principal written off).

Postings
--------
- origination: ``debt:B -> loan:L:principal`` (F); the disbursed cash is spent by the
  borrower: ``borrower:B -> external``.
- each payment (installment, prepayment, recovery) of ``X`` cents: the borrower's income
  ``external -> borrower:B`` (X), then ``borrower:B -> <lender account>`` for each lender's
  part (``market.schedule.distribute_pro_rata`` by allocation, largest remainder), and the
  principal part ``loan:L:principal -> debt:B``.
- write-off (DPD reaches ``default_dpd``): ``loan:L:principal -> defaulted`` for the loss
  ``O - R`` (O outstanding, ``R = round_half_even((1 - lgd) * O)`` the expected recovery,
  which stays in the loan account until it is paid ``recovery_delay_days`` later).

Borrower behaviour (drawn at origination from the ``loans.behaviour`` generator): the month of
default ``D ~ Geometric(h)`` with ``h`` the TRUE monthly hazard of the borrower, the month of
prepayment ``P ~ Geometric(p)``; the first of them within the term happens (a tie is a
default): the borrower misses installment ``D`` (and never cures), or settles early at a
uniform point of month ``P`` with :func:`market.schedule.prepayment`; otherwise it pays all
``n`` installments. Due dates are the same day of each following month
(:func:`market.schedule.monthly_due_dates`). Each loan takes three uniforms ``u1, u2, u3`` in
``[0, 1)`` from blocks of :data:`BEHAVIOUR_BLOCK` ``x 3`` drawn with ``rng.random`` (in loan
order, so a run stays deterministic): ``D = max(1, ceil(log1p(-u1) / log1p(-h)))`` (inversion
of the geometric law: ``P(D > k) = (1 - h) ** k``; ``D = 1`` when ``h >= 1``, never when
``h = 0``), ``P`` likewise from ``u2``, and ``u3`` the point within month ``P``.

Payment plan: at origination each tranche keeps the payments and principal parts of its Price
schedule (:func:`market.schedule.schedule_columns`) as int64 arrays, the loan the
per-installment totals and its due times (arrays: a run holds every outstanding loan). The postings
of an installment (income + the split to the lenders) are validated once with
:meth:`sim.ledger.book.Ledger.prepare_pass_through` and reused while the installments repeat (the
level ones), so a payment event posts them (:meth:`sim.ledger.book.Ledger.post_prepared`) and the
principal part (one transfer); the postings are exactly those listed above. Preparing them at
origination for every installment the borrower will pay was measured no faster (and wasted on
installments after the run's end).

Under ``pay_as_bid`` winners earn different rates: the loan is then a set of *tranches*, one
per rate, each with its own Price schedule; the borrower pays the sum. Under ``uniform`` and
``first_rejected`` there is one tranche.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from itertools import accumulate
from typing import Any

import numpy as np

from market.calendar import DAY_S, sim_date
from market.money import round_half_even
from market.schedule import (
    Installment,
    ProRata,
    distribute_pro_rata,
    monthly_due_dates,
    prepayment,
    schedule_columns,
)
from sim.ledger.book import DEFAULTED, Ledger, PreparedPostings
from sim.tables.rows import LoanRow, PaymentRow

__all__ = [
    "BEHAVIOUR_BLOCK",
    "Loan",
    "LoanBook",
    "Tranche",
    "build_tranches",
    "due_times",
    "loan_row",
]

#: loans per block of behaviour uniforms (3 per loan) drawn at once from ``loans.behaviour``
BEHAVIOUR_BLOCK = 512
_NEVER = 1 << 30

ACTIVE = "ACTIVE"
DELINQUENT = "DELINQUENT"
WRITTEN_OFF = "WRITTEN_OFF"
REPAID = "REPAID"
PREPAID = "PREPAID"


@dataclass(slots=True)
class Tranche:
    """Allocations of one loan earning the same rate, and their Price schedule: the payment
    and the principal part of each installment (index ``k - 1`` for installment ``k``) as
    compact int64 arrays (a loan lives for years of simulated time: they are most of its
    memory); the interest parts and the balances are derived from them."""

    rate_bps: int
    principal_cents: int
    weights: dict[str, int]  # lender account -> allocated cents
    payment_cents: array[int]
    principal_parts: array[int]
    _split_cache: dict[int, tuple[tuple[str, ...], tuple[int, ...]]] = field(default_factory=dict)
    _pro_rata: ProRata | None = None

    @property
    def interest_cents(self) -> list[int]:
        """The interest part of each installment (payment minus principal)."""
        return [
            pay - prin for pay, prin in zip(self.payment_cents, self.principal_parts, strict=True)
        ]

    @property
    def balance_cents(self) -> list[int]:
        """The principal left after each installment."""
        return [self.principal_cents - paid for paid in accumulate(self.principal_parts)]

    def balance_after(self, k: int) -> int:
        """The principal left after installment ``k`` (``k = 0``: before the first)."""
        return self.principal_cents - sum(self.principal_parts[:k])

    @property
    def schedule(self) -> tuple[Installment, ...]:
        """The Price schedule as :class:`market.schedule.Installment` objects (built on
        demand from the columns)."""
        cols = (self.payment_cents, self.interest_cents, self.principal_parts, self.balance_cents)
        return tuple(map(Installment, range(1, len(self.payment_cents) + 1), *cols))

    def split(self, amount_cents: int) -> dict[str, int]:
        """``distribute_pro_rata(amount, weights)``."""
        return distribute_pro_rata(amount_cents, self.weights)

    def split_columns(self, amount_cents: int) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The non-zero parts of :meth:`split` as ``(accounts, cents)``, in weights order,
        memoised (installments repeat)."""
        got = self._split_cache.get(amount_cents)
        if got is None:
            pro = self._pro_rata
            if pro is None:
                pro = self._pro_rata = ProRata(self.weights)
            parts = pro.split(amount_cents)
            if all(parts):
                got = (pro.keys, parts)
            else:
                nz = [(a, c) for a, c in zip(pro.keys, parts, strict=True) if c]
                got = (tuple(a for a, _ in nz), tuple(c for _, c in nz))
            self._split_cache[amount_cents] = got
        return got


@dataclass(slots=True)
class Loan:
    """A confirmed loan and its state (``balance_cents`` = outstanding principal)."""

    loan_id: int
    request_id: int
    borrower: str
    funded_at: float
    principal_cents: int
    fee_cents: int
    term_months: int
    tranches: list[Tranche]
    due_s: array[float]
    pd_model: float
    hazard_true: float
    pool_cents: int
    default_month: int
    prepay_month: int
    prepay_frac: float
    balance_cents: int = 0
    paid: int = 0
    status: str = ACTIVE
    ended_at: float = math.nan
    missed_at: float = math.nan
    written_off_at: float = math.nan
    recovered_cents: int = 0
    written_off_cents: int = 0
    exposure_months: float = 0.0
    pay_seq: int = 0  # payments posted so far (the next payment row's ``seq``)
    # ledger account names, built once at origination
    cash_account: str = ""
    debt_account: str = ""
    principal_account: str = ""
    #: per installment: the total paid and its principal part, summed over tranches
    pay_cents: array[int] = field(default_factory=lambda: array("q"))
    principal_parts: array[int] = field(default_factory=lambda: array("q"))
    #: per installment: the key of its postings (the payment when there is one tranche, else
    #: the tuple of the tranches' payments)
    pay_keys: Sequence[Any] = field(default_factory=list)

    @property
    def rate_bps(self) -> int:
        """Allocation-weighted rate of the loan (exact when there is one tranche)."""
        if len(self.tranches) == 1:
            return self.tranches[0].rate_bps
        num = sum(t.rate_bps * t.principal_cents for t in self.tranches)
        return round_half_even(num / self.principal_cents)

    def accrued_interest(self, t_s: float) -> int:
        """Interest accrued since the last due date on a loan still ACTIVE at ``t_s``, pro rata
        by time (the same rule as a prepayment); 0 for any other status."""
        if self.status != ACTIVE or self.paid >= self.term_months:
            return 0
        prev = self.due_s[self.paid - 1] if self.paid else self.funded_at
        nxt = self.due_s[self.paid]
        frac = min(max((t_s - prev) / (nxt - prev), 0.0), 1.0)
        total = 0.0
        for t in self.tranches:
            bal = t.balance_after(self.paid)
            total += bal * ((1.0 + t.rate_bps / 10_000.0) ** (1.0 / 12.0) - 1.0) * frac
        return round_half_even(total)

    def installment(self, k: int) -> tuple[int, int, int]:
        """(payment, interest, principal) of installment ``k`` (1-based), over tranches."""
        if not 1 <= k <= self.term_months:
            raise IndexError(f"installment k={k} must be in 1..{self.term_months}")
        pay, prin = self.pay_cents[k - 1], self.principal_parts[k - 1]
        return pay, pay - prin, prin


def due_times(funded_at: float, funded_date: date, term_months: int) -> array[float]:
    """Simulated times of the ``term_months`` due dates of a loan funded at ``funded_at``
    (calendar date ``funded_date``): same day of each following month, same time of day."""
    return array("d", [funded_at + offset for offset in _due_offsets(funded_date, term_months)])


@lru_cache(maxsize=8192)
def _due_offsets(funded_date: date, term_months: int) -> tuple[float, ...]:
    """Seconds (whole days) from ``funded_date`` to each due date, memoised (a run has few
    funding days)."""
    return tuple(
        (d - funded_date).days * DAY_S for d in monthly_due_dates(funded_date, term_months)
    )


def build_tranches(allocations: list[tuple[str, int, int]], term_months: int) -> list[Tranche]:
    """Group ``(account, amount_cents, rate_bps)`` allocations by rate into tranches (rate
    ascending), each with its Price schedule."""
    by_rate: dict[int, dict[str, int]] = {}
    for acct, amount, rate in allocations:
        w = by_rate.setdefault(rate, {})
        w[acct] = w.get(acct, 0) + amount
    out = []
    for rate in sorted(by_rate):
        w = by_rate[rate]
        p = sum(w.values())
        pay, _, prin, _ = schedule_columns(p, rate, term_months)
        out.append(
            Tranche(
                rate_bps=rate,
                principal_cents=p,
                weights=w,
                payment_cents=array("q", pay),
                principal_parts=array("q", prin),
            )
        )
    return out


class LoanBook:
    """Runs the loan processes of one simulation and posts their money movements."""

    def __init__(
        self,
        env,
        ledger: Ledger,
        log_payment: Callable[[PaymentRow], None],
        *,
        lgd: float,
        default_dpd: int,
        recovery_delay_days: int,
        prepayment_hazard: float,
        rng: np.random.Generator,
        pool_account: str | None,
        on_pool_principal: Callable[[float, int], None],
        start_date: date,
        on_end: Callable[[Loan], None] | None = None,
    ) -> None:
        self.env = env
        self.ledger = ledger
        self._log_payment = log_payment
        self.lgd = lgd
        self.default_dpd = default_dpd
        self.recovery_delay_s = recovery_delay_days * DAY_S
        self.prepayment_hazard = prepayment_hazard
        self.rng = rng
        self.pool_account = pool_account
        self._on_pool = on_pool_principal
        self.start_date = start_date
        self._on_end = on_end
        #: loans whose process has not ended, by loan id (ended loans are handed to on_end)
        self.outstanding: dict[int, Loan] = {}
        self.originated = 0
        self._uniforms: list[float] = []  # behaviour uniforms not used yet (popped from the end)

    # ------------------------------------------------------------------ behaviour
    def _behaviour(self, hazard: float) -> tuple[int, int, float]:
        """(default month, prepayment month, fraction of the prepayment month) of a new loan
        from three uniforms of the current block (see the module docstring)."""
        u = self._uniforms
        if not u:
            u.extend(reversed(self.rng.random(3 * BEHAVIOUR_BLOCK).tolist()))
        u1, u2, frac = u.pop(), u.pop(), u.pop()
        return _geometric(u1, hazard), _geometric(u2, self.prepayment_hazard), frac

    # ------------------------------------------------------------------ origination
    def originate(
        self,
        *,
        loan_id: int,
        request_id: int,
        borrower: str,
        allocations: list[tuple[str, int, int]],
        fee_cents: int,
        term_months: int,
        pd_model: float,
        hazard_true: float,
    ) -> Loan:
        """Create the loan at ``env.now`` (after disbursement), post its origination and start
        its process."""
        now = self.env.now
        tranches = build_tranches(allocations, term_months)
        if len(tranches) == 1:
            t0 = tranches[0]
            principal = t0.principal_cents
            pay, prin = t0.payment_cents, t0.principal_parts
            keys: Sequence[Any] = pay
        else:
            principal = sum(t.principal_cents for t in tranches)
            keys = list(zip(*(t.payment_cents for t in tranches), strict=True))
            pay = array("q", [sum(col) for col in keys])
            prin = array(
                "q", [sum(col) for col in zip(*(t.principal_parts for t in tranches), strict=True)]
            )
        funded_date = sim_date(self.start_date, now)
        d, p, frac = self._behaviour(hazard_true)
        pool_cents = 0
        if self.pool_account is not None:
            for t in tranches:
                pool_cents += t.weights.get(self.pool_account, 0)
        loan = Loan(
            loan_id=loan_id,
            request_id=request_id,
            borrower=borrower,
            funded_at=now,
            principal_cents=principal,
            fee_cents=fee_cents,
            term_months=term_months,
            tranches=tranches,
            due_s=due_times(now, funded_date, term_months),
            pd_model=pd_model,
            hazard_true=hazard_true,
            pool_cents=pool_cents,
            default_month=d,
            prepay_month=p,
            prepay_frac=frac,
            balance_cents=principal,
            cash_account=f"borrower:{borrower}",
            debt_account=f"debt:{borrower}",
            principal_account=f"loan:{loan_id}:principal",
            pay_cents=pay,
            principal_parts=prin,
            pay_keys=keys,
        )
        self.ledger.transfer(
            now, loan.debt_account, loan.principal_account, principal, "originate", loan_id
        )
        if pool_cents:
            self._on_pool(now, pool_cents)
        self.outstanding[loan_id] = loan
        self.originated += 1
        self.env.process(self._run(loan))
        return loan

    # ------------------------------------------------------------------ payments
    def _prepare(self, loan: Loan, kind: str, amounts: tuple[int, ...]) -> PreparedPostings | None:
        """The postings of a borrower payment of ``amounts`` (one per tranche): the income
        ``external -> borrower`` of their total, then each tranche's split to its lenders
        (``kind``); None when the total is 0."""
        tranches = loan.tranches
        if len(tranches) == 1:
            if amounts[0] <= 0:
                return None
            dsts, cents = tranches[0].split_columns(amounts[0])
        else:
            dsts, cents = (), ()
            for t, amount in zip(tranches, amounts, strict=True):
                if amount > 0:
                    d, c = t.split_columns(amount)
                    dsts += d
                    cents += c
            if not dsts:
                return None
        return self.ledger.prepare_pass_through(
            "external", loan.cash_account, dsts, cents, "income", kind, loan.loan_id
        )

    def _pay(
        self,
        loan: Loan,
        kind: str,
        number: int,
        prepared: PreparedPostings | None,
        principal: int,
    ) -> None:
        """Post one borrower payment: the ``prepared`` income and split, then the principal
        part ``loan:L:principal -> debt:B``; update the pool's claim and log the payment row."""
        if prepared is None:
            return
        now = self.env.now
        led = self.ledger
        lid = loan.loan_id
        led.post_prepared(now, prepared)
        if principal:
            led.transfer(now, loan.principal_account, loan.debt_account, principal, "amortise", lid)
        old = loan.balance_cents
        new = loan.balance_cents = old - principal
        pool = loan.pool_cents
        if pool:
            full = loan.principal_cents
            delta = (pool * new) // full - (pool * old) // full
            if delta:
                self._on_pool(now, delta)
        seq = loan.pay_seq
        loan.pay_seq = seq + 1
        total = prepared.amount[0]  # the income posting (first) carries the payment's total
        self._log_payment(
            PaymentRow(
                loan_id=lid,
                seq=seq,
                t_s=now,
                kind=kind,
                number=number,
                amount_cents=total,
                interest_cents=total - principal,
                principal_cents=principal,
                balance_after_cents=new,
            )
        )

    @staticmethod
    def _pool_claim(loan: Loan) -> int:
        if not loan.pool_cents:
            return 0
        return (loan.pool_cents * loan.balance_cents) // loan.principal_cents

    # ------------------------------------------------------------------ the process
    def _run(self, loan: Loan):
        env = self.env
        n = loan.term_months
        due = loan.due_s
        d, p = loan.default_month, loan.prepay_month
        paid_until, prepays = _paid_until(d, p, n)
        keys, principal = loan.pay_keys, loan.principal_parts
        key = prepared = None
        for k in range(1, paid_until + 1):
            yield env.timeout(due[k - 1] - env.now)
            loan.exposure_months = k
            if keys[k - 1] != key:  # prepared once, reused while the installments repeat
                key = keys[k - 1]
                prepared = self._prepare(loan, "installment", key if type(key) is tuple else (key,))
            self._pay(loan, "installment", k, prepared, principal[k - 1])
            loan.paid = k
        if prepays:
            k = p
            prev = due[k - 2] if k >= 2 else loan.funded_at
            t_pre = prev + loan.prepay_frac * (due[k - 1] - prev)
            yield env.timeout(t_pre - env.now)
            self._prepay(loan, prev, due[k - 1])
        elif paid_until < n:
            yield env.timeout(due[d - 1] - env.now)
            loan.exposure_months = d
            yield from self._default(loan)
        else:
            loan.status = REPAID
            loan.ended_at = env.now
        del self.outstanding[loan.loan_id]
        if self._on_end is not None:
            self._on_end(loan)

    def _prepay(self, loan: Loan, prev_due: float, next_due: float) -> None:
        now = self.env.now
        days_in = max(1, round((next_due - prev_due) / DAY_S))
        since = min(days_in, int((now - prev_due) // DAY_S))
        amounts = []
        principal = 0
        for t in loan.tranches:
            bal = t.balance_after(loan.paid)
            if bal <= 0:
                amounts.append(0)
                continue
            pre = prepayment(bal, t.rate_bps, since, days_in)
            amounts.append(pre.total_cents)
            principal += pre.principal_cents
        prepared = self._prepare(loan, "prepayment", tuple(amounts))
        self._pay(loan, "prepayment", loan.paid + 1, prepared, principal)
        loan.exposure_months = loan.paid + (now - prev_due) / (next_due - prev_due)
        loan.status = PREPAID
        loan.ended_at = now

    def _default(self, loan: Loan):
        env = self.env
        loan.status = DELINQUENT
        loan.missed_at = env.now
        yield env.timeout(self.default_dpd * DAY_S)
        now = env.now
        outstanding = loan.balance_cents
        recover = round_half_even((1.0 - self.lgd) * outstanding)
        loss = outstanding - recover
        if loss:
            self.ledger.transfer(
                now, loan.principal_account, DEFAULTED, loss, "write_off", loan.loan_id
            )
        loan.status = WRITTEN_OFF
        loan.written_off_at = now
        loan.written_off_cents = loss
        old_pool = self._pool_claim(loan)
        loan.balance_cents = recover  # the claim left is the expected recovery
        if loan.pool_cents:
            # the pool's deployed principal drops by its share of the loss now
            self._on_pool(now, self._pool_claim(loan) - old_pool)
        if recover <= 0:
            loan.ended_at = now
            return
        if self.recovery_delay_s:
            yield env.timeout(self.recovery_delay_s)
        # recovery is split like every payment, by the tranches' principal
        weights = {str(i): t.principal_cents for i, t in enumerate(loan.tranches)}
        by_tranche = distribute_pro_rata(recover, weights)
        amounts = tuple(by_tranche[str(i)] for i in range(len(loan.tranches)))
        prepared = self._prepare(loan, "recovery", amounts)
        self._pay(loan, "recovery", loan.paid + 1, prepared, recover)
        loan.recovered_cents = recover
        loan.ended_at = env.now


def loan_row(loan: Loan, t_end: float, cet_annual: float = math.nan) -> LoanRow:
    """The ``loans`` row of ``loan`` as of ``t_end`` (a loan that ended reads the same at any
    later time). ``cet_annual`` is set where the run knows it (see
    :class:`sim.engine.cet_fast.LoanCets`)."""
    status = loan.status
    dpd = int((t_end - loan.missed_at) // DAY_S) if status == DELINQUENT else 0
    exposure = loan.exposure_months
    if status == ACTIVE:
        exposure = float(sum(1 for t in loan.due_s if t <= t_end))
    by_lender: dict[str, int] = {}
    for t in loan.tranches:
        for a, w in t.weights.items():
            by_lender[a] = by_lender.get(a, 0) + w
    s = np.asarray(list(by_lender.values()), dtype=np.float64) / loan.principal_cents
    return LoanRow(
        loan_id=loan.loan_id,
        request_id=loan.request_id,
        borrower=loan.borrower,
        funded_at=loan.funded_at,
        principal_cents=loan.principal_cents,
        fee_cents=loan.fee_cents,
        rate_bps=loan.rate_bps,
        term_months=loan.term_months,
        installment_cents=loan.installment(1)[0],
        n_lenders=len(by_lender),
        hhi=float(np.sum(s * s)),
        pool_cents=loan.pool_cents,
        pd_model=loan.pd_model,
        hazard_true=loan.hazard_true,
        cet_annual=cet_annual,
        outcome=status,
        ended_at=loan.ended_at,
        missed_at=loan.missed_at,
        written_off_at=loan.written_off_at,
        recovered_cents=loan.recovered_cents,
        written_off_cents=loan.written_off_cents,
        exposure_months=float(exposure),
        balance_end_cents=loan.balance_cents if status not in (REPAID, PREPAID) else 0,
        accrued_interest_end_cents=loan.accrued_interest(t_end),
        dpd_end=dpd,
    )


def _paid_until(d: int, p: int, n: int) -> tuple[int, bool]:
    """(installments paid, whether the loan then prepays) for default month ``d``, prepayment
    month ``p`` and term ``n``: the first of ``d``, ``p`` within the term happens, a tie is a
    default; the borrower pays every installment before it."""
    if p <= n and p < d:
        return p - 1, True  # then settles early in month p
    if d <= n:
        return d - 1, False  # then misses installment d
    return n, False


def _geometric(u: float, h: float) -> int:
    """Inverse-CDF draw of ``Geometric(h)`` on {1, 2, ...} from a uniform ``u`` in ``[0, 1)``:
    the least ``k >= 1`` with ``(1 - h) ** k <= 1 - u``; ``1 << 30`` (never) when ``h <= 0``."""
    if h <= 0.0:
        return _NEVER
    if h >= 1.0:
        return 1
    k = math.ceil(math.log1p(-u) / math.log1p(-h))
    return 1 if k < 1 else min(k, _NEVER)

"""Loans after confirmation: Price schedule, monthly payments, prepayment, delinquency,
default, recovery — one simpy process per loan, every movement a ledger posting.

Ledger accounts of a loan (see :mod:`sim.ledger`): the borrower's cash ``borrower:<id>``, the
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

Borrower behaviour (drawn at origination from the loan's own generator draws): the month of
default ``D ~ Geometric(h)`` with ``h`` the TRUE monthly hazard of the borrower, the month of
prepayment ``P ~ Geometric(p)``; the first of them within the term happens (a tie is a
default): the borrower misses installment ``D`` (and never cures), or settles early at a
uniform point of month ``P`` with :func:`market.schedule.prepayment`; otherwise it pays all
``n`` installments. Due dates are the same day of each following month
(:func:`market.schedule.monthly_due_dates`).

Under ``pay_as_bid`` winners earn different rates: the loan is then a set of *tranches*, one
per rate, each with its own Price schedule; the borrower pays the sum. Under ``uniform`` and
``first_rejected`` there is one tranche.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from market.money import round_half_even
from market.schedule import distribute_pro_rata, monthly_due_dates, prepayment, price_schedule
from sim.ledger import DEFAULTED, Ledger

__all__ = ["DAY_S", "Loan", "LoanBook", "Tranche", "build_tranches", "due_times"]

DAY_S = 86_400.0

ACTIVE = "ACTIVE"
DELINQUENT = "DELINQUENT"
WRITTEN_OFF = "WRITTEN_OFF"
REPAID = "REPAID"
PREPAID = "PREPAID"


@dataclass(slots=True)
class Tranche:
    """Allocations of one loan earning the same rate, and their Price schedule."""

    rate_bps: int
    principal_cents: int
    weights: dict[str, int]  # lender account -> allocated cents
    schedule: tuple  # market.schedule.Installment, ...
    _split_cache: dict[int, tuple[tuple[str, int], ...]] = field(default_factory=dict)

    def split(self, amount_cents: int) -> dict[str, int]:
        """``distribute_pro_rata(amount, weights)``."""
        return distribute_pro_rata(amount_cents, self.weights)

    def split_parts(self, amount_cents: int) -> tuple[tuple[str, int], ...]:
        """The non-zero ``(account, cents)`` of :meth:`split`, in weights order, memoised
        (installments repeat)."""
        got = self._split_cache.get(amount_cents)
        if got is None:
            got = self._split_cache[amount_cents] = tuple(
                (a, c) for a, c in distribute_pro_rata(amount_cents, self.weights).items() if c
            )
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
    due_s: list[float]
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
            bal = t.schedule[self.paid - 1].balance_cents if self.paid else t.principal_cents
            total += bal * ((1.0 + t.rate_bps / 10_000.0) ** (1.0 / 12.0) - 1.0) * frac
        return round_half_even(total)

    def installment(self, k: int) -> tuple[int, int, int]:
        """(payment, interest, principal) of installment ``k`` (1-based), over tranches."""
        pay = inte = prin = 0
        for t in self.tranches:
            inst = t.schedule[k - 1]
            pay += inst.payment_cents
            inte += inst.interest_cents
            prin += inst.principal_cents
        return pay, inte, prin


def due_times(funded_at: float, funded_date: date, term_months: int) -> list[float]:
    """Simulated times of the ``term_months`` due dates of a loan funded at ``funded_at``
    (calendar date ``funded_date``): same day of each following month, same time of day."""
    return [
        funded_at + (d - funded_date).days * DAY_S
        for d in monthly_due_dates(funded_date, term_months)
    ]


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
        out.append(Tranche(rate, p, w, price_schedule(p, rate, term_months)))
    return out


class LoanBook:
    """Runs the loan processes of one simulation and posts their money movements."""

    def __init__(
        self,
        env,
        ledger: Ledger,
        log_payment: Callable[[tuple], None],
        *,
        lgd: float,
        default_dpd: int,
        recovery_delay_days: int,
        prepayment_hazard: float,
        rng: np.random.Generator,
        pool_account: str | None,
        on_pool_principal: Callable[[float, int], None],
        start_date: date,
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
        self.loans: list[Loan] = []

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
        principal = sum(t.principal_cents for t in tranches)
        funded_date = self.start_date + timedelta(days=int(now // DAY_S))
        rng = self.rng
        d = int(rng.geometric(hazard_true)) if hazard_true > 0 else 1 << 30
        h_p = self.prepayment_hazard
        p = int(rng.geometric(h_p)) if h_p > 0 else 1 << 30
        frac = float(rng.random())
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
        )
        self.ledger.transfer(
            now, loan.debt_account, loan.principal_account, principal, "originate", loan_id
        )
        if pool_cents:
            self._on_pool(now, pool_cents)
        self.loans.append(loan)
        self.env.process(self._run(loan))
        return loan

    # ------------------------------------------------------------------ payments
    def _pay(self, loan: Loan, kind: str, number: int, parts: list[tuple[Tranche, int, int]]):
        """Post one borrower payment: ``parts`` = (tranche, amount, principal) per tranche."""
        if len(parts) == 1:
            tranche, total, principal = parts[0]
            if total <= 0:
                return
            shares = tranche.split_parts(total)
        else:
            total = principal = 0
            for _, amount, prin in parts:
                total += amount
                principal += prin
            if total <= 0:
                return
            shares = [
                share
                for tranche, amount, _ in parts
                if amount > 0
                for share in tranche.split_parts(amount)
            ]
        now = self.env.now
        led = self.ledger
        lid = loan.loan_id
        b_cash = loan.cash_account
        led.transfer(now, "external", b_cash, total, "income", lid)
        led.transfer_split(now, b_cash, shares, kind, lid)
        if principal:
            led.transfer(now, loan.principal_account, loan.debt_account, principal, "amortise", lid)
        if loan.pool_cents:
            old_pool = self._pool_claim(loan)
            loan.balance_cents -= principal
            delta = self._pool_claim(loan) - old_pool
            if delta:
                self._on_pool(now, delta)
        else:
            loan.balance_cents -= principal
        seq = loan.pay_seq
        loan.pay_seq = seq + 1
        self._log_payment(
            (lid, seq, now, kind, number, total, total - principal, principal, loan.balance_cents)
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
        for k in range(1, n + 1):
            if p <= n and p < d and k == p:
                prev = due[k - 2] if k >= 2 else loan.funded_at
                t_pre = prev + loan.prepay_frac * (due[k - 1] - prev)
                yield env.timeout(t_pre - env.now)
                self._prepay(loan, prev, due[k - 1])
                return
            yield env.timeout(due[k - 1] - env.now)
            loan.exposure_months = k
            if k == d:
                yield from self._default(loan)
                return
            parts = []
            for t in loan.tranches:
                inst = t.schedule[k - 1]
                parts.append((t, inst.payment_cents, inst.principal_cents))
            self._pay(loan, "installment", k, parts)
            loan.paid = k
        loan.status = REPAID
        loan.ended_at = env.now

    def _prepay(self, loan: Loan, prev_due: float, next_due: float) -> None:
        now = self.env.now
        days_in = max(1, round((next_due - prev_due) / DAY_S))
        since = min(days_in, int((now - prev_due) // DAY_S))
        parts = []
        for t in loan.tranches:
            bal = t.schedule[loan.paid - 1].balance_cents if loan.paid else t.principal_cents
            if bal <= 0:
                continue
            pre = prepayment(bal, t.rate_bps, since, days_in)
            parts.append((t, pre.total_cents, pre.principal_cents))
        self._pay(loan, "prepayment", loan.paid + 1, parts)
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
        parts = [(t, by_tranche[str(i)], by_tranche[str(i)]) for i, t in enumerate(loan.tranches)]
        self._pay(loan, "recovery", loan.paid + 1, parts)
        loan.recovered_cents = recover
        loan.ended_at = env.now

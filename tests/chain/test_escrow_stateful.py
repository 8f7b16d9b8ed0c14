"""Stateful test of the escrow lifecycle: funded loans, installments, prepayment, default and
lenders' pull withdrawals in random interleavings, checked against a Python model.

Invariants after every step:
- the escrow's token balance == sum over loans of (received - withdrawn): what lenders can still
  withdraw plus what is not yet distributed;
- every lender's ``withdrawable`` equals the model's entitlement minus what it already took
  (floor(received * a / F) while active; largest remainder of ``received``, ties by offer
  index, once closed), so nothing is paid twice and closed loans distribute exactly;
- the contract's received / withdrawn totals and phases match the model.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.chain.escrow_kit import PHASE, EscrowKit, OfferSpec, TermSpec, reference_clear

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class Loan:
    winners: list[tuple[int, str, int]]  # (offer index, lender, allocation)
    filled: int
    term: int
    phase: str = "Active"
    received: int = 0
    installments: int = 0
    withdrawn: dict[int, int] = dataclasses.field(default_factory=dict)

    def entitlements(self) -> dict[int, int]:
        """Model of the contract's cumulative entitlement per winning offer."""
        due = {i: self.received * a // self.filled for i, _, a in self.winners}
        if self.phase == "Active":
            return due
        missing = self.received - sum(due.values())
        rems = sorted(self.winners, key=lambda w: (-(self.received * w[2] % self.filled), w[0]))
        for i, _, _ in rems[:missing]:
            due[i] += 1
        return due

    def owed(self, lender: str) -> int:
        due = self.entitlements()
        return sum(due[i] - self.withdrawn.get(i, 0) for i, who, _ in self.winners if who == lender)


class EscrowLifecycle(RuleBasedStateMachine):
    kit: EscrowKit
    lenders: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.evm = self.kit.evm
        self.snap = self.evm.snapshot()
        self.loans: dict[int, Loan] = {}
        self.next_id = 1
        self.touched: int | None = None  # the loan the last step changed

    def teardown(self) -> None:
        self.evm.revert_to(self.snap)

    def _active(self) -> list[int]:
        return [k for k, v in self.loans.items() if v.phase == "Active"]

    @rule(data=st.data())
    def fund_a_loan(self, data) -> None:
        kit = self.kit
        n = data.draw(st.integers(1, 4), label="offers")
        specs = [
            OfferSpec(
                self.lenders[data.draw(st.integers(0, 3), label="lender")],
                data.draw(st.integers(1000, 6000), label="amount"),
                data.draw(st.sampled_from([1500, 1600, 1700]), label="rate"),
                bytes([j + 1]) * 32,
            )
            for j in range(n)
        ]
        terms = TermSpec(
            amount_cents=data.draw(st.integers(2000, 15_000), label="request"),
            term_months=data.draw(st.integers(1, 3), label="term"),
            min_fill_bps=5_000,
            max_offers_per_lender=4,
            fee_bps=data.draw(st.sampled_from([0, 50, 250]), label="fee"),
        )
        aid = self.next_id
        self.next_id += 1
        kit.to_clearing(aid, terms, specs)
        clearing = reference_clear(terms, specs)
        kit.submit(aid, clearing)
        if clearing.status == "UNFILLED":
            assert kit.phase(aid) == PHASE["Unfilled"]
            return
        kit.fund_winners(specs, clearing)
        self.evm.send(kit.f.confirm(aid), kit.engine)
        winners = [(i, specs[i].lender, a) for i, a, _ in clearing.allocations]
        filled = sum(a for _, _, a in winners)
        self.loans[aid] = Loan(winners, filled, terms.term_months)
        self.touched = aid

    @precondition(lambda self: self._active())
    @rule(data=st.data(), amount=st.integers(1, 5000))
    def repay(self, data, amount) -> None:
        aid = data.draw(st.sampled_from(self._active()), label="loan")
        loan = self.loans[aid]
        self.touched = aid
        self.kit.fund(self.kit.borrower, amount)
        self.evm.send(self.kit.f.repay(aid, amount), self.kit.borrower)
        loan.received += amount
        loan.installments += 1
        if loan.installments == loan.term:
            loan.phase = "Repaid"

    @precondition(lambda self: self._active())
    @rule(data=st.data(), amount=st.integers(1, 20_000))
    def prepay(self, data, amount) -> None:
        aid = data.draw(st.sampled_from(self._active()), label="loan")
        self.touched = aid
        self.kit.fund(self.kit.borrower, amount)
        self.evm.send(self.kit.f.prepay(aid, amount), self.kit.borrower)
        self.loans[aid].received += amount
        self.loans[aid].phase = "Prepaid"

    @precondition(lambda self: self._active())
    @rule(data=st.data(), recovered=st.sampled_from([0, 1, 999, 4321]))
    def default(self, data, recovered) -> None:
        aid = data.draw(st.sampled_from(self._active()), label="loan")
        self.touched = aid
        if recovered:
            self.kit.fund(self.kit.engine, recovered)
        self.evm.send(self.kit.f.markDefault(aid, recovered), self.kit.engine)
        self.loans[aid].received += recovered
        self.loans[aid].phase = "Defaulted"

    @precondition(lambda self: self.loans)
    @rule(data=st.data())
    def withdraw(self, data) -> None:
        aid = data.draw(st.sampled_from(sorted(self.loans)), label="loan")
        lender = data.draw(st.sampled_from(self.lenders[:5]), label="who")
        loan = self.loans[aid]
        self.touched = aid
        owed = loan.owed(lender)
        kit = self.kit
        if owed == 0:
            self.evm.reverts(kit.f.withdraw(aid), lender, "NothingToWithdraw", aid, lender)
            return
        before = kit.balance(lender)
        self.evm.send(kit.f.withdraw(aid), lender)
        assert kit.balance(lender) - before == owed
        due = loan.entitlements()
        for i, who, _ in loan.winners:
            if who == lender:
                loan.withdrawn[i] = due[i]

    @invariant()
    def escrow_holds_exactly_what_is_owed(self) -> None:
        kit = self.kit
        expected = sum(v.received - sum(v.withdrawn.values()) for v in self.loans.values())
        assert kit.balance(kit.escrow.address) == expected

    @invariant()
    def withdrawable_matches_model(self) -> None:
        """Checked on the loan the last step touched (eth_calls are the slow part here)."""
        if self.touched is None:
            return
        kit, aid = self.kit, self.touched
        loan = self.loans[aid]
        a = kit.auction(aid)
        assert a["phase"] == PHASE[loan.phase]
        assert a["receivedCents"] == loan.received
        assert a["withdrawnCents"] == sum(loan.withdrawn.values())
        due = loan.entitlements()
        if loan.phase == "Active":
            assert sum(due.values()) <= loan.received
        else:
            assert sum(due.values()) == loan.received
        for lender in sorted({w for _, w, _ in loan.winners}):
            assert kit.f.withdrawable(aid, lender).call() == loan.owed(lender)


def test_escrow_lifecycle_state_machine(chain, roles, lenders):
    EscrowLifecycle.kit = EscrowKit(chain, roles)
    EscrowLifecycle.lenders = list(lenders)
    run_state_machine_as_test(
        EscrowLifecycle,
        settings=settings(
            max_examples=10,
            stateful_step_count=10,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )

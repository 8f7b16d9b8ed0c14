"""Reconcile on-chain BRL token balances with an off-chain ledger.

The off-chain side is a mapping ``label -> (address, cents)``: what the ledger says each
account holds, in integer centavos.  On chain the BRL token has 18 decimals and one centavo is
``10**16`` base units (``market.money.CENTAVO_UNITS``); an on-chain balance that is not a
whole number of centavos is itself a discrepancy.  :func:`reconcile` lists every mismatch;
:func:`assert_reconciled` raises :class:`ReconciliationError` naming the first one, e.g.
``escrow 0xAbc...: on chain 0 cents, ledger 1500 cents (off by -1500)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from market.money import CENTAVO_UNITS

__all__ = [
    "BalanceMismatch",
    "ReconciliationError",
    "assert_reconciled",
    "reconcile",
    "token_balance_cents",
]


class ReconciliationError(ValueError):
    """On-chain balances do not match the off-chain ledger."""


@dataclass(frozen=True, slots=True)
class BalanceMismatch:
    """One account whose on-chain balance differs from the ledger (centavos)."""

    label: str
    address: str
    on_chain_cents: int | None  # None: not a whole number of centavos
    ledger_cents: int
    on_chain_units: int

    def __str__(self) -> str:
        if self.on_chain_cents is None:
            return (
                f"{self.label} {self.address}: on chain {self.on_chain_units} base units is not "
                f"a whole number of centavos (1 centavo = {CENTAVO_UNITS} units)"
            )
        diff = self.on_chain_cents - self.ledger_cents
        return (
            f"{self.label} {self.address}: on chain {self.on_chain_cents} cents, ledger "
            f"{self.ledger_cents} cents (off by {diff:+d})"
        )


def token_balance_cents(token: Any, address: str) -> tuple[int, int | None]:
    """``(units, cents)`` of ``address`` on the BRL token handle; cents is None if fractional."""
    units = int(token.call("balanceOf", address))
    q, r = divmod(units, CENTAVO_UNITS)
    return units, (q if r == 0 else None)


def reconcile(token: Any, ledger: Mapping[str, tuple[str, int]]) -> list[BalanceMismatch]:
    """Every account of ``ledger`` (label -> (address, cents)) whose token balance differs.

    ``token`` is a :class:`chain.deploy.ContractHandle` of the BRL token (anything with
    ``call("balanceOf", address)``).  Labels are checked in sorted order (deterministic).
    """
    out: list[BalanceMismatch] = []
    for label in sorted(ledger):
        address, cents = ledger[label]
        if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
            raise ValueError(f"ledger[{label!r}] cents={cents!r} must be an int >= 0")
        units, on_chain = token_balance_cents(token, address)
        if on_chain != cents:
            out.append(BalanceMismatch(label, address, on_chain, cents, units))
    return out


def assert_reconciled(
    token: Any, ledger: Mapping[str, tuple[str, int]], *, context: str = ""
) -> None:
    """Raise :class:`ReconciliationError` naming the first mismatch (and how many there are)."""
    mismatches = reconcile(token, ledger)
    if mismatches:
        more = f" (and {len(mismatches) - 1} more)" if len(mismatches) > 1 else ""
        where = f"{context}: " if context else ""
        raise ReconciliationError(f"{where}reconciliation failed: {mismatches[0]}{more}")

"""Test kit for FundingEscrow: deploy the system, drive auctions, and an independent reference
clearing (spec auction.md, "Clearing") written for these tests only.

Offers are indexed by commit order; the kit commits them in the order given, which is the tie
order (committed_at, offer_id) of the spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from market.auction.commitment import commitment_hash
from tests.chain.conftest import CENTAVO, EVM

PRICING = {"uniform": 0, "pay_as_bid": 1, "first_rejected": 2}
PHASE = {
    name: i
    for i, name in enumerate(
        [
            "None",
            "Commit",
            "Reveal",
            "Clearing",
            "Cleared",
            "Unfilled",
            "Active",
            "Repaid",
            "Prepaid",
            "Defaulted",
        ]
    )
}
GAS = 3_000_000


@dataclass(frozen=True)
class OfferSpec:
    lender: str
    amount_cents: int
    rate_bps: int
    salt: bytes = b"\x11" * 32
    reveal: bool = True


@dataclass(frozen=True)
class TermSpec:
    amount_cents: int = 100_000
    max_rate_bps: int = 3000
    term_months: int = 12
    fee_bps: int = 50
    pricing: str = "uniform"
    tick_bps: int = 5
    min_offer_cents: int = 1000
    min_fill_bps: int = 10_000
    max_offers_per_lender: int = 3


@dataclass
class Clearing:
    """A clearing result in on-chain form: r* (0 if unfilled) and (index, amount, earned rate)."""

    status: str
    rate_bps: int
    allocations: list[tuple[int, int, int]] = field(default_factory=list)

    def as_args(self) -> tuple[int, list[tuple[int, int, int]]]:
        return self.rate_bps, [tuple(a) for a in self.allocations]


def reference_clear(terms: TermSpec, offers: Sequence[OfferSpec], unfunded=frozenset()) -> Clearing:
    """Independent clearing per spec auction.md, ties by offer index (= commit order)."""
    min_offer = max(terms.min_offer_cents, 1)
    eligible = [
        (o.rate_bps, i, o.amount_cents)
        for i, o in enumerate(offers)
        if o.reveal
        and i not in unfunded
        and o.amount_cents >= min_offer
        and o.rate_bps % terms.tick_bps == 0
        and o.rate_bps <= terms.max_rate_bps
    ]
    eligible.sort()
    supply = sum(a for _, _, a in eligible)
    min_fill = -(-terms.amount_cents * terms.min_fill_bps // 10_000)
    if supply == 0 or supply < min_fill:
        return Clearing("UNFILLED", 0)
    filled = min(terms.amount_cents, supply)
    acc, r_star = 0, None
    for rate, _, amount in eligible:
        acc += amount
        if acc >= filled:
            r_star = rate
            break
    below = sum(a for r, _, a in eligible if r < r_star)
    at = [(i, a) for r, i, a in eligible if r == r_star]
    total_at = sum(a for _, a in at)
    rem_total = filled - below
    alloc = {i: a for r, i, a in eligible if r < r_star}
    shares = {i: rem_total * a // total_at for i, a in at}
    missing = rem_total - sum(shares.values())
    by_rem = sorted(at, key=lambda ia: (-(rem_total * ia[1] % total_at), ia[0]))
    for i, _ in by_rem[:missing]:
        shares[i] += 1
    alloc.update({i: s for i, s in shares.items() if s > 0})
    if terms.pricing == "first_rejected":
        if below + total_at > filled:
            paid = r_star
        else:
            above = [r for r, _, _ in eligible if r > r_star]
            paid = min(above) if above else terms.max_rate_bps
    order = sorted(alloc, key=lambda i: (offers[i].rate_bps, i))
    out = []
    for i in order:
        if terms.pricing == "uniform":
            earned = r_star
        elif terms.pricing == "pay_as_bid":
            earned = offers[i].rate_bps
        else:
            earned = paid
        out.append((i, alloc[i], earned))
    return Clearing("FILLED" if filled == terms.amount_cents else "PARTIAL", r_star, out)


class EscrowKit:
    """BRLToken + LoanNote + FundingEscrow deployed on one chain, with lifecycle helpers."""

    def __init__(self, evm: EVM, roles: dict[str, str], token_name: str = "BRLToken") -> None:
        self.evm = evm
        self.roles = roles
        self.engine = roles["engine"]
        self.borrower = roles["borrower"]
        if token_name == "BRLToken":
            self.token = evm.deploy("BRLToken", roles["admin"], roles["gateway"])
            self._minter = roles["gateway"]
        else:
            self.token = evm.deploy(token_name)
            self._minter = roles["admin"]
        self.note = evm.deploy("LoanNote", roles["admin"], "0x" + "0" * 40)
        self.escrow = evm.deploy(
            "FundingEscrow",
            roles["admin"],
            roles["engine"],
            self.token.address,
            self.note.address,
            roles["fee"],
        )
        minter_role = self.note.functions.MINTER_ROLE().call()
        evm.send(self.note.functions.grantRole(minter_role, self.escrow.address), roles["admin"])
        self.f = self.escrow.functions
        self.lender_role = self.f.LENDER_ROLE().call()
        for account in evm.accounts[7:]:  # the ``lenders`` fixture's accounts are onboarded
            self.admit(account)

    def admit(self, account: str) -> None:
        """Onboard ``account`` as a lender (LENDER_ROLE, granted by the engine)."""
        self.evm.send(self.f.grantRole(self.lender_role, account), self.engine)

    # -- money
    def fund(self, account: str, cents: int, approve: bool = True) -> None:
        self.evm.send(self.token.functions.mint(account, cents * CENTAVO), self._minter)
        if approve:
            self.approve(account, cents)

    def approve(self, account: str, cents: int) -> None:
        self.evm.send(self.token.functions.approve(self.escrow.address, cents * CENTAVO), account)

    def balance(self, account: str) -> int:
        units = self.token.functions.balanceOf(account).call()
        assert units % CENTAVO == 0
        return units // CENTAVO

    # -- auction steps
    @staticmethod
    def terms_tuple(borrower: str, t: TermSpec) -> tuple:
        return (
            borrower,
            t.amount_cents,
            t.max_rate_bps,
            t.term_months,
            t.fee_bps,
            PRICING[t.pricing],
            t.tick_bps,
            t.min_offer_cents,
            t.min_fill_bps,
            t.max_offers_per_lender,
        )

    def open(self, auction_id: int, terms: TermSpec):
        return self.evm.send(
            self.f.open(auction_id, self.terms_tuple(self.borrower, terms)), self.engine
        )

    def commitment(self, auction_id: int, o: OfferSpec) -> bytes:
        return commitment_hash(auction_id, o.lender, o.amount_cents, o.rate_bps, o.salt)

    def commit(self, auction_id: int, o: OfferSpec):
        return self.evm.send(self.f.commit(auction_id, self.commitment(auction_id, o)), o.lender)

    def reveal(self, auction_id: int, index: int, o: OfferSpec):
        return self.evm.send(
            self.f.reveal(auction_id, index, o.amount_cents, o.rate_bps, o.salt), o.lender
        )

    def to_clearing(self, auction_id: int, terms: TermSpec, offers: Sequence[OfferSpec]) -> None:
        """open, commit all, close commits, reveal those marked, close reveals."""
        self.open(auction_id, terms)
        for o in offers:
            self.commit(auction_id, o)
        self.evm.send(self.f.closeCommits(auction_id), self.engine)
        for i, o in enumerate(offers):
            if o.reveal:
                self.reveal(auction_id, i, o)
        self.evm.send(self.f.closeReveals(auction_id), self.engine)

    def submit(self, auction_id: int, clearing: Clearing, gas: int = GAS):
        rate, allocs = clearing.as_args()
        return self.evm.send(self.f.submitClearing(auction_id, rate, allocs), self.engine, gas)

    def submit_reverts(self, auction_id: int, clearing: Clearing, error: str, *args):
        rate, allocs = clearing.as_args()
        return self.evm.reverts(
            self.f.submitClearing(auction_id, rate, allocs), self.engine, error, *args
        )

    def fund_winners(self, offers: Sequence[OfferSpec], clearing: Clearing) -> None:
        need: dict[str, int] = {}
        for i, amount, _ in clearing.allocations:
            need[offers[i].lender] = need.get(offers[i].lender, 0) + amount
        for lender, cents in need.items():
            self.fund(lender, cents)

    def phase(self, auction_id: int) -> int:
        return self.f.auction(auction_id).call()[1]

    def auction(self, auction_id: int) -> dict:
        a = self.f.auction(auction_id).call()
        keys = [
            "terms",
            "phase",
            "offerCount",
            "clearingRateBps",
            "filledCents",
            "feeCents",
            "installmentsPaid",
            "receivedCents",
            "withdrawnCents",
        ]
        return dict(zip(keys, a, strict=True))

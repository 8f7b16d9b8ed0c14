"""Run a simulated auction on the FundingEscrow (``mode: full``) and reconcile the tokens.

:class:`AuctionSettler.settle` takes the ``settle_auction`` mapping of the sink interface
(COMMON.md) and replays the auction on chain, step by step, each step one transaction with a
fixed gas limit:

1. ``open(auctionId, Terms)`` -- the borrower is a derived pseudonymous address
   (``derived_account("borrower:<id>")``); pricing from ``result.paid_rate``; tick, minimum
   offer, min-fill and per-lender cap from ``auction["rules"]`` (the ``AuctionRules`` fields)
   or the spec defaults;
2. ``commit`` each offer from its lender's own account, in the off-chain (committed_at,
   offer_id) order so on-chain offer indexes follow the spec's tie order; lender ids map
   deterministically to derived dev accounts (``derived_account("lender:<id>")``), onboarded
   once by the engine (``LENDER_ROLE``), funded with ether for gas and approving the escrow
   once; the commitment is
   ``market.auction.commitment.commitment_hash(auction_id, lender_address, amount, rate, salt)``;
3. ``closeCommits``; ``reveal`` each revealed offer; ``closeReveals``;
4. ``submitClearing`` with the engine's result, which the contract verifies; offers the result
   excludes for ``INSUFFICIENT_FUNDS`` are replayed as on the engine: the clearing that still
   included them is submitted, ``excludeUnfunded`` proves their shortfall on chain, and the
   clearing is re-run (``market.auction.clearing``) until it matches the result;
5. the gateway mints each winner exactly its allocation, then ``confirm`` moves the capital;
6. reconciliation: the escrow's token balance / 10^16 must equal ``escrow_cents_after``, the
   borrower must hold F - fee more and the fee recipient the fee more, every winner must be
   back to its pre-auction balance; a mismatch raises :class:`~chain.reconcile.ReconciliationError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from chain.backends import ChainAccount, derived_account
from chain.deploy import FEE_RECIPIENT_LABEL, ContractHandle, Deployment
from chain.reconcile import ReconciliationError, assert_reconciled, token_balance_cents
from chain.tx import TxReceipt, TxSender

__all__ = ["GAS", "PRICING_CODES", "AuctionSettler", "auction_payload"]

#: pricing rule name -> FundingEscrow.Pricing code
PRICING_CODES = {"uniform": 0, "pay_as_bid": 1, "first_rejected": 2}
MAX_UINT256 = (1 << 256) - 1
#: lender gas money: 1 ether from the engine account on first use
LENDER_GAS_WEI = 10**18
#: gas limits: (base, per offer); measured usage is well under half of these
GAS = {
    "open": (220_000, 0),
    "commit": (140_000, 0),
    "closeCommits": (60_000, 0),
    "reveal": (110_000, 0),
    "closeReveals": (60_000, 4_000),
    "submitClearing": (250_000, 45_000),
    "excludeUnfunded": (120_000, 12_000),
    "confirm": (350_000, 90_000),
    "mint": (90_000, 0),
    "approve": (70_000, 0),
    "grantRole": (90_000, 0),
}


def _gas(step: str, n: int = 0) -> int:
    base, per = GAS[step]
    return base + per * n


class AuctionSettler:
    """Settles auctions on ``deployment`` (needs FundingEscrow and BRLToken)."""

    def __init__(self, deployment: Deployment) -> None:
        self.dep = deployment
        self.escrow: ContractHandle = deployment["FundingEscrow"]
        self.token: ContractHandle = deployment["BRLToken"]
        self.engine: TxSender = deployment.sender
        self.fee_recipient = derived_account(FEE_RECIPIENT_LABEL).address
        self._lender_role = bytes(self.escrow.call("LENDER_ROLE"))
        self._lenders: dict[str, tuple[ChainAccount, ContractHandle, ContractHandle]] = {}
        self._summaries: list[dict[str, Any]] = []
        self.receipts: list[TxReceipt] = []

    # -- accounts ----------------------------------------------------------------------------
    def lender(self, lender_id: str) -> tuple[ChainAccount, ContractHandle, ContractHandle]:
        """The lender's account and its escrow/token handles (funded and approved once)."""
        if lender_id in self._lenders:
            return self._lenders[lender_id]
        acct = derived_account(f"lender:{lender_id}")
        sender = TxSender(self.dep.backend, acct)
        escrow = self.escrow.with_sender(sender)
        token = self.token.with_sender(sender)
        self._rec(
            self.engine.transact(
                acct.address,
                b"",
                21_000,
                value=LENDER_GAS_WEI,
                label=f"gas money -> lender {lender_id}",
            )
        )
        self._rec(
            self.escrow.transact(
                "grantRole",
                self._lender_role,
                acct.address,
                gas=_gas("grantRole"),
                label=f"onboard lender {lender_id} (LENDER_ROLE)",
            )
        )
        self._rec(
            token.transact(
                "approve",
                self.escrow.address,
                MAX_UINT256,
                gas=_gas("approve"),
                label=f"approve escrow (lender {lender_id})",
            )
        )
        self._lenders[lender_id] = (acct, escrow, token)
        return self._lenders[lender_id]

    @staticmethod
    def borrower_address(borrower_id: str) -> str:
        """The pseudonymous on-chain address of a borrower id."""
        return derived_account(f"borrower:{borrower_id}").address

    def _rec(self, receipt: TxReceipt) -> TxReceipt:
        self.receipts.append(receipt)
        return receipt

    # -- settlement --------------------------------------------------------------------------
    def settle(self, auction: Mapping[str, Any]) -> dict[str, Any]:
        """Replay ``auction`` on chain and reconcile; returns a summary (also kept)."""
        from market.auction.commitment import commitment_hash

        a = _parse(auction)
        aid = a["auction_id"]
        first_receipt = len(self.receipts)
        offers = sorted(a["offers"], key=lambda o: (o["committed_at"], o["offer_id"]))
        if len(offers) > 64:
            raise ValueError(f"auction {aid}: {len(offers)} offers; the escrow takes at most 64")
        borrower = self.borrower_address(a["borrower"])
        before = {
            "escrow": token_balance_cents(self.token, self.escrow.address)[1] or 0,
            "borrower": token_balance_cents(self.token, borrower)[1] or 0,
            "fees": token_balance_cents(self.token, self.fee_recipient)[1] or 0,
        }
        terms = (
            borrower,
            a["amount_cents"],
            a["max_rate_bps"],
            a["term_months"],
            a["fee_bps"],
            PRICING_CODES[a["pricing"]],
            a["rules"]["tick_bps"],
            a["rules"]["min_offer_cents"],
            a["rules"]["min_fill_bps"],
            a["rules"]["max_offers_per_lender"],
        )
        self._rec(
            self.escrow.transact("open", aid, terms, gas=_gas("open"), label=f"escrow.open #{aid}")
        )
        index: dict[str, int] = {}
        for i, o in enumerate(offers):
            acct, escrow, _ = self.lender(o["lender"])
            c = commitment_hash(aid, acct.address, o["amount_cents"], o["rate_bps"], o["salt"])
            self._rec(
                escrow.transact(
                    "commit", aid, c, gas=_gas("commit"), label=f"commit {o['offer_id']}"
                )
            )
            index[o["offer_id"]] = i
        n = len(offers)
        self._rec(
            self.escrow.transact(
                "closeCommits", aid, gas=_gas("closeCommits"), label=f"closeCommits #{aid}"
            )
        )
        for o in offers:
            if o["revealed"]:
                _, escrow, _ = self.lender(o["lender"])
                self._rec(
                    escrow.transact(
                        "reveal",
                        aid,
                        index[o["offer_id"]],
                        o["amount_cents"],
                        o["rate_bps"],
                        o["salt"],
                        gas=_gas("reveal"),
                        label=f"reveal {o['offer_id']}",
                    )
                )
        self._rec(
            self.escrow.transact(
                "closeReveals", aid, gas=_gas("closeReveals", n), label=f"closeReveals #{aid}"
            )
        )
        result = a["result"]
        unfunded = [
            e["offer_id"]
            for e in result.get("excluded", [])
            if e.get("reason") == "INSUFFICIENT_FUNDS"
        ]
        if unfunded:
            self._replay_unfunded(a, offers, index, unfunded)
        self._submit(aid, result, index, n)
        winners: dict[str, int] = {}
        for al in result["allocations"]:
            winners[al["lender"]] = winners.get(al["lender"], 0) + al["amount_cents"]
        lender_before = {}
        for lid, cents in sorted(winners.items()):
            acct, _, _ = self.lender(lid)
            lender_before[lid] = token_balance_cents(self.token, acct.address)[1] or 0
            self._rec(
                self.token.transact(
                    "mint",
                    acct.address,
                    cents * 10**16,
                    gas=_gas("mint"),
                    label=f"mint {cents} cents -> lender {lid}",
                )
            )
        if result["status"] != "UNFILLED":
            self._rec(
                self.escrow.transact(
                    "confirm",
                    aid,
                    gas=_gas("confirm", len(result["allocations"])),
                    label=f"confirm #{aid} (LoanConfirmed)",
                )
            )
        filled, fee = int(result["filled_cents"]), int(result["fee_cents"])
        ledger = {
            "escrow": (self.escrow.address, a["escrow_cents_after"]),
            f"borrower {a['borrower']}": (borrower, before["borrower"] + filled - fee),
            "fee recipient": (self.fee_recipient, before["fees"] + fee),
        }
        for lid, was in lender_before.items():
            ledger[f"lender {lid}"] = (self.lender(lid)[0].address, was)
        try:
            assert_reconciled(self.token, ledger, context=f"auction {aid}")
        except ReconciliationError:
            raise
        mine = self.receipts[first_receipt:]
        summary = {
            "auction_id": aid,
            "status": result["status"],
            "filled_cents": filled,
            "fee_cents": fee,
            "offers": n,
            "transactions": len(mine),
            "gas_total": sum(r.gas_used for r in mine),
            "escrow_cents_after": a["escrow_cents_after"],
        }
        self._summaries.append(summary)
        return summary

    def _submit(
        self, aid: int, result: Mapping[str, Any], index: Mapping[str, int], n: int
    ) -> None:
        allocations = []
        for al in result["allocations"]:
            if al["offer_id"] not in index:
                raise ValueError(
                    f"auction {aid}: allocation names unknown offer_id={al['offer_id']!r}"
                )
            allocations.append((index[al["offer_id"]], al["amount_cents"], al["rate_bps"]))
        rate = result["clearing_rate_bps"] or 0
        self._rec(
            self.escrow.transact(
                "submitClearing",
                aid,
                rate,
                allocations,
                gas=_gas("submitClearing", n),
                label=f"submitClearing #{aid} ({result['status']})",
            )
        )

    def _replay_unfunded(self, a, offers, index, unfunded) -> None:
        """Replay INSUFFICIENT_FUNDS drops: submit, prove the shortfall, re-clear, repeat."""
        from market.auction.types import AuctionRequest, AuctionRules, Offer

        try:
            from market.auction.clearing import clear
        except ImportError:  # the vectorised clearing is not there yet: same results
            from market.auction.clearing_reference import clear_reference as clear

        rules = AuctionRules(**a["rules"]["market"])
        req = AuctionRequest(
            a["auction_id"],
            a["borrower"],
            a["amount_cents"],
            a["max_rate_bps"],
            a["term_months"],
            0,
        )
        dropped: set[str] = set()
        pending = list(unfunded)
        while True:
            book = [
                Offer(
                    o["offer_id"],
                    o["lender"],
                    o["amount_cents"],
                    o["rate_bps"],
                    o["committed_at"],
                    o["revealed"] and o["offer_id"] not in dropped,
                )
                for o in offers
            ]
            res = clear(req, book, rules).to_dict()
            hit = next(
                (al["offer_id"] for al in res["allocations"] if al["offer_id"] in pending), None
            )
            if hit is None:
                return
            self._submit(a["auction_id"], res, index, len(offers))
            self._rec(
                self.escrow.transact(
                    "excludeUnfunded",
                    a["auction_id"],
                    index[hit],
                    gas=_gas("excludeUnfunded", len(offers)),
                    label=f"excludeUnfunded {hit} (INSUFFICIENT_FUNDS)",
                )
            )
            dropped.add(hit)
            pending.remove(hit)

    def summaries(self) -> list[dict[str, Any]]:
        """One summary per settled auction (JSON-able)."""
        return list(self._summaries)


_REQUIRED = (
    "auction_id",
    "borrower",
    "amount_cents",
    "max_rate_bps",
    "term_months",
    "fee_bps",
    "offers",
    "result",
    "escrow_cents_after",
)


def auction_payload(
    request: Any,
    offers: Sequence[Any],
    rules: Any,
    result: Mapping[str, Any],
    salts: Sequence[bytes],
    *,
    escrow_cents_after: int = 0,
) -> dict[str, Any]:
    """Build the ``settle_auction`` mapping from ``market`` objects.

    ``request`` is an ``AuctionRequest``, ``offers`` the ``Offer``s in input order with one
    32-byte salt each, ``rules`` the ``AuctionRules`` the result was cleared under (all of
    them go to the escrow's terms: a result cleared under another min-fill would be refused),
    ``result`` the clearing result as ``ClearingResult.to_dict()``. ``escrow_cents_after``
    defaults to 0: ``confirm`` forwards everything.
    """
    if len(salts) != len(offers):
        raise ValueError(f"auction_payload: {len(salts)} salts for {len(offers)} offers")
    return {
        "auction_id": request.auction_id,
        "borrower": request.borrower,
        "amount_cents": request.amount_cents,
        "max_rate_bps": request.max_rate_bps,
        "term_months": request.term_months,
        "fee_bps": rules.platform_fee_bps,
        "offers": [
            {
                "offer_id": o.offer_id,
                "lender": o.lender,
                "amount_cents": o.amount_cents,
                "rate_bps": o.rate_bps,
                "salt": "0x" + bytes(salt).hex(),
                "committed_at": o.committed_at,
                "revealed": o.revealed,
            }
            for o, salt in zip(offers, salts, strict=True)
        ],
        "result": dict(result),
        "rules": dataclasses.asdict(rules),
        "escrow_cents_after": escrow_cents_after,
    }


def _parse(auction: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the ``settle_auction`` mapping and normalise rules/salts."""
    from market.auction.types import AuctionRules

    missing = [k for k in _REQUIRED if k not in auction]
    if missing:
        raise ValueError(
            f"settle_auction: auction is missing {missing[0]!r} (needs {', '.join(_REQUIRED)})"
        )
    out = dict(auction)
    for k in (
        "auction_id",
        "amount_cents",
        "max_rate_bps",
        "term_months",
        "fee_bps",
        "escrow_cents_after",
    ):
        v = out[k]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f"settle_auction: {k}={v!r} must be an int >= 0")
    result = out["result"]
    pricing = result.get("paid_rate", "uniform")
    if pricing not in PRICING_CODES:
        raise ValueError(
            f"settle_auction: result.paid_rate={pricing!r} is not one of {', '.join(PRICING_CODES)}"
        )
    out["pricing"] = pricing
    given = dict(auction.get("rules") or {})
    given.setdefault("pricing", pricing)
    given.setdefault("platform_fee_bps", out["fee_bps"])
    rules = AuctionRules(**given)
    min_fill_bps = rules.min_fill_ratio * 10_000
    if abs(min_fill_bps - round(min_fill_bps)) > 1e-9:
        raise ValueError(
            f"settle_auction: rules.min_fill_ratio={rules.min_fill_ratio!r} is not a whole number "
            "of basis points; the escrow takes min-fill in bps"
        )
    out["rules"] = {
        "tick_bps": rules.tick_bps,
        "min_offer_cents": rules.min_offer_cents,
        "min_fill_bps": round(min_fill_bps),
        "max_offers_per_lender": rules.max_offers_per_lender,
        "market": given,
    }
    offers = []
    for k, o in enumerate(out["offers"]):
        salt = o.get("salt")
        if isinstance(salt, str) and salt.startswith("0x") and len(salt) == 66:
            salt = bytes.fromhex(salt[2:])
        if not isinstance(salt, bytes) or len(salt) != 32:
            raise ValueError(
                f"settle_auction: offers[{k}].salt={o.get('salt')!r} must be 0x + 32 bytes hex"
            )
        offers.append({**o, "salt": salt, "revealed": bool(o.get("revealed", True))})
    out["offers"] = offers
    return out

"""``ce chain demo``: every contract, end to end, printing each transaction with its gas.

Steps (all on one chain: in-process eth-tester by default, or a JSON-RPC node):

1. deploy Attestor, BRLToken, LoanNote, FundingEscrow, HedgeSettlement, FeatureFlags and grant
   roles (:func:`chain.deploy.deploy_all`); set a feature flag;
2. one auction end to end with commit-reveal on the FundingEscrow: the clearing comes from
   ``market.auction.clearing.clear`` and the commitments from ``market.auction.commitment.commitment_hash``;
   the contract verifies the clearing, ``confirm`` moves the tokens, balances are reconciled
   (:class:`chain.settlement.AuctionSettler`);
3. attest a batch of engine records (prices, the clearing, a USD/BRL fixing) through the real
   :class:`chain.bridge.AttestationBridge`, and prove one record on chain with
   ``Attestor.verify``;
4. an FX forward on USD/BRL settled by ``HedgeSettlement.settle`` against the attested fixing
   (the contract re-derives the fixing's payload hash and checks its Merkle proof), then both
   parties withdraw.

Everything is deterministic (fixed salts and prices); the printed gas figures are the real
receipts.  The bridge files go to a temporary folder that is removed at the end.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import IO, Any

from chain.backends import derived_account, open_backend
from chain.bridge import AttestationBridge
from chain.deploy import FULL_CONTRACTS, deploy_all
from chain.records import canonical_json
from chain.settlement import AuctionSettler, auction_payload
from chain.tx import TxReceipt, TxSender

__all__ = ["run_demo"]

FIXING_T_S = 86_400  # the forward matures at the fixing of simulated day 1
FIXING_RATE_E8 = 543_210_000  # 5.4321 BRL per USD
STRIKE_E8 = 530_000_000  # 5.30
NOTIONAL_USD_CENTS = 1_000_000  # USD 10,000.00
COLLATERAL_CENTS = 500_000  # BRL 5,000.00 per side


def _clear_fn():
    try:
        from market.auction.clearing import clear
    except ImportError:  # until the vectorised clearing lands; the same results by contract
        from market.auction.clearing_reference import clear_reference as clear
    return clear


class _Printer:
    """Prints each receipt once (by hash), with a running transaction and gas count."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.printed: set[str] = set()
        self.gas = 0
        self.txs = 0

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def receipts(self, receipts: list[TxReceipt]) -> None:
        for r in receipts:
            if r.tx_hash in self.printed:
                continue
            self.printed.add(r.tx_hash)
            self.say(f"  {r.label:<58} gas {r.gas_used:>9,}  {r.tx_hash[:12]}")
            self.gas += r.gas_used
            self.txs += 1


def _auction() -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo auction: request, five sealed offers (one never revealed), its clearing."""
    import numpy as np

    from market.auction.types import AuctionRequest, AuctionRules, Offer

    rng = np.random.default_rng(20240501)
    rules = AuctionRules()
    request = AuctionRequest(1, "borrower-7f3a", 1_500_000, 3000, 12, 0)
    offers = [
        Offer("o1", "lender-a", 600_000, 2400, 100),
        Offer("o2", "lender-b", 500_000, 2550, 220),
        Offer("o3", "lender-c", 700_000, 2550, 340),
        Offer("o4", "lender-a", 300_000, 2700, 460),
        Offer("o5", "lender-d", 400_000, 2500, 580, revealed=False),
    ]
    result = _clear_fn()(request, offers, rules).to_dict()
    salts = [rng.bytes(32) for _ in offers]
    auction = auction_payload(request, offers, rules, result, salts)
    return auction, result


def run_demo(rpc_url: str | None = None, out: IO[str] | None = None) -> dict[str, Any]:
    """Run the demo (see the module docstring); returns a summary dict."""
    out = out or sys.stdout
    p = _Printer(out)
    backend = open_backend("rpc" if rpc_url else "eth-tester", rpc_url)
    try:
        return _run(backend, p)
    finally:
        backend.close()


def _run(backend, p: _Printer) -> dict[str, Any]:
    engine = TxSender(backend)
    p.say(f"chain: {backend.kind} (chain id {backend.chain_id}), engine {engine.account.address}")
    p.say("\n1. deploy and wire the contracts")
    dep = deploy_all(backend, FULL_CONTRACTS, sender=engine)
    p.receipts(engine.receipts)
    for name, address in dep.addresses.items():
        p.say(f"     {name:<16} {address}")
    flags = dep["FeatureFlags"]
    flags.transact(
        "setBool",
        b"CHAIN_SETTLEMENT".ljust(32, b"\0"),
        True,
        gas=250_000,
        label="FeatureFlags.setBool(CHAIN_SETTLEMENT, true)",
    )
    p.receipts(engine.receipts)

    p.say("\n2. one auction with commit-reveal on the FundingEscrow")
    auction, result = _auction()
    p.say(
        f"   request: {auction['amount_cents'] / 100:,.2f} BRL at <= {auction['max_rate_bps']} bps, "
        f"{len(auction['offers'])} sealed offers; clearing {result['status']} at "
        f"{result['clearing_rate_bps']} bps, fee {result['fee_cents'] / 100:,.2f} BRL"
    )
    settler = AuctionSettler(dep)
    summary = settler.settle(auction)
    p.receipts(settler.receipts)  # engine and lender transactions, in order
    p.say(
        f"   reconciled: escrow {auction['escrow_cents_after']} cents, borrower received "
        f"{(result['filled_cents'] - result['fee_cents']) / 100:,.2f} BRL, "
        f"loan note #{auction['auction_id']} minted"
    )

    p.say("\n3. attest engine records in one batch and prove one on chain")
    with tempfile.TemporaryDirectory(prefix="ce-chain-demo-") as tmp:
        bridge = AttestationBridge(
            backend, dep, batch_size=64, batch_interval_s=1e9, state_dir=Path(tmp)
        )
        for i in range(5):
            bridge.record(
                "price",
                {"feed": "usd_brl", "price_e8": 540_000_000 + 1_000_000 * i, "t_s": 3_600 * i},
                3_600.0 * i,
            )
        bridge.record(
            "clearing",
            {
                "auction_id": auction["auction_id"],
                **{
                    k: result[k]
                    for k in ("status", "clearing_rate_bps", "filled_cents", "fee_cents")
                },
            },
            20_000.0,
        )
        fixing = {"pair": "USDBRL", "rate_e8": FIXING_RATE_E8, "t_s": FIXING_T_S}
        bridge.record("fx_fixing", fixing, float(FIXING_T_S))
        fixing_seq = 6
        stats = bridge.close(FIXING_T_S + 60.0)
        p.receipts(engine.receipts)
        batch_id, leaf, proof = bridge.proof(fixing_seq)
        ok = dep["Attestor"].call("verify", leaf, list(proof), batch_id)
        p.say(
            f"   {stats['records']} records, batch {batch_id}, "
            f"{stats['gas_per_record']:.0f} gas per record; fixing record seq {fixing_seq} "
            f"{canonical_json(fixing)}"
        )
        p.say(
            f"   Attestor.verify(leaf, proof[{len(proof)}], batch {batch_id}) -> {ok} (a view: no gas)"
        )
        if not ok:
            raise RuntimeError("the fixing's proof does not verify on chain")

    p.say("\n4. an FX forward settled against the attested fixing")
    hedge_summary = _hedge(dep, p, engine, batch_id, fixing_seq, proof)
    p.say(f"\n{p.txs} transactions, {p.gas:,} gas in total")
    return {
        "auction": summary,
        "attestation": dict(stats),
        "hedge": hedge_summary,
        "transactions": p.txs,
        "gas_total": p.gas,
    }


def _hedge(dep, p: _Printer, engine: TxSender, batch_id: int, seq: int, proof) -> dict[str, Any]:
    hedge = dep["HedgeSettlement"]
    token = dep["BRLToken"]
    parties = {}
    for side in ("long", "short"):
        acct = derived_account(f"hedger:{side}")
        sender = TxSender(dep.backend, acct)
        engine.transact(acct.address, b"", 21_000, value=10**18, label=f"gas money -> {side}")
        token.transact(
            "mint",
            acct.address,
            COLLATERAL_CENTS * 10**16,
            gas=90_000,
            label=f"BRLToken.mint collateral -> {side}",
        )
        p.receipts(engine.receipts)
        p.receipts(
            [
                token.with_sender(sender).transact(
                    "approve",
                    hedge.address,
                    COLLATERAL_CENTS * 10**16,
                    gas=70_000,
                    label=f"approve hedge ({side})",
                )
            ]
        )
        parties[side] = (acct, sender)
    hedge.transact(
        "create",
        1,
        parties["long"][0].address,
        parties["short"][0].address,
        b"USDBRL".ljust(32, b"\0"),
        NOTIONAL_USD_CENTS,
        STRIKE_E8,
        FIXING_T_S,
        COLLATERAL_CENTS,
        gas=250_000,
        label="HedgeSettlement.create USD/BRL forward",
    )
    p.receipts(engine.receipts)
    for side, (_, sender) in parties.items():
        p.receipts(
            [
                hedge.with_sender(sender).transact(
                    "fund", 1, gas=120_000, label=f"HedgeSettlement.fund ({side})"
                )
            ]
        )
    fixing_proof = (seq, FIXING_T_S, FIXING_RATE_E8, batch_id, list(proof))
    hedge.transact(
        "settle",
        1,
        fixing_proof,
        gas=250_000,
        label=f"HedgeSettlement.settle (fixing seq {seq}, batch {batch_id})",
    )
    p.receipts(engine.receipts)
    fwd = hedge.call("forward", 1)
    payoff, long_wins = int(fwd[11]), bool(fwd[12])  # Forward.payoffCents, .longWins
    expected, _ = hedge.call("payoffCents", NOTIONAL_USD_CENTS, STRIKE_E8, FIXING_RATE_E8)
    balances = {}
    for side, (acct, sender) in parties.items():
        p.receipts(
            [
                hedge.with_sender(sender).transact(
                    "withdraw", 1, gas=120_000, label=f"HedgeSettlement.withdraw ({side})"
                )
            ]
        )
        balances[side] = int(token.call("balanceOf", acct.address)) // 10**16
    winner = "long" if long_wins else "short"
    p.say(
        f"   fixing 5.4321 vs strike 5.3000 on USD 10,000.00: {winner} wins "
        f"{payoff / 100:,.2f} BRL; balances long {balances['long'] / 100:,.2f}, "
        f"short {balances['short'] / 100:,.2f} BRL"
    )
    if payoff != min(expected, COLLATERAL_CENTS) or sum(balances.values()) != 2 * COLLATERAL_CENTS:
        raise RuntimeError(
            f"hedge settlement does not reconcile: payoff {payoff}, balances {balances}"
        )
    return {"payoff_cents": payoff, "winner": winner, "balances_cents": balances}

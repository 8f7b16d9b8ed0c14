"""``mode: full``: auctions replayed on the FundingEscrow through the bridge, reconciled."""

from __future__ import annotations

import numpy as np
import pytest

from chain.bridge import BridgeConfig, open_attestation_bridge
from chain.reconcile import ReconciliationError, assert_reconciled, reconcile
from chain.settlement import auction_payload
from chain.tx import TxReverted
from market.auction.clearing_reference import clear_reference
from market.auction.types import AuctionRequest, AuctionRules, Offer

OFFERS = [
    Offer("o1", "l1", 400_000, 2400, 10),
    Offer("o2", "l2", 300_000, 2500, 20),
    Offer("o3", "l3", 500_000, 2500, 30),
    Offer("o4", "l1", 200_000, 2600, 40),
    Offer("o5", "l2", 100_000, 2455, 50, revealed=False),
]


def _auction(auction_id: int, offers=OFFERS, *, drop: str | None = None, rules=None) -> dict:
    rules = rules or AuctionRules()
    rng = np.random.default_rng(auction_id)
    request = AuctionRequest(auction_id, "b1", 1_000_000, 3000, 12, 0)
    live = [o for o in offers if o.offer_id != drop]
    result = clear_reference(request, live, rules).to_dict()
    if drop is not None:
        result["excluded"].insert(0, {"offer_id": drop, "reason": "INSUFFICIENT_FUNDS"})
    salts = [rng.bytes(32) for _ in offers]
    return auction_payload(request, offers, rules, result, salts)


@pytest.fixture(scope="module")
def full_bridge(tmp_path_factory):
    bridge = open_attestation_bridge(
        BridgeConfig("eth-tester", None, "full", 16, 60.0), tmp_path_factory.mktemp("full")
    )
    return bridge


def test_auction_settles_and_reconciles(full_bridge) -> None:
    full_bridge.settle_auction(_auction(1))
    escrow = full_bridge.deployment["FundingEscrow"]
    a = escrow.call("auction", 1)
    phase, filled, fee = a[1], a[4], a[5]
    assert phase == 6 and filled == 1_000_000 and fee == 5_000  # Active
    settler = full_bridge._settlement
    token = full_bridge.deployment["BRLToken"]
    borrower = settler.borrower_address("b1")
    assert token.call("balanceOf", borrower) == 995_000 * 10**16
    # the allocations on chain are the engine's, offer by offer (commit order o1..o5)
    allocs = [escrow.call("offer", 1, i)[5] for i in range(5)]
    assert allocs == [400_000, 225_000, 375_000, 0, 0]
    summary = settler.summaries()[-1]
    assert summary["status"] == "FILLED" and summary["transactions"] > 10
    # every lender was onboarded by the engine before committing; nobody else was
    role = escrow.call("LENDER_ROLE")
    for lid in ("l1", "l2", "l3"):
        assert escrow.call("hasRole", role, settler._lenders[lid][0].address)
    assert not escrow.call("hasRole", role, borrower)


def test_insufficient_funds_is_replayed_and_unfilled_is_accepted(full_bridge) -> None:
    full_bridge.settle_auction(_auction(2, drop="o1"))
    escrow = full_bridge.deployment["FundingEscrow"]
    assert escrow.call("offer", 2, 0)[8] is True  # o1 unfunded, proven on chain
    assert [escrow.call("offer", 2, i)[5] for i in range(5)] == [0, 300_000, 500_000, 200_000, 0]
    # an auction with too little supply: UNFILLED, no tokens move
    thin = [Offer("x1", "l9", 50_000, 2000, 5)]
    full_bridge.settle_auction(_auction(3, thin))
    assert escrow.call("auction", 3)[1] == 5  # Unfilled


def test_wrong_clearing_is_rejected_by_the_contract(full_bridge) -> None:
    bad = _auction(4)
    bad["result"]["allocations"][1]["amount_cents"] += 1  # breaks pro-rata and the sum
    with pytest.raises(TxReverted, match="submitClearing #4"):
        full_bridge.settle_auction(bad)


def test_escrow_mismatch_raises_clearly(full_bridge) -> None:
    wrong = _auction(5)
    wrong["escrow_cents_after"] = 1_500
    with pytest.raises(
        ReconciliationError,
        match=r"auction 5: reconciliation failed: escrow 0x[0-9a-fA-F]{40}: on chain 0 cents, ledger 1500 cents \(off by -1500\)",
    ):
        full_bridge.settle_auction(wrong)


def test_reconcile_lists_every_mismatch(full_bridge) -> None:
    token = full_bridge.deployment["BRLToken"]
    borrower = full_bridge._settlement.borrower_address("b1")
    held = token.call("balanceOf", borrower) // 10**16
    assert reconcile(token, {"b": (borrower, held)}) == []
    assert_reconciled(token, {"b": (borrower, held)})
    out = reconcile(token, {"b": (borrower, held + 1), "z": ("0x" + "11" * 20, 0)})
    assert [m.label for m in out] == ["b"] and out[0].on_chain_cents == held
    with pytest.raises(ValueError, match=r"ledger\['b'\] cents=-1"):
        reconcile(token, {"b": (borrower, -1)})


def test_bad_auction_mapping_is_named(full_bridge) -> None:
    with pytest.raises(ValueError, match="auction is missing 'borrower'"):
        full_bridge.settle_auction({"auction_id": 9})
    bad = _auction(9)
    bad["offers"][0]["salt"] = "0x1234"
    with pytest.raises(ValueError, match=r"offers\[0\]\.salt='0x1234'"):
        full_bridge.settle_auction(bad)
    odd = _auction(10, rules=AuctionRules(min_fill_ratio=0.12345))
    odd["rules"] = {"min_fill_ratio": 0.12345}
    with pytest.raises(ValueError, match="not a whole number of basis points"):
        full_bridge.settle_auction(odd)


def test_ratio_zero_settles_any_partial_fill_and_no_supply_as_unfilled(full_bridge) -> None:
    """min_fill_ratio 0 is min_fill_bps 0 on chain: any positive supply fills (partly), S = 0
    is still UNFILLED."""
    any_fill = AuctionRules(min_fill_ratio=0.0)
    thin = [Offer("x1", "l9", 1_000, 2000, 5)]  # 0.1 % of the amount
    partial = _auction(11, thin, rules=any_fill)
    assert partial["rules"]["min_fill_ratio"] == 0.0 and partial["result"]["status"] == "PARTIAL"
    full_bridge.settle_auction(partial)
    escrow = full_bridge.deployment["FundingEscrow"]
    a = escrow.call("auction", 11)
    terms, phase, filled = a[0], a[1], a[4]
    assert (terms[8], phase, filled) == (0, 6, 1_000)  # minFillBps 0; Active; 1 000 cents filled
    assert full_bridge._settlement.summaries()[-1]["status"] == "PARTIAL"
    dear = [Offer("x2", "l9", 50_000, 3500, 5)]  # above the reserve: S = 0
    none = _auction(12, dear, rules=any_fill)
    assert none["result"]["status"] == "UNFILLED"
    full_bridge.settle_auction(none)
    assert escrow.call("auction", 12)[1] == 5  # Unfilled

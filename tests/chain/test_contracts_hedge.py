"""HedgeSettlement: an FX forward settled once against a fixing proven into an Attestor batch."""

from __future__ import annotations

import pytest

from chain.merkle import build_tree, keccak256, leaf_hash
from chain.records import canonical_json, payload_hash
from tests.chain.conftest import CENTAVO, b32

H = 7
PAIR = b32("USDBRL")
NOTIONAL = 1_000_000  # USD 10,000.00 in cents
STRIKE = 530_000_000  # 5.3000 BRL/USD
MATURITY = 86_400
COLLATERAL = 200_000  # BRL 2,000.00 each
FIXING = 543_210_000  # 5.4321
ZERO = "0x" + "0" * 40
OPEN, SETTLED, CANCELLED = 1, 2, 3


@pytest.fixture(scope="module")
def system(chain, roles, lenders):
    attestor = chain.deploy("Attestor", roles["admin"], roles["engine"])
    token = chain.deploy("BRLToken", roles["admin"], roles["gateway"])
    hedge = chain.deploy(
        "HedgeSettlement", roles["admin"], roles["engine"], attestor.address, token.address
    )
    long, short = lenders[0], lenders[1]
    for who in (long, short):
        chain.send(token.functions.mint(who, 10 * COLLATERAL * CENTAVO), roles["gateway"])
        chain.send(token.functions.approve(hedge.address, 10 * COLLATERAL * CENTAVO), who)
    return {"attestor": attestor, "token": token, "hedge": hedge, "long": long, "short": short}


def _fixing_leaf(seq: int, rate_e8: int, t_s: int = MATURITY, sim_time: int = MATURITY) -> bytes:
    payload = {"pair": "USDBRL", "rate_e8": rate_e8, "t_s": t_s}
    return leaf_hash(seq, 4, payload_hash(payload), sim_time)


def _attest(evm, system, roles, leaves) -> tuple:
    tree = build_tree(leaves)
    attestor = system["attestor"]
    batch_id = attestor.functions.batchCount().call()
    evm.send(attestor.functions.attestBatch(tree.root, 0, len(leaves)), roles["engine"], 200_000)
    return batch_id, tree


def _create(evm, system, roles, hedge_id=H, **kw):
    args = {
        "long": system["long"],
        "short": system["short"],
        "pair": PAIR,
        "notional": NOTIONAL,
        "strike": STRIKE,
        "maturity": MATURITY,
        "collateral": COLLATERAL,
        **kw,
    }
    fn = system["hedge"].functions.create(hedge_id, *args.values())
    return evm.send(fn, roles["engine"])


def _funded(evm, system, roles, hedge_id=H, **kw):
    _create(evm, system, roles, hedge_id, **kw)
    for side in ("long", "short"):
        evm.send(system["hedge"].functions.fund(hedge_id), system[side])


def _proof(seq, sim_time, rate, batch_id, tree, index):
    return (seq, sim_time, rate, batch_id, list(tree.proof(index)))


def test_fixing_payload_is_the_canonical_json(system):
    hedge = system["hedge"]
    payload = {"pair": "USDBRL", "rate_e8": FIXING, "t_s": MATURITY}
    raw = hedge.functions.fixingPayload(PAIR, FIXING, MATURITY).call()
    assert (
        raw.decode()
        == canonical_json(payload)
        == '{"pair":"USDBRL","rate_e8":543210000,"t_s":86400}'
    )
    assert keccak256(raw) == payload_hash(payload)


@pytest.mark.parametrize(
    ("notional", "strike", "fixing", "cents", "long_wins"),
    [
        (NOTIONAL, STRIKE, FIXING, 132_100, True),  # 10000 USD * 0.1321 = 1321.00 BRL
        (NOTIONAL, STRIKE, 520_000_000, 100_000, False),
        (1, 0, 150_000_000, 2, True),  # 1.5 -> 2 (half to even)
        (1, 0, 250_000_000, 2, True),  # 2.5 -> 2
        (1, 0, 250_000_001, 3, True),
        (3, 100_000_000, 100_000_000, 0, False),
    ],
)
def test_payoff_rounds_half_even(system, notional, strike, fixing, cents, long_wins):
    got = system["hedge"].functions.payoffCents(notional, strike, fixing).call()
    assert got == [cents, long_wins]


def test_settle_with_a_proven_fixing_pays_by_pull(evm, system, roles):
    hedge, token = system["hedge"], system["token"]
    long, short = system["long"], system["short"]
    r = _create(evm, system, roles)
    assert evm.events(hedge, r, "ForwardCreated")[0]["strikeE8"] == STRIKE
    for side in (long, short):
        r = evm.send(hedge.functions.fund(H), side)
        assert evm.events(hedge, r, "CollateralPosted") == [
            {"hedgeId": H, "party": side, "amountCents": COLLATERAL}
        ]
    noise = [leaf_hash(i, 1, keccak256(b"p%d" % i), i) for i in range(5)]
    leaves = [*noise, _fixing_leaf(5, FIXING)]
    batch_id, tree = _attest(evm, system, roles, leaves)
    proof = _proof(5, MATURITY, FIXING, batch_id, tree, 5)
    r = evm.send(hedge.functions.settle(H, proof), short)  # either party may settle
    assert evm.events(hedge, r, "ForwardSettled") == [
        {
            "hedgeId": H,
            "fixingE8": FIXING,
            "winner": long,
            "payoffCents": 132_100,
            "batchId": batch_id,
            "seq": 5,
        }
    ]
    fwd = hedge.functions.forward(H).call()
    assert fwd[7] == SETTLED and fwd[10:] == (FIXING, 132_100, True)
    assert hedge.functions.balanceOf(H, long).call() == COLLATERAL + 132_100
    assert hedge.functions.balanceOf(H, short).call() == COLLATERAL - 132_100
    before = token.functions.balanceOf(long).call()
    r = evm.send(hedge.functions.withdraw(H), long)
    assert evm.events(hedge, r, "Withdrawn") == [
        {"hedgeId": H, "account": long, "amountCents": COLLATERAL + 132_100}
    ]
    assert token.functions.balanceOf(long).call() - before == (COLLATERAL + 132_100) * CENTAVO
    evm.send(hedge.functions.withdraw(H), short)
    assert token.functions.balanceOf(hedge.address).call() == 0
    evm.reverts(hedge.functions.withdraw(H), long, "NothingToWithdraw", H, long)
    # settles once only
    evm.reverts(hedge.functions.settle(H, proof), long, "AlreadySettled", H, FIXING)


def test_payoff_is_capped_at_the_collateral(evm, system, roles):
    _funded(evm, system, roles, collateral=1_000)
    batch_id, tree = _attest(evm, system, roles, [_fixing_leaf(0, FIXING)])
    evm.send(
        system["hedge"].functions.settle(H, _proof(0, MATURITY, FIXING, batch_id, tree, 0)),
        roles["engine"],
    )
    assert system["hedge"].functions.balanceOf(H, system["long"]).call() == 2_000
    assert system["hedge"].functions.balanceOf(H, system["short"]).call() == 0
    evm.reverts(
        system["hedge"].functions.withdraw(H),
        system["short"],
        "NothingToWithdraw",
        H,
        system["short"],
    )


def test_forged_or_mismatched_fixings_are_rejected(evm, system, roles):
    hedge = system["hedge"]
    _funded(evm, system, roles)
    leaves = [_fixing_leaf(0, FIXING), _fixing_leaf(1, FIXING, t_s=MATURITY - 86_400)]
    leaves.append(
        leaf_hash(
            2, 1, payload_hash({"pair": "USDBRL", "rate_e8": FIXING, "t_s": MATURITY}), MATURITY
        )
    )
    batch_id, tree = _attest(evm, system, roles, leaves)
    settle = hedge.functions.settle
    e = roles["engine"]

    def bad(proof, leaf):
        evm.reverts(settle(H, proof), e, "InvalidFixingProof", H, proof[3], leaf)

    # another rate than the attested one
    bad(_proof(0, MATURITY, FIXING + 1, batch_id, tree, 0), _fixing_leaf(0, FIXING + 1))
    # the fixing of another day (t_s must equal the maturity)
    bad(_proof(1, MATURITY, FIXING, batch_id, tree, 1), _fixing_leaf(1, FIXING))
    # right payload but recorded as another kind (price)
    bad(_proof(2, MATURITY, FIXING, batch_id, tree, 2), _fixing_leaf(2, FIXING))
    # wrong seq / wrong record time
    bad(_proof(9, MATURITY, FIXING, batch_id, tree, 0), _fixing_leaf(9, FIXING))
    bad(
        _proof(0, MATURITY + 1, FIXING, batch_id, tree, 0),
        _fixing_leaf(0, FIXING, sim_time=MATURITY + 1),
    )
    # unknown batch
    evm.reverts(settle(H, _proof(0, MATURITY, FIXING, 5, tree, 0)), e, "UnknownBatch", 5, 1)
    # the genuine proof still works
    evm.send(settle(H, _proof(0, MATURITY, FIXING, batch_id, tree, 0)), e)


def test_settle_guards(evm, system, roles):
    hedge = system["hedge"]
    batch_id, tree = _attest(evm, system, roles, [_fixing_leaf(0, FIXING)])
    proof = _proof(0, MATURITY, FIXING, batch_id, tree, 0)
    e, o = roles["engine"], roles["outsider"]
    evm.reverts(hedge.functions.settle(H, proof), e, "UnknownHedge", H)
    _create(evm, system, roles)
    evm.reverts(hedge.functions.settle(H, proof), o, "NotHedgeParty", H, o)
    evm.reverts(hedge.functions.settle(H, proof), e, "NotFunded", H, False, False)
    evm.send(hedge.functions.fund(H), system["long"])
    evm.reverts(hedge.functions.settle(H, proof), e, "NotFunded", H, True, False)
    evm.reverts(hedge.functions.fund(H), system["long"], "AlreadyFunded", H, system["long"])
    evm.reverts(hedge.functions.fund(H), o, "NotHedgeParty", H, o)
    evm.send(hedge.functions.fund(H), system["short"])
    evm.reverts(hedge.functions.fund(H), system["short"], "AlreadyFunded", H, system["short"])
    evm.reverts(hedge.functions.cancel(H), e, "InvalidHedge", H, b32("funded"), 1)


def test_cancel_refunds_posted_collateral(evm, system, roles):
    hedge = system["hedge"]
    _create(evm, system, roles)
    evm.send(hedge.functions.fund(H), system["short"])
    r = evm.send(hedge.functions.cancel(H), roles["engine"])
    assert evm.events(hedge, r, "ForwardCancelled") == [{"hedgeId": H}]
    assert hedge.functions.balanceOf(H, system["short"]).call() == COLLATERAL
    assert hedge.functions.balanceOf(H, system["long"]).call() == 0
    evm.reverts(hedge.functions.fund(H), system["long"], "HedgeNotOpen", H, CANCELLED)
    evm.reverts(hedge.functions.cancel(H), roles["engine"], "HedgeNotOpen", H, CANCELLED)
    evm.send(hedge.functions.withdraw(H), system["short"])
    evm.reverts(hedge.functions.cancel(99), roles["engine"], "UnknownHedge", 99)


@pytest.mark.parametrize(
    ("kw", "field", "value"),
    [
        ({"long": ZERO}, "long", 0),
        ({"notional": 0}, "notionalUsdCents", 0),
        ({"strike": 0}, "strikeE8", 0),
        ({"collateral": 0}, "collateralCents", 0),
    ],
)
def test_create_rejects_invalid_forwards(evm, system, roles, kw, field, value):
    fn = _create_fn(system, **kw)
    evm.reverts(fn, roles["engine"], "InvalidHedge", H, b32(field), value)


def _create_fn(system, hedge_id=H, **kw):
    args = {
        "long": system["long"],
        "short": system["short"],
        "pair": PAIR,
        "notional": NOTIONAL,
        "strike": STRIKE,
        "maturity": MATURITY,
        "collateral": COLLATERAL,
        **kw,
    }
    return system["hedge"].functions.create(hedge_id, *args.values())


def test_create_rejects_bad_parties_pairs_duplicates_and_non_engine(evm, system, roles):
    e = roles["engine"]
    long = system["long"]
    evm.reverts(_create_fn(system, short=ZERO), e, "InvalidHedge", H, b32("short"), 0)
    evm.reverts(_create_fn(system, short=long), e, "InvalidHedge", H, b32("short"), int(long, 16))
    for pair in (
        b"\0" * 32,
        b32("usdbrl"),
        b32("USD BRL"),
        b"USD" + b"\0" + b"BRL".ljust(28, b"\0"),
    ):
        evm.reverts(_create_fn(system, pair=pair), e, "InvalidPair", pair)
    _create(evm, system, roles)
    evm.reverts(_create_fn(system), e, "HedgeExists", H)
    role = system["hedge"].functions.ENGINE_ROLE().call()
    o = roles["outsider"]
    evm.reverts(_create_fn(system, hedge_id=8), o, "AccessControlUnauthorizedAccount", o, role)
    evm.reverts(system["hedge"].functions.cancel(H), o, "AccessControlUnauthorizedAccount", o, role)


def test_constructor_rejects_zero_addresses(evm, system, roles):
    a, e = roles["admin"], roles["engine"]
    evm.deploy_reverts(
        "HedgeSettlement", [a, e, ZERO, system["token"].address], "ZeroAddress", b32("attestor")
    )
    evm.deploy_reverts(
        "HedgeSettlement", [a, e, system["attestor"].address, ZERO], "ZeroAddress", b32("token")
    )

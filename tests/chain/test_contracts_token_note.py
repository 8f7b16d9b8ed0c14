"""BRLToken (centavo-exact ERC-20, gateway-only mint/burn) and LoanNote (hash-only ERC-721)."""

from __future__ import annotations

import pytest

from tests.chain.conftest import CENTAVO


@pytest.fixture(scope="module")
def token(chain, roles):
    return chain.deploy("BRLToken", roles["admin"], roles["gateway"])


@pytest.fixture(scope="module")
def note(chain, roles):
    return chain.deploy("LoanNote", roles["admin"], roles["engine"])


# ------------------------------------------------------------------ BRLToken


def test_token_metadata(token):
    assert token.functions.decimals().call() == 18
    assert token.functions.CENTAVO().call() == CENTAVO
    assert token.functions.symbol().call() == "BRLce"


def test_gateway_mints_and_burns_whole_centavos(evm, token, roles):
    gw, alice = roles["gateway"], roles["borrower"]
    r = evm.send(token.functions.mint(alice, 12_345 * CENTAVO), gw)
    assert evm.events(token, r, "Transfer") == [
        {"from": "0x" + "0" * 40, "to": alice, "value": 12_345 * CENTAVO}
    ]
    assert token.functions.balanceOf(alice).call() == 12_345 * CENTAVO
    # burnFrom spends the allowance given to the gateway
    evm.send(token.functions.approve(gw, 345 * CENTAVO), alice)
    evm.send(token.functions.burnFrom(alice, 345 * CENTAVO), gw)
    assert token.functions.balanceOf(alice).call() == 12_000 * CENTAVO
    assert token.functions.allowance(alice, gw).call() == 0
    # burn of the gateway's own balance
    evm.send(token.functions.transfer(gw, 1_000 * CENTAVO), alice)
    evm.send(token.functions.burn(1_000 * CENTAVO), gw)
    assert token.functions.totalSupply().call() == 11_000 * CENTAVO


def test_token_rejects_fractions_of_a_centavo_everywhere(evm, token, roles):
    gw, alice, bob = roles["gateway"], roles["borrower"], roles["outsider"]
    evm.reverts(token.functions.mint(alice, CENTAVO + 1), gw, "NotWholeCentavos", CENTAVO + 1)
    evm.send(token.functions.mint(alice, 10 * CENTAVO), gw)
    evm.reverts(token.functions.transfer(bob, 1), alice, "NotWholeCentavos", 1)
    evm.reverts(token.functions.burn(5), gw, "NotWholeCentavos", 5)
    evm.send(token.functions.approve(bob, 10 * CENTAVO), alice)
    evm.reverts(
        token.functions.transferFrom(alice, bob, CENTAVO // 2),
        bob,
        "NotWholeCentavos",
        CENTAVO // 2,
    )


def test_token_mint_and_burn_need_gateway_role(evm, token, roles):
    role = token.functions.GATEWAY_ROLE().call()
    for who in ("admin", "engine", "outsider"):
        acct = roles[who]
        evm.reverts(
            token.functions.mint(acct, CENTAVO),
            acct,
            "AccessControlUnauthorizedAccount",
            acct,
            role,
        )
        evm.reverts(
            token.functions.burn(CENTAVO), acct, "AccessControlUnauthorizedAccount", acct, role
        )
        evm.reverts(
            token.functions.burnFrom(roles["borrower"], CENTAVO),
            acct,
            "AccessControlUnauthorizedAccount",
            acct,
            role,
        )


def test_token_burn_from_needs_allowance_and_balance(evm, token, roles):
    gw, alice = roles["gateway"], roles["borrower"]
    evm.send(token.functions.mint(alice, 10 * CENTAVO), gw)
    evm.reverts(
        token.functions.burnFrom(alice, CENTAVO), gw, "ERC20InsufficientAllowance", gw, 0, CENTAVO
    )
    evm.reverts(token.functions.burn(CENTAVO), gw, "ERC20InsufficientBalance", gw, 0, CENTAVO)


# ------------------------------------------------------------------ LoanNote


def test_note_mints_with_hash_only(evm, note, roles):
    engine, holder = roles["engine"], roles["fee"]
    h = b"\xab" * 32
    r = evm.send(note.functions.mint(holder, 7, h), engine)
    assert evm.events(note, r, "NoteMinted") == [
        {"tokenId": 7, "holder": holder, "metadataHash": h}
    ]
    assert note.functions.ownerOf(7).call() == holder
    assert note.functions.metadataHash(7).call() == h
    assert note.functions.tokenURI(7).call() == ""  # no off-chain metadata, no personal data
    assert note.functions.supportsInterface(bytes.fromhex("80ac58cd")).call()  # ERC-721
    assert note.functions.supportsInterface(bytes.fromhex("7965db0b")).call()  # AccessControl


def test_note_reverts(evm, note, roles):
    engine, holder = roles["engine"], roles["fee"]
    role = note.functions.MINTER_ROLE().call()
    evm.reverts(note.functions.mint(holder, 1, b"\0" * 32), engine, "ZeroMetadataHash", 1)
    evm.reverts(
        note.functions.mint(holder, 1, b"\1" * 32),
        roles["outsider"],
        "AccessControlUnauthorizedAccount",
        roles["outsider"],
        role,
    )
    evm.send(note.functions.mint(holder, 1, b"\1" * 32), engine)
    evm.reverts(
        note.functions.mint(holder, 1, b"\2" * 32), engine, "ERC721InvalidSender", "0x" + "0" * 40
    )
    evm.reverts(note.functions.metadataHash(2), engine, "ERC721NonexistentToken", 2)

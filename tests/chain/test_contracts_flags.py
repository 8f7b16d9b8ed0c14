"""FeatureFlags: typed named flags, governance-only writes, events with old and new values."""

from __future__ import annotations

import pytest

from tests.chain.conftest import b32

BOOL, UINT = 1, 2


@pytest.fixture(scope="module")
def flags(chain, roles):
    return chain.deploy("FeatureFlags", roles["admin"], roles["governance"])


def test_set_read_and_events(evm, flags, roles):
    gov = roles["governance"]
    r = evm.send(flags.functions.setBool(b32("auction.v2"), True), gov)
    assert evm.events(flags, r, "BoolFlagSet") == [
        {"name": b32("auction.v2"), "oldValue": False, "newValue": True}
    ]
    r = evm.send(flags.functions.setUint(b32("batch.size"), 1024), gov)
    assert evm.events(flags, r, "UintFlagSet") == [
        {"name": b32("batch.size"), "oldValue": 0, "newValue": 1024}
    ]
    r = evm.send(flags.functions.setUint(b32("batch.size"), 256), gov)
    assert evm.events(flags, r, "UintFlagSet")[0]["oldValue"] == 1024
    assert flags.functions.getBool(b32("auction.v2")).call() is True
    assert flags.functions.getUint(b32("batch.size")).call() == 256
    assert flags.functions.flag(b32("batch.size")).call() == [UINT, 256]
    assert flags.functions.flag(b32("never")).call() == [0, 0]
    assert flags.functions.names().call() == [b32("auction.v2"), b32("batch.size")]


def test_remove_and_retype(evm, flags, roles):
    gov = roles["governance"]
    for n in ("a", "b", "c"):
        evm.send(flags.functions.setBool(b32(n), True), gov)
    r = evm.send(flags.functions.remove(b32("a")), gov)
    assert evm.events(flags, r, "FlagRemoved") == [{"name": b32("a"), "kind": BOOL, "lastValue": 1}]
    assert flags.functions.names().call() == [b32("c"), b32("b")]
    evm.send(flags.functions.setUint(b32("a"), 5), gov)  # removed: may change kind
    assert flags.functions.getUint(b32("a")).call() == 5


def test_reverts(evm, flags, roles):
    gov = roles["governance"]
    evm.send(flags.functions.setBool(b32("on"), True), gov)
    evm.reverts(
        flags.functions.setUint(b32("on"), 1), gov, "FlagKindMismatch", b32("on"), UINT, BOOL
    )
    evm.reverts(flags.functions.getUint(b32("on")), gov, "FlagKindMismatch", b32("on"), UINT, BOOL)
    evm.reverts(flags.functions.getBool(b32("off")), gov, "UnknownFlag", b32("off"))
    evm.reverts(flags.functions.remove(b32("off")), gov, "UnknownFlag", b32("off"))
    evm.reverts(flags.functions.setBool(b"\0" * 32, True), gov, "ZeroFlagName")
    evm.reverts(flags.functions.setUint(b"\0" * 32, 1), gov, "ZeroFlagName")


def test_flag_cap(evm, flags, roles):
    gov = roles["governance"]
    limit = flags.functions.MAX_FLAGS().call()
    for i in range(1, limit + 1):
        evm.send(flags.functions.setBool(i.to_bytes(32, "big"), True), gov, gas=200_000)
    evm.reverts(
        flags.functions.setBool((limit + 1).to_bytes(32, "big"), True), gov, "TooManyFlags", limit
    )
    # existing flags can still change
    evm.send(flags.functions.setBool((1).to_bytes(32, "big"), False), gov)


@pytest.mark.parametrize("who", ["admin", "engine", "outsider"])
def test_writes_need_governance_role(evm, flags, roles, who):
    role = flags.functions.GOVERNANCE_ROLE().call()
    acct = roles[who]
    for fn in (
        flags.functions.setBool(b32("x"), True),
        flags.functions.setUint(b32("x"), 1),
        flags.functions.remove(b32("x")),
    ):
        evm.reverts(fn, acct, "AccessControlUnauthorizedAccount", acct, role)

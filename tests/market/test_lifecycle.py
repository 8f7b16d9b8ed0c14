"""Commit–reveal lifecycle: unit cases and a hypothesis state machine."""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from market.auction.clearing_reference import clear_reference
from market.auction.commitment import offer_commitment
from market.auction.lifecycle import (
    AuctionState,
    CommitBatch,
    Reveal,
    clear,
    close,
    commit,
    confirm,
    open_auction,
    reveal,
    reveal_and_clear,
    reveal_deadline,
    reveal_many,
    settlement_payload,
    stage,
)
from market.auction.types import AuctionRequest, AuctionRules, OfferRecord

REQ = AuctionRequest(7, "b1", 100_000, 3000, 12, 100)
SALT = bytes(range(32))


def sealed(lender: str, amount: int, rate: int, salt: bytes = SALT) -> bytes:
    return offer_commitment(REQ.auction_id, lender, amount, rate, salt)


def put(state: AuctionState, oid: str, lender: str, amount: int, rate: int, t: float):
    return commit(state, offer_id=oid, lender=lender, commitment=sealed(lender, amount, rate), t=t)


def test_open_sets_close_at() -> None:
    s = open_auction(REQ, AuctionRules(ttl_s=1000))
    assert s.phase == "OPEN" and s.close_at == 1100 and s.commits == ()
    assert stage(s, 100) == "COMMIT" and stage(s, 1100) == "REVEAL" and stage(s, 1700) == "CLOSABLE"


def test_max_offers_per_lender() -> None:
    s = open_auction(REQ, AuctionRules(max_offers_per_lender=2, cooldown_s=0))
    for i in range(2):
        out = put(s, f"o{i}", "l1", 5000, 1000, 200 + i)
        assert out.accepted
        s = out.state
    out = put(s, "o2", "l1", 5000, 1000, 300)
    assert (out.accepted, out.reason) == (False, "MAX_OFFERS")
    assert out.state is s
    assert put(s, "o3", "l2", 5000, 1000, 300).accepted


def test_cooldown_counts_from_last_accepted_commit() -> None:
    s = open_auction(REQ, AuctionRules(cooldown_s=60))
    s = put(s, "o1", "l1", 5000, 1000, 200).state
    out = put(s, "o2", "l1", 5000, 1000, 259)
    assert out.reason == "COOLDOWN"
    assert put(s, "o2", "l2", 5000, 1000, 259).accepted  # other lender unaffected
    assert put(s, "o2", "l1", 5000, 1000, 260).accepted  # rejected try did not restart it


def test_duplicate_offer_id_and_closed() -> None:
    s = open_auction(REQ, AuctionRules(ttl_s=1000, snipe_window_s=0))
    s = put(s, "o1", "l1", 5000, 1000, 200).state
    assert put(s, "o1", "l2", 5000, 1000, 300).reason == "DUPLICATE_OFFER_ID"
    assert put(s, "o2", "l2", 5000, 1000, 1100).reason == "CLOSED"
    assert put(s, "o2", "l2", 5000, 1000, 1099).accepted


def test_anti_sniping_extends_at_most_max_extensions() -> None:
    rules = AuctionRules(
        ttl_s=1000, snipe_window_s=120, snipe_extension_s=600, max_extensions=2, cooldown_s=0
    )
    s = open_auction(REQ, rules)
    out = put(s, "o0", "l0", 5000, 1000, 980)  # close_at − t = 120: not inside the window
    assert out.accepted and not out.extended and out.state.close_at == 1100
    s = out.state
    out = put(s, "o1", "l1", 5000, 1000, 981)
    assert out.extended and out.state.close_at == 1700 and out.state.extensions == 1
    s = put(out.state, "o2", "l2", 5000, 1000, 1600).state
    assert s.close_at == 2300 and s.extensions == 2
    out = put(s, "o3", "l3", 5000, 1000, 2299)
    assert out.accepted and not out.extended and out.state.close_at == 2300


def test_rejected_commit_does_not_extend() -> None:
    rules = AuctionRules(ttl_s=1000, max_offers_per_lender=1)
    s = put(open_auction(REQ, rules), "o1", "l1", 5000, 1000, 200).state
    out = put(s, "o2", "l1", 5000, 1000, 1090)
    assert out.reason == "MAX_OFFERS" and out.state.close_at == 1100


def test_reveal_window_and_bad_reveals() -> None:
    rules = AuctionRules(ttl_s=1000, reveal_window_s=600, snipe_window_s=0)
    s = put(open_auction(REQ, rules), "o1", "l1", 5000, 1000, 200).state

    def rev(state: AuctionState, t: float, amount: int = 5000, oid: str = "o1"):
        return reveal(state, offer_id=oid, amount_cents=amount, rate_bps=1000, salt=SALT, t=t)

    assert rev(s, 1099).detail == "early"
    assert rev(s, 1700).detail == "late"
    assert rev(s, 1100, amount=5001).detail == "mismatch"
    assert rev(s, 1100, oid="zz").detail == "unknown_offer"
    bad = reveal(s, offer_id="o1", amount_cents=5000, rate_bps=1000, salt=b"x", t=1100)
    assert (bad.reason, bad.detail) == ("BAD_REVEAL", "invalid")
    assert bad.state.bad_reveals == 1
    ok = rev(s, 1699.5)
    assert ok.accepted and ok.reason is None
    assert rev(ok.state, 1699.9).detail == "already_revealed"
    offer = ok.state.reveals["o1"][0]
    assert (offer.amount_cents, offer.rate_bps, offer.committed_at) == (5000, 1000, 200)


def test_close_rules_and_unrevealed_offers() -> None:
    rules = AuctionRules(ttl_s=1000, reveal_window_s=600, snipe_window_s=0, min_fill_ratio=0.5)
    s = open_auction(REQ, rules)
    s = put(s, "o1", "l1", 60_000, 1000, 200).state
    s = put(s, "o2", "l2", 60_000, 900, 300).state
    s = reveal(s, offer_id="o1", amount_cents=60_000, rate_bps=1000, salt=SALT, t=1100).state
    with pytest.raises(
        ValueError, match="t=1200: must be >= the reveal deadline 1700 of auction 7"
    ):
        close(s, 1200)
    s = close(s, reveal_deadline(s))
    assert [o.revealed for o in s.offers] == [True, False]
    s = clear(s)
    assert s.phase == "CLEARED" and s.result is not None
    assert s.result.status == "PARTIAL"
    assert [(e.offer_id, e.reason) for e in s.result.excluded] == [("o2", "NOT_REVEALED")]
    assert not s.debits


def test_close_early_when_everything_is_revealed() -> None:
    s = put(open_auction(REQ, AuctionRules(ttl_s=1000)), "o1", "l1", 5000, 1000, 200).state
    s = reveal(s, offer_id="o1", amount_cents=5000, rate_bps=1000, salt=SALT, t=1100).state
    assert close(s, 1100).phase == "CLOSED"
    with pytest.raises(ValueError):
        close(s, 1099)


def test_wrong_phase_is_a_programmer_error() -> None:
    s = open_auction(REQ)
    with pytest.raises(ValueError, match='phase="OPEN": must be CLOSED to clear auction 7'):
        clear(s)
    with pytest.raises(ValueError, match="must be CLEARED to confirm"):
        confirm(s, {})
    with pytest.raises(ValueError, match="t=99: must not be before auction 7 opened at 100"):
        put(s, "o1", "l1", 5000, 1000, 99)


def _cleared(offers: list[tuple[str, str, int, int]], rules: AuctionRules) -> AuctionState:
    s = open_auction(REQ, rules)
    for i, (oid, lender, amount, rate) in enumerate(offers):
        s = put(s, oid, lender, amount, rate, 200 + i).state
    t = s.close_at
    for oid, _, amount, rate in offers:
        s = reveal(s, offer_id=oid, amount_cents=amount, rate_bps=rate, salt=SALT, t=t).state
    return clear(close(s, t))


def test_confirm_drops_underfunded_winner_and_reclears() -> None:
    rules = AuctionRules(cooldown_s=0, snipe_window_s=0)
    offers = [
        ("a", "l1", 60_000, 1000),
        ("b", "l2", 50_000, 1100),
        ("c", "l3", 40_000, 1200),
    ]
    s = _cleared(offers, rules)
    assert [a.offer_id for a in s.result.allocations] == ["a", "b"]
    assert s.debits == {}  # nothing moves before confirmation
    out = confirm(s, {"l1": 60_000, "l2": 10_000, "l3": 10**9})
    assert out.dropped == ("b",)
    assert out.debits == {"l1": 60_000, "l3": 40_000}
    assert out.state.phase == "CONFIRMED"
    res = out.state.result
    assert res.clearing_rate_bps == 1200
    assert [(e.offer_id, e.reason) for e in res.excluded] == [("b", "INSUFFICIENT_FUNDS")]
    expected = clear_reference(REQ, [o for o in s.offers if o.offer_id != "b"], rules)
    assert res.allocations == expected.allocations


def test_confirm_keeps_a_lenders_cheapest_offers_that_fit() -> None:
    rules = AuctionRules(cooldown_s=0, snipe_window_s=0)
    offers = [("a", "l1", 40_000, 1000), ("b", "l1", 30_000, 1100), ("c", "l2", 80_000, 1200)]
    out = confirm(_cleared(offers, rules), {"l1": 50_000, "l2": 80_000})
    assert out.dropped == ("b",)
    assert out.debits == {"l1": 40_000, "l2": 60_000}


def test_confirm_can_end_unfilled() -> None:
    rules = AuctionRules(cooldown_s=0, snipe_window_s=0)
    out = confirm(_cleared([("a", "l1", 100_000, 1000)], rules), {"l1": 99_999})
    assert out.state.phase == "UNFILLED" and out.debits == {} and out.dropped == ("a",)
    assert [(e.offer_id, e.reason) for e in out.state.result.excluded] == [
        ("a", "INSUFFICIENT_FUNDS")
    ]


def test_settlement_payload() -> None:
    rules = AuctionRules(cooldown_s=0, snipe_window_s=0)
    s = _cleared([("a", "l1", 100_000, 1000)], rules)
    p = settlement_payload(confirm(s, {"l1": 10**6}).state)
    assert p["auction_id"] == 7 and p["fee_bps"] == 50
    assert p["offers"][0]["salt"] == "0x" + SALT.hex() and p["offers"][0]["revealed"]
    assert p["result"]["status"] == "FILLED"


LENDERS = ("l0", "l1", "l2", "l3")
RULES = AuctionRules(
    tick_bps=5,
    max_offers_per_lender=2,
    cooldown_s=10,
    snipe_window_s=50,
    snipe_extension_s=30,
    max_extensions=3,
    ttl_s=200,
    reveal_window_s=100,
    min_offer_cents=1000,
    min_fill_ratio=0.2,
)


class AuctionMachine(RuleBasedStateMachine):
    """Random commits, reveals and time steps; then close, clear and confirm."""

    def __init__(self) -> None:
        super().__init__()
        self.req = AuctionRequest(1, "b", 50_000, 2000, 12, 0)
        self.state = open_auction(self.req, RULES)
        self.t = 0
        self.n = 0
        self.secrets: dict[str, tuple[int, int, bytes]] = {}
        self.close_ats = [self.state.close_at]
        self.balances: dict[str, int] = {}
        self.last_accepted: dict[str, int] = {}
        self.done = False

    @rule(dt=st.integers(0, 25))
    def advance(self, dt: int) -> None:
        self.t += dt

    @precondition(
        lambda self: (
            self.state.phase == "OPEN"
            and self.t < self.state.close_at
            and len(self.state.commits) >= 3
        )
    )
    @rule(offset=st.integers(0, 120))
    def jump_to_reveal_window(self, offset: int) -> None:
        self.t = self.state.close_at + offset

    @precondition(lambda self: self.state.phase == "OPEN")
    @rule(
        lender=st.sampled_from(LENDERS),
        amount=st.integers(900, 40_000),
        rate=st.integers(0, 420).map(lambda r: r * 5),
        salt=st.binary(min_size=32, max_size=32),
    )
    def do_commit(self, lender: str, amount: int, rate: int, salt: bytes) -> None:
        oid = f"o{self.n}"
        self.n += 1
        before = self.state
        c = offer_commitment(1, lender, amount, rate, salt)
        out = commit(self.state, offer_id=oid, lender=lender, commitment=c, t=self.t)
        last = self.last_accepted.get(lender)
        if self.t >= before.close_at:
            assert out.reason == "CLOSED"
        elif before.offers_of(lender) >= RULES.max_offers_per_lender:
            assert out.reason == "MAX_OFFERS"
        elif last is not None and self.t - last < RULES.cooldown_s:
            assert out.reason == "COOLDOWN"  # measured from the last *accepted* commit
        else:
            assert out.accepted
        if out.accepted:
            self.secrets[oid] = (amount, rate, salt)
            self.last_accepted[lender] = self.t
            snipe = before.close_at - self.t < RULES.snipe_window_s
            assert out.extended == (snipe and before.extensions < RULES.max_extensions)
            assert out.extended == (out.state.close_at > before.close_at)
        else:
            assert out.state == before
        self.state = out.state
        self.close_ats.append(self.state.close_at)

    @precondition(lambda self: self.state.phase == "OPEN" and self.secrets)
    @rule(data=st.data(), tamper=st.booleans())
    def do_reveal(self, data: st.DataObject, tamper: bool) -> None:
        oid = data.draw(st.sampled_from(sorted(self.secrets)))
        amount, rate, salt = self.secrets[oid]
        out = reveal(
            self.state,
            offer_id=oid,
            amount_cents=amount + tamper,
            rate_bps=rate,
            salt=salt,
            t=self.t,
        )
        in_window = self.state.close_at <= self.t < reveal_deadline(self.state)
        fresh = oid not in self.state.reveals
        assert out.accepted == (in_window and fresh and not tamper)
        if not out.accepted:
            assert out.reason == "BAD_REVEAL"
        self.state = out.state

    @precondition(lambda self: self.state.phase == "OPEN" and self.secrets)
    @rule()
    def reveal_all(self) -> None:
        for oid, (amount, rate, salt) in sorted(self.secrets.items()):
            out = reveal(
                self.state, offer_id=oid, amount_cents=amount, rate_bps=rate, salt=salt, t=self.t
            )
            in_window = self.state.close_at <= self.t < reveal_deadline(self.state)
            assert out.accepted == (in_window and oid not in self.state.reveals)
            self.state = out.state

    @precondition(
        lambda self: (
            self.state.phase == "OPEN"
            and self.t >= self.state.close_at
            and len(self.state.reveals) >= 2
        )
    )
    @rule(balances=st.lists(st.integers(0, 60_000), min_size=4, max_size=4))
    def finish(self, balances: list[int]) -> None:
        t = max(self.t, reveal_deadline(self.state))
        s = clear(close(self.state, t))
        assert s.debits == {}
        self.balances = dict(zip(LENDERS, balances, strict=True))
        if s.phase == "CLEARED":
            cleared = s
            out = confirm(cleared, self.balances)
            assert confirm(cleared, dict(reversed(self.balances.items()))) == out  # deterministic
            s = out.state
            # the confirmed result is the clearing without the dropped offers, those reported
            # INSUFFICIENT_FUNDS in their input place
            kept = [o for o in cleared.offers if o.offer_id not in out.dropped]
            again = clear_reference(self.req, kept, RULES)
            assert s.result.allocations == again.allocations
            assert s.result.clearing_rate_bps == again.clearing_rate_bps
            reasons = {e.offer_id: e.reason for e in again.excluded}
            reasons.update((oid, "INSUFFICIENT_FUNDS") for oid in out.dropped)
            assert [(e.offer_id, e.reason) for e in s.result.excluded] == [
                (o.offer_id, reasons[o.offer_id]) for o in cleared.offers if o.offer_id in reasons
            ]
        self.state = s
        self.done = True
        if s.phase == "CONFIRMED":
            event("confirmed")

    @invariant()
    def per_lender_limit(self) -> None:
        for count, _ in self.state.lenders.values():
            assert count <= RULES.max_offers_per_lender
        assert len(self.state.commits) == sum(c for c, _ in self.state.lenders.values())

    @invariant()
    def extensions_bounded_and_close_at_monotone(self) -> None:
        assert self.state.extensions <= RULES.max_extensions
        assert self.close_ats == sorted(self.close_ats)
        assert self.state.close_at == (
            self.req.opened_at + RULES.ttl_s + self.state.extensions * RULES.snipe_extension_s
        )

    @invariant()
    def capital_moves_only_at_confirmation(self) -> None:
        if self.state.phase != "CONFIRMED":
            assert self.state.debits == {}
            return
        res = self.state.result
        assert res is not None
        for lender, debit in self.state.debits.items():
            assert 0 < debit <= self.balances.get(lender, 0)
        assert sum(self.state.debits.values()) == res.filled_cents
        revealed = {o.offer_id for o in self.state.offers if o.revealed}
        assert {a.offer_id for a in res.allocations} <= revealed


TestAuctionMachine = AuctionMachine.TestCase


_BATCH_LENDERS = ("l1", "l2", "l3")


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(_BATCH_LENDERS),
            st.integers(0, 30),  # time step
            st.integers(0, 2_000),  # amount (0 is an invalid reveal)
            st.integers(0, 40).map(lambda r: r * 5),
            st.booleans(),  # reuse the previous offer id (DUPLICATE_OFFER_ID)
        ),
        max_size=25,
    ),
    reveal_plan=st.lists(
        st.tuples(st.integers(0, 30), st.integers(-10, 120), st.sampled_from(["ok", "bad", "x"])),
        max_size=30,
    ),
)
def test_batch_transitions_equal_one_by_one(steps, reveal_plan) -> None:
    """CommitBatch and reveal_many give the states and outcomes of commit / reveal in turn."""
    s = open_auction(AuctionRequest(1, "b", 50_000, 2000, 12, 0), RULES)
    batch = CommitBatch(s)
    t = 0
    secrets = []
    for i, (lender, dt, amount, rate, dup) in enumerate(steps):
        t += dt
        oid = f"o{i - 1}" if dup and i else f"o{i}"
        salt = bytes([i % 256]) * 32
        c = offer_commitment(1, lender, amount, rate, salt)
        out = commit(s, offer_id=oid, lender=lender, commitment=c, t=t)
        got = batch.commit(offer_id=oid, lender=lender, commitment=c, t=t)
        assert got == (out.accepted, out.reason, out.extended)
        assert (batch.close_at, batch.extensions) == (out.state.close_at, out.state.extensions)
        if out.accepted:
            secrets.append((oid, amount, rate, salt))
        s = out.state
        assert batch.state() == s
    if not secrets:
        return
    reveals = []
    for k, offset, kind in reveal_plan:
        oid, amount, rate, salt = secrets[k % len(secrets)]
        if kind == "bad":
            amount += 1
        elif kind == "x":
            oid = "nope"
        t_reveal = max(0, s.close_at + offset)
        reveals.append(
            Reveal(offer_id=oid, amount_cents=amount, rate_bps=rate, salt=salt, t=t_reveal)
        )
    reveals.sort(key=lambda r: r.t)
    one = s
    expected = []
    for r in reveals:
        out = reveal(
            one, offer_id=r.offer_id, amount_cents=r.amount_cents, rate_bps=r.rate_bps,
            salt=r.salt, t=r.t,
        )  # fmt: skip
        expected.append((out.accepted, out.reason, out.detail))
        one = out.state
    many, outcomes = reveal_many(s, reveals)
    assert list(outcomes) == expected
    assert many == one
    event(f"accepted reveals: {sum(o[0] for o in outcomes)}")


@given(
    amount=st.integers(1_000, 8_000),
    pricing=st.sampled_from(["uniform", "pay_as_bid", "first_rejected"]),
    steps=st.lists(
        st.tuples(
            st.sampled_from(_BATCH_LENDERS),
            st.integers(0, 30),  # time step
            st.integers(0, 4_000),  # amount (0 is an invalid reveal)
            st.integers(0, 40).map(lambda r: r * 5),
        ),
        max_size=12,
    ),
    reveal_plan=st.lists(
        st.tuples(
            st.integers(0, 30), st.integers(-10, 120), st.sampled_from(["ok", "ok", "bad", "x"])
        ),
        max_size=14,
    ),
    close_offset=st.one_of(st.just("last"), st.integers(95, 130), st.integers(-20, 130)),
    reveal_each=st.booleans(),
)
def test_reveal_and_clear_equals_reveal_many_close_clear(
    amount, pricing, steps, reveal_plan, close_offset, reveal_each
) -> None:
    """reveal_and_clear gives the outcomes and state of reveal_many, close and clear in turn,
    and raises where they raise."""
    rules = AuctionRules(
        max_offers_per_lender=3,
        cooldown_s=5,
        snipe_window_s=50,
        snipe_extension_s=30,
        max_extensions=3,
        ttl_s=200,
        reveal_window_s=100,
        min_fill_ratio=0.3,
        pricing=pricing,
    )
    s = open_auction(AuctionRequest(1, "b", amount, 180, 12, 0), rules)
    batch = CommitBatch(s)
    t = 0
    secrets = []
    for i, (lender, dt, amt, rate) in enumerate(steps):
        t += dt
        salt = bytes([i]) * 32
        c = offer_commitment(1, lender, amt, rate, salt)
        if batch.commit(offer_id=f"o{i}", lender=lender, commitment=c, t=t)[0]:
            secrets.append((f"o{i}", amt, rate, salt))
    s = batch.state()
    if reveal_each:  # every secret once, in the window, before the planned extra reveals
        reveal_plan = [(k, 10 + k, "ok") for k in range(len(secrets))] + reveal_plan
    reveals = []
    for k, offset, kind in reveal_plan if secrets else ():
        oid, amt, rate, salt = secrets[k % len(secrets)]
        if kind == "bad":
            amt += 1
        elif kind == "x":
            oid = "nope"
        t_reveal = float(s.close_at + offset)
        reveals.append(Reveal(offer_id=oid, amount_cents=amt, rate_bps=rate, salt=salt, t=t_reveal))
    reveals.sort(key=lambda r: r.t)
    if close_offset == "last":  # as the runner does when every commit reveals
        t_close = reveals[-1].t if reveals else s.close_at
    else:
        t_close = s.close_at + close_offset
    try:
        one, expected = reveal_many(s, reveals)
        one = clear(close(one, t_close))
    except ValueError:
        with pytest.raises(ValueError):
            reveal_and_clear(s, reveals, t_close)
        event("raises")
        return
    both, outcomes = reveal_and_clear(s, reveals, t_close)
    assert outcomes == expected
    assert both == one
    event(one.phase)


def test_transitions_never_change_the_state_they_are_given() -> None:
    import copy

    rules = AuctionRules(ttl_s=1000, reveal_window_s=600, snipe_window_s=0, min_fill_ratio=0.5)
    s0 = open_auction(REQ, rules)
    assert s0 == AuctionState(request=REQ, rules=rules, phase="OPEN", close_at=1100)
    chain = [s0]
    chain.append(put(chain[-1], "o1", "l1", 60_000, 1000, 200).state)
    chain.append(put(chain[-1], "o2", "l2", 60_000, 900, 300).state)
    snapshots = [copy.deepcopy(s) for s in chain]
    s = reveal(chain[-1], offer_id="o1", amount_cents=60_000, rate_bps=1000, salt=SALT, t=1100)
    s = confirm(clear(close(s.state, reveal_deadline(s.state))), {"l1": 10**9}).state
    assert s.phase == "CONFIRMED" and chain == snapshots


def test_a_rebuilt_state_keeps_every_field_it_is_not_told_to_change() -> None:
    import dataclasses

    from market.auction.lifecycle import _next_state

    s = put(open_auction(REQ, RULES), "o1", "l1", 5000, 1000, 150).state
    # every field set to a value unlike its default, so a field _next_state forgot would show
    full = dataclasses.replace(
        s, extensions=2, bad_reveals=3, offers=("x",), result="r", dropped=("d",), debits={"a": 1}
    )
    assert _next_state(full) == full
    for f in dataclasses.fields(AuctionState):
        assert getattr(_next_state(full, **{f.name: "changed"}), f.name) == "changed"


def test_revealed_offers_are_records_of_the_checked_values() -> None:
    s = put(open_auction(REQ, AuctionRules(ttl_s=1000)), "o1", "l1", 5000, 1000, 200).state
    s = reveal(s, offer_id="o1", amount_cents=5000, rate_bps=1000, salt=SALT, t=1100).state
    assert s.reveals["o1"][0] == OfferRecord("o1", "l1", 5000, 1000, 200, True)
    # the clearing input of a closed auction: the revealed record and an unrevealed one
    s = put(open_auction(REQ, AuctionRules(ttl_s=1000)), "o1", "l1", 5000, 1000, 200).state
    s = close(s, reveal_deadline(s))
    assert s.offers == (OfferRecord("o1", "l1", 0, 0, 200, False),)


def test_commit_batch_boundaries_equal_one_by_one() -> None:
    """Exact rule boundaries (cooldown gap == cooldown_s, the snipe window edge, close_at)."""
    s = open_auction(AuctionRequest(1, "b", 50_000, 2000, 12, 0), RULES)  # close_at 200
    batch = CommitBatch(s)
    cases = [  # (offer_id, lender, t) -> expected reason
        ("a", "l1", 100.0, None),
        ("b", "l1", 109.0, "COOLDOWN"),  # gap 9 < 10
        ("c", "l1", 110.0, None),  # gap == cooldown_s: allowed
        ("d", "l1", 130.0, "MAX_OFFERS"),
        ("c", "l2", 131.0, "DUPLICATE_OFFER_ID"),
        ("e", "l2", 150.0, None),  # close_at - t == snipe_window_s: no extension
        ("f", "l3", 150.5, None),  # inside the window: extends to 230
        ("g", "l2", 229.0, None),  # extends to 260
        ("h", "l3", 260.0, "CLOSED"),
    ]
    for oid, lender, t, reason in cases:
        c = sealed(lender, 5000, 100)
        out = commit(s, offer_id=oid, lender=lender, commitment=c, t=t)
        got = batch.commit(offer_id=oid, lender=lender, commitment=c, t=t)
        assert out.reason == reason
        assert got == (out.accepted, out.reason, out.extended)
        s = out.state
        assert batch.state() == s
    assert s.close_at == 260 and s.extensions == 2


def test_commit_batch_rejects_wrong_phase_and_bad_input() -> None:
    s = open_auction(REQ, RULES)
    batch = CommitBatch(s)
    with pytest.raises(ValueError, match="commitment"):
        batch.commit(offer_id="o1", lender="l1", commitment=b"x", t=150)
    with pytest.raises(ValueError, match="before auction"):
        batch.commit(offer_id="o1", lender="l1", commitment=sealed("l1", 5000, 100), t=50)
    assert batch.state() is s
    done = clear(close(s, reveal_deadline(s)))
    with pytest.raises(ValueError, match="phase"):
        CommitBatch(done)

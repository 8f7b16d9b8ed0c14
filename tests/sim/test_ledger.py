"""Tests for the double-entry ledger (sim/ledger.py)."""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sim.ledger.book import (
    ESCROW,
    EXTERNAL,
    PLATFORM_FEES,
    Ledger,
    LedgerError,
    LedgerImbalanceError,
    borrower,
    lender_free,
    loan_principal,
    pool,
)


def _snapshot(led: Ledger) -> tuple[dict[str, int], int, dict[str, list]]:
    return led.balances(), len(led), led.rows()


# ---------------------------------------------------------------------------- unit tests
def test_deposit_transfer_withdraw_balances() -> None:
    led = Ledger()
    led.deposit(0.0, lender_free("L1"), 100_000, "deposit", "L1")
    led.transfer(10.0, lender_free("L1"), ESCROW, 60_000, "commit", 7)
    led.transfer(20.0, ESCROW, borrower("B1"), 59_700, "disburse", 7)
    led.transfer(20.0, ESCROW, PLATFORM_FEES, 300, "fee", 7)
    led.withdraw(30.0, borrower("B1"), 59_700, "cash_out", "B1")
    assert led.balance(lender_free("L1")) == 40_000
    assert led.balance(ESCROW) == 0
    assert led.balance(PLATFORM_FEES) == 300
    assert led.balance(borrower("B1")) == 0
    assert led.balance("never:seen") == 0
    assert led.balance(EXTERNAL) == -40_300
    assert led.total_external() == 40_300
    assert len(led) == 5
    assert list(led.balances()) == sorted(led.balances())
    assert led.balances("lender:") == {"lender:L1:free": 40_000}
    led.check()


def test_account_name_helpers() -> None:
    assert lender_free(3) == "lender:3:free"
    assert borrower("b9") == "borrower:b9"
    assert loan_principal(12) == "loan:12:principal"
    assert pool("p") == "pool:p"


def test_overdraft_raises_names_account_balance_amount_and_changes_nothing() -> None:
    led = Ledger()
    led.deposit(0.0, "lender:L1:free", 500, "deposit", "L1")
    before = _snapshot(led)
    with pytest.raises(LedgerError, match=r"'lender:L1:free'.*balance=500.*amount_cents=501"):
        led.transfer(1.0, "lender:L1:free", ESCROW, 501, "commit", 1)
    assert _snapshot(led) == before
    assert "escrow" not in led.balances()  # the destination was not even opened


def test_overdraft_of_unseen_account_raises() -> None:
    led = Ledger()
    with pytest.raises(LedgerError, match=r"'borrower:B1'.*balance=0.*amount_cents=1"):
        led.withdraw(0.0, "borrower:B1", 1, "cash_out", "B1")
    assert led.balances() == {} and len(led) == 0


@pytest.mark.parametrize(
    ("amount", "pattern"),
    [
        (0, r"amount_cents=0: must be > 0"),
        (-5, r"amount_cents=-5: must be > 0"),
        (1.0, r"amount_cents=1.0: must be an int"),
        (True, r"amount_cents=True: must be an int"),
        ("7", r"amount_cents='7': must be an int"),
    ],
)
def test_bad_amounts(amount: object, pattern: str) -> None:
    led = Ledger()
    with pytest.raises(LedgerError, match=pattern):
        led.deposit(0.0, "escrow", amount, "deposit", 1)  # type: ignore[arg-type]
    assert len(led) == 0 and led.balances() == {}


def test_numpy_integer_amount_is_accepted_and_stored_as_int() -> None:
    led = Ledger()
    led.deposit(0.0, "escrow", np.int64(250), "deposit", 1)  # type: ignore[arg-type]
    assert led.balance("escrow") == 250
    assert type(led.rows()["amount_cents"][0]) is int
    led.check()


def test_same_account_and_bad_names_and_bad_time() -> None:
    led = Ledger()
    with pytest.raises(LedgerError, match=r"src='escrow' dst='escrow': src and dst must differ"):
        led.transfer(0.0, "escrow", "escrow", 1, "x", 1)
    for bad in ("", "lender::free", "has space", ":lead", 5):
        with pytest.raises(LedgerError, match=r"dst=.*account names are"):
            led.deposit(0.0, bad, 1, "x", 1)  # type: ignore[arg-type]
    for t in (float("nan"), float("inf"), "soon"):
        with pytest.raises(LedgerError, match=r"t_s=.*must be a finite number"):
            led.deposit(t, "escrow", 1, "x", 1)  # type: ignore[arg-type]
    assert len(led) == 0 and led.balances() == {}


def test_allow_negative_prefix_applies_to_new_and_existing_accounts() -> None:
    led = Ledger()
    led.deposit(0.0, "loan:1:principal", 10, "x", 1)
    led.allow_negative("loan:")
    assert led.may_go_negative("loan:1:principal") and led.may_go_negative("loan:2:principal")
    assert not led.may_go_negative("escrow")
    led.transfer(1.0, "loan:1:principal", "escrow", 30, "x", 1)
    led.transfer(1.0, "loan:2:principal", "escrow", 5, "x", 2)
    assert led.balance("loan:1:principal") == -20
    assert led.balance("loan:2:principal") == -5
    led.check()
    with pytest.raises(LedgerError, match="prefix"):
        led.allow_negative("")


def test_check_catches_tampered_balance_even_when_sum_is_zero() -> None:
    led = Ledger()
    led.deposit(0.0, "lender:a:free", 1_000, "deposit", "a")
    led.deposit(0.0, "lender:b:free", 1_000, "deposit", "b")
    led.check()
    led._bal["lender:a:free"] += 5  # tamper: sum stays zero, replay does not
    led._bal["lender:b:free"] -= 5
    with pytest.raises(LedgerImbalanceError, match=r"lender:a:free: balance=1005 replayed=1000"):
        led.check()


def test_check_catches_nonzero_sum() -> None:
    led = Ledger()
    led.deposit(0.0, "escrow", 1_000, "deposit", 1)
    led._bal["escrow"] += 1
    with pytest.raises(LedgerImbalanceError, match=r"sum over 2 accounts is 1 cents"):
        led.check()


def test_check_catches_tampered_posting() -> None:
    led = Ledger()
    led.deposit(0.0, "escrow", 1_000, "deposit", 1)
    led._amt[0] = 999
    with pytest.raises(LedgerImbalanceError, match="does not reproduce"):
        led.check()


def test_check_catches_forbidden_negative_balance() -> None:
    led = Ledger()
    led.deposit(0.0, "escrow", 10, "deposit", 1)
    # a balanced, replayable posting pushing escrow negative (bypassing transfer's guard)
    for col, v in zip(
        (led._t, led._src, led._dst, led._amt, led._kind, led._ref),
        (1.0, led.account_code("escrow"), led.account_code("external"), 20, "bypass", 2),
        strict=True,
    ):
        col.append(v)
    led._bal["escrow"] -= 20
    led._bal["external"] += 20
    with pytest.raises(
        LedgerImbalanceError, match=r"below zero but not allowed negative: escrow=-10"
    ):
        led.check()


def test_imbalance_error_is_a_ledger_error() -> None:
    assert issubclass(LedgerImbalanceError, LedgerError)
    assert issubclass(LedgerError, ValueError)


def test_rows_and_table() -> None:
    led = Ledger()
    assert led.rows() == {
        c: [] for c in ("seq", "t_s", "src", "dst", "amount_cents", "kind", "ref")
    }
    assert len(led.table()) == 0
    led.deposit(0, "lender:L1:free", 100, "deposit", "L1")
    led.transfer(1.5, "lender:L1:free", "escrow", 40, "commit", 42)
    rows = led.rows()
    assert rows == {
        "seq": [0, 1],
        "t_s": [0.0, 1.5],
        "src": ["external", "lender:L1:free"],
        "dst": ["lender:L1:free", "escrow"],
        "amount_cents": [100, 40],
        "kind": ["deposit", "commit"],
        "ref": ["L1", "42"],
    }
    df = led.table()
    assert list(df.columns) == ["seq", "t_s", "src", "dst", "amount_cents", "kind", "ref"]
    assert df["amount_cents"].dtype == np.int64 and df["t_s"].dtype == np.float64
    pd.testing.assert_series_equal(df["ref"], pd.Series(["L1", "42"], name="ref", dtype=object))


# ---------------------------------------------------------------------------- properties
ACCOUNTS = ["lender:a:free", "lender:b:free", "escrow", "borrower:x", "platform:fees", "pool:p"]
op = st.tuples(
    st.sampled_from(["deposit", "withdraw", "transfer"]),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(ACCOUNTS),
    st.integers(min_value=1, max_value=5_000),
)


@given(st.lists(op, max_size=60))
@settings(max_examples=150)
def test_random_sequences_keep_books_balanced_and_refusals_change_nothing(ops: list) -> None:
    led = Ledger()
    model: dict[str, int] = {}
    for i, (what, a, b, amount) in enumerate(ops):
        src, dst = {"deposit": (EXTERNAL, a), "withdraw": (a, EXTERNAL), "transfer": (a, b)}[what]
        before = _snapshot(led)
        expect_ok = src != dst and (src == EXTERNAL or model.get(src, 0) >= amount)
        if expect_ok:
            led.transfer(float(i), src, dst, amount, what, i)
            model[src] = model.get(src, 0) - amount
            model[dst] = model.get(dst, 0) + amount
        else:
            with pytest.raises(LedgerError):
                led.transfer(float(i), src, dst, amount, what, i)
            assert _snapshot(led) == before  # no half-written posting
        assert sum(led.balances().values()) == 0
        assert led.balances() == dict(sorted(model.items()))
        assert led.total_external() == sum(v for k, v in model.items() if k != EXTERNAL)
    led.check()
    assert all(v >= 0 for k, v in led.balances().items() if k != EXTERNAL)


class LedgerMachine(RuleBasedStateMachine):
    """Lifecycle: deposits, transfers, withdrawals, refusals; books always replay."""

    def __init__(self) -> None:
        super().__init__()
        self.led = Ledger()
        self.t = 0.0
        self.inside = 0  # net money inside the world, tracked independently

    @rule(acct=st.sampled_from(ACCOUNTS), amount=st.integers(1, 10**9))
    def deposit(self, acct: str, amount: int) -> None:
        self.t += 1
        self.led.deposit(self.t, acct, amount, "deposit", acct)
        self.inside += amount

    @precondition(lambda self: self.inside > 0)
    @rule(data=st.data())
    def withdraw_some(self, data: st.DataObject) -> None:
        funded = [k for k, v in self.led.balances().items() if k != EXTERNAL and v > 0]
        acct = data.draw(st.sampled_from(funded))
        amount = data.draw(st.integers(1, self.led.balance(acct)))
        self.t += 1
        self.led.withdraw(self.t, acct, amount, "withdraw", acct)
        self.inside -= amount

    @rule(src=st.sampled_from(ACCOUNTS), dst=st.sampled_from(ACCOUNTS), frac=st.floats(0, 1.5))
    def transfer(self, src: str, dst: str, frac: float) -> None:
        amount = max(1, int(self.led.balance(src) * frac))
        before = _snapshot(self.led)
        self.t += 1
        if src != dst and amount <= self.led.balance(src):
            self.led.transfer(self.t, src, dst, amount, "move", "m")
        else:
            with pytest.raises(LedgerError):
                self.led.transfer(self.t, src, dst, amount, "move", "m")
            assert _snapshot(self.led) == before

    @rule(
        src=st.sampled_from(ACCOUNTS),
        dsts=st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=3),
        amount=st.integers(1, 10**6),
        times=st.integers(1, 3),
    )
    def post_prepared(self, src: str, dsts: list[str], amount: int, times: int) -> None:
        if src in dsts:
            return
        batch = self.led.prepare([(src, d, amount, "split") for d in dsts], "p")
        for _ in range(times):
            before = _snapshot(self.led)
            self.t += 1
            if self.led.balance(src) >= amount * len(dsts):
                self.led.post_prepared(self.t, batch)
                assert len(self.led) == before[1] + len(dsts)
            else:
                with pytest.raises(LedgerError, match="would overdraw"):
                    self.led.post_prepared(self.t, batch)
                assert _snapshot(self.led) == before

    @invariant()
    def books_balance(self) -> None:
        self.led.check()
        assert self.led.total_external() == self.inside


TestLedgerMachine = LedgerMachine.TestCase
TestLedgerMachine.settings = settings(max_examples=50, stateful_step_count=30)


def test_only_the_exact_external_account_is_negative_by_default() -> None:
    led = Ledger()
    assert led.may_go_negative("external")
    assert not led.may_go_negative("external:other")
    with pytest.raises(LedgerError, match="would overdraw account 'external:other'"):
        led.transfer(0.0, "external:other", "escrow", 1, "x", 1)


@given(
    start=st.integers(0, 5_000),
    parts=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c", "src", "bad name"]), st.integers(-2, 2_000)),
        max_size=8,
    ),
)
def test_transfer_split_equals_one_transfer_per_part_or_changes_nothing(
    start: int, parts: list[tuple[str, int]]
) -> None:
    one, split = Ledger(), Ledger()
    for led in (one, split):
        if start:
            led.deposit(0.0, "src", start, "deposit", "x")
    ok = True
    try:
        for dst, amount in parts:
            one.transfer(1.0, "src", dst, amount, "pay", 7)
    except LedgerError:
        ok = False
    before = (split.balances(), split.rows())
    if ok:
        split.transfer_split(1.0, "src", parts, "pay", 7)
        assert (split.balances(), split.rows()) == (one.balances(), one.rows())
    else:
        with pytest.raises(LedgerError):
            split.transfer_split(1.0, "src", parts, "pay", 7)
        assert (split.balances(), split.rows()) == before
    split.check()


# ---------------------------------------------------------------------------- prepared postings
ROW_ACCOUNTS = ["a", "b", "c", "external", "debt:x"]


@given(
    start=st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3_000), max_size=3),
    rows=st.lists(
        st.tuples(
            st.sampled_from(ROW_ACCOUNTS),
            st.sampled_from(ROW_ACCOUNTS),
            st.integers(1, 2_000),
            st.sampled_from(["pay", "fee"]),
        ),
        min_size=1,
        max_size=8,
    ),
    times=st.integers(1, 3),
)
def test_post_prepared_equals_one_transfer_per_row_or_changes_nothing(
    start: dict[str, int], rows: list[tuple[str, str, int, str]], times: int
) -> None:
    one, prep = Ledger(), Ledger()
    for led in (one, prep):
        led.allow_negative("debt:")
        for acct, cents in start.items():
            if cents:
                led.deposit(0.0, acct, cents, "deposit", acct)
    if any(src == dst for src, dst, _, _ in rows):
        with pytest.raises(LedgerError, match="must differ"):
            prep.prepare(rows, 7)
        return
    batch = prep.prepare(rows, 7)
    assert len(batch) == len(rows) and batch.total == sum(r[2] for r in rows)
    for k in range(times):  # the same prepared postings, posted again and again
        before = (one.balances(), one.rows())
        ok = True
        try:
            for src, dst, amount, kind in rows:
                one.transfer(1.0 + k, src, dst, amount, kind, 7)
        except LedgerError:
            ok = False
        if ok:
            prep.post_prepared(1.0 + k, batch)
            assert (prep.balances(), prep.rows()) == (one.balances(), one.rows())
        else:
            snap = (prep.balances(), prep.rows())
            assert snap == before
            with pytest.raises(LedgerError, match="would overdraw"):
                prep.post_prepared(1.0 + k, batch)
            assert (prep.balances(), prep.rows()) == snap
            break
        prep.check()


def test_prepare_validates_rows_and_post_validates_time() -> None:
    led = Ledger()
    with pytest.raises(LedgerError, match="at least one posting"):
        led.prepare([], 1)
    with pytest.raises(LedgerError, match=r"amount_cents=0: must be > 0"):
        led.prepare([("external", "a", 0, "x")], 1)
    with pytest.raises(LedgerError, match="must be an int number of centavos"):
        led.prepare([("external", "a", 1.5, "x")], 1)
    with pytest.raises(LedgerError, match="account names"):
        led.prepare([("external", "bad name", 1, "x")], 1)
    batch = led.prepare([("external", "a", np.int64(5), "x"), ("a", "b", 5, "y")], 1)
    assert type(batch.amount[0]) is int and batch.needs == ()  # external may go negative
    with pytest.raises(LedgerError, match="finite"):
        led.post_prepared(float("nan"), batch)
    assert len(led) == 0
    with pytest.raises(LedgerError, match="prepared by another ledger"):
        Ledger().post_prepared(2.0, batch)
    led.post_prepared(2.0, batch)  # a is credited before it is debited: no overdraft
    assert led.balances() == {"a": 0, "b": 5, "external": -5} and len(led) == 2
    led.check()


# ---------------------------------------------------------------------------- check(): replay
def _books(n: int) -> Ledger:
    led = Ledger()
    for i in range(n):
        led.deposit(float(i), f"lender:{i % 3}:free", 100 + i, "deposit", i)
        led.transfer(float(i), f"lender:{i % 3}:free", ESCROW, 50, "lock", i)
    return led


def _reference_replay(led: Ledger) -> tuple[dict[str, int] | None, int | None]:
    """The specification: replay every posting held in plain Python -> (balances by account
    name, first bad seq)."""
    cols = led._columns()
    _, src, dst, amt, _, _ = cols
    names = led._names
    if len({len(c) for c in cols}) != 1:
        return None, -1
    bal: dict[str, int] = {}
    for i, (s, d, a) in enumerate(zip(src, dst, amt, strict=True)):
        if type(a) is not int or a <= 0 or s == d or not (0 <= s < len(names) > d >= 0):
            return None, i
        bal[names[s]] = bal.get(names[s], 0) - a
        bal[names[d]] = bal.get(names[d], 0) + a
    return bal, None


TAMPERS = {
    "bool amount": lambda led: led._amt.__setitem__(0, True),
    "numpy amount": lambda led: led._amt.__setitem__(0, np.int64(100)),
    "zero amount": lambda led: led._amt.__setitem__(1, 0),
    "negative amount": lambda led: led._amt.__setitem__(1, -50),
    "self posting": lambda led: led._dst.__setitem__(1, led._src[1]),
    "unknown account": lambda led: led._dst.__setitem__(1, led.account_code("lender:9:free")),
    "code of no account": lambda led: led._dst.__setitem__(1, 10**6),
    "unposted account": lambda led: led._bal.__setitem__("lender:9:free", 0),
    "moved posting": lambda led: led._dst.__setitem__(1, led.account_code("platform:fees")),
    "lost column value": lambda led: led._kind.pop(),
    "huge amounts": lambda led: (
        led.deposit(9.0, "pool:p", 2**70, "deposit", "p"),
        led.withdraw(9.0, "pool:p", 2**70 - 1, "withdraw", "p"),
    ),
}


@pytest.mark.parametrize("what", sorted(TAMPERS))
def test_check_agrees_with_a_plain_python_replay(what: str) -> None:
    led = _books(5)
    led.check()
    TAMPERS[what](led)
    replayed, bad = _reference_replay(led)
    if replayed == led._bal:  # only "huge amounts" (beyond int64: the exact path sums it)
        assert what == "huge amounts"
        led.check()
        return
    with pytest.raises(LedgerImbalanceError) as err:
        led.check()
    if bad is not None and bad >= 0:
        assert f"posting seq={bad} " in str(err.value)


def test_tampered_balance_is_caught_after_the_postings_were_handed_over() -> None:
    led = _books(6)
    first = led.take_postings()
    led.transfer(7.0, "lender:0:free", ESCROW, 10, "lock", 7)
    led.check()
    assert first.num_rows == 12 and first.column("seq").to_pylist() == list(range(12))
    assert led.rows()["seq"] == [12] and len(led) == 13 and led.held == 1
    led._bal["lender:1:free"] += 5  # tamper: sum stays zero, the replay does not
    led._bal["escrow"] -= 5
    with pytest.raises(LedgerImbalanceError, match=r"lender:1:free: balance=\d+ replayed="):
        led.check()


def test_a_bad_posting_handed_over_is_still_named_by_check() -> None:
    led = _books(3)
    led._amt[2] = -1  # tampered before the hand-over: the replay keeps the first problem
    led.take_postings()
    led.deposit(9.0, "lender:0:free", 5, "deposit", 9)
    with pytest.raises(LedgerImbalanceError, match=r"posting seq=2 .*amount_cents=-1"):
        led.check()


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(1, 10_000)), max_size=80
    ),
    cuts=st.sets(st.integers(0, 80), max_size=6),
)
def test_streamed_postings_replay_like_postings_held(ops, cuts) -> None:
    """Handing postings over in chunks (as a run does) changes neither the balances, nor what
    check() finds, nor the postings: the chunks together are the table of them all."""
    names = ["external", "lender:a:free", "lender:b:free", ESCROW, "borrower:x", "debt:x"]
    held, streamed = Ledger(), Ledger()
    for led in (held, streamed):
        led.allow_negative("debt:")
    chunks = []
    for i, (a, b, amount) in enumerate(ops):
        if i in cuts:
            chunks.append(streamed.take_postings())
        for led in (held, streamed):
            with contextlib.suppress(LedgerError):
                led.transfer(float(i), names[a], names[b], amount, "x", i)
    chunks.append(streamed.take_postings())
    assert streamed.balances() == held.balances() and len(streamed) == len(held)
    held.check()
    streamed.check()
    got = pd.concat([c.to_pandas() for c in chunks], ignore_index=True)
    want = held.table()
    for col in want.columns:
        assert got[col].tolist() == want[col].tolist(), col
    # the Arrow path of the replay (codes from the table) equals the Python one
    assert streamed._replay.balances(streamed._names) == held.balances()


@given(st.integers(0, 40))
def test_check_passes_every_valid_ledger(n: int) -> None:
    led = _books(n)
    led.check()


PP_ACCOUNTS = ["a", "b", "c", "via", "external", "new:acct", "bad name"]


@given(
    src=st.sampled_from(["external", "a", "via", "new:src"]),
    parts=st.lists(
        st.tuples(
            st.sampled_from(PP_ACCOUNTS),
            st.one_of(st.integers(-1, 3_000), st.integers(1, 9).map(np.int64)),
        ),
        max_size=6,
    ),
    via_open=st.booleans(),
)
def test_prepare_pass_through_equals_prepare_of_its_rows(
    src: str, parts: list[tuple[str, int]], via_open: bool
) -> None:
    led = Ledger()
    for acct in ("a", "b", "c") + (("via",) if via_open else ()):
        led.deposit(0.0, acct, 10, "deposit", acct)
    total = sum(int(a) for _, a in parts)
    rows = [(src, "via", total, "income")] + [("via", d, a, "pay") for d, a in parts]
    dsts, amounts = tuple(d for d, _ in parts), tuple(a for _, a in parts)
    try:
        want = led.prepare(rows, 5)
    except LedgerError as e:
        with pytest.raises(LedgerError) as got_err:
            led.prepare_pass_through(src, "via", dsts, amounts, "income", "pay", 5)
        assert str(got_err.value) == str(e)
        return
    got = led.prepare_pass_through(src, "via", dsts, amounts, "income", "pay", 5)
    for attr in ("src", "dst", "amount", "kind", "ref", "deltas", "needs", "total"):
        assert getattr(got, attr) == getattr(want, attr), attr
    assert all(type(a) is int for a in got.amount)


def test_prepare_pass_through_needs_as_many_amounts_as_dsts() -> None:
    with pytest.raises(LedgerError, match="2 dsts but 1 amounts"):
        Ledger().prepare_pass_through("external", "via", ("a", "b"), (1,), "in", "out", 1)

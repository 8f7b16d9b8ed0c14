"""Double-entry ledger of integer centavos for the simulation.

Every movement of money in a run is one *posting* ``(t_s, src, dst, amount_cents, kind, ref)``
that debits ``src`` and credits ``dst`` by the same whole number of centavos, so the sum over
all accounts is always zero. Money enters and leaves the simulated world only through the
boundary account ``external`` (:meth:`Ledger.deposit` / :meth:`Ledger.withdraw`), whose
balance is therefore minus the money held inside; :meth:`Ledger.total_external` returns that
net amount brought in.

Rules
-----
- ``amount_cents`` is a positive integer (Python ``int`` or a numpy integer, never ``bool`` or a
  float); ``src != dst``.
- No account may go below zero unless it is ``external`` or starts with a prefix registered
  by :meth:`Ledger.allow_negative`. A transfer that would overdraw raises :class:`LedgerError`
  naming the account, its balance and the amount, and leaves the ledger exactly as it was
  (checks happen before any write).
- Accounts are opened implicitly by their first posting. Names are non-empty strings of
  ``:``-separated non-empty segments without whitespace.
- :meth:`Ledger.check` (call it at the end of a run) raises :class:`LedgerImbalanceError`
  unless the balances sum to zero, replaying every posting from zero reproduces every running
  balance, and no account outside the allowed-negative set is below zero.

Account naming convention (helpers below build these names)
-----------------------------------------------------------
============================  ================================================================
``external``                  the world outside the run (deposits in, withdrawals out)
``lender:<id>:free``          a lender's free (uncommitted) cash
``escrow``                    funds locked for auctions between confirmation and disbursement
``borrower:<id>``             a borrower's cash account (disbursements in, payments out)
``platform:fees``             platform fee income
``loan:<id>:principal``       outstanding principal of a loan, held on behalf of its lenders
``defaulted``                 principal written off on default (loss sink)
``pool:<id>``                 a liquidity pool lender's cash
============================  ================================================================

Prepared postings: a sequence of postings that recurs (a loan's level installment split
across its lenders) can be validated once with :meth:`Ledger.prepare` and then posted at any
time with :meth:`Ledger.post_prepared`: the same postings, the same overdraft refusal (checked
per account against the lowest running balance the sequence would reach), all or nothing, at
the cost of a few dict updates and list extends. :meth:`Ledger.prepare_pass_through` builds the
common case of a payment received by one account and split on to others without a per-row
loop. A prepared sequence belongs to the ledger that prepared it.

Storage: postings are held column-wise (one list per column), so a transfer is a few dict
operations and list appends and a prepared sequence a handful of list extends. A run hands
the postings over in chunks as it goes (:meth:`Ledger.take_postings`, streamed to Parquet):
each chunk is replayed into a :class:`sim.ledger.audit.Replay` first, so that
:meth:`Ledger.check` stays exact while the ledger keeps only its balances. Tables of the
postings held are built only when asked (:meth:`Ledger.rows`, :meth:`Ledger.table`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sim.ledger.audit import Replay, as_str, code_arrays, postings_frame, postings_table

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "DEFAULTED",
    "ESCROW",
    "EXTERNAL",
    "PLATFORM_FEES",
    "Ledger",
    "LedgerError",
    "LedgerImbalanceError",
    "PreparedPostings",
    "borrower",
    "lender_free",
    "loan_principal",
    "pool",
]

#: The boundary account; the only account allowed below zero by default.
EXTERNAL = "external"
#: Funds locked between auction confirmation and disbursement.
ESCROW = "escrow"
#: Platform fee income.
PLATFORM_FEES = "platform:fees"
#: Principal written off on default.
DEFAULTED = "defaulted"

_INF = math.inf
_ACCOUNT_RE = re.compile(r"[^\s:]+(?::[^\s:]+)*")


def lender_free(lender_id: str | int) -> str:
    """Account name of a lender's free cash: ``lender:<id>:free``."""
    return f"lender:{lender_id}:free"


def borrower(borrower_id: str | int) -> str:
    """Account name of a borrower's cash: ``borrower:<id>``."""
    return f"borrower:{borrower_id}"


def loan_principal(loan_id: str | int) -> str:
    """Account name of a loan's outstanding principal: ``loan:<id>:principal``."""
    return f"loan:{loan_id}:principal"


def pool(pool_id: str | int) -> str:
    """Account name of a liquidity pool's cash: ``pool:<id>``."""
    return f"pool:{pool_id}"


class LedgerError(ValueError):
    """A posting was refused (bad argument or overdraft); the ledger is unchanged."""


class LedgerImbalanceError(LedgerError):
    """:meth:`Ledger.check` found the books do not balance or do not replay."""


def _check_time(t_s: object) -> None:
    """Raise :class:`LedgerError` unless ``t_s`` is a finite number of seconds."""
    try:
        finite = -_INF < t_s < _INF  # type: ignore[operator]
    except TypeError:
        finite = False
    if not finite:
        raise LedgerError(f"transfer t_s={t_s!r}: must be a finite number of seconds")


class PreparedPostings:
    """A validated sequence of postings ``(src, dst, amount_cents, kind)`` sharing one ``ref``,
    made by :meth:`Ledger.prepare` and posted (any number of times) by
    :meth:`Ledger.post_prepared`. Immutable by convention; read-only attributes:

    - ``src``, ``dst``, ``amount``, ``kind``, ``ref``: the postings' columns (``ref`` repeated);
    - ``src_codes``, ``dst_codes``: the ledger's codes of ``src`` and ``dst``;
    - ``deltas``: ``(account, net change)`` of every account touched, in order of first use
      (a zero change is kept for an account not opened yet, which posting then opens, as one
      transfer per row would);
    - ``needs``: ``(account, balance)`` for each debited account not allowed negative: the
      balance it must hold before the sequence so that no posting overdraws it (minus the
      lowest running change);
    - ``total``: the sum of the amounts."""

    __slots__ = (
        "amount",
        "deltas",
        "dst",
        "dst_codes",
        "kind",
        "ledger",
        "needs",
        "ref",
        "src",
        "src_codes",
        "total",
    )

    def __init__(
        self,
        src: tuple[str, ...],
        dst: tuple[str, ...],
        amount: tuple[int, ...],
        kind: tuple[str, ...],
        ref: str | int,
        deltas: tuple[tuple[str, int], ...],
        needs: tuple[tuple[str, int], ...],
        ledger: Ledger,
    ) -> None:
        """Columns and their effects as computed by :meth:`Ledger.prepare` (use that); valid
        only for ``ledger``."""
        self.ledger = ledger
        self.src, self.dst, self.amount, self.kind = src, dst, amount, kind
        self.src_codes = tuple(map(ledger.account_code, src))
        self.dst_codes = tuple(map(ledger.account_code, dst))
        self.ref = (ref,) * len(src)
        self.deltas, self.needs = deltas, needs
        self.total = sum(amount)

    def __len__(self) -> int:
        return len(self.src)

    def __repr__(self) -> str:
        return f"PreparedPostings(postings={len(self.src)}, total={self.total}, ref={self.ref[:1]})"


class Ledger:
    """Append-only double-entry ledger in integer centavos (see the module docstring)."""

    __slots__ = (
        "_amt",
        "_bal",
        "_code",
        "_dst",
        "_kind",
        "_names",
        "_neg",
        "_neg_prefixes",
        "_ref",
        "_replay",
        "_seq0",
        "_src",
        "_t",
    )

    def __init__(self) -> None:
        self._bal: dict[str, int] = {}
        #: accounts (already opened) allowed to go below zero
        self._neg: set[str] = set()
        #: prefixes registered by allow_negative (``external`` itself is always allowed)
        self._neg_prefixes: list[str] = []
        #: account name -> its code, and the names by code (a code is given to every account
        #: named by a posting, when it is made or prepared)
        self._code: dict[str, int] = {}
        self._names: list[str] = []
        #: postings held, column-wise: t_s, src and dst (account codes), amount_cents, kind,
        #: ref; the seq of the first is _seq0 (those before were handed over by take_postings)
        self._seq0 = 0
        self._replay = Replay()  # the postings handed over, replayed
        self._t: list[float] = []
        self._src: list[int] = []
        self._dst: list[int] = []
        self._amt: list[int] = []
        self._kind: list[str] = []
        self._ref: list[str | int] = []

    # ------------------------------------------------------------------ configuration
    def allow_negative(self, prefix: str) -> None:
        """Allow every account whose name starts with ``prefix`` (plain string prefix, e.g.
        ``"loan:"``) to go below zero, including accounts already opened."""
        if not isinstance(prefix, str) or not prefix:
            raise LedgerError(f"allow_negative prefix={prefix!r}: must be a non-empty string")
        if prefix not in self._neg_prefixes:
            self._neg_prefixes.append(prefix)
        for name in self._bal:
            if name.startswith(prefix):
                self._neg.add(name)

    def may_go_negative(self, account: str) -> bool:
        """True when ``account`` is ``external`` or starts with an allowed-negative prefix."""
        return account == EXTERNAL or account.startswith(tuple(self._neg_prefixes))

    # ------------------------------------------------------------------ postings
    def transfer(
        self,
        t_s: float,
        src: str,
        dst: str,
        amount_cents: int,
        kind: str,
        ref: str | int,
    ) -> None:
        """Move ``amount_cents`` (int > 0) from ``src`` to ``dst`` at simulated time ``t_s``.

        ``kind`` names the business event (``"fund"``, ``"disburse"``, ``"fee"``,
        ``"repay"``, ...); ``ref`` is the id it belongs to (loan, auction, ...). Raises
        :class:`LedgerError` (ledger unchanged) on a bad amount, ``src == dst``, a bad account
        name, a non-finite time, or an overdraft of an account not allowed negative.
        """
        if type(amount_cents) is not int or amount_cents <= 0 or src == dst:
            amount_cents = self._checked_amount(src, dst, amount_cents)
        _check_time(t_s)
        bal = self._bal
        s = bal.get(src)
        if s is None:
            self._check_name(src, "src")
            s = 0
        if dst not in bal:
            self._check_name(dst, "dst")
        new_s = s - amount_cents
        if new_s < 0 and src not in self._neg and not self.may_go_negative(src):
            raise LedgerError(
                f"transfer would overdraw account {src!r}: balance={s} amount_cents="
                f"{amount_cents} ({kind} ref={ref}); only 'external' and prefixes "
                f"{self._neg_prefixes} may go negative"
            )
        # effects: nothing above wrote anything
        if src not in bal:
            self._open(src)
        if dst not in bal:
            self._open(dst)
        bal[src] = new_s
        bal[dst] += amount_cents
        code = self._code
        self._t.append(t_s)
        self._src.append(code[src])
        self._dst.append(code[dst])
        self._amt.append(amount_cents)
        self._kind.append(kind)
        self._ref.append(ref)

    def transfer_split(
        self,
        t_s: float,
        src: str,
        parts: Sequence[tuple[str, int]],
        kind: str,
        ref: str | int,
    ) -> None:
        """Post ``src -> dst`` for each ``(dst, amount_cents)`` of ``parts``, in order: the same
        postings as one :meth:`transfer` per part, checked once (every amount an int > 0,
        every ``dst`` a valid name other than ``src``, the total not overdrawing ``src``).
        All or nothing: a refused split leaves the ledger unchanged."""
        if not parts:
            return
        total = 0
        bal = self._bal
        for dst, amount in parts:
            if type(amount) is not int or amount <= 0 or dst == src or dst not in bal:
                amount = self._checked_amount(src, dst, amount)
                if dst not in bal:
                    self._check_name(dst, "dst")
            total += amount
        _check_time(t_s)
        s = bal.get(src)
        if s is None:
            self._check_name(src, "src")
            s = 0
        if s - total < 0 and src not in self._neg and not self.may_go_negative(src):
            raise LedgerError(
                f"transfer would overdraw account {src!r}: balance={s} amount_cents="
                f"{total} ({kind} ref={ref}, {len(parts)} parts); only 'external' and "
                f"prefixes {self._neg_prefixes} may go negative"
            )
        # effects: nothing above wrote anything
        if src not in bal:
            self._open(src)
        bal[src] = s - total
        amounts = [int(amount) for _, amount in parts]
        dsts = [dst for dst, _ in parts]
        for dst, amount in zip(dsts, amounts, strict=True):
            if dst not in bal:
                self._open(dst)
            bal[dst] += amount
        n = len(amounts)
        self._t.extend([t_s] * n)
        code = self._code
        self._src.extend([code[src]] * n)
        self._dst.extend([code[d] for d in dsts])
        self._amt.extend(amounts)
        self._kind.extend([kind] * n)
        self._ref.extend([ref] * n)

    def prepare(
        self, rows: Sequence[tuple[str, str, int, str]], ref: str | int
    ) -> PreparedPostings:
        """Validate ``rows`` of ``(src, dst, amount_cents, kind)`` (each as :meth:`transfer`
        would: amount an int > 0, ``src != dst``, valid names) sharing ``ref``, for
        :meth:`post_prepared`. Writes nothing; raises :class:`LedgerError` on a bad row."""
        if not rows:
            raise LedgerError("prepare rows=(): at least one posting is needed")
        return self._prepare_rows(rows, ref)

    def _prepare_rows(
        self, rows: Sequence[tuple[str, str, int, str]], ref: str | int
    ) -> PreparedPostings:
        src: list[str] = []
        dst: list[str] = []
        amounts: list[int] = []
        kinds: list[str] = []
        net: dict[str, int] = {}  # running change per account, in order of first use
        low: dict[str, int] = {}  # lowest running change of each debited account, if < 0
        opened = self._bal  # names of opened accounts were checked when they were opened
        get = net.get
        for row in rows:
            try:
                s, d, amount, kind = row
            except (TypeError, ValueError):
                raise LedgerError(
                    f"prepare row {row!r}: must be (src, dst, amount_cents, kind)"
                ) from None
            if (
                type(amount) is not int
                or amount <= 0
                or s == d
                or s not in opened
                or d not in opened
            ):
                amount = self._checked_amount(s, d, amount)
                if s not in opened:
                    self._check_name(s, "src")
                if d not in opened:
                    self._check_name(d, "dst")
            net[s] = v = get(s, 0) - amount
            if v < 0 and v < low.get(s, 0):
                low[s] = v
            net[d] = get(d, 0) + amount
            src.append(s)
            dst.append(d)
            amounts.append(amount)
            kinds.append(kind)
        # an account allowed negative stays so (prefixes are only ever added), and an opened
        # account stays open: neither needs its check / zero update at each posting
        neg = self._neg
        needs = tuple(
            (acct, -v)
            for acct, v in low.items()
            if acct not in neg and not self.may_go_negative(acct)
        )
        deltas = tuple((acct, v) for acct, v in net.items() if v or acct not in opened)
        return PreparedPostings(
            tuple(src), tuple(dst), tuple(amounts), tuple(kinds), ref, deltas, needs, self
        )

    def prepare_pass_through(
        self,
        src: str,
        via: str,
        dsts: tuple[str, ...],
        amounts: tuple[int, ...],
        in_kind: str,
        out_kind: str,
        ref: str | int,
    ) -> PreparedPostings:
        """``prepare`` of a payment that passes through ``via``: ``src -> via`` of the total of
        ``amounts`` (``in_kind``), then ``via -> dsts[j]`` of ``amounts[j]`` for each ``j``
        (``out_kind``), in order; the same result as :meth:`prepare` of those rows, built
        without a per-row loop when the ``dsts`` are distinct and opened (a borrower's payment
        split across its lenders). ``via`` nets to zero and is never overdrawn by it."""
        m = len(dsts)
        if m != len(amounts):
            raise LedgerError(
                f"prepare_pass_through: {m} dsts but {len(amounts)} amounts: must be equal"
            )
        if not m or set(map(type, amounts)) != {int} or min(amounts) <= 0:
            # the general rows: coerces, or raises naming the bad (or zero total) amount
            rows = [(src, via, sum(amounts), in_kind)]
            rows += [(via, d, a, out_kind) for d, a in zip(dsts, amounts, strict=True)]
            return self._prepare_rows(rows, ref)
        unique = set(dsts)
        opened = self._bal.keys()
        if (
            len(unique) < m
            or src in unique
            or via in unique
            or src == via
            or not opened >= unique
            or src not in opened
        ):  # general rules (and messages) for anything unusual
            rows = [(src, via, sum(amounts), in_kind)]
            rows += [(via, d, a, out_kind) for d, a in zip(dsts, amounts, strict=True)]
            return self._prepare_rows(rows, ref)
        total = sum(amounts)
        deltas = [(src, -total)]
        if via not in opened:
            self._check_name(via, "dst")
            deltas.append((via, 0))
        deltas.extend(zip(dsts, amounts, strict=True))
        needs = ()
        if src not in self._neg and not self.may_go_negative(src):
            needs = ((src, total),)
        return PreparedPostings(
            (src,) + (via,) * m,
            (via, *dsts),
            (total, *amounts),
            (in_kind,) + (out_kind,) * m,
            ref,
            tuple(deltas),
            needs,
            self,
        )

    def post_prepared(self, t_s: float, prepared: PreparedPostings) -> None:
        """Post every posting of ``prepared`` (from :meth:`prepare`) at ``t_s``, in order: the
        same postings and balances as one :meth:`transfer` per row, and refused (ledger
        unchanged, :class:`LedgerError`) exactly when one of those transfers would be: a
        non-finite time or an account not allowed negative whose running balance would go
        below zero. ``prepared`` must come from this ledger's :meth:`prepare`."""
        _check_time(t_s)
        if prepared.ledger is not self:
            raise LedgerError(f"{prepared!r} was prepared by another ledger")
        bal = self._bal
        for acct, need in prepared.needs:
            have = bal.get(acct, 0)
            if have < need and acct not in self._neg and not self.may_go_negative(acct):
                raise LedgerError(
                    f"transfer would overdraw account {acct!r}: balance={have}, the postings "
                    f"need {need} ({prepared.kind[0]}... ref={prepared.ref[0]}, "
                    f"{len(prepared)} postings); only 'external' and prefixes "
                    f"{self._neg_prefixes} may go negative"
                )
        # effects: nothing above wrote anything
        get = bal.get
        for acct, delta in prepared.deltas:
            bal[acct] = get(acct, 0) + delta
        self._t.extend([t_s] * len(prepared.src))
        self._src.extend(prepared.src_codes)
        self._dst.extend(prepared.dst_codes)
        self._amt.extend(prepared.amount)
        self._kind.extend(prepared.kind)
        self._ref.extend(prepared.ref)

    def deposit(
        self, t_s: float, account: str, amount_cents: int, kind: str, ref: str | int
    ) -> None:
        """Bring ``amount_cents`` into ``account`` from outside (``external -> account``)."""
        self.transfer(t_s, EXTERNAL, account, amount_cents, kind, ref)

    def withdraw(
        self, t_s: float, account: str, amount_cents: int, kind: str, ref: str | int
    ) -> None:
        """Take ``amount_cents`` out of ``account`` to outside (``account -> external``)."""
        self.transfer(t_s, account, EXTERNAL, amount_cents, kind, ref)

    # ------------------------------------------------------------------ queries
    def balance(self, account: str) -> int:
        """Balance of ``account`` in centavos (0 for an account never posted to)."""
        return self._bal.get(account, 0)

    def balances(self, prefix: str = "") -> dict[str, int]:
        """All balances (optionally only names starting with ``prefix``), sorted by name."""
        return {k: self._bal[k] for k in sorted(self._bal) if k.startswith(prefix)}

    def total_external(self) -> int:
        """Net centavos brought in from outside (deposits minus withdrawals) = the sum of all
        accounts except ``external`` = ``-balance("external")``."""
        return -self._bal.get(EXTERNAL, 0)

    def __len__(self) -> int:
        """Number of postings (handed over or held)."""
        return self._seq0 + len(self._amt)

    @property
    def held(self) -> int:
        """Number of postings held (not handed over by :meth:`take_postings` yet)."""
        return len(self._amt)

    def __repr__(self) -> str:
        return (
            f"Ledger(postings={len(self)}, accounts={len(self._bal)}, "
            f"external={self.total_external()})"
        )

    # ------------------------------------------------------------------ audit
    def check(self) -> None:
        """Raise :class:`LedgerImbalanceError` unless the books balance.

        Checks (1) the sum over all accounts (``external`` included) is 0; (2) replaying all
        postings from zero (those handed over by :meth:`take_postings`, as they were handed
        over, and those held) reproduces every balance (same accounts, same values); (3) no
        account outside the allowed-negative set is below zero.
        """
        total = sum(self._bal.values())
        if total != 0:
            raise LedgerImbalanceError(
                f"ledger sum over {len(self._bal)} accounts is {total} cents: must be 0"
            )
        replay = self._replay.copy()
        replay.add(self._columns(), self._seq0, len(self._names))
        problem = replay.mismatch(self._bal, self._names)
        if problem is not None:
            raise LedgerImbalanceError(problem)
        negative = [
            k for k, v in sorted(self._bal.items()) if v < 0 and not self.may_go_negative(k)
        ]
        if negative:
            shown = ", ".join(f"{k}={self._bal[k]}" for k in negative[:5])
            raise LedgerImbalanceError(
                f"{len(negative)} account(s) below zero but not allowed negative: {shown}"
            )

    def _columns(self) -> tuple[list[Any], ...]:
        return (self._t, self._src, self._dst, self._amt, self._kind, self._ref)

    # ------------------------------------------------------------------ export
    def take_postings(self) -> Any:
        """Hand over the postings held as an Arrow table (:func:`sim.ledger.audit.
        postings_table`, ``seq`` numbering every posting of the ledger). They are replayed for
        :meth:`check` first; the ledger then holds only its balances (and later postings)."""
        seq0, cols = self._seq0, self._columns()
        arrays = code_arrays(self._src, self._dst, self._amt)  # converted once, used twice
        self._replay.add(cols, seq0, len(self._names), arrays)
        table = postings_table(cols, seq0, self._names, arrays)
        self._seq0 += len(self._amt)
        self._t, self._src, self._dst = [], [], []
        self._amt, self._kind, self._ref = [], [], []
        return table

    def rows(self) -> dict[str, list[Any]]:
        """The postings held (all of them unless :meth:`take_postings` handed some over) as
        column lists (keys :data:`sim.ledger.audit.COLUMNS`), ready for ``pandas.DataFrame``;
        ``ref`` is rendered as ``str`` so the column has one type."""
        names = self._names
        return {
            "seq": list(range(self._seq0, self._seq0 + len(self._amt))),
            "t_s": [float(x) for x in self._t],
            "src": [names[c] for c in self._src],
            "dst": [names[c] for c in self._dst],
            "amount_cents": list(self._amt),
            "kind": list(self._kind),
            "ref": as_str(self._ref),
        }

    def table(self) -> pd.DataFrame:
        """The postings held as a pandas DataFrame with columns
        :data:`sim.ledger.audit.COLUMNS` (int64 seq and amounts, float64 times, string ids);
        the same values as :meth:`rows` (:func:`sim.ledger.audit.postings_frame`)."""
        return postings_frame(self._columns(), self._seq0, self._names)

    # ------------------------------------------------------------------ internals
    def _checked_amount(self, src: str, dst: str, amount: object) -> int:
        """The amount rules of one posting (an int > 0, ``src != dst``): the amount as an
        ``int``, or :class:`LedgerError`. Account names are checked by the caller."""
        if type(amount) is not int:
            amount = self._coerce_amount(amount)
        if amount <= 0:
            raise LedgerError(f"transfer amount_cents={amount}: must be > 0")
        if src == dst:
            raise LedgerError(f"transfer src={src!r} dst={dst!r}: src and dst must differ")
        return amount

    @staticmethod
    def _coerce_amount(amount: object) -> int:
        if isinstance(amount, numbers.Integral) and not isinstance(amount, bool):
            return int(amount)
        raise LedgerError(f"transfer amount_cents={amount!r}: must be an int number of centavos")

    @staticmethod
    def _check_name(name: object, field: str) -> None:
        if not isinstance(name, str) or _ACCOUNT_RE.fullmatch(name) is None:
            raise LedgerError(
                f"transfer {field}={name!r}: account names are non-empty ':'-separated "
                "segments without whitespace (e.g. 'lender:L1:free')"
            )

    def account_code(self, name: str) -> int:
        """The code of account ``name`` in the posting columns (given on first use)."""
        got = self._code.get(name)
        if got is None:
            got = self._code[name] = len(self._names)
            self._names.append(name)
        return got

    def _open(self, name: str) -> None:
        self.account_code(name)
        self._bal[name] = 0
        if self.may_go_negative(name):
            self._neg.add(name)

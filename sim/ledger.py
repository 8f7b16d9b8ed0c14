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

Performance: the hot path is one method call, a few dict operations and one tuple append
(about 1-2 µs per transfer in CPython 3.11); tables are built only when asked
(:meth:`Ledger.rows`, :meth:`Ledger.table`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

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

#: Column names of :meth:`Ledger.rows` / :meth:`Ledger.table`, in order.
COLUMNS = ("seq", "t_s", "src", "dst", "amount_cents", "kind", "ref")


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


class Ledger:
    """Append-only double-entry ledger in integer centavos (see the module docstring)."""

    __slots__ = ("_bal", "_neg", "_neg_prefixes", "_posts")

    def __init__(self) -> None:
        self._bal: dict[str, int] = {}
        #: accounts (already opened) allowed to go below zero
        self._neg: set[str] = set()
        #: prefixes registered by allow_negative (``external`` itself is always allowed)
        self._neg_prefixes: list[str] = []
        #: postings (t_s, src, dst, amount_cents, kind, ref); seq is the index
        self._posts: list[tuple[float, str, str, int, str, str | int]] = []

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
        return account == EXTERNAL or any(account.startswith(p) for p in self._neg_prefixes)

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
        if type(amount_cents) is not int:
            amount_cents = self._coerce_amount(amount_cents)
        if amount_cents <= 0:
            raise LedgerError(f"transfer amount_cents={amount_cents}: must be > 0")
        if src == dst:
            raise LedgerError(f"transfer src={src!r} dst={dst!r}: src and dst must differ")
        try:
            finite = -_INF < t_s < _INF
        except TypeError:
            finite = False
        if not finite:
            raise LedgerError(f"transfer t_s={t_s!r}: must be a finite number of seconds")
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
        self._posts.append((t_s, src, dst, amount_cents, kind, ref))

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
                if type(amount) is not int:
                    amount = self._coerce_amount(amount)
                if amount <= 0:
                    raise LedgerError(f"transfer amount_cents={amount}: must be > 0")
                if src == dst:
                    raise LedgerError(f"transfer src={src!r} dst={dst!r}: src and dst must differ")
                if dst not in bal:
                    self._check_name(dst, "dst")
            total += amount
        try:
            finite = -_INF < t_s < _INF
        except TypeError:
            finite = False
        if not finite:
            raise LedgerError(f"transfer t_s={t_s!r}: must be a finite number of seconds")
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
        append = self._posts.append
        for dst, amount in parts:
            if dst not in bal:
                self._open(dst)
            bal[dst] += int(amount)
            append((t_s, src, dst, int(amount), kind, ref))

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
        """Number of postings."""
        return len(self._posts)

    def __repr__(self) -> str:
        return (
            f"Ledger(postings={len(self._posts)}, accounts={len(self._bal)}, "
            f"external={self.total_external()})"
        )

    # ------------------------------------------------------------------ audit
    def check(self) -> None:
        """Raise :class:`LedgerImbalanceError` unless the books balance.

        Checks (1) the sum over all accounts (``external`` included) is 0; (2) replaying all
        postings from zero reproduces every running balance (same accounts, same values);
        (3) no account outside the allowed-negative set is below zero.
        """
        total = sum(self._bal.values())
        if total != 0:
            raise LedgerImbalanceError(
                f"ledger sum over {len(self._bal)} accounts is {total} cents: must be 0"
            )
        replay: dict[str, int] = {}
        get = replay.get
        for i, (_t, src, dst, amount, _k, _r) in enumerate(self._posts):
            if type(amount) is not int or amount <= 0 or src == dst:
                raise LedgerImbalanceError(
                    f"posting seq={i} src={src!r} dst={dst!r} amount_cents={amount!r}: "
                    "must be a positive int between two different accounts"
                )
            replay[src] = get(src, 0) - amount
            replay[dst] = get(dst, 0) + amount
        if replay != self._bal:
            bad = sorted(
                k for k in set(replay) | set(self._bal) if replay.get(k) != self._bal.get(k)
            )
            shown = ", ".join(
                f"{k}: balance={self._bal.get(k)} replayed={replay.get(k)}" for k in bad[:5]
            )
            raise LedgerImbalanceError(
                f"replaying {len(self._posts)} postings does not reproduce {len(bad)} "
                f"balance(s): {shown}"
            )
        negative = [
            k for k, v in sorted(self._bal.items()) if v < 0 and not self.may_go_negative(k)
        ]
        if negative:
            shown = ", ".join(f"{k}={self._bal[k]}" for k in negative[:5])
            raise LedgerImbalanceError(
                f"{len(negative)} account(s) below zero but not allowed negative: {shown}"
            )

    # ------------------------------------------------------------------ export
    def rows(self) -> dict[str, list[Any]]:
        """Postings as column lists (keys :data:`COLUMNS`), ready for ``pandas.DataFrame``;
        ``ref`` is rendered as ``str`` so the column has one type."""
        posts = self._posts
        if not posts:
            return {c: [] for c in COLUMNS}
        t, src, dst, amount, kind, ref = (list(col) for col in zip(*posts, strict=True))
        return {
            "seq": list(range(len(posts))),
            "t_s": [float(x) for x in t],
            "src": src,
            "dst": dst,
            "amount_cents": amount,
            "kind": kind,
            "ref": [str(r) for r in ref],
        }

    def table(self) -> pd.DataFrame:
        """Postings as a pandas DataFrame with columns :data:`COLUMNS` (int64 seq and amounts,
        float64 times, string ids); the same values as :meth:`rows`, built column-wise with
        numpy (a run has ~500k postings)."""
        import numpy as np
        import pandas as pd

        posts = self._posts
        n = len(posts)
        if n:
            t, src, dst, amount, kind, ref = zip(*posts, strict=True)
            cols: dict[str, Any] = {
                "seq": np.arange(n, dtype=np.int64),
                "t_s": np.array(t, dtype=np.float64),
                "src": list(src),
                "dst": list(dst),
                "amount_cents": np.array(amount, dtype=np.int64),
                "kind": list(kind),
                "ref": list(map(str, ref)),
            }
        else:
            cols = self.rows()
        return pd.DataFrame(
            {
                "seq": pd.Series(cols["seq"], dtype="int64"),
                "t_s": pd.Series(cols["t_s"], dtype="float64"),
                "src": pd.Series(cols["src"], dtype="object"),
                "dst": pd.Series(cols["dst"], dtype="object"),
                "amount_cents": pd.Series(cols["amount_cents"], dtype="int64"),
                "kind": pd.Series(cols["kind"], dtype="object"),
                "ref": pd.Series(cols["ref"], dtype="object"),
            }
        )

    # ------------------------------------------------------------------ internals
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

    def _open(self, name: str) -> None:
        self._bal[name] = 0
        if self.may_go_negative(name):
            self._neg.add(name)

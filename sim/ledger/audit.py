"""Auditing and exporting the postings of a :class:`sim.ledger.book.Ledger`, chunk by chunk.

- :class:`Replay` replays postings from zero as they are handed over in chunks (a run streams
  its postings to Parquet and keeps only the balances): every posting must be a positive
  plain ``int`` between two different known accounts, and at the end the replayed balances
  must be exactly the ledger's (:meth:`Replay.mismatch`). A chunk is summed with numpy in
  exact int64 arithmetic while no balance can overflow; anything else (a bad posting, sums
  beyond int64) is replayed in plain Python integers, which names the first bad posting.
- :func:`postings_frame` (pandas) and :func:`postings_table` (Arrow) build the postings table
  column-wise (a run has ~500k postings a month of requests).

``cols`` is ``(t_s, src, dst, amount_cents, kind, ref)``, one list per column, ``src`` and
``dst`` as the ledger's account codes (``names[code]`` is the account); ``seq0`` the sequence
number of its first posting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "COLUMNS",
    "Replay",
    "as_str",
    "code_arrays",
    "postings_frame",
    "postings_schema",
    "postings_table",
]

#: Column names of the postings table, in order.
COLUMNS = ("seq", "t_s", "src", "dst", "amount_cents", "kind", "ref")

#: while the amounts replayed sum to less than this, no int64 running balance can overflow
_INT64_SAFE = 2**62


class Replay:
    """Balances of every account obtained by replaying the postings handed over to
    :meth:`add` from zero, and the first bad posting among them (``problem``). Accounts are
    the ledger's codes (``0 <= code < accounts``)."""

    __slots__ = ("_exact", "_fast", "_used", "_volume", "postings", "problem")

    def __init__(self) -> None:
        self._fast = np.zeros(0, dtype=np.int64)  # running balance per code while exact
        self._used = np.zeros(0, dtype=bool)  # codes a posting has touched
        self._exact: dict[int, int] | None = None  # Python-int balances once int64 may not do
        self._volume = 0  # sum of the amounts in _fast: bounds every balance in it
        self.postings = 0
        self.problem: str | None = None

    def copy(self) -> Replay:
        """An independent replay in the same state."""
        out = Replay()
        out._fast, out._used = self._fast.copy(), self._used.copy()
        out._exact = dict(self._exact) if self._exact is not None else None
        out._volume, out.postings, out.problem = self._volume, self.postings, self.problem
        return out

    def add(
        self,
        cols: Sequence[list[Any]],
        seq0: int,
        accounts: int,
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Replay the postings ``cols`` (the first one numbered ``seq0``; ``src`` and ``dst``
        account codes below ``accounts``). ``arrays``: their ``src``, ``dst`` and
        ``amount_cents`` as int64 arrays, when the caller has them (:func:`code_arrays`)."""
        lengths = [len(c) for c in cols]
        n = lengths[3]
        if self.problem is None and len(set(lengths)) != 1:
            self.problem = (
                f"posting columns (t_s, src, dst, amount_cents, kind, ref) from seq={seq0} "
                f"have lengths {lengths}: must be equal"
            )
        if self.problem is not None or n == 0:
            self.postings += n
            return
        _, src, dst, amt, _, _ = cols
        if len(self._fast) < accounts:  # new accounts start at zero
            size = max(accounts, 2 * len(self._fast))
            self._fast = np.concatenate([self._fast, np.zeros(size - len(self._fast), np.int64)])
            self._used = np.concatenate([self._used, np.zeros(size - len(self._used), bool)])
        if not (self._exact is None and self._add_fast(src, dst, amt, accounts, arrays)):
            self._add_exact(src, dst, amt, seq0, accounts)
        self.postings += n

    def _add_fast(
        self,
        src: list[Any],
        dst: list[Any],
        amt: list[Any],
        accounts: int,
        arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
    ) -> bool:
        """Replay with numpy when every posting is a plain positive int between two known,
        different accounts and the int64 sums stay exact; False (nothing replayed) else."""
        n = len(amt)
        if set(map(type, amt)) != {int}:
            return False
        if arrays is None:
            arrays = code_arrays(src, dst, amt)
            if arrays is None:
                return False
        s, d, a = arrays
        if (
            int(a.min()) <= 0
            or self._volume + int(a.max()) * n >= _INT64_SAFE
            or min(int(s.min()), int(d.min())) < 0
            or max(int(s.max()), int(d.max())) >= accounts
            or bool((s == d).any())
        ):
            return False
        np.subtract.at(self._fast, s, a)
        np.add.at(self._fast, d, a)
        self._used[s] = True
        self._used[d] = True
        self._volume += int(a.sum())
        return True

    def _add_exact(
        self, src: list[Any], dst: list[Any], amt: list[Any], seq0: int, accounts: int
    ) -> None:
        if self._exact is None:  # from now on in Python integers
            self._exact = {
                int(c): int(self._fast[c]) for c in np.flatnonzero(self._used[: len(self._fast)])
            }
        bal = self._exact
        get = bal.get
        for i, (s, d, amount) in enumerate(zip(src, dst, amt, strict=True)):
            known = type(s) is int and type(d) is int and 0 <= s < accounts and 0 <= d < accounts
            if not known or type(amount) is not int or amount <= 0 or s == d:
                self.problem = (
                    f"posting seq={seq0 + i} src={s!r} dst={d!r} amount_cents={amount!r}: "
                    "must be a positive int between two different accounts"
                )
                return
            bal[s] = get(s, 0) - amount
            bal[d] = get(d, 0) + amount

    def balances(self, names: Sequence[str]) -> dict[str, int]:
        """The replayed balance of every account posted to, by name (``names[code]``)."""
        if self._exact is not None:
            return {names[c]: v for c, v in self._exact.items()}
        used = np.flatnonzero(self._used)
        return dict(zip([names[c] for c in used], self._fast[used].tolist(), strict=True))

    def mismatch(self, bal: dict[str, int], names: Sequence[str]) -> str | None:
        """Why the replay does not reproduce ``bal`` (same accounts, same values) or the
        first bad posting; None when it does."""
        if self.problem is not None:
            return self.problem
        replay = self.balances(names)
        if replay == bal:
            return None
        bad = sorted(k for k in set(replay) | set(bal) if replay.get(k) != bal.get(k))
        shown = ", ".join(f"{k}: balance={bal.get(k)} replayed={replay.get(k)}" for k in bad[:5])
        return (
            f"replaying {self.postings} postings does not reproduce {len(bad)} balance(s): {shown}"
        )


def code_arrays(
    src: list[Any], dst: list[Any], amt: list[Any]
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``src``, ``dst`` and ``amount_cents`` as int64 arrays (None when a value is not an
    integer of int64 range)."""
    n = len(amt)
    try:
        return (
            np.fromiter(src, dtype=np.int64, count=n),
            np.fromiter(dst, dtype=np.int64, count=n),
            np.fromiter(amt, dtype=np.int64, count=n),
        )
    except (OverflowError, TypeError, ValueError):
        return None


def postings_frame(cols: Sequence[list[Any]], seq0: int, names: Sequence[str]) -> pd.DataFrame:
    """Postings as a pandas DataFrame with columns :data:`COLUMNS` (int64 seq and amounts,
    float64 times, string ids; ``src`` and ``dst`` codes into ``names``), built column-wise
    with numpy."""
    import pandas as pd

    t, src, dst, amt, kind, ref = cols
    n = len(amt)

    def objects(values: list[Any]) -> pd.Series:
        out = np.empty(n, dtype=object)
        out[:] = values
        return pd.Series(out, dtype="object", copy=False)

    return pd.DataFrame(
        {
            "seq": pd.Series(np.arange(seq0, seq0 + n, dtype=np.int64), dtype="int64"),
            "t_s": pd.Series(np.array(t, dtype=np.float64), dtype="float64"),
            "src": objects([names[c] for c in src]),
            "dst": objects([names[c] for c in dst]),
            "amount_cents": pd.Series(np.array(amt, dtype=np.int64), dtype="int64"),
            "kind": objects(kind),
            "ref": objects(as_str(ref)),
        },
        copy=False,
    )


def postings_schema() -> Any:
    """The Arrow schema of the postings table (the types :func:`postings_frame` writes as)."""
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("seq", pa.int64()),
            ("t_s", pa.float64()),
            ("src", text),
            ("dst", text),
            ("amount_cents", pa.int64()),
            ("kind", text),
            ("ref", text),
        ]
    )


def postings_table(
    cols: Sequence[list[Any]],
    seq0: int,
    names: Sequence[str],
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Any:
    """Postings as an Arrow table of :func:`postings_schema` (the same values as
    :func:`postings_frame`); account names are gathered from ``names`` by code in Arrow.
    ``arrays``: :func:`code_arrays` of ``cols`` when the caller has them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t, src, dst, amt, kind, ref = cols
    n = len(amt)
    s, d, a = arrays if arrays is not None else (src, dst, np.asarray(amt, dtype=np.int64))
    refs = None
    if set(map(type, ref)) == {int}:  # the usual refs, ids: rendered by Arrow as str() does
        with contextlib.suppress(OverflowError):
            refs = pc.cast(pa.array(np.fromiter(ref, dtype=np.int64, count=n)), pa.string())
    if refs is None:
        refs = pa.array(as_str(ref), type=pa.string())
    accounts = pa.array(names, type=pa.string())
    arrays = [
        pa.array(np.arange(seq0, seq0 + n, dtype=np.int64)),
        pa.array(np.fromiter(t, dtype=np.float64, count=n)),
        accounts.take(pa.array(s, type=pa.int64())),
        accounts.take(pa.array(d, type=pa.int64())),
        pa.array(a, type=pa.int64()),
        pa.array(kind, type=pa.string()),
        refs,
    ]
    return pa.Table.from_arrays(arrays, schema=postings_schema())


def as_str(values: list[Any]) -> list[str]:
    """``[str(v) for v in values]``, converting each distinct value once when they are all
    plain ``int`` / ``str`` (refs repeat: a loan's id on each of its postings)."""
    if set(map(type, values)) <= {int, str}:
        memo = {v: str(v) for v in set(values)}
        return list(map(memo.__getitem__, values))
    return [str(v) for v in values]

"""Auditing and exporting the postings of a :class:`sim.ledger.book.Ledger`, chunk by chunk.

- :class:`Replay` replays postings from zero as they are handed over in chunks (a run streams
  its postings to Parquet and keeps only the balances): every posting must be a positive
  plain ``int`` between two different accounts, and at the end the replayed balances must be
  exactly the ledger's (:meth:`Replay.mismatch`). A chunk is summed with numpy in exact int64
  arithmetic while no balance can overflow; anything else (a bad posting, sums beyond int64)
  is replayed in plain Python integers, which names the first bad posting.
- :func:`postings_frame` (pandas) and :func:`postings_table` (Arrow) build the postings table
  column-wise (a run has ~500k postings a month of requests).

``cols`` is ``(t_s, src, dst, amount_cents, kind, ref)``, one list per column; ``seq0`` the
sequence number of its first posting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = [
    "COLUMNS",
    "Replay",
    "as_str",
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
    :meth:`add` from zero, and the first bad posting among them (``problem``)."""

    __slots__ = ("_codes", "_exact", "_fast", "_volume", "postings", "problem")

    def __init__(self) -> None:
        self._codes: dict[str, int] = {}  # account -> its index in _fast, in order of first use
        self._fast = np.zeros(0, dtype=np.int64)  # running balances while _exact is None
        self._exact: dict[str, int] | None = None  # Python-int balances once int64 may not do
        self._volume = 0  # sum of the amounts in _fast: bounds every balance in it
        self.postings = 0
        self.problem: str | None = None

    def copy(self) -> Replay:
        """An independent replay in the same state."""
        out = Replay()
        out._codes = dict(self._codes)
        out._fast = self._fast.copy()
        out._exact = dict(self._exact) if self._exact is not None else None
        out._volume, out.postings, out.problem = self._volume, self.postings, self.problem
        return out

    def add(self, cols: Sequence[list[Any]], seq0: int, table: Any = None) -> None:
        """Replay the postings ``cols`` (the first one numbered ``seq0``); ``table`` is their
        Arrow table (:func:`postings_table`) when the caller has built it (its account
        columns are then coded in Arrow instead of Python)."""
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
        if not (self._exact is None and self._add_fast(src, dst, amt, table)):
            self._add_exact(src, dst, amt, seq0)
        self.postings += n

    def _add_fast(self, src: list[str], dst: list[str], amt: list[Any], table: Any) -> bool:
        """Replay with numpy when every amount is a plain int and the int64 sums stay exact;
        False (nothing replayed) otherwise."""
        n = len(amt)
        if set(map(type, amt)) != {int}:
            return False
        if table is not None:
            a = table.column("amount_cents").to_numpy()
        else:
            try:
                a = np.fromiter(amt, dtype=np.int64, count=n)
            except OverflowError:
                return False
        if int(a.min()) <= 0 or self._volume + int(a.max()) * n >= _INT64_SAFE:
            return False
        s, d = self._account_codes(src, dst, table)
        if bool((s == d).any()):
            return False
        np.subtract.at(self._fast, s, a)
        np.add.at(self._fast, d, a)
        self._volume += int(a.sum())
        return True

    def _account_codes(
        self, src: list[str], dst: list[str], table: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """The codes of the accounts of every posting (new accounts get the next codes and a
        zero balance)."""
        codes = self._codes
        n = len(src)
        if table is not None:
            import pyarrow.compute as pc

            out = []
            for column in ("src", "dst"):
                enc = pc.dictionary_encode(table.column(column).combine_chunks())
                names = enc.dictionary.to_pylist()
                for name in names:
                    if name not in codes:
                        codes[name] = len(codes)
                lut = np.fromiter(map(codes.__getitem__, names), dtype=np.int64, count=len(names))
                out.append(lut[enc.indices.to_numpy()])
            s, d = out
        else:
            names_seen = set(src)
            names_seen.update(dst)
            for name in names_seen.difference(codes):
                codes[name] = len(codes)
            s = np.fromiter(map(codes.__getitem__, src), dtype=np.int64, count=n)
            d = np.fromiter(map(codes.__getitem__, dst), dtype=np.int64, count=n)
        if len(self._fast) < len(codes):  # new accounts start at zero
            grown = np.zeros(max(len(codes), 2 * len(self._fast)), dtype=np.int64)
            grown[: len(self._fast)] = self._fast
            self._fast = grown
        return s, d

    def _add_exact(self, src: list[str], dst: list[str], amt: list[Any], seq0: int) -> None:
        if self._exact is None:  # from now on in Python integers
            self._exact = self.balances()
        bal = self._exact
        get = bal.get
        for i, (s, d, amount) in enumerate(zip(src, dst, amt, strict=True)):
            if type(amount) is not int or amount <= 0 or s == d:
                self.problem = (
                    f"posting seq={seq0 + i} src={s!r} dst={d!r} amount_cents={amount!r}: "
                    "must be a positive int between two different accounts"
                )
                return
            bal[s] = get(s, 0) - amount
            bal[d] = get(d, 0) + amount

    def balances(self) -> dict[str, int]:
        """The replayed balance of every account posted to (in order of first use)."""
        if self._exact is not None:
            return dict(self._exact)
        values = self._fast[: len(self._codes)].tolist()
        return dict(zip(self._codes, values, strict=True))

    def mismatch(self, bal: dict[str, int]) -> str | None:
        """Why the replay does not reproduce ``bal`` (same accounts, same values) or the
        first bad posting; None when it does."""
        if self.problem is not None:
            return self.problem
        replay = self.balances()
        if replay == bal:
            return None
        bad = sorted(k for k in set(replay) | set(bal) if replay.get(k) != bal.get(k))
        shown = ", ".join(f"{k}: balance={bal.get(k)} replayed={replay.get(k)}" for k in bad[:5])
        return (
            f"replaying {self.postings} postings does not reproduce {len(bad)} balance(s): {shown}"
        )


def postings_frame(cols: Sequence[list[Any]], seq0: int = 0) -> pd.DataFrame:
    """Postings as a pandas DataFrame with columns :data:`COLUMNS` (int64 seq and amounts,
    float64 times, string ids), built column-wise with numpy."""
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
            "src": objects(src),
            "dst": objects(dst),
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


def postings_table(cols: Sequence[list[Any]], seq0: int = 0) -> Any:
    """Postings as an Arrow table of :func:`postings_schema` (the same values as
    :func:`postings_frame`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t, src, dst, amt, kind, ref = cols
    n = len(amt)
    if set(map(type, ref)) == {int}:  # the usual refs, ids: rendered by Arrow as str() does
        refs = pc.cast(pa.array(ref, type=pa.int64()), pa.string())
    else:
        refs = pa.array(as_str(ref), type=pa.string())
    arrays = [
        pa.array(np.arange(seq0, seq0 + n, dtype=np.int64)),
        pa.array(np.asarray(t, dtype=np.float64)),
        pa.array(src, type=pa.string()),
        pa.array(dst, type=pa.string()),
        pa.array(np.asarray(amt, dtype=np.int64)),
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

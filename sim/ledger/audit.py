"""Auditing and exporting the postings of a :class:`sim.ledger.book.Ledger` (its column lists).

- :func:`replays_fast` decides with numpy, in exact int64 arithmetic, that replaying the postings
  from zero gives exactly the balances (False on anything else, or when a sum could overflow:
  the caller then runs :func:`replay_problem`);
- :func:`replay_problem` replays them in plain Python and describes the first problem (a bad
  posting, or the balances it does not reproduce), or returns None;
- :func:`postings_frame` builds the postings table column-wise (a run has ~500k postings).

``cols`` is ``(t_s, src, dst, amount_cents, kind, ref)``, one list per column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    import pandas as pd

__all__ = ["as_str", "postings_frame", "replay_problem", "replays_fast"]


def replays_fast(cols: Sequence[list[Any]], bal: dict[str, int]) -> bool:
    """True when every posting is a positive plain int between two different accounts and
    replaying the postings from zero gives exactly ``_bal`` (same accounts, same values),
    decided with numpy in exact int64 arithmetic. False when anything differs or a sum
    could overflow int64: the caller then runs the plain Python replay, which raises the
    precise error (or passes)."""
    t, src, dst, amt, kind, ref = cols
    n = len(amt)
    if not (n == len(src) == len(dst) == len(t) == len(kind) == len(ref)):
        return False
    if n == 0:
        return not bal
    if set(map(type, amt)) != {int}:
        return False
    index = {name: i for i, name in enumerate(bal)}
    get = index.get
    try:
        a = np.fromiter(amt, dtype=np.int64, count=n)
        s_codes = np.fromiter(map(get, src), dtype=np.int64, count=n)
        d_codes = np.fromiter(map(get, dst), dtype=np.int64, count=n)
        want = np.fromiter(bal.values(), dtype=np.int64, count=len(bal))
    except (OverflowError, TypeError, ValueError):  # an amount > int64, an unknown account
        return False
    if int(a.min()) <= 0 or int(a.max()) >= (2**62) // n or bool((s_codes == d_codes).any()):
        return False  # |any replayed sum| <= n * max < 2**62: no overflow below
    got = np.zeros(len(bal), dtype=np.int64)
    np.subtract.at(got, s_codes, a)
    np.add.at(got, d_codes, a)
    used = np.zeros(len(bal), dtype=bool)
    used[s_codes] = True
    used[d_codes] = True
    return bool(used.all()) and bool(np.array_equal(got, want))


def replay_problem(cols: Sequence[list[Any]], bal: dict[str, int]) -> str | None:
    """Replay every posting from zero in plain Python: a description of the first bad posting
    or of the balances it does not reproduce, or None when the replay matches ``bal``."""
    _, src_col, dst_col, amt_col, _, _ = cols
    if len({len(c) for c in cols}) != 1:
        return (
            "posting columns (t_s, src, dst, amount_cents, kind, ref) have lengths "
            f"{[len(c) for c in cols]}: must be equal"
        )
    replay: dict[str, int] = {}
    get = replay.get
    for i, (src, dst, amount) in enumerate(zip(src_col, dst_col, amt_col, strict=True)):
        if type(amount) is not int or amount <= 0 or src == dst:
            return (
                f"posting seq={i} src={src!r} dst={dst!r} amount_cents={amount!r}: "
                "must be a positive int between two different accounts"
            )
        replay[src] = get(src, 0) - amount
        replay[dst] = get(dst, 0) + amount
    if replay != bal:
        bad = sorted(k for k in set(replay) | set(bal) if replay.get(k) != bal.get(k))
        shown = ", ".join(f"{k}: balance={bal.get(k)} replayed={replay.get(k)}" for k in bad[:5])
        return (
            f"replaying {len(amt_col)} postings does not reproduce {len(bad)} balance(s): {shown}"
        )
    return None


def postings_frame(cols: Sequence[list[Any]]) -> pd.DataFrame:
    """Postings as a pandas DataFrame with columns ``seq, t_s, src, dst, amount_cents, kind,
    ref`` (int64 seq and amounts, float64 times, string ids), built column-wise with numpy."""
    import pandas as pd

    t, src, dst, amt, kind, ref = cols
    n = len(amt)

    def objects(values: list[Any]) -> pd.Series:
        out = np.empty(n, dtype=object)
        out[:] = values
        return pd.Series(out, dtype="object", copy=False)

    return pd.DataFrame(
        {
            "seq": pd.Series(np.arange(n, dtype=np.int64), dtype="int64"),
            "t_s": pd.Series(np.array(t, dtype=np.float64), dtype="float64"),
            "src": objects(src),
            "dst": objects(dst),
            "amount_cents": pd.Series(np.array(amt, dtype=np.int64), dtype="int64"),
            "kind": objects(kind),
            "ref": objects(as_str(ref)),
        },
        copy=False,
    )


def as_str(values: list[Any]) -> list[str]:
    """``[str(v) for v in values]``, converting each distinct value once when they are all
    plain ``int`` / ``str`` (refs repeat: a loan's id on each of its postings)."""
    if set(map(type, values)) <= {int, str}:
        memo = {v: str(v) for v in set(values)}
        return list(map(memo.__getitem__, values))
    return [str(v) for v in values]

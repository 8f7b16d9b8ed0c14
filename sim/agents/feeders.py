"""Oracle feeders: agents that observe a true path and publish it by deviation or heartbeat.

A feeder polls every ``poll_s`` seconds (poll ``k`` at ``t_k = phase_s + k·poll_s``) and sees

    obs_k = path(t_k − delay_s − lag(t_k)) · (1 + noise·Z_k) · (1 + bias(t_k))

(``Z_k`` standard normal from the feeder's own generator; ``lag``/``bias`` from active ``lag`` /
``lie`` faults; a ``freeze`` fault holds ``obs`` at its value at the first poll of the fault). It
**publishes** at poll ``k`` when it is up (no ``outage`` fault) and either

- ``|obs_k / v_last − 1| >= deviation`` (``v_last`` its last published value), or
- ``(k − k_last)·poll_s >= heartbeat_s`` (so after an outage it publishes at its first poll);

its first publication is at its first poll. A fault acts on polls with
``start_s <= t_k < end_s``. Overlapping faults compose in the order lag, noise, lie, freeze,
outage.

Speed without changing that behaviour: a feeder is advanced one chunk (``chunk_s`` = 6 hours of
simulated time, on fixed boundaries) at a time; the chunk's observations are computed at once,
and the publication scan runs row-wise over blocks of heartbeat-length rows (the regular case,
"no deviation inside the row and up at its end", is decided for many rows with one numpy
expression); only rows with a deviation or an outage are resolved poll by poll (still
vectorised over at most one heartbeat). The resulting publications are exactly those of the
poll-by-poll rule above (``tests/sim/test_oracle_service.py`` checks it against a plain loop).

A simpy process per feeder advances it chunk by chunk as simulated time passes; readers call
:meth:`Feeder.state_at`, which also advances on demand, so a read never misses a publication.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.config.world import FaultConfig, FeederConfig, OraclesConfig

if TYPE_CHECKING:
    import simpy

    from sim.seeds import SeedTree
    from sim.world import ExogenousPaths

__all__ = ["FAULT_CODES", "Feeder", "make_feeders", "reference_publications", "start_feeders"]

#: Fault code stored per publication (``fault`` column of the oracle ticks).
FAULT_CODES = {"": 0, "freeze": 1, "lag": 2, "lie": 3}
FAULT_NAMES = ("", "freeze", "lag", "lie")
CHUNK_S = 21_600.0
_EPS = 1e-9


class _Growable:
    """A float64/int8 column with amortised O(1) appends of arrays."""

    def __init__(self, dtype: Any) -> None:
        self._buf = np.empty(256, dtype=dtype)
        self._n = 0

    def extend(self, values: np.ndarray) -> None:
        m = len(values)
        if self._n + m > len(self._buf):
            cap = max(2 * len(self._buf), self._n + m)
            new = np.empty(cap, dtype=self._buf.dtype)
            new[: self._n] = self._buf[: self._n]
            self._buf = new
        self._buf[self._n : self._n + m] = values
        self._n += m

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self._n]

    def __len__(self) -> int:
        return self._n


class Feeder:
    """One feeder of one feed; its publications are generated chunk by chunk, in order."""

    def __init__(
        self,
        feed: str,
        cfg: FeederConfig,
        role: str,
        faults: Sequence[FaultConfig],
        path_many: Callable[[np.ndarray], np.ndarray],
        rng: np.random.Generator,
        end_s: float,
        chunk_s: float = CHUNK_S,
    ) -> None:
        self.feed = feed
        self.cfg = cfg
        self.id = cfg.id
        self.role = role
        self.faults = tuple(f for f in faults if f.feeder == cfg.id)
        self._path = path_many
        self._rng = rng
        self.end_s = float(end_s)
        self._chunk_s = float(chunk_s)
        self._poll = cfg.poll_s
        self._hb = max(1, math.ceil(cfg.heartbeat_s / cfg.poll_s - _EPS))
        self._n_polls = max(0, math.floor((self.end_s - cfg.phase_s) / cfg.poll_s + _EPS) + 1)
        self._next_chunk = 0  # index of the next chunk to generate
        self._generated_until = 0.0  # publications with t < this are final
        self._last_k: int | None = None
        self._last_v = math.nan
        self._frozen: dict[int, tuple[float, float]] = {}  # fault index -> (value, value_t)
        self._rows_cap = 64  # adaptive block size of the scan (rows of one heartbeat)
        self.t = _Growable(np.float64)
        self.value = _Growable(np.float64)
        self.value_t = _Growable(np.float64)
        self.fault = _Growable(np.int8)

    # -- public --------------------------------------------------------------------------
    def advance_to(self, now: float) -> None:
        """Generate every publication with ``t <= now`` (whole chunks, in order)."""
        while self._generated_until <= now and self._generated_until <= self.end_s:
            self._generate_chunk()

    def state_at(self, now: float) -> tuple[float, float] | None:
        """``(value, published_at)`` of the newest publication at or before ``now``."""
        self.advance_to(now)
        t = self.t.view
        i = int(np.searchsorted(t, now, side="right")) - 1
        if i < 0:
            return None
        return float(self.value.view[i]), float(t[i])

    @property
    def generated_until(self) -> float:
        """Publications strictly before this time are final."""
        return self._generated_until

    def publications(self, upto: float | None = None) -> dict[str, np.ndarray]:
        """Columns ``t_s, value, value_t_s, fault`` of the publications (``t <= upto``)."""
        n = len(self.t)
        if upto is not None:
            n = int(np.searchsorted(self.t.view, upto, side="right"))
        return {
            "t_s": self.t.view[:n].copy(),
            "value": self.value.view[:n].copy(),
            "value_t_s": self.value_t.view[:n].copy(),
            "fault": self.fault.view[:n].copy(),
        }

    # -- generation ----------------------------------------------------------------------
    def _generate_chunk(self) -> None:
        c = self._next_chunk
        a, b = c * self._chunk_s, (c + 1) * self._chunk_s
        self._next_chunk += 1
        self._generated_until = b
        cfg = self.cfg
        k0 = max(0, math.ceil((a - cfg.phase_s) / self._poll - _EPS))
        k1 = min(self._n_polls, max(0, math.ceil((b - cfg.phase_s) / self._poll - _EPS)))
        if k1 <= k0:
            return
        ks = np.arange(k0, k1, dtype=np.int64)
        t = cfg.phase_s + ks * self._poll
        v, vt, up, code = self._observe(t)
        self._scan(k0, t, v, vt, up, code)

    def _observe(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cfg = self.cfg
        n = len(t)
        obs_t = t - cfg.delay_s
        code = np.zeros(n, dtype=np.int8)
        windows = [(f, (t >= f.start_s) & (t < f.end_s)) for f in self.faults]
        for f, w in windows:
            if f.kind == "lag" and w.any():
                obs_t = np.where(w, obs_t - float(f.lag_s or 0.0), obs_t)
                code[w] = FAULT_CODES["lag"]
        obs_t = np.maximum(obs_t, 0.0)
        v = self._path(obs_t).astype(np.float64, copy=True)
        if cfg.noise > 0:
            v *= 1.0 + cfg.noise * self._rng.standard_normal(n)
        for f, w in windows:
            if f.kind == "lie" and w.any():
                v = np.where(w, v * (1.0 + float(f.bias or 0.0)), v)
                code[w] = FAULT_CODES["lie"]
        for i, (f, w) in enumerate(windows):
            if f.kind == "freeze" and w.any():
                if i not in self._frozen:
                    j = int(np.argmax(w))
                    self._frozen[i] = (float(v[j]), float(obs_t[j]))
                fv, ft = self._frozen[i]
                v = np.where(w, fv, v)
                obs_t = np.where(w, ft, obs_t)
                code[w] = FAULT_CODES["freeze"]
        up = np.ones(n, dtype=bool)
        for f, w in windows:
            if f.kind == "outage":
                up &= ~w
        return v, obs_t, up, code

    def _scan(
        self,
        k0: int,
        t: np.ndarray,
        v: np.ndarray,
        vt: np.ndarray,
        up: np.ndarray,
        code: np.ndarray,
    ) -> None:
        """Find this chunk's publications (local indices) and append them."""
        n = len(v)
        hb = self._hb
        dev = self.cfg.deviation
        pubs: list[np.ndarray] = []
        # p: local index of the last publication (negative = an earlier chunk); ref its value
        if self._last_k is None:
            first = np.flatnonzero(up)
            if len(first) == 0:
                return
            p = int(first[0])
            pubs.append(np.array([p]))
            ref = float(v[p])
        else:
            p = self._last_k - k0
            ref = self._last_v
        rows_cap = self._rows_cap
        while True:
            if p >= 0:
                # fast path: full heartbeat rows (p, p+H], (p+H, p+2H], ... inside the chunk
                n_rows = min(rows_cap, (n - 1 - p) // hb)
                if n_rows > 0:
                    lo = p + 1
                    hi = lo + n_rows * hb
                    vv = v[lo:hi].reshape(n_rows, hb)
                    uu = up[lo:hi].reshape(n_rows, hb)
                    refs = np.empty(n_rows)
                    refs[0] = ref
                    refs[1:] = vv[:-1, hb - 1]
                    if hb > 1:
                        moved = np.abs(vv[:, : hb - 1] / refs[:, None] - 1.0) >= dev
                        bad = (moved & uu[:, : hb - 1]).any(axis=1) | ~uu[:, hb - 1]
                    else:
                        bad = ~uu[:, 0]
                    r = int(np.argmax(bad)) if bad.any() else n_rows
                    if r > 0:
                        pubs.append(p + hb * np.arange(1, r + 1))
                        p += r * hb
                        ref = float(v[p])
                    if r == n_rows:
                        rows_cap = min(rows_cap * 2, 4096)
                        continue
                    rows_cap = 64
            q = self._next_pub(p, ref, v, up, hb, dev)
            if q is None:
                break
            pubs.append(np.array([q]))
            p, ref = q, float(v[q])
        self._rows_cap = rows_cap
        self._last_k = p + k0
        self._last_v = ref
        if pubs:
            idx = np.concatenate(pubs)
            self.t.extend(t[idx])
            self.value.extend(v[idx])
            self.value_t.extend(vt[idx])
            self.fault.extend(code[idx])

    @staticmethod
    def _next_pub(
        p: int, ref: float, v: np.ndarray, up: np.ndarray, hb: int, dev: float
    ) -> int | None:
        """The first publishing poll after local index ``p`` inside this chunk, or None."""
        n = len(v)
        start = max(p + 1, 0)
        due = max(p + hb, start)  # first index where the heartbeat alone publishes
        if due > start:
            seg = slice(start, min(due, n))
            hit = np.flatnonzero(up[seg] & (np.abs(v[seg] / ref - 1.0) >= dev))
            if len(hit):
                return start + int(hit[0])
        if due >= n:
            return None
        ups = np.flatnonzero(up[due:])
        return due + int(ups[0]) if len(ups) else None


def reference_publications(
    cfg: FeederConfig, t: np.ndarray, v: np.ndarray, up: np.ndarray
) -> list[int]:
    """The poll-by-poll rule as a plain loop (the specification :class:`Feeder` must match)."""
    hb = max(1, math.ceil(cfg.heartbeat_s / cfg.poll_s - _EPS))
    out: list[int] = []
    last_k: int | None = None
    last_v = 0.0
    for k in range(len(t)):
        if not up[k]:
            continue
        if last_k is None or k - last_k >= hb or abs(v[k] / last_v - 1.0) >= cfg.deviation:
            out.append(k)
            last_k, last_v = k, float(v[k])
    return out


def make_feeders(
    cfg: OraclesConfig, paths: ExogenousPaths, seeds: SeedTree, end_s: float
) -> list[Feeder]:
    """Every feeder of both feeds (``cdi`` then ``usdbrl``; primaries then secondaries), each
    with its own stream ``oracles.<feed>.<id>``."""
    out: list[Feeder] = []
    for feed in ("cdi", "usdbrl"):
        fc = getattr(cfg, feed)
        for role, group in (("primary", fc.primary), ("secondary", fc.secondary)):
            for f in group:
                out.append(
                    Feeder(
                        feed,
                        f,
                        role,
                        fc.faults,
                        paths.at_many(feed),
                        seeds.rng(f"oracles.{feed}.{f.id}"),
                        end_s,
                    )
                )
    return out


def _process(env: simpy.Environment, feeder: Feeder) -> Generator[Any, Any, None]:
    """Keep the feeder's publications generated one chunk ahead of simulated time."""
    while feeder.generated_until <= feeder.end_s:
        feeder.advance_to(env.now)
        yield env.timeout(max(feeder.generated_until - env.now, _EPS))


def start_feeders(env: simpy.Environment, feeders: Sequence[Feeder]) -> list[simpy.Process]:
    """Start one simpy process per feeder."""
    return [env.process(_process(env, f)) for f in feeders]

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
simulated time, on fixed boundaries) at a time; the chunk's observations are computed at once
(one block of ``standard_normal`` draws per chunk, in poll order, so the draws do not depend on
the chunking), and the publication scan runs row-wise over blocks of heartbeat-length rows:

- the regular case, "no deviation inside the row and up at its end", is decided for a whole
  block with one division and two comparisons (the deviation test ``|v/ref − 1| >= deviation``
  is exactly ``v/ref`` outside the open interval of :func:`deviation_thresholds`); the first
  deviation found in a block is the next publication; rows with an outage and the partial rows
  at a chunk's edges are resolved poll by poll (still vectorised over at most one heartbeat);
- a feeder that deviates often (a running mean of more than 1.5 deviation publications a chunk,
  e.g. a noisy secondary) scans its outage-free chunks with a candidate filter instead: a poll
  whose value is within the deviation band of every value of the heartbeat before it cannot
  deviate whatever its reference (sliding min/max), so only the few others are checked, in
  order, against the actual reference (:meth:`Feeder._scan_up`);
- a chunk untouched by faults skips the fault masks and the time arrays; with whole-second
  ``phase_s``/``poll_s``/``delay_s`` it reads the path as a strided slice of its grid
  (``path_grid``, e.g. :meth:`sim.world.ExogenousPaths.usdbrl_on_grid`) instead of indexing;
- a noise-free feeder whose path is constant over the chunk (``path_const``, e.g. the CDI between
  two policy decisions) needs no observations at all: its publications are the first due poll
  and then one per heartbeat (:meth:`Feeder._scan_constant`).

The resulting publications are exactly those of the poll-by-poll rule above
(``tests/sim/test_oracle_service.py`` checks it against :func:`reference_publications`).

A simpy process per feeder advances it chunk by chunk as simulated time passes; readers call
:meth:`Feeder.state_at`, which also advances on demand, so a read never misses a publication.

Every publication carries when its value was observed (``value_t_s``: ``t − delay_s`` less any
``lag``; under a ``freeze``, the observation the frozen value came from), and
:meth:`Feeder.state_at` hands it to the oracle service as a :class:`Publication`: freshness is
judged by that time, so a frozen feeder that keeps republishing on heartbeat still goes stale.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from sim.config.world import FaultConfig, FeederConfig, OraclesConfig

if TYPE_CHECKING:
    import simpy

    from sim.seeds import SeedTree
    from sim.world import ExogenousPaths

__all__ = [
    "FAULT_CODES",
    "Feeder",
    "Publication",
    "deviation_thresholds",
    "make_feeders",
    "reference_publications",
    "start_feeders",
]

#: Fault code stored per publication (``fault`` column of the oracle ticks).
FAULT_CODES = {"": 0, "freeze": 1, "lag": 2, "lie": 3}
FAULT_NAMES = ("", "freeze", "lag", "lie")
CHUNK_S = 21_600.0
#: above this many deviation publications a chunk (running mean), scan with the candidate filter
_DEVIATIONS_FOR_FILTER = 1.5
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

    def drop_front(self, k: int) -> None:
        """Forget the first ``k`` values (the others move to a new buffer; views handed out
        before keep the old one)."""
        rest = self._buf[k : self._n]
        buf = np.empty(max(256, 2 * len(rest)), dtype=self._buf.dtype)
        buf[: len(rest)] = rest
        self._buf, self._n = buf, len(rest)

    @property
    def view(self) -> np.ndarray:
        return self._buf[: self._n]

    def __len__(self) -> int:
        return self._n


class Publication(NamedTuple):
    """One publication: ``value``, published at ``published_at``, observed at ``observed_at``."""

    value: float
    published_at: float
    observed_at: float


def deviation_thresholds(deviation: float) -> tuple[float, float]:
    """``(lo, hi)`` such that for every float64 ``x`` (inf and NaN included)
    ``abs(x - 1.0) >= deviation``  <=>  ``x <= lo or x >= hi``, evaluated in IEEE double.

    ``x - 1.0`` is monotone in ``x`` (IEEE rounding is monotone), so the polls where
    ``abs(v / ref - 1) >= deviation`` holds are exactly those whose ratio ``v / ref`` is outside
    ``(lo, hi)``; the scan compares the ratio with these two constants instead of computing
    ``abs(ratio - 1)`` (same decisions, two fewer array passes)."""
    if not 0.0 < deviation < math.inf:
        raise ValueError(f"deviation={deviation!r}: must be a finite number > 0")

    def up(x: float) -> bool:
        return x - 1.0 >= deviation

    def down(x: float) -> bool:
        return x - 1.0 <= -deviation

    hi = 1.0 + deviation
    while up(math.nextafter(hi, -math.inf)):
        hi = math.nextafter(hi, -math.inf)
    while not up(hi):
        hi = math.nextafter(hi, math.inf)
    lo = 1.0 - deviation
    while down(math.nextafter(lo, math.inf)):
        lo = math.nextafter(lo, math.inf)
    while not down(lo):
        lo = math.nextafter(lo, -math.inf)
    return lo, hi


class Feeder:
    """One feeder of one feed; its publications are generated chunk by chunk, in order.

    ``path_many(obs_t)`` gives the true path at an array of times. ``path_grid(t0, step, n)``
    (optional) gives ``path_many(t0 + k·step for k < n)`` as an array (usually a strided view of
    the path's own grid) or ``None`` when it cannot do so exactly; it is used only when the
    feeder's ``phase_s``, ``poll_s`` and ``delay_s`` are whole seconds, so that every
    observation time is an exact integer."""

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
        path_grid: Callable[[float, float, int], np.ndarray | None] | None = None,
        path_const: Callable[[float, float], float | None] | None = None,
    ) -> None:
        self.feed = feed
        self.cfg = cfg
        self.id = cfg.id
        self.role = role
        self.faults = tuple(f for f in faults if f.feeder == cfg.id)
        self._spans = tuple((float(f.start_s), float(f.end_s)) for f in self.faults)
        self._path = path_many
        whole = all(float(x).is_integer() for x in (cfg.phase_s, cfg.poll_s, cfg.delay_s))
        self._path_grid = path_grid if whole else None
        self._path_const = path_const
        self._rng = rng
        self.end_s = float(end_s)
        self._chunk_s = float(chunk_s)
        self._poll = cfg.poll_s
        self._hb = max(1, math.ceil(cfg.heartbeat_s / cfg.poll_s - _EPS))
        self._lo, self._hi = deviation_thresholds(cfg.deviation)
        self._n_polls = max(0, math.floor((self.end_s - cfg.phase_s) / cfg.poll_s + _EPS) + 1)
        self._next_chunk = 0  # index of the next chunk to generate
        self._generated_until = 0.0  # publications with t < this are final
        self._last_k: int | None = None
        self._last_v = math.nan
        self._frozen: dict[int, tuple[float, float]] = {}  # fault index -> (value, value_t)
        self._rows_cap = 64  # adaptive block size of the scan (rows of one heartbeat)
        self._gap_rows = 64.0  # running mean of regular rows between two deviations
        self._deviations = 0.0  # running mean of deviation publications a chunk
        # read cursor: state_at(now) is _cur for _cur_lo <= now < _cur_hi
        self._cur: Publication | None = None
        self._cur_i = -1
        self._hb_s = self._hb * cfg.poll_s  # publication spacing without deviations
        self._cur_lo = math.inf
        self._cur_hi = -math.inf
        self._forgotten_before = -math.inf  # forget_before: no read before this
        self.t = _Growable(np.float64)
        self.value = _Growable(np.float64)
        self.value_t = _Growable(np.float64)
        self.fault = _Growable(np.int8)

    # -- public --------------------------------------------------------------------------
    def advance_to(self, now: float) -> None:
        """Generate every publication with ``t <= now`` (whole chunks, in order)."""
        while self._generated_until <= now and self._generated_until <= self.end_s:
            self._generate_chunk()

    def state_at(self, now: float) -> Publication | None:
        """The newest publication at or before ``now`` (``None`` before the first one).

        The answer and the interval of ``now`` over which it holds (up to the next publication,
        or to :attr:`generated_until`) are cached, so repeated reads between two publications
        cost one comparison. Otherwise the index is first guessed from the heartbeat spacing
        (publications are mostly one heartbeat apart) and checked, then found by a binary search
        when the guess is wrong."""
        if self._cur_lo <= now < self._cur_hi:
            return self._cur
        if now < self._forgotten_before:
            raise ValueError(
                f"feeder {self.id} state_at now={now}: publications before "
                f"{self._forgotten_before} were forgotten"
            )
        if now >= self._generated_until:
            self.advance_to(now)
        n = self.t._n
        tv = self.t._buf
        i = -1
        if self._cur is not None and now >= self._cur_lo:  # forward from the cached index
            j = self._cur_i + int((now - self._cur_lo) / self._hb_s)
            if j >= n:
                j = n - 1
            if tv.item(j) <= now and (j + 1 == n or now < tv.item(j + 1)):
                i = j
        if i < 0:
            i = int(tv[:n].searchsorted(now, side="right")) - 1
        hi = tv.item(i + 1) if i + 1 < n else self._generated_until
        if i < 0:
            self._cur, self._cur_lo, self._cur_hi = None, -math.inf, hi
            return None
        t_i = tv.item(i)
        self._cur = Publication(self.value._buf.item(i), t_i, self.value_t._buf.item(i))
        self._cur_i, self._cur_lo, self._cur_hi = i, t_i, hi
        return self._cur

    def forget_before(self, t_s: float) -> None:
        """Drop the publications older than the newest one at or before ``t_s``: what
        :meth:`state_at` needs for any ``now >= t_s`` is kept, and an earlier read raises
        afterwards. A run calls this once those rows are written out, so memory stays flat."""
        k = int(self.t.view.searchsorted(t_s, side="right")) - 1  # newest at or before t_s
        self._forgotten_before = max(self._forgotten_before, t_s)
        if k <= 0:
            return
        for col in (self.t, self.value, self.value_t, self.fault):
            col.drop_front(k)
        if self._cur is not None and self._cur_i >= k:
            self._cur_i -= k
        else:  # the cached answer's row is gone: look it up again
            self._cur, self._cur_i, self._cur_lo, self._cur_hi = None, -1, math.inf, -math.inf

    @property
    def generated_until(self) -> float:
        """Publications strictly before this time are final."""
        return self._generated_until

    def publications(self, upto: float | None = None) -> dict[str, np.ndarray]:
        """Columns ``t_s, value, value_t_s, fault`` of the publications kept (``t <= upto``;
        all of them unless :meth:`forget_before` dropped the oldest)."""
        n = len(self.t)
        if upto is not None:
            n = int(np.searchsorted(self.t.view, upto, side="right"))
        return {
            "t_s": self.t.view[:n].copy(),
            "value": self.value.view[:n].copy(),
            "value_t_s": self.value_t.view[:n].copy(),
            "fault": self.fault.view[:n].copy(),
        }

    def publication_views(self, upto: float | None = None) -> dict[str, np.ndarray]:
        """:meth:`publications` as read-only views of the feeder's own columns (no copy; they
        stay valid, later publications go to new rows)."""
        n = len(self.t)
        if upto is not None:
            n = int(self.t.view.searchsorted(upto, side="right"))
        out = {
            "t_s": self.t.view[:n],
            "value": self.value.view[:n],
            "value_t_s": self.value_t.view[:n],
            "fault": self.fault.view[:n],
        }
        for a in out.values():
            a.flags.writeable = False
        return out

    # -- generation ----------------------------------------------------------------------
    def _generate_chunk(self) -> None:
        c = self._next_chunk
        a, b = c * self._chunk_s, (c + 1) * self._chunk_s
        self._next_chunk += 1
        self._generated_until = b
        cfg = self.cfg
        poll = self._poll
        k0 = max(0, math.ceil((a - cfg.phase_s) / poll - _EPS))
        k1 = min(self._n_polls, max(0, math.ceil((b - cfg.phase_s) / poll - _EPS)))
        if k1 <= k0:
            return
        t_first = cfg.phase_s + k0 * poll  # == t[0] below, bit for bit
        t_last = cfg.phase_s + (k1 - 1) * poll
        vt: np.ndarray | None = None
        up: np.ndarray | None = None
        code: np.ndarray | None = None
        faulty = any(s <= t_last and e > t_first for s, e in self._spans)
        level = None  # the path's value when it is flat over every observation of the chunk
        if not faulty and cfg.noise == 0.0 and self._path_const is not None:
            obs0, obs1 = max(t_first - cfg.delay_s, 0.0), max(t_last - cfg.delay_s, 0.0)
            level = self._path_const(obs0, obs1)
        if level is not None:
            idx = self._scan_constant(k0, k1 - k0, level)
            values = np.full(len(idx), level)
        else:
            if faulty:
                t = cfg.phase_s + np.arange(k0, k1, dtype=np.int64) * poll
                v, vt, up, code = self._observe(t)
                if up.all():
                    up = None
            else:
                v = self._observe_regular(k0, k1 - k0, t_first)
            idx = self._scan(k0, v, up)
            values = v[idx]
        if len(idx) == 0:
            return
        t_pub = cfg.phase_s + (idx + k0) * poll  # same arithmetic as t above
        self.t.extend(t_pub)
        self.value.extend(values)
        if vt is None:
            vt_pub = t_pub - cfg.delay_s
            self.value_t.extend(np.maximum(vt_pub, 0.0, out=vt_pub))
        else:
            self.value_t.extend(vt[idx])
        if code is None:
            self.fault.extend(np.zeros(len(idx), dtype=np.int8))
        else:
            self.fault.extend(code[idx])

    def _observe_regular(self, k0: int, n: int, t_first: float) -> np.ndarray:
        """:meth:`_observe` of polls ``k0 .. k0+n-1`` when no fault touches them: the same
        values (``path(max(t − delay, 0))·(1 + noise·Z)``, the same draws), without building
        the time arrays when the path can hand out its grid directly."""
        cfg = self.cfg
        obs0 = t_first - cfg.delay_s
        p = None
        if self._path_grid is not None and obs0 >= 0.0:
            p = self._path_grid(obs0, self._poll, n)
        if p is None:
            obs_t = cfg.phase_s + np.arange(k0, k0 + n, dtype=np.int64) * self._poll
            obs_t -= cfg.delay_s
            p = self._path(np.maximum(obs_t, 0.0, out=obs_t))
        if cfg.noise > 0:
            z = self._rng.standard_normal(n)
            z *= cfg.noise
            z += 1.0
            z *= p
            return z
        return np.asarray(p, dtype=np.float64)

    def _observe(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Observations at poll times ``t`` with every fault applied:
        ``(value, value_t, up, fault code)``."""
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

    def _scan(self, k0: int, v: np.ndarray, up: np.ndarray | None) -> np.ndarray:
        """This chunk's publications as local poll indices (``up`` None: always up).

        Two exact methods: the row scan (cheapest when deviations are rare) and, for a chunk
        that is all up, the candidate filter of :meth:`_scan_up` (cheapest when they are
        frequent, e.g. a noisy feeder); the choice follows the running number of deviation
        publications (gaps shorter than a heartbeat) a chunk."""
        idx = None
        if up is None and self._deviations > _DEVIATIONS_FOR_FILTER:
            idx = self._scan_up(k0, v)
        if idx is None:
            idx = self._scan_rows(k0, v, up)
        deviations = int(np.count_nonzero(np.diff(idx) < self._hb)) if len(idx) > 1 else 0
        self._deviations += 0.5 * (deviations - self._deviations)
        return idx

    def _scan_rows(self, k0: int, v: np.ndarray, up: np.ndarray | None) -> np.ndarray:
        """:meth:`_scan` by blocks of heartbeat rows (see the module docstring)."""
        n = len(v)
        hb = self._hb
        pubs: list[np.ndarray] = []
        # p: local index of the last publication (negative = an earlier chunk); ref its value
        if self._last_k is None:
            if up is None:
                p = 0
            else:
                first = np.flatnonzero(up)
                if len(first) == 0:
                    return np.zeros(0, dtype=np.int64)
                p = int(first[0])
            pubs.append(np.array([p], dtype=np.int64))
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
                    r, q = self._regular_rows(v, up, p, n_rows, ref)
                    if r > 0:
                        pubs.append(p + hb * np.arange(1, r + 1, dtype=np.int64))
                        p += r * hb
                        ref = float(v[p])
                    if r == n_rows:
                        rows_cap = min(rows_cap * 2, 4096)
                        continue
                    # a deviation after r regular rows: size the next block to a few times the
                    # running mean gap between deviations, so most deviations cost one block
                    self._gap_rows += 0.25 * (r - self._gap_rows)
                    rows_cap = max(32, int(4.0 * self._gap_rows))
                    if q >= 0:
                        pubs.append(np.array([q], dtype=np.int64))
                        p, ref = q, float(v[q])
                        continue
            q = self._next_pub(p, ref, v, up)
            if q is None:
                break
            pubs.append(np.array([q], dtype=np.int64))
            p, ref = q, float(v[q])
        self._rows_cap = rows_cap
        self._last_k = p + k0
        self._last_v = ref
        if not pubs:
            return np.zeros(0, dtype=np.int64)
        return pubs[0] if len(pubs) == 1 else np.concatenate(pubs)

    def _scan_up(self, k0: int, v: np.ndarray) -> np.ndarray:
        """:meth:`_scan` of a chunk whose polls are all up, through a candidate filter.

        While a feeder is up, publications are at most ``H`` polls apart, so the reference of
        poll ``k`` is one of ``v[k−H .. k−1]`` (once the chunk has had its first publication).
        With every value positive and finite, ``v[k]/ref`` then lies between
        ``v[k]/max(window)`` and ``v[k]/min(window)`` (IEEE division is monotone), so a poll
        whose two bounds are both inside ``(lo, hi)`` can never deviate, whatever the
        reference. Only the other polls ("candidates"; the first ``H`` of the chunk always are)
        are checked one by one against the actual reference, in order; between candidates the
        feeder publishes exactly every heartbeat. Returns None when a value is not positive and
        finite (the caller uses the row scan)."""
        n = len(v)
        hb = self._hb
        lo, hi = self._lo, self._hi
        if n <= hb:
            cands = np.arange(n)
        else:
            if not (v.min() > 0.0 and v.max() < math.inf):
                return None
            mn = mx = v[:-1]
            w = 1  # mn[i] = min(v[i .. i+w-1]) (sliding, by doubling)
            while 2 * w <= hb:
                mn = np.minimum(mn[:-w], mn[w:])
                mx = np.maximum(mx[:-w], mx[w:])
                w *= 2
            if w < hb:
                d = hb - w
                mn = np.minimum(mn[:-d], mn[d:])
                mx = np.maximum(mx[:-d], mx[d:])
            vk = v[hb:]  # poll k = i + H, window v[i .. i+H-1]
            flag = vk / mn >= hi
            flag |= vk / mx <= lo
            cands = np.concatenate([np.arange(hb), np.flatnonzero(flag) + hb])
        starts: list[int] = []  # publications as runs: start, count (step H)
        counts: list[int] = []
        if self._last_k is None:
            p, ref = 0, v.item(0)
            starts.append(0)
            counts.append(1)
        else:
            p, ref = self._last_k - k0, self._last_v
        for c in cands.tolist():
            if c <= p:
                continue
            if p >= 0:
                m = (c - 1 - p) // hb  # heartbeats strictly before c
                if m > 0:
                    starts.append(p + hb)
                    counts.append(m)
                    p += m * hb
                    ref = v.item(p)
            if c < p + hb:  # heartbeat not due at c: the deviation test decides
                r = v.item(c) / ref
                if not (r >= hi or r <= lo):
                    continue
            starts.append(c)
            counts.append(1)
            p, ref = c, v.item(c)
        if p < 0:  # no publication in this chunk: it ends before the heartbeat is due
            return np.zeros(0, dtype=np.int64)
        m = (n - 1 - p) // hb
        if m > 0:
            starts.append(p + hb)
            counts.append(m)
            p += m * hb
            ref = v.item(p)
        self._last_k = p + k0
        self._last_v = ref
        if not starts:
            return np.zeros(0, dtype=np.int64)
        st = np.asarray(starts, dtype=np.int64)
        ct = np.asarray(counts, dtype=np.int64)
        total = int(ct.sum())
        first = np.cumsum(ct) - ct  # position of each run's first element
        return np.repeat(st - hb * first, ct) + hb * np.arange(total, dtype=np.int64)

    def _scan_constant(self, k0: int, n: int, c: float) -> np.ndarray:
        """:meth:`_scan` of ``n`` up polls that all observe the same value ``c``: the first
        publication is at the first poll if ``c`` deviates from the last published value (or
        there is none), else when the heartbeat is due; after it, one every heartbeat."""
        hb = self._hb
        if self._last_k is None:
            q = 0
        else:
            p = self._last_k - k0
            start = max(p + 1, 0)
            ratio = c / self._last_v
            q = start if ratio >= self._hi or ratio <= self._lo else max(p + hb, start)
        if q >= n:
            return np.zeros(0, dtype=np.int64)
        idx = np.arange(q, n, hb, dtype=np.int64)
        self._last_k = int(idx[-1]) + k0
        self._last_v = c
        return idx

    def _regular_rows(
        self, v: np.ndarray, up: np.ndarray | None, p: int, n_rows: int, ref: float
    ) -> tuple[int, int]:
        """``(r, q)``: how many of the heartbeat rows after the publication ``p`` (value
        ``ref``) are regular — no deviation in their first ``H − 1`` polls and up at their last,
        so that each publishes exactly at its end, whose value is the next row's reference —
        and, when row ``r`` is not, its deviation poll if it is known to publish (else -1: the
        caller resolves it poll by poll)."""
        hb = self._hb
        lo = p + 1
        hi = lo + n_rows * hb
        if hb == 1:
            if up is None:
                return n_rows, -1
            bad = ~up[lo:hi]
        else:
            vv = v[lo:hi].reshape(n_rows, hb)
            refs = np.empty(n_rows)
            refs[0] = ref
            refs[1:] = vv[:-1, hb - 1]
            ratio = vv / refs[:, None]
            if up is None:
                # one test for the whole block (NaN fails it and goes the exact way below)
                if ratio.max() < self._hi and ratio.min() > self._lo:
                    return n_rows, -1
                # the first deviation outside a row's last (heartbeat) column is the next
                # publication: every row before it was regular, so its reference is right
                moved = ratio >= self._hi
                moved |= ratio <= self._lo
                moved[:, hb - 1] = False
                flat = moved.reshape(-1)
                j = int(np.argmax(flat))
                return (j // hb, lo + j) if flat[j] else (n_rows, -1)
            uu = up[lo:hi].reshape(n_rows, hb)
            head = ratio[:, : hb - 1]
            moved = (head >= self._hi) | (head <= self._lo)
            bad = (moved & uu[:, : hb - 1]).any(axis=1) | ~uu[:, hb - 1]
        return (int(np.argmax(bad)), -1) if bad.any() else (n_rows, -1)

    def _next_pub(self, p: int, ref: float, v: np.ndarray, up: np.ndarray | None) -> int | None:
        """The first publishing poll after local index ``p`` inside this chunk, or None."""
        n = len(v)
        hb = self._hb
        start = max(p + 1, 0)
        due = max(p + hb, start)  # first index where the heartbeat alone publishes
        if due > start:
            end = min(due, n)
            ratio = v[start:end] / ref
            hit = (ratio >= self._hi) | (ratio <= self._lo)
            if up is not None:
                hit &= up[start:end]
            j = np.flatnonzero(hit)
            if len(j):
                return start + int(j[0])
        if due >= n:
            return None
        if up is None:
            return due
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
                        path_grid=paths.on_grid(feed),
                        path_const=paths.constant_on(feed),
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

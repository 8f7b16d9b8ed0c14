"""Dynamic batching of PD requests in simulated time (simpy).

Rule
----
- The first request into an empty batch opens it and arms a timer of ``max_batch_delay_ms``.
- Requests arriving before the timer fires join the batch; the batch dispatches when the
  timer fires or, at once, when it reaches ``max_batch_size`` (the timer of a full batch is
  void). ``max_batch_size = 1`` is one-row scoring (no wait at all).
- At dispatch the rows are scored together (one ONNX Runtime call); the batch's inference
  takes ``inference_ms(n)`` of simulated time, after which the batch's event succeeds with a
  :class:`ScoredBatch`; request ``k`` of the batch reads ``batch[k] = (pd, wait_ms, infer_ms,
  batch_size)``: ``wait_ms`` = dispatch time - arrival time (<= ``max_batch_delay_ms``),
  ``infer_ms`` = the batch's inference time.
- Serving capacity is not limited: a batch starts as soon as it dispatches (no queue behind
  an earlier batch). Scale-out / throttling hooks can add a queue later at :meth:`_dispatch`.

Cost: no simpy process and no simpy event per request — ``submit`` appends to a preallocated
row buffer and returns the open batch's event with the request's index in it; each batch costs
three events (its timer, unless it fills first; its inference timeout; and its completion,
succeeded by the timeout's callback), however many requests it holds. Only simpy's public API
is used. So a batch of ``n`` wakes its ``n`` waiters from one event::

    ev, k = batcher.submit(row)
    pd, wait_ms, infer_ms, batch_size = (yield ev)[k]

A scorer with ``score_rows`` (:class:`~sim.model.serving.PDScorer`) is called through it on the
buffer's first ``n`` rows (already float32, C-contiguous), skipping ``score``'s conversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

__all__ = ["DynamicBatcher", "ScoredBatch"]


class ScoredBatch:
    """The value of a batch's event: its PDs and waits in submission order, its inference
    time (ms) and size. ``batch[k]`` is request ``k``'s ``(pd, wait_ms, infer_ms, size)``."""

    __slots__ = ("infer_ms", "pds", "size", "waits_ms")

    def __init__(self, pds: list[float], waits_ms: list[float], infer_ms: float) -> None:
        self.pds = pds
        self.waits_ms = waits_ms
        self.infer_ms = infer_ms
        self.size = len(pds)

    def __getitem__(self, k: int) -> tuple[float, float, float, int]:
        return self.pds[k], self.waits_ms[k], self.infer_ms, self.size

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"ScoredBatch(size={self.size}, infer_ms={self.infer_ms})"


class DynamicBatcher:
    """Batch requests for ``scorer.score`` in simulated time (see the module docstring).

    ``scorer`` is anything with ``score(X: (n, F) float32) -> (n,) array`` (a
    :class:`~sim.model.serving.PDScorer`); ``inference_ms(n)`` gives the simulated inference
    time of an ``n``-row batch in milliseconds. Simulated time is in seconds.
    """

    def __init__(
        self,
        env: simpy.Environment,
        scorer: Any,
        max_batch_size: int,
        max_batch_delay_ms: float,
        inference_ms: Callable[[int], float],
        *,
        n_features: int | None = None,
    ) -> None:
        if isinstance(max_batch_size, bool) or int(max_batch_size) != max_batch_size:
            raise ValueError(f"max_batch_size={max_batch_size!r}: must be an integer >= 1")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size={max_batch_size}: must be >= 1")
        if not max_batch_delay_ms >= 0:
            raise ValueError(f"max_batch_delay_ms={max_batch_delay_ms}: must be >= 0")
        self._env = env
        self._scorer = scorer
        # the scorer's no-conversion entry point when it has one (the row buffer is already
        # C-contiguous float32 of the model's width): same PDs, less per-call overhead
        self._score = getattr(scorer, "score_rows", None) or scorer.score
        self._max = int(max_batch_size)
        self._delay_s = float(max_batch_delay_ms) / 1000.0
        self._inference_ms = inference_ms
        nf = n_features if n_features is not None else getattr(scorer, "n_features", None)
        self._buf: np.ndarray | None = (
            np.empty((self._max, int(nf)), dtype=np.float32) if nf else None
        )
        self._done: simpy.Event | None = None  # the open batch's completion
        self._arrivals: list[float] = []
        self._generation = 0  # identifies the open batch, voids stale timers
        # statistics
        self._n_batches = 0
        self._n_requests = 0
        self._n_full = 0
        self._waits_ms: list[float] = []
        self._infers_ms: list[float] = []

    # ------------------------------------------------------------------ hot path
    def submit(self, x_row: np.ndarray) -> tuple[simpy.Event, int]:
        """Queue one feature row (F,); returns ``(event, k)``: the batch's event, whose value
        (a :class:`ScoredBatch`) gives ``(pd, wait_ms, infer_ms, batch_size)`` at ``[k]``."""
        arrivals = self._arrivals
        k = len(arrivals)
        if self._buf is None:
            self._buf = np.empty((self._max, np.shape(x_row)[-1]), dtype=np.float32)
        self._buf[k] = x_row
        arrivals.append(self._env.now)
        if k == 0:
            self._done = done = self._env.event()
            if self._max > 1:
                timer = self._env.timeout(self._delay_s, self._generation)
                timer.callbacks.append(self._on_timer)
        else:
            done = self._done
        if k + 1 >= self._max:
            self._dispatch()
        return done, k

    def _on_timer(self, timer: simpy.Event) -> None:
        if timer.value == self._generation and self._arrivals:
            self._dispatch()

    def _dispatch(self) -> None:
        arrivals, done = self._arrivals, self._done
        n = len(arrivals)
        self._arrivals, self._done = [], None
        self._generation += 1
        assert self._buf is not None
        pds = self._score(self._buf[:n]).tolist()
        infer_ms = float(self._inference_ms(n))
        now = self._env.now
        self._n_batches += 1
        self._n_requests += n
        self._n_full += n == self._max
        self._infers_ms.append(infer_ms)
        waits = [(now - a) * 1000.0 for a in arrivals]
        self._waits_ms.extend(waits)
        assert done is not None
        inference = self._env.timeout(infer_ms / 1000.0, ScoredBatch(pds, waits, infer_ms))
        inference.callbacks.append(lambda ev: done.succeed(ev.value))

    def flush(self) -> None:
        """Dispatch the open batch now (e.g. at the end of a run)."""
        if self._arrivals:
            self._dispatch()

    # ------------------------------------------------------------------ stats
    @property
    def pending(self) -> int:
        """Requests in the open (not yet dispatched) batch."""
        return len(self._arrivals)

    @property
    def max_batch_size(self) -> int:
        return self._max

    @property
    def max_batch_delay_ms(self) -> float:
        return self._delay_s * 1000.0

    def stats(self) -> dict[str, float | int]:
        """Batches, requests, mean batch size, share of full batches, wait and inference
        percentiles (ms). NaN where nothing was dispatched."""
        waits = np.asarray(self._waits_ms, dtype=np.float64)
        infers = np.asarray(self._infers_ms, dtype=np.float64)
        nan = float("nan")

        def pct(a: np.ndarray, q: float) -> float:
            return float(np.percentile(a, q)) if a.size else nan

        return {
            "batches": self._n_batches,
            "requests": self._n_requests,
            "mean_batch_size": self._n_requests / self._n_batches if self._n_batches else nan,
            "full_batch_share": self._n_full / self._n_batches if self._n_batches else nan,
            "wait_ms_p50": pct(waits, 50),
            "wait_ms_p95": pct(waits, 95),
            "wait_ms_max": float(waits.max()) if waits.size else nan,
            "infer_ms_p50": pct(infers, 50),
            "infer_ms_p95": pct(infers, 95),
        }

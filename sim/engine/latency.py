"""Latency model of *time to valid price*, in simulated milliseconds.

Components (``latency`` section, :class:`sim.config.market.LatencyConfig`): ``network`` (the
request reaching the decision core), ``oracle_read`` (fetching the CDI answer), ``pricing``
(building the quote) — each ``median_ms * exp(sigma * Z)`` capped at ``max_ms`` — and the
model's inference cost per batch, ``model.inference_ms(n) * exp(inference_sigma * Z)``; the
batch wait comes from the dynamic batcher.

:class:`LatencySampler` pre-draws standard normals in blocks from its own generator (one per
component, so adding a draw of one kind never shifts another), which keeps a draw to a list
index and one ``exp``. Deterministic given the generators.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from sim.config.market import LatencyConfig, LogNormalMs

__all__ = ["LatencySampler"]

_BLOCK = 4096


class _Stream:
    """Draws of one lognormal component, from its own generator, in blocks."""

    __slots__ = ("_buf", "_cap", "_i", "_median", "_rng", "_sigma")

    def __init__(self, median: float, sigma: float, cap: float, rng: np.random.Generator):
        self._median = median
        self._sigma = sigma
        self._cap = cap
        self._rng = rng
        self._buf: list[float] = []
        self._i = 0

    def __call__(self) -> float:
        i = self._i
        buf = self._buf
        if i >= len(buf):
            z = self._rng.standard_normal(_BLOCK)
            buf = self._buf = np.minimum(self._median * np.exp(self._sigma * z), self._cap).tolist()
            i = 0
        self._i = i + 1
        return buf[i]


class LatencySampler:
    """Samples the latency components of one run (ms)."""

    def __init__(
        self,
        cfg: LatencyConfig,
        inference_ms: Callable[[int], float],
        rngs: Callable[[str], np.random.Generator],
    ) -> None:
        """``inference_ms(n)`` is the model's deterministic cost of a batch of n rows;
        ``rngs(name)`` returns the generator of a named component (``SeedTree.rng``)."""

        def stream(c: LogNormalMs, name: str) -> _Stream:
            return _Stream(c.median_ms, c.sigma, c.max_ms, rngs(f"latency.{name}"))

        self.network = stream(cfg.network, "network")
        self.oracle_read = stream(cfg.oracle_read, "oracle_read")
        self.pricing = stream(cfg.pricing, "pricing")
        self._jitter = _Stream(1.0, cfg.inference_sigma, math.inf, rngs("latency.inference"))
        self._inference_ms = inference_ms

    def inference(self, batch_size: int) -> float:
        """Simulated cost (ms) of scoring one batch of ``batch_size`` rows."""
        return self._inference_ms(batch_size) * self._jitter()

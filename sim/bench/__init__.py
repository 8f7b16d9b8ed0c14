"""Benchmarks behind ``ce bench``: each area has a module with ``run(quick: bool) -> dict``.

Numbers are measured here and printed as JSON; no test asserts on timings.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterable
from typing import IO, Any

__all__ = ["BENCHMARKS", "run_benchmarks"]


def _discover() -> dict[str, str]:
    import pkgutil

    names = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    return {n: f"{__name__}.{n}" for n in names}


#: benchmark name -> module under ``sim.bench`` providing ``run(quick: bool) -> dict``;
#: every public module of this package is a benchmark.
BENCHMARKS: dict[str, str] = _discover()


def run_benchmarks(
    names: Iterable[str], *, quick: bool = False, progress: IO[str] | None = None
) -> dict[str, Any]:
    """Run the named benchmarks in order and return ``{name: result}``."""
    out: dict[str, Any] = {}
    for name in names:
        if progress is not None:
            print(f"bench: {name} ...", file=progress, flush=True)
        t0 = time.perf_counter()
        module = importlib.import_module(BENCHMARKS[name])
        out[name] = module.run(quick=quick)
        if progress is not None:
            print(
                f"bench: {name} done in {time.perf_counter() - t0:.1f} s", file=progress, flush=True
            )
    return out

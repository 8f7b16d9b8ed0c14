"""One ``numpy.random.SeedSequence`` per run, one independent stream per named component.

``SeedTree(seed).rng("borrowers.arrivals")`` returns a ``numpy.random.Generator`` whose stream
depends only on the run's ``seed`` and the component's *name*: the name is hashed with SHA-256
into a 4-word (128-bit) ``spawn_key``, so the streams do not depend on the order in which
components ask for them, on how many components exist, or on the Python process (no ``hash()``
of ``str``). Streams of different names are statistically independent (SeedSequence mixing of
distinct spawn keys).

Each call to :meth:`SeedTree.rng` returns a *fresh* generator at the start of the component's
stream: a component asks once and keeps it. :meth:`SeedTree.as_dict` lists the root entropy and
the spawn key of every component asked for so far, for the run manifest.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

__all__ = ["SeedTree", "spawn_key"]

_NAME_MAX = 200


def spawn_key(component: str) -> tuple[int, int, int, int]:
    """Stable 128-bit spawn key of a component name: SHA-256 of the UTF-8 name, first 4 words."""
    if not isinstance(component, str) or not component or len(component) > _NAME_MAX:
        raise ValueError(
            f"component={component!r}: must be a non-empty string of at most {_NAME_MAX} chars"
        )
    digest = hashlib.sha256(component.encode("utf-8")).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return (words[0], words[1], words[2], words[3])


class SeedTree:
    """The seed tree of one run: a root ``SeedSequence(seed)`` and named children."""

    def __init__(self, seed: int) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"seed={seed!r}: must be an integer >= 0")
        self._seed = int(seed)
        self._used: dict[str, tuple[int, ...]] = {}

    @property
    def seed(self) -> int:
        """The run's root seed (the root SeedSequence's entropy)."""
        return self._seed

    def seed_sequence(self, component: str) -> np.random.SeedSequence:
        """The component's ``SeedSequence`` (root entropy + the name's spawn key)."""
        key = spawn_key(component)
        self._used[component] = key
        return np.random.SeedSequence(entropy=self._seed, spawn_key=key)

    def rng(self, component: str) -> np.random.Generator:
        """A fresh PCG64 ``Generator`` at the start of the component's stream."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(component)))

    def as_dict(self) -> dict[str, Any]:
        """``{"seed", "bit_generator", "key_derivation", "components": {name: spawn_key}}``
        with components sorted by name (JSON-able)."""
        return {
            "seed": self._seed,
            "bit_generator": "PCG64",
            "key_derivation": "spawn_key = first 4 little-endian uint32 words of sha256(name)",
            "components": {name: list(self._used[name]) for name in sorted(self._used)},
        }

    def __repr__(self) -> str:
        return f"SeedTree(seed={self._seed}, components={len(self._used)})"

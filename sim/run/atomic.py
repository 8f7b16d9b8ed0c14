"""Atomic file writes for ``sim``: write a temp file beside the target, fsync, ``os.replace``.

A reader never sees a half-written file, and an interrupted write leaves the old file (or
nothing) in place. Run directories are made atomic one level up, by renaming a staging
directory (:mod:`sim.run.rundir`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_target", "atomic_write_bytes"]


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path``; when the block succeeds, fsync it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data)

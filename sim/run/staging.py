"""Who owns a hidden staging folder in a runs parent, and removing those of dead runs.

A :class:`~sim.run.rundir.RunStage` builds its run in ``<parent>/.staging-<key>/`` and, while
committing over an existing run of the same name, moves that run aside to
``<parent>/.old-<key>/``. The key is ``<run name>-<pid>-<8 hex>``: the owner's pid for people
reading the folder, random hex so that a reused pid never gives the same key.

Ownership is an exclusive ``flock`` on ``<parent>/.staging-<key>.lock``, held from before the
staging folder exists until after both folders are gone (:class:`StageLock`). The kernel
releases it when the owner dies, however it dies (SIGKILL included), so "its lock can be taken"
means "its owner is dead" — without pids, whose reuse makes "pid alive" unreliable, or clocks.
A lock file is created, then locked, then checked to be still the file at its path (a sweeper
that took it in between removes it, and the owner then starts over with a new key), so a
staging folder never exists without a lock file that is held or whose owner is dead.

:func:`remove_stale` (run by every new stage, so at the next run into the same parent) takes
each lock it can and, holding it, removes what the dead owner left:

- ``.staging-<key>/``, complete (with a manifest) or not: the run never finished its commit,
  never reported success, and the run directory it was to replace is untouched;
- ``.old-<key>/`` when ``<name>/`` exists: a superseded copy of the run;
- ``.old-<key>/`` when ``<name>/`` does not exist and ``.staging-<key>/`` does: the owner died
  between its two renames, so ``.old-<key>/`` is the complete run the commit was replacing; it
  is renamed back to ``<name>/`` (the state before the interrupted commit) rather than deleted;
- an ``.old-<key>/`` with neither (only possible if someone removed ``<name>/`` by hand after
  the commit) is left alone: it may be the only copy of a run.

Folders without a lock file are from versions before locks; each is treated as dead only when
its key's pid is not a live process on this machine (a reused pid keeps it, never the reverse).
Locks need a filesystem with working ``flock`` (local disks; NFS emulates it with POSIX locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import BinaryIO

__all__ = ["OLD_PREFIX", "STAGING_PREFIX", "StageLock", "remove_stale"]

STAGING_PREFIX = ".staging-"
OLD_PREFIX = ".old-"
_LOCK_SUFFIX = ".lock"
#: ``<run name>-<pid>-<8 hex>``
_KEY = re.compile(r"(?P<name>[^/]+)-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def _lock_path(parent: Path, key: str) -> Path:
    return parent / f"{STAGING_PREFIX}{key}{_LOCK_SUFFIX}"


def _same_file(fh: BinaryIO, path: Path) -> bool:
    """Whether the open ``fh`` is still the file at ``path`` (not unlinked or replaced)."""
    try:
        return os.path.samestat(os.fstat(fh.fileno()), os.stat(path))
    except FileNotFoundError:
        return False


class StageLock:
    """The exclusive lock of one stage, and the names of its folders. Acquired at construction
    (a new random key per attempt); :meth:`release` removes the lock file and unlocks."""

    def __init__(self, parent: Path, name: str) -> None:
        self.parent = Path(parent)
        while True:
            key = f"{name}-{os.getpid()}-{secrets.token_hex(4)}"
            path = _lock_path(self.parent, key)
            try:
                fh = open(path, "xb", buffering=0)  # noqa: SIM115 - held for the stage's lifetime
            except FileExistsError:
                continue
            # blocks only while a sweeper that took the fresh file checks and removes it
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            if _same_file(fh, path):
                break
            fh.close()
        self.key = key
        self._fh: BinaryIO | None = fh

    @property
    def staging(self) -> Path:
        return self.parent / f"{STAGING_PREFIX}{self.key}"

    @property
    def old(self) -> Path:
        """Where the commit moves an existing run of the same name before replacing it."""
        return self.parent / f"{OLD_PREFIX}{self.key}"

    @property
    def path(self) -> Path:
        return _lock_path(self.parent, self.key)

    def release(self) -> None:
        """Remove the lock file, then unlock (call after both folders are gone)."""
        if self._fh is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._fh.close()
        self._fh = None


def _try_lock(path: Path) -> BinaryIO | None:
    """The lock file at ``path`` opened and locked if its owner is dead, else ``None``."""
    try:
        fh = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the caller
    except OSError:  # gone: its owner finished, or another sweeper removed it
        return None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: a live run owns it
        fh.close()
        return None
    if not _same_file(fh, path):
        fh.close()
        return None
    return fh


def _pid_alive(pid: int) -> bool:
    """Whether ``pid`` may be a live process here (only for folders without a lock file)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):  # another user's process; or not a pid at all
        return True
    return True


def _remove_leftovers(parent: Path, key: str, name: str) -> None:
    """Remove (or restore) what the dead owner of ``key`` left; see the module docstring."""
    staging = parent / f"{STAGING_PREFIX}{key}"
    old = parent / f"{OLD_PREFIX}{key}"
    final = parent / name
    if old.is_dir():
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        elif staging.exists():
            try:
                os.rename(old, final)  # undo the first rename of the interrupted commit
            except OSError:
                if final.exists():  # a live run committed the same name meanwhile
                    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def remove_stale(parent: str | Path) -> list[str]:
    """Remove the staging leftovers of dead runs in ``parent`` (never those of a live run) and
    return the keys cleaned, sorted."""
    parent = Path(parent)
    keys: dict[str, re.Match[str]] = {}
    listed_locks: set[str] = set()
    try:
        names = [e.name for e in os.scandir(parent)]
    except OSError:
        return []
    for entry in names:
        if entry.startswith(STAGING_PREFIX):
            key = entry.removeprefix(STAGING_PREFIX)
            if key.endswith(_LOCK_SUFFIX):
                key = key.removesuffix(_LOCK_SUFFIX)
                listed_locks.add(key)
        elif entry.startswith(OLD_PREFIX):
            key = entry.removeprefix(OLD_PREFIX)
        else:
            continue
        match = _KEY.fullmatch(key)
        if match is not None:
            keys[key] = match
    cleaned = []
    for key, match in sorted(keys.items()):
        try:
            if _clean(parent, key, match, key in listed_locks):
                cleaned.append(key)
        except OSError:  # best effort: what cannot be removed now is left for the next run
            continue
    return cleaned


def _clean(parent: Path, key: str, match: re.Match[str], lock_listed: bool) -> bool:
    """Clean one key's leftovers if its owner is dead; whether it was."""
    path = _lock_path(parent, key)
    if lock_listed or path.is_file():  # or created while the folder was being listed
        fh = _try_lock(path)
        if fh is None:
            return False
        try:
            _remove_leftovers(parent, key, match["name"])
            path.unlink(missing_ok=True)
        finally:
            fh.close()
        return True
    if _pid_alive(int(match["pid"])):
        return False
    _remove_leftovers(parent, key, match["name"])  # a folder of a version before locks
    return True

"""When a batch of attested records is sealed: the one rule, shared by the bridge and its feeder.

A batch is sealed

- *before* a record made at ``t`` when the oldest queued record is ``batch_interval_s`` old at
  ``t`` (``t - oldest >= batch_interval_s``);
- *after* a record when ``batch_size`` records are queued;
- at a tick at ``t`` when the oldest queued record is ``batch_interval_s`` old at ``t``.

Sealing depends only on the records' times and the ticks, in the order they come, so the
attestation bridge (:mod:`chain.bridge`) and the simulation side of its worker
(:mod:`chain.worker`, which ships records to the bridge exactly when a batch is sealed) reach
the same decisions from the same inputs. This module imports nothing heavy: the simulation
process uses it without web3 or py-evm.
"""

from __future__ import annotations

__all__ = ["MAX_BATCH_SIZE", "SealRule", "check_batching"]

#: largest accepted ``batch_size`` (records per batch)
MAX_BATCH_SIZE = 1 << 20


def check_batching(batch_size: int, batch_interval_s: float) -> None:
    """Raise ``ValueError`` (``field=value: rule``) unless both batching settings are valid."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be an int >= 1")
    if batch_size > MAX_BATCH_SIZE:
        raise ValueError(f"batch_size={batch_size} is above the limit of {MAX_BATCH_SIZE} records")
    if not isinstance(batch_interval_s, int | float) or not batch_interval_s > 0:
        raise ValueError(f"batch_interval_s={batch_interval_s!r} must be a number > 0")


class SealRule:
    """The queue's state that sealing depends on: how many records wait, and since when.

    Use: ``if rule.due(t): seal`` before queueing a record or at a tick, ``if rule.add(t):
    seal`` after queueing one; every seal calls :meth:`sealed`.
    """

    __slots__ = ("batch_interval_s", "batch_size", "oldest_s", "queued")

    def __init__(self, batch_size: int, batch_interval_s: float) -> None:
        check_batching(batch_size, batch_interval_s)
        self.batch_size = int(batch_size)
        self.batch_interval_s = float(batch_interval_s)
        #: records queued since the last seal
        self.queued = 0
        #: time of the oldest queued record (meaningless while ``queued == 0``)
        self.oldest_s = 0.0

    def due(self, sim_time_s: float) -> bool:
        """True when the queued records must be sealed at ``sim_time_s`` (interval rule)."""
        return self.queued > 0 and sim_time_s - self.oldest_s >= self.batch_interval_s

    def add(self, sim_time_s: float) -> bool:
        """Count one queued record made at ``sim_time_s``; True when the batch is now full."""
        if self.queued == 0:
            self.oldest_s = float(sim_time_s)
        self.queued += 1
        return self.queued >= self.batch_size

    def sealed(self) -> None:
        """The queued records were sealed: the queue is empty."""
        self.queued = 0

"""The attestation bridge in its own process, beside the simulation: the sink ``ce run`` uses.

:class:`BridgeWorker` starts a worker process with the ``spawn`` method (a fresh interpreter,
never a fork of a process whose onnxruntime threads are running) that runs
:func:`chain.worker_loop.serve`: it opens the backend, deploys the contracts and feeds a
:class:`chain.bridge.AttestationBridge`. The simulation process keeps only this thin
:class:`sim.attest.AttestationSink` in front of it:

- ``record`` queues ``(kind, payload, sim_time_s)`` and nothing more: the payload mapping is
  shipped as it is (pickling a payload costs a fraction of its canonical JSON), and canonical
  JSON, keccak, Merkle trees, transactions and files are all the worker's.
- Records are shipped in chunks, exactly when a batch is sealed. The sink follows the same
  :class:`chain.batching.SealRule` as the bridge, so a chunk holds the records since the last
  one plus the tick that sealed them, if a tick did; a tick that seals nothing changes nothing
  and is not shipped. The worker replays records and ticks in order through the same rule, so
  its batches are the ones the bridge makes in process.
- ``settle_auction`` (``mode: full``) is shipped at once: its transactions land in the same
  order relative to the attestation batches as in process, and every auction's escrow is still
  reconciled (a mismatch fails the run at the next exchange instead of at once).
- A chunk is pickled when shipped and written to the pipe by a feeder thread, so the
  simulation does not wait while the worker is busy with a transaction (up to
  :data:`MAX_IN_FLIGHT_BYTES` not yet written; beyond that it waits).
- ``close`` ships the rest, waits until the worker has attested everything and written every
  file, and returns the bridge's stats plus timings under ``stats["worker"]``.

The worker never outlives its run: it exits on end-of-file of its command pipe (the simulation
closed it or died) and is a daemon, so ``multiprocessing`` terminates it when the simulation
process exits; the sink terminates it on any failure and when it is dropped unclosed. A
failure in the worker travels back as one line and is raised by the next ``record``/``tick``/
``settle_auction``/``close`` as the sink's ``failure`` type: ``sim.attest.make_sink`` passes
``sim.attest.AttestationError`` (``chain`` never imports ``sim``).
"""

from __future__ import annotations

import collections
import multiprocessing
import pickle
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chain.batching import SealRule
from chain.bridge import BridgeConfig
from chain.worker_loop import Chunk, Close, Done, Failed, Settle, serve

__all__ = ["MAX_IN_FLIGHT_BYTES", "BridgeWorker", "BridgeWorkerError"]

#: pickled messages queued for the worker beyond which shipping waits for the pipe
MAX_IN_FLIGHT_BYTES = 64 << 20
#: how long the sink waits for the worker to say why it failed, or to exit after closing
_GRACE_S = 10.0


class BridgeWorkerError(RuntimeError):
    """The worker failed (the default ``failure`` type of :class:`BridgeWorker`): one line."""


class _Feeder:
    """Writes queued messages to the worker's pipe from a daemon thread, in order."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._queue: collections.deque[bytes] = collections.deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._ending = False
        #: the write error that stopped the thread (the worker is gone), if any
        self.error: OSError | None = None
        self._thread = threading.Thread(target=self._run, name="ce-attestation-feeder", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        """Queue one pickled message (waits while too much is in flight)."""
        with self._cond:
            while self._in_flight > MAX_IN_FLIGHT_BYTES and self.error is None:
                self._cond.wait()
            if self.error is None:
                self._queue.append(data)
                self._in_flight += len(data)
                self._cond.notify_all()

    def end(self) -> None:
        """Write what is queued (unless the pipe broke), then stop the thread."""
        with self._cond:
            self._ending = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._ending:
                    self._cond.wait()
                if not self._queue:
                    return
                data = self._queue.popleft()
            try:
                self._conn.send_bytes(data)
            except OSError as err:  # BrokenPipeError: the worker is gone
                with self._cond:
                    self.error = err
                    self._queue.clear()
                    self._cond.notify_all()
                return
            with self._cond:
                self._in_flight -= len(data)
                self._cond.notify_all()


class BridgeWorker:
    """An :class:`~sim.attest.AttestationSink` whose bridge runs in a worker process.

    ``failure`` is the exception type raised, with one line, when the worker fails.
    """

    def __init__(
        self,
        config: BridgeConfig,
        state_dir: Path,
        *,
        failure: type[Exception] = BridgeWorkerError,
    ) -> None:
        mode = config.mode
        self.mode = mode
        self._failure = failure
        #: what the engine must build for this sink (see :mod:`sim.attest`)
        self.wants_payloads = True
        self.wants_settlements = mode == "full"
        self._rule = SealRule(config.batch_size, config.batch_interval_s)
        self._kinds: list[str] = []
        self._payloads: list[Mapping[str, Any]] = []
        self._times: list[float] = []
        self._chunks = 0
        self._stats: dict[str, Any] | None = None
        ctx = multiprocessing.get_context("spawn")
        commands_in, commands_out = ctx.Pipe(duplex=False)
        results_in, results_out = ctx.Pipe(duplex=False)
        self._process = ctx.Process(
            target=serve,
            args=(commands_in, results_out, config, str(state_dir)),
            name="ce-attestation-bridge",
            daemon=True,
        )
        self._process.start()
        commands_in.close()  # the worker's ends: end-of-file then reaches the other side
        results_out.close()
        self._results = results_in
        self._feeder = _Feeder(commands_out)
        self._stop = weakref.finalize(
            self, _stop_worker, self._process, self._feeder, commands_out, results_in
        )

    @property
    def pid(self) -> int | None:
        """The worker process's id."""
        return self._process.pid

    # -- the sink interface ------------------------------------------------------------------
    def record(self, kind: str, payload: Mapping[str, Any], sim_time_s: float) -> None:
        """Queue one record; ship the queue when the bridge will seal a batch with it."""
        if self._stats is not None:
            raise RuntimeError("the attestation sink is closed; no more records")
        rule = self._rule
        ship = rule.due(sim_time_s)
        if ship:
            rule.sealed()
        self._kinds.append(kind)
        self._payloads.append(payload)
        self._times.append(sim_time_s)
        if rule.add(sim_time_s):
            rule.sealed()
            ship = True
        if ship:
            self._ship(None)

    def tick(self, sim_time_s: float) -> None:
        """Ship the queue with this tick when the tick seals a batch."""
        if self._rule.due(sim_time_s):
            self._rule.sealed()
            self._ship(sim_time_s)

    def settle_auction(self, auction: Mapping[str, Any]) -> None:
        """``mode: full``: ship the auction's settlement to the worker now; else a no-op."""
        if self.mode == "full":
            self._send(Settle(auction))

    def close(self, sim_time_s: float) -> Mapping[str, Any]:
        """Ship the rest, wait for every record to be attested and every file written, and
        return the stats (idempotent)."""
        if self._stats is not None:
            return dict(self._stats)
        t0 = time.perf_counter()
        try:
            if self._kinds:
                self._ship(None)
            self._send(Close(float(sim_time_s)))
            answer = self._answer(None)
            if not isinstance(answer, Done):
                self._fail(answer)
            self._feeder.end()
            self._process.join(_GRACE_S)
        finally:
            self._stop()
        stats = answer.stats
        stats["worker"] = {
            **stats.get("worker", {}),
            "chunks": self._chunks,
            "close_wait_s": time.perf_counter() - t0,
        }
        self._stats = stats
        return dict(stats)

    # -- shipping ----------------------------------------------------------------------------
    def abort(self) -> None:
        """Stop the worker now, without sealing what is queued (the run failed). Idempotent."""
        self._stop()

    def _ship(self, tick_s: float | None) -> None:
        chunk = Chunk(self._kinds, self._payloads, self._times, tick_s)
        self._kinds, self._payloads, self._times = [], [], []
        self._chunks += 1
        self._send(chunk)

    def _send(self, message: Chunk | Settle | Close) -> None:
        if not self._stop.alive:
            raise RuntimeError("the attestation sink is closed")
        if self._results.poll():  # the worker only speaks early to say it failed
            self._fail(self._answer(0.0))
        self._feeder.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        if self._feeder.error is not None:
            self._fail(self._answer(_GRACE_S))

    def _answer(self, timeout_s: float | None) -> Any:
        """The worker's answer (``None`` when it exits without one or says nothing in time)."""
        try:
            if timeout_s is None or self._results.poll(timeout_s):
                return self._results.recv()
        except (EOFError, OSError):
            pass
        return None

    def _fail(self, answer: Any) -> None:
        """Stop the worker and raise its failure as one line."""
        if isinstance(answer, Failed):
            message = answer.message
        else:
            self._process.join(_GRACE_S)
            message = f"the attestation worker exited with code {self._process.exitcode}"
        self._stop()
        raise self._failure(message)


def _stop_worker(process: Any, feeder: _Feeder, *connections: Any) -> None:
    """Make sure the worker is gone (a closing one has exited already), let the feeder thread
    end (its writes fail once the worker is gone), then close the pipes."""
    if process.is_alive():
        process.terminate()
    process.join(_GRACE_S)
    feeder.end()
    for conn in connections:
        conn.close()

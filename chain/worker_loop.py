"""What runs in the attestation bridge's worker process: the messages and the loop over them.

The simulation side (:class:`chain.worker.BridgeWorker`) sends pickled messages on one pipe, in
order: :class:`Chunk` (records, then the tick that sealed them, if one did), :class:`Settle`
(``mode: full``) and finally :class:`Close`. :func:`serve` opens the backend and the
:class:`~chain.bridge.AttestationBridge`, applies each message to it, and answers on the other
pipe once: :class:`Done` with the stats after ``close`` (every file written), or
:class:`Failed` with one line when anything raised.

The loop ignores SIGINT (Ctrl-C is the simulation's to handle) and returns on end-of-file of
its command pipe: the simulation closed it or died, and nothing is left to finish.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chain.bridge import BridgeConfig

__all__ = ["Chunk", "Close", "Done", "Failed", "Settle", "serve"]


@dataclass(slots=True)
class Chunk:
    """Records in order (parallel lists), then the tick that sealed them, if one did."""

    kinds: list[str]
    payloads: list[Mapping[str, Any]]
    times: list[float]
    tick_s: float | None


@dataclass(slots=True)
class Settle:
    """One confirmed auction to settle on the FundingEscrow (``mode: full``)."""

    auction: Mapping[str, Any]


@dataclass(slots=True)
class Close:
    """Seal the rest at ``sim_time_s``, write every file, answer :class:`Done`."""

    sim_time_s: float


@dataclass(slots=True)
class Done:
    """The bridge's stats, plus the worker's timings under ``"worker"``."""

    stats: dict[str, Any]


@dataclass(slots=True)
class Failed:
    """Why the worker stopped, as one line."""

    message: str


def one_line(err: BaseException) -> str:
    """``Type: first line of the message`` of an exception."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _prefer_c_keccak() -> None:
    """py-evm hashes through eth-hash, whose automatic choice takes pycryptodome first; the C
    keccak of pysha3 (installed with py-evm here) is chosen instead through eth-hash's own
    ``ETH_HASH_BACKEND`` setting, unless the environment already names one."""
    import importlib.util

    if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
        os.environ["ETH_HASH_BACKEND"] = "pysha3"


def serve(commands: Any, results: Any, config: BridgeConfig, state_dir: str) -> None:
    """The worker's main: open the bridge (``open_attestation_bridge(config, state_dir)``),
    apply messages in order until :class:`Close` or end-of-file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prefer_c_keccak()
    timings = {"open_s": 0.0, "busy_s": 0.0, "close_s": 0.0}
    try:
        from chain.bridge import open_attestation_bridge

        t0 = time.perf_counter()
        bridge = open_attestation_bridge(config, Path(state_dir))
        timings["open_s"] = time.perf_counter() - t0
        while True:
            try:
                message = pickle.loads(commands.recv_bytes())
            except EOFError:
                return  # the simulation is gone without closing: nothing to finish
            t0 = time.perf_counter()
            if isinstance(message, Chunk):
                record = bridge.record
                for kind, payload, t in zip(
                    message.kinds, message.payloads, message.times, strict=True
                ):
                    record(kind, payload, t)
                if message.tick_s is not None:
                    bridge.tick(message.tick_s)
            elif isinstance(message, Settle):
                bridge.settle_auction(message.auction)
            elif isinstance(message, Close):
                stats = dict(bridge.close(message.sim_time_s))
                timings["close_s"] = time.perf_counter() - t0
                stats["worker"] = timings
                results.send(Done(stats))
                return
            else:
                raise TypeError(f"message={type(message).__name__}: not a bridge message")
            timings["busy_s"] += time.perf_counter() - t0
    except BaseException as err:  # the run fails with this one line
        with contextlib.suppress(OSError):  # the simulation may be gone too
            results.send(Failed(one_line(err)))
        sys.exit(1)

"""Shared helpers for the bridge-side chain tests (owned with chain/bridge.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: runtime code storing calldata word 0 in slot 0: CALLDATALOAD(0) SSTORE(0)
STORE_RUNTIME = bytes.fromhex("60003560005500")


def init_code(runtime: bytes) -> bytes:
    """Init code that deploys ``runtime`` unchanged (CODECOPY + RETURN)."""
    n = len(runtime)
    return bytes.fromhex(f"60{n:02x}600c60003960{n:02x}6000f3") + runtime


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def rpc_node() -> Iterator[str | None]:
    """Yield a JSON-RPC URL: ``$CE_TEST_RPC_URL``, else a fresh ``anvil``, else ``None``.

    ``anvil`` is looked up on PATH, then in ``contracts_sol/node_modules/.bin`` (the pinned
    ``@foundry-rs/anvil`` dev dependency that ``make test`` installs when npm is present).
    """
    url = os.environ.get("CE_TEST_RPC_URL")
    if url:
        yield url
        return
    local = Path(__file__).resolve().parents[2] / "contracts_sol" / "node_modules" / ".bin"
    anvil = shutil.which("anvil") or shutil.which("anvil", path=str(local))
    if anvil is None:
        yield None
        return
    port = _free_port()
    proc = subprocess.Popen(
        [anvil, "--host", "127.0.0.1", "--port", str(port), "--silent"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


KIND_CYCLE = ("price", "decision", "clearing", "fx_fixing", "pm_resolution")


def sample_payload(i: int) -> dict:
    """A small, realistic, personal-data-free payload for record ``i``."""
    return {"i": i, "feed": "usd_brl", "price_e8": 500_000_000 + 37 * i, "ok": i % 3 != 0}


def feed(bridge, n: int, *, dt_s: float = 0.75, tick_every: int = 5, start_s: float = 0.0) -> float:
    """Record ``n`` records ``dt_s`` apart (ticking every few); returns the last sim time."""
    t = start_s
    for i in range(n):
        t = start_s + i * dt_s
        bridge.record(KIND_CYCLE[i % len(KIND_CYCLE)], sample_payload(i), t)
        if i % tick_every == 0:
            bridge.tick(t)
    return t

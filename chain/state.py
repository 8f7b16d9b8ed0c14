"""Persist the embedded eth-tester chain to a run directory and load it back later.

eth-tester's py-evm backend keeps the whole chain -- headers, blocks, receipts, the state trie
with every contract's storage -- in one in-memory key-value store
(``chain.chaindb.db`` = ``AtomicDB(MemoryDB(kv_store: dict[bytes, bytes]))``).  Saving dumps
that dict; loading builds a fresh ``PyEVMBackend``, swaps in a chain object of the same class
over the reloaded store, and checks that the canonical head is the one that was saved.  Later
reads (``Attestor.batch(i)``, ``Attestor.verify``) then run against the storage of the *real*
chain of the run, not against a copy of the roots.

Files (in the given directory):

- ``chain_state.bin`` -- ``b"CECHAIN1"`` then a zlib stream of entries ``u32 len(key) | key |
  u32 len(value) | value`` sorted by key (so equal chains give equal bytes);
- ``chain.json`` -- backend, chain id, head block number/hash/state root, the sha256 and entry
  count of ``chain_state.bin``, and the deployed contracts (name -> address and artefact name).

For the ``rpc`` backend only ``chain.json`` is written (the node keeps the state).  No private
key is ever written.  Both files are written atomically (temp file, fsync, ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from chain.backends import Backend, eth_tester_backend

__all__ = [
    "META_FILE",
    "STATE_FILE",
    "ChainStateError",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_chain_state",
    "read_chain_meta",
    "save_chain_state",
]

STATE_FILE = "chain_state.bin"
META_FILE = "chain.json"
_MAGIC = b"CECHAIN1"
_U32 = struct.Struct(">I")
FORMAT_VERSION = 1
#: largest decompressed ``chain_state.bin`` accepted on load (small's is 3 MB)
MAX_STATE_BYTES = 256 << 20


class ChainStateError(ValueError):
    """A saved chain state is missing, corrupt, or does not match its metadata."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def _kv_store(backend: Backend) -> dict[bytes, bytes]:
    if backend.pyevm is None:
        raise ChainStateError(f"backend={backend.kind!r} has no in-process state to save")
    db = backend.pyevm.chain.chaindb.db
    inner = getattr(db, "wrapped_db", db)
    store = getattr(inner, "kv_store", None)
    if not isinstance(store, dict):
        raise ChainStateError(
            f"unexpected py-evm database {type(inner).__name__}; expected an in-memory MemoryDB"
        )
    return store


def _encode_store(store: Mapping[bytes, bytes]) -> bytes:
    comp = zlib.compressobj(level=1)
    parts = [_MAGIC]
    pack = _U32.pack
    chunk: list[bytes] = []
    size = 0
    for key in sorted(store):
        value = store[key]
        chunk += (pack(len(key)), key, pack(len(value)), value)
        size += len(key) + len(value) + 8
        if size > 1 << 20:
            parts.append(comp.compress(b"".join(chunk)))
            chunk, size = [], 0
    parts.append(comp.compress(b"".join(chunk)))
    parts.append(comp.flush())
    return b"".join(parts)


def _decode_store(blob: bytes) -> Iterator[tuple[bytes, bytes]]:
    if not blob.startswith(_MAGIC):
        raise ChainStateError(f"{STATE_FILE} does not start with {_MAGIC!r}")
    inflate = zlib.decompressobj()
    try:
        raw = inflate.decompress(blob[len(_MAGIC) :], MAX_STATE_BYTES)
    except zlib.error as err:
        raise ChainStateError(f"{STATE_FILE} is corrupt: {err}") from None
    if inflate.unconsumed_tail:
        raise ChainStateError(f"{STATE_FILE} inflates to more than {MAX_STATE_BYTES} bytes")
    if not inflate.eof:
        raise ChainStateError(f"{STATE_FILE} is corrupt: its zlib stream is truncated")
    view = memoryview(raw)
    i, n = 0, len(raw)
    while i < n:
        if i + 4 > n:
            raise ChainStateError(f"{STATE_FILE} is truncated at byte {i}")
        (klen,) = _U32.unpack_from(view, i)
        key = bytes(view[i + 4 : i + 4 + klen])
        i += 4 + klen
        if i + 4 > n:
            raise ChainStateError(f"{STATE_FILE} is truncated in an entry")
        (vlen,) = _U32.unpack_from(view, i)
        value = bytes(view[i + 4 : i + 4 + vlen])
        i += 4 + vlen
        if len(value) != vlen:
            raise ChainStateError(f"{STATE_FILE} is truncated in an entry")
        yield key, value


def _head(backend: Backend) -> dict[str, Any]:
    head = backend.client.head()
    return {
        "head_block_number": head.number,
        "head_block_hash": "0x" + head.hash.hex(),
        "head_state_root": "0x" + head.state_root.hex(),
    }


def save_chain_state(
    backend: Backend,
    directory: Path,
    *,
    contracts: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Save the chain of ``backend`` and the deployed ``contracts`` (name -> address).

    Returns the metadata written to ``chain.json``.  For eth-tester the full database goes to
    ``chain_state.bin``; for rpc only the metadata is written.
    """
    directory = Path(directory)
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "backend": backend.kind,
        "rpc_url": backend.url,
        "chain_id": backend.chain_id,
        **_head(backend),
        "contracts": {
            name: {"address": addr, "artifact": name} for name, addr in contracts.items()
        },
    }
    if backend.kind == "eth-tester":
        store = _kv_store(backend)
        blob = _encode_store(store)
        atomic_write_bytes(directory / STATE_FILE, blob)
        meta["state_file"] = STATE_FILE
        meta["state_sha256"] = hashlib.sha256(blob).hexdigest()
        meta["state_entries"] = len(store)
    if extra:
        meta["extra"] = dict(extra)
    atomic_write_text(directory / META_FILE, json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return meta


def read_chain_meta(directory: Path) -> dict[str, Any]:
    """Read ``chain.json`` from ``directory`` (``ChainStateError`` when missing or malformed)."""
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChainStateError(f"{path} is missing: no chain state was saved there") from None
    except json.JSONDecodeError as err:
        raise ChainStateError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(meta, dict):
        raise ChainStateError(f"{path} is not a JSON object")
    if meta.get("format") != FORMAT_VERSION:
        raise ChainStateError(f"{path}: format={meta.get('format')!r} is not {FORMAT_VERSION}")
    return meta


def load_chain_state(directory: Path) -> tuple[Backend, dict[str, Any]]:
    """Rebuild the saved eth-tester chain as a live :class:`Backend`; returns it and the meta.

    Checks the file's sha256 and that the reloaded canonical head has the saved hash.
    """
    from eth.db.atomic import AtomicDB
    from eth.db.backends.memory import MemoryDB
    from eth_tester import PyEVMBackend

    directory = Path(directory)
    meta = read_chain_meta(directory)
    if meta.get("backend") != "eth-tester":
        raise ChainStateError(
            f"{directory / META_FILE}: backend={meta.get('backend')!r}; only eth-tester state "
            "is saved in the run (connect to the rpc node instead)"
        )
    path = directory / meta.get("state_file", STATE_FILE)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise ChainStateError(f"{path} is missing") from None
    digest = hashlib.sha256(blob).hexdigest()
    if digest != meta.get("state_sha256"):
        raise ChainStateError(
            f"{path}: sha256 {digest[:16]}... differs from chain.json's "
            f"{str(meta.get('state_sha256'))[:16]}...; the saved chain was modified"
        )
    store = dict(_decode_store(blob))
    if len(store) != meta.get("state_entries"):
        raise ChainStateError(
            f"{path}: holds {len(store)} entries, chain.json says {meta.get('state_entries')!r}"
        )
    pyevm = PyEVMBackend()
    chain_class = type(pyevm.chain)
    pyevm.chain = chain_class(AtomicDB(MemoryDB(store)))
    backend = eth_tester_backend(pyevm)
    head = _head(backend)
    if head["head_block_hash"] != meta["head_block_hash"]:
        raise ChainStateError(
            f"{path}: reloaded head {head['head_block_hash']} (block {head['head_block_number']}) "
            f"is not the saved head {meta['head_block_hash']}"
        )
    return backend, meta

"""Strict reading of files nobody trusts, for :mod:`chain.evidence`: every failure is one
:class:`EvidenceError` line ``<file>[ line N]: <field>=<value>: <rule>``.

- :func:`plain_file`: a plain file, never a link (it could point anywhere), a pipe (reading it
  would block) or a device;
- :func:`read_lines` / :func:`read_small`: ASCII (what the bridge's writers write), a line or a
  file below a size cap;
- :func:`parse_json`: JSON without ``NaN``/``Infinity``, nested at most :data:`MAX_JSON_DEPTH`
  levels (checked before parsing: with a raised recursion limit Python's JSON parser can
  exhaust the C stack instead of raising ``RecursionError``);
- :func:`check_canonical`: the text is what its writer writes for the parsed value, so an edit
  that keeps the values (spaces, key order, a duplicated key) is still an edit;
- :func:`check_keys` and the ``*_field`` readers: no key missing or unknown, each value of its
  JSON type and range.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "MAX_JSON_DEPTH",
    "MAX_LINE_BYTES",
    "EvidenceError",
    "address_field",
    "check_canonical",
    "check_keys",
    "fail",
    "hex_field",
    "int_field",
    "is_int",
    "number_field",
    "parse_json",
    "plain_file",
    "read_lines",
    "read_small",
    "text_field",
]

MAX_LINE_BYTES = 1 << 20
#: deepest JSON nesting accepted (the writers nest at most 5 levels)
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")
U64_MAX = (1 << 64) - 1


class EvidenceError(Exception):
    """The first discrepancy in a run's attestation evidence, as one line."""


def fail(where: str, field: str, value: Any, rule: str) -> EvidenceError:
    """The error ``<where>: <field>=<value>: <rule>`` (the value's repr, cut at 80 chars)."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return EvidenceError(f"{where}: {field}={shown}: {rule}")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(text: str) -> bool:
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def parse_json(text: str, where: str) -> Any:
    """``text`` parsed as strict JSON (no NaN/Infinity, at most :data:`MAX_JSON_DEPTH` levels
    deep); :class:`EvidenceError` naming ``where`` otherwise."""
    if _too_deep(text):
        raise EvidenceError(f"{where}: not JSON (nested deeper than {MAX_JSON_DEPTH} levels)")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        detail = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
        raise EvidenceError(f"{where}: not JSON ({detail or type(err).__name__})") from None


def check_canonical(value: Any, dumps: Callable[[Any], str], text: str, where: str) -> None:
    """``text`` must be what the writer writes for ``value``."""
    try:
        again = dumps(value)
    except (ValueError, RecursionError):  # pragma: no cover - parsed JSON always dumps
        again = None
    if again != text:
        raise EvidenceError(
            f"{where}: not in its writer's canonical form (sorted keys, the writer's spacing, "
            "no duplicated key): the file was edited"
        )


def check_keys(
    obj: Any, keys: frozenset[str], where: str, *, optional: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """``obj``, which must be a JSON object with every key of ``keys`` and no other key but
    those of ``optional``."""
    if not isinstance(obj, dict):
        raise EvidenceError(f"{where}: must be a JSON object, found {type(obj).__name__}")
    missing = sorted(keys - obj.keys())
    if missing:
        raise EvidenceError(f"{where}: {missing[0]}: missing")
    unknown = sorted(obj.keys() - keys - optional)
    if unknown:
        raise EvidenceError(f"{where}: {unknown[0]}: not a field of this file")
    return obj


def is_int(value: Any) -> bool:
    """True for a JSON integer (not a bool, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_field(obj: dict, key: str, where: str, lo: int = 0, hi: int = U64_MAX) -> int:
    """``obj[key]``, a JSON integer in ``[lo, hi]``."""
    value = obj[key]
    if not is_int(value) or not lo <= value <= hi:
        raise fail(where, key, value, f"must be an integer in [{lo}, {hi}]")
    return value


def number_field(obj: dict, key: str, where: str) -> float:
    """``obj[key]``, a finite JSON number >= 0, as a float."""
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise fail(where, key, value, "must be a finite number")
    if value < 0:
        raise fail(where, key, value, "must be >= 0")
    return float(value)


def hex_field(obj: dict, key: str, where: str, nbytes: int = 32) -> bytes:
    """``obj[key]``, ``0x`` and ``2 * nbytes`` lowercase hex digits, as bytes."""
    value = obj[key]
    if isinstance(value, str) and value.startswith("0x") and len(value) == 2 + 2 * nbytes:
        digits = value[2:]
        if digits == digits.lower():
            try:
                return bytes.fromhex(digits)
            except ValueError:
                pass
    raise fail(where, key, value, f"must be 0x and {2 * nbytes} lowercase hex digits")


def address_field(value: Any, where: str, field: str) -> str:
    """``value``, an EIP-55 checksummed address (``field`` names it in the error)."""
    from eth_utils import is_checksum_address

    if not isinstance(value, str) or not is_checksum_address(value):
        raise fail(where, field, value, "must be a 0x-prefixed EIP-55 checksummed address")
    return value


def text_field(obj: dict, key: str, where: str, *, optional: bool = False) -> str | None:
    """``obj[key]``, a non-empty string (or None when ``optional``)."""
    value = obj[key]
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise fail(where, key, value, "must be a non-empty string")
    return value


def plain_file(path: Path, where: str) -> None:
    """``path`` must be a plain file (not a link, a pipe or a device); :class:`EvidenceError`
    naming ``where`` otherwise."""
    if path.is_symlink():
        raise EvidenceError(f"{where}: a symbolic link (a run directory holds plain files)")
    if not path.exists():
        raise EvidenceError(f"{where}: missing")
    if not path.is_file():
        raise EvidenceError(f"{where}: not a plain file")


def read_lines(path: Path, where: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of an ASCII file, each line at most ``MAX_LINE_BYTES``."""
    plain_file(path, where)
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, lines streamed
    except FileNotFoundError:
        raise EvidenceError(f"{where}: missing") from None
    except OSError as err:
        raise EvidenceError(f"{where}: cannot be read ({err.strerror})") from None
    with fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_LINE_BYTES:
                raise EvidenceError(f"{where} line {lineno}: longer than {MAX_LINE_BYTES} bytes")
            if not raw.endswith(b"\n"):
                raise EvidenceError(f"{where} line {lineno}: truncated (no end of line)")
            try:
                line = raw.decode("ascii")
            except UnicodeDecodeError as err:
                raise EvidenceError(
                    f"{where} line {lineno}: byte {err.start + 1} is not ASCII"
                ) from None
            yield lineno, line


def read_small(path: Path, where: str, cap: int) -> str:
    """The text of an ASCII file of at most ``cap`` bytes."""
    plain_file(path, where)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(cap + 1)
    except FileNotFoundError:
        raise EvidenceError(f"{where}: missing") from None
    except OSError as err:
        raise EvidenceError(f"{where}: cannot be read ({err.strerror})") from None
    if len(raw) > cap:
        raise EvidenceError(f"{where}: larger than {cap} bytes")
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as err:
        raise EvidenceError(f"{where}: byte {err.start + 1} is not ASCII") from None

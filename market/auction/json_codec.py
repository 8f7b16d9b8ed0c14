"""The ``ce auction clear`` JSON format: parse and validate input, build the output (pure).

Input (a JSON-decoded ``dict``)::

    {"request": {"auction_id", "borrower", "amount_cents", "max_rate_bps", "term_months",
                 "opened_at"},
     "offers": [{"offer_id", "lender", "amount_cents", "rate_bps", "committed_at",
                 "revealed"}, ...],
     "rules": {any subset of AuctionRules' fields}}          # optional

Every field of ``request`` and of each offer is required; unknown fields are refused; integers
must be JSON integers (``true`` and ``5.0`` are not integers); times are integer seconds;
``amount_cents`` must be positive for every offer; offer ids must be unique.
:func:`parse_clear_input` raises :class:`AuctionInputError` (a ``ValueError``) whose one-line
message names the field path, the value and the rule, e.g.
``offers[2].amount_cents=-5: must be a positive integer below 2**63``.

Decoding: :func:`loads` is ``json.loads`` made strict for this format — a key repeated in one
object is reported (``request.amount_cents=5: duplicate key; ...``) instead of silently keeping
the last value, and an integer literal of more than 100 digits (beyond any field's range, and
beyond what Python converts quickly: 4300 digits raise) is kept as a stand-in tag so that the
message names its field.  ``NaN`` / ``Infinity`` decode to floats and are refused by the field
they stand in.  Too-deep nesting raises ``RecursionError`` (the caller reports it).

Output: :func:`output_dict` is the result object with the spec's key order; :func:`dumps`
renders it on one line with ``json.dumps`` defaults (``", "`` / ``": "`` separators, ASCII).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from market.auction.types import AuctionRequest, AuctionRules, ClearingResult, Offer
from market.validation import FieldError, one_line

__all__ = [
    "AuctionInputError",
    "ClearInput",
    "dumps",
    "loads",
    "output_dict",
    "parse_clear_input",
]

_REQUEST_FIELDS = (
    "auction_id",
    "borrower",
    "amount_cents",
    "max_rate_bps",
    "term_months",
    "opened_at",
)
_OFFER_FIELDS = ("offer_id", "lender", "amount_cents", "rate_bps", "committed_at", "revealed")
_RULE_FIELDS = tuple(f.name for f in fields(AuctionRules))
_STR_FIELDS = {"borrower", "offer_id", "lender", "pricing"}
_TIME_FIELDS = {"opened_at", "committed_at"}
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: integer literals longer than this (sign included) are never converted to ``int``
_MAX_INT_CHARS = 100
#: deepest bracket nesting accepted; the input format needs 3. Checked *before* ``json.loads``:
#: the C decoder recurses per level and, under a raised recursion limit, deep input can
#: overflow the C stack (a segfault, not a ``RecursionError``).
_MAX_DEPTH = 64


class AuctionInputError(FieldError):
    """Malformed ``ce auction clear`` input; the message names field, value and rule."""


@dataclass(frozen=True, slots=True)
class ClearInput:
    """A validated clearing input."""

    request: AuctionRequest
    offers: tuple[Offer, ...]
    rules: AuctionRules


class _Tag:
    """A stand-in shown verbatim in messages (``<missing>``, ``<array of 3>``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


_MISSING = _Tag("<missing>")


class _HugeInt(_Tag):
    """An integer literal too long to convert; every field refuses it."""

    __slots__ = ()


class _JsonObject(dict):
    """A decoded JSON object that remembers its first repeated key (``None`` if none)."""

    __slots__ = ("duplicate",)

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.duplicate: str | None = None
        for key, value in pairs:
            if key in self and self.duplicate is None:
                self.duplicate = key
            self[key] = value


def _parse_int(literal: str) -> int | _HugeInt:
    if len(literal) > _MAX_INT_CHARS:
        return _HugeInt(f"<integer of {len(literal.lstrip('-'))} digits>")
    return int(literal)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    return obj if len(obj) == len(pairs) else _JsonObject(pairs)  # plain dict: the fast path


def nesting_depth(text: str) -> int:
    """The deepest ``[``/``{`` nesting of JSON ``text``, brackets inside strings ignored.

    Vectorised over the positions of the few bytes that matter: a ``"`` preceded by an odd run
    of backslashes is escaped, the others open or close a string; a bracket counts when an
    even number of unescaped quotes precede it.
    """
    if "[" not in text and "{" not in text:
        return 0
    b = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
    quotes = np.flatnonzero(b == 34)
    slashes = np.flatnonzero(b == 92)
    if slashes.size and quotes.size:
        # start of the backslash run each backslash belongs to
        new_run = np.ones(slashes.size, dtype=bool)
        new_run[1:] = np.diff(slashes) != 1
        run_start = slashes[np.maximum.accumulate(np.where(new_run, np.arange(slashes.size), 0))]
        prev = quotes - 1
        k = np.searchsorted(slashes, prev)
        hit = (k < slashes.size) & (slashes[np.minimum(k, slashes.size - 1)] == prev)
        run = np.where(hit, prev - run_start[np.minimum(k, slashes.size - 1)] + 1, 0)
        quotes = quotes[run % 2 == 0]
    brackets = np.flatnonzero((b == 91) | (b == 123) | (b == 93) | (b == 125))
    outside = np.searchsorted(quotes, brackets) % 2 == 0
    kept = b[brackets[outside]]
    step = np.where((kept == 91) | (kept == 123), 1, -1)
    return int(np.cumsum(step).max(initial=0))


def loads(text: str) -> Any:
    """Decode JSON text for :func:`parse_clear_input` (see the module docstring); raises
    ``json.JSONDecodeError`` on bad syntax and ``RecursionError`` on nesting deeper than
    ``_MAX_DEPTH`` (checked before decoding, so deep input can never reach the C stack)."""
    if nesting_depth(text) > _MAX_DEPTH:
        raise RecursionError(f"JSON nested deeper than {_MAX_DEPTH} levels")
    return json.loads(text, object_pairs_hook=_pairs, parse_int=_parse_int)


def _key_path(path: str, key: str) -> str:
    """``path.key``, or ``path["key"]`` (JSON-quoted, one line) for a key that is no name."""
    return f"{path}.{key}" if _KEY.fullmatch(key) else f"{path}[{one_line(key)}]"


def _fail(path: str, value: Any, rule: str) -> AuctionInputError:
    return AuctionInputError(path, value, rule)


def _object(path: str, value: Any, allowed: tuple[str, ...], required: bool) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, _brief(value), "must be a JSON object")
    dup = getattr(value, "duplicate", None)
    if dup is not None:
        raise _fail(
            _key_path(path, dup),
            _brief(value[dup]),
            "duplicate key; a field may appear only once in a JSON object",
        )
    for key in value:
        if key not in allowed:
            raise _fail(
                _key_path(path, key),
                _brief(value[key]),
                "unknown field; allowed: " + ", ".join(allowed),
            )
    if required:
        for key in allowed:
            if key not in value:
                raise AuctionInputError(f"{path}.{key}", _MISSING, "required field is missing")
    return value


def _brief(value: Any) -> Any:
    """Containers are shown by type only in messages."""
    if isinstance(value, list):
        return _Tag(f"<array of {len(value)}>")
    if isinstance(value, dict):
        return _Tag("<object>")
    return value


def _field_types(path: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    """Check JSON types strictly (the dataclasses then check ranges)."""
    out: dict[str, Any] = {}
    for key, v in obj.items():
        p = f"{path}.{key}"
        if key in _STR_FIELDS:
            if not isinstance(v, str):
                raise _fail(p, _brief(v), "must be a string")
        elif key == "revealed":
            if not isinstance(v, bool):
                raise _fail(p, _brief(v), "must be true or false")
        elif key == "min_fill_ratio":
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise _fail(p, _brief(v), "must be a number in [0, 1]")
        elif isinstance(v, _HugeInt):
            raise _fail(p, v, "must be an integer below 2**63")
        elif type(v) is not int:
            rule = (
                "must be an integer number of seconds"
                if key in _TIME_FIELDS
                else "must be an integer"
            )
            raise _fail(p, _brief(v), rule)
        out[key] = v
    return out


def _build(cls: type, path: str, kwargs: dict[str, Any], own_prefix: str) -> Any:
    try:
        return cls(**kwargs)
    except FieldError as err:
        name = err.field.removeprefix(own_prefix)
        raise AuctionInputError(f"{path}.{name}", err.value, err.rule) from None


def parse_clear_input(doc: Any) -> ClearInput:
    """Validate a JSON-decoded ``ce auction clear`` input (see the module docstring)."""
    if not isinstance(doc, dict):
        raise _fail("input", _brief(doc), "must be a JSON object with request, offers and rules")
    top = _object("input", doc, ("request", "offers", "rules"), required=False)
    for key in ("request", "offers"):
        if key not in top:
            raise AuctionInputError(key, _MISSING, "required field is missing")
    req = _field_types("request", _object("request", top["request"], _REQUEST_FIELDS, True))
    request = _build(AuctionRequest, "request", req, "request.")

    offers_raw = top["offers"]
    if not isinstance(offers_raw, list):
        raise _fail("offers", _brief(offers_raw), "must be a JSON array of offers")
    offers: list[Offer] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(offers_raw):
        path = f"offers[{i}]"
        kw = _field_types(path, _object(path, raw, _OFFER_FIELDS, True))
        if kw["amount_cents"] <= 0:
            raise _fail(f"{path}.amount_cents", kw["amount_cents"], "must be a positive integer")
        offer = _build(Offer, path, kw, "offer.")
        if offer.offer_id in seen:
            raise _fail(
                f"{path}.offer_id",
                offer.offer_id,
                f"must be unique (already used by offers[{seen[offer.offer_id]}])",
            )
        seen[offer.offer_id] = i
        offers.append(offer)

    rules_raw = top.get("rules", {})
    rules = _build(
        AuctionRules,
        "rules",
        _field_types("rules", _object("rules", rules_raw, _RULE_FIELDS, False)),
        "rules.",
    )
    return ClearInput(request, tuple(offers), rules)


def output_dict(result: ClearingResult) -> dict[str, Any]:
    """The output object, keys in the spec's order."""
    return result.to_dict()


def dumps(result: ClearingResult) -> str:
    """The output as one line of JSON (``json.dumps`` defaults; same result => same bytes)."""
    return json.dumps(output_dict(result))

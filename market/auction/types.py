"""Value types of the reverse uniform-price auction (spec: ``spec/auction.md``).

Units: money in integer centavos (``*_cents``), rates in integer basis points of APR
(``*_bps``), time in seconds of simulated time (``*_at``, ``*_s``).

Every type is a frozen dataclass that validates itself at construction and raises
:class:`FieldError` (a ``ValueError``) whose message names the field, the value and the rule,
e.g. ``offer.amount_cents=-5: must be a positive integer``.  Integers must be real ``int``s
(``bool`` and ``float`` are refused; numpy integers are accepted and normalised to ``int``).

Names: :class:`AuctionRules`, :class:`AuctionRequest`, :class:`Offer`, :class:`Allocation`,
:class:`Exclusion`, :class:`ClearingResult` (``.to_dict()`` is the ``ce auction clear`` JSON
object), the code tuples :data:`PRICING_RULES`, :data:`STATUSES`, :data:`EXCLUSION_REASONS`.

Hot-path constructors (no checks; for values already validated, e.g. by the lifecycle or the
clearing): :func:`offer_unchecked`, :func:`allocation_unchecked`, :func:`exclusion_unchecked`,
all made by :func:`unchecked_constructor`; each builds an instance equal to the checked one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from fractions import Fraction
from functools import lru_cache
from typing import Any

__all__ = [
    "EXCLUSION_REASONS",
    "INT64_MAX",
    "MAX_TIME_S",
    "PRICING_RULES",
    "STATUSES",
    "Allocation",
    "AuctionRequest",
    "AuctionRules",
    "ClearingResult",
    "Exclusion",
    "FieldError",
    "Offer",
    "allocation_unchecked",
    "exclusion_unchecked",
    "offer_unchecked",
    "unchecked_constructor",
]

#: pricing rules, in the spec's order; ``uniform`` is the default
PRICING_RULES: tuple[str, ...] = ("uniform", "pay_as_bid", "first_rejected")
#: clearing outcomes
STATUSES: tuple[str, ...] = ("FILLED", "PARTIAL", "UNFILLED")
#: exclusion reasons: the four eligibility reasons in the order they are tested, then the two
#: reasons that come from allocation (``NOT_ALLOCATED``) and confirmation (``INSUFFICIENT_FUNDS``)
EXCLUSION_REASONS: tuple[str, ...] = (
    "NOT_REVEALED",
    "BELOW_MIN_OFFER",
    "OFF_TICK",
    "ABOVE_RESERVE",
    "NOT_ALLOCATED",
    "INSUFFICIENT_FUNDS",
)
#: amounts and rates are stored in int64 columns by the vectorised clearing
INT64_MAX = 2**63 - 1
#: times are exact in float64 up to 2**53 seconds, so they may be ints or floats
MAX_TIME_S = 2**53


class FieldError(ValueError):
    """Bad value for one field: ``"{field}={value}: {rule}"`` (value shown as JSON)."""

    def __init__(self, field: str, value: Any, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"{field}={show(value)}: {rule}")

    def prefixed(self, path: str) -> FieldError:
        """The same error with the field renamed to ``path`` (e.g. ``offers[2].amount_cents``)."""
        return FieldError(path, self.value, self.rule)


def show(value: Any) -> str:
    """Render ``value`` for an error message: JSON-like, on one line, shortened to 60 characters.

    Strings are JSON-quoted with every non-printable character escaped (``"a\\n"``,
    ``"\\u2028"``), so a message is always exactly one line; integers too long to print
    (Python refuses ``repr`` beyond 4300 digits) are shown by size."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = one_line(value)
    elif isinstance(value, int) and value.bit_length() > 200:
        text = f"<integer of about {value.bit_length() * 0.30103:.0f} digits>"
    else:
        text = printable(repr(value))
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(text: str) -> str:
    """``text`` JSON-quoted, with every non-printable character (newlines, U+2028, ...) escaped."""
    return printable(json.dumps(text, ensure_ascii=False))


def printable(text: str) -> str:
    """``text`` with each non-printable character replaced by its Python escape (``\\u2028``)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def check_int(field: str, value: Any, lo: int | None = 0, hi: int | None = INT64_MAX) -> int:
    """``value`` as an ``int`` in ``[lo, hi]``; bools, floats and strings are refused."""
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise FieldError(field, value, _int_rule(lo, hi))
        value = value.__index__()
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise FieldError(field, value, _int_rule(lo, hi))
    return value


def _int_rule(lo: int | None, hi: int | None) -> str:
    if lo == 1 and hi == INT64_MAX:
        return "must be a positive integer below 2**63"
    if lo == 0 and hi == INT64_MAX:
        return "must be a non-negative integer below 2**63"
    return f"must be an integer in [{lo}, {hi}]"


def check_time(field: str, value: Any) -> int | float:
    """A time in seconds: an ``int`` or finite ``float`` in ``[0, 2**53]``."""
    if type(value) is float:
        if math.isfinite(value) and 0 <= value <= MAX_TIME_S:
            return value
    elif type(value) is int or (hasattr(value, "__index__") and not isinstance(value, bool)):
        value = value.__index__()
        if 0 <= value <= MAX_TIME_S:
            return value
    raise FieldError(field, value, "must be a non-negative number of seconds <= 2**53")


def check_str(field: str, value: Any) -> str:
    """A non-empty ``str``."""
    if type(value) is not str or not value:
        raise FieldError(field, value, "must be a non-empty string")
    return value


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class AuctionRules:
    """Per-auction rules; defaults as in the spec.  Times in seconds, money in cents."""

    tick_bps: int = 5
    max_offers_per_lender: int = 3
    cooldown_s: int = 60
    snipe_window_s: int = 120
    snipe_extension_s: int = 600
    max_extensions: int = 6
    ttl_s: int = 86400
    reveal_window_s: int = 600
    min_offer_cents: int = 1000
    min_fill_ratio: float = 1.0
    pricing: str = "uniform"
    platform_fee_bps: int = 50

    def __post_init__(self) -> None:
        p = "rules."
        _set(self, "tick_bps", check_int(p + "tick_bps", self.tick_bps, lo=1))
        _set(
            self,
            "max_offers_per_lender",
            check_int(p + "max_offers_per_lender", self.max_offers_per_lender, lo=1),
        )
        for name in ("cooldown_s", "snipe_window_s", "snipe_extension_s", "max_extensions"):
            _set(self, name, check_int(p + name, getattr(self, name), lo=0))
        for name in ("ttl_s", "reveal_window_s"):
            _set(self, name, check_int(p + name, getattr(self, name), lo=1))
        _set(self, "min_offer_cents", check_int(p + "min_offer_cents", self.min_offer_cents))
        r = self.min_fill_ratio
        if isinstance(r, bool) or type(r) not in (int, float) or not 0 < r <= 1:
            if hasattr(r, "__float__") and not isinstance(r, bool | str) and 0 < float(r) <= 1:
                r = float(r)  # numpy floats
            else:
                raise FieldError(p + "min_fill_ratio", r, "must be a number in (0, 1]")
        _set(self, "min_fill_ratio", float(r))
        if self.pricing not in PRICING_RULES:
            raise FieldError(
                p + "pricing", self.pricing, "must be one of " + ", ".join(PRICING_RULES)
            )
        _set(
            self,
            "platform_fee_bps",
            check_int(p + "platform_fee_bps", self.platform_fee_bps, lo=0, hi=10_000),
        )

    def min_fill_cents(self, amount_cents: int) -> int:
        """⌈min_fill_ratio × amount⌉, exact: the ratio is read as its shortest decimal form
        (0.9 means 9/10, not the binary double 0.9000000000000000222...)."""
        num, den = _decimal_ratio(self.min_fill_ratio)
        return -((-num * amount_cents) // den)

    def fee_cents(self, filled_cents: int) -> int:
        """Platform fee ⌈F × platform_fee_bps / 10000⌉ in cents."""
        return -((-filled_cents * self.platform_fee_bps) // 10_000)


@dataclass(frozen=True, slots=True)
class AuctionRequest:
    """A borrower's request: ``amount_cents`` (> 0) at no more than ``max_rate_bps`` (the reserve)."""

    auction_id: int
    borrower: str
    amount_cents: int
    max_rate_bps: int
    term_months: int
    opened_at: int | float = 0

    def __post_init__(self) -> None:
        a, m, n, t = self.amount_cents, self.max_rate_bps, self.term_months, self.opened_at
        if (  # the common case needs no normalising; anything else gets the full checks
            type(self.auction_id) is int
            and 0 <= self.auction_id <= INT64_MAX
            and type(self.borrower) is str
            and self.borrower
            and type(a) is int
            and 1 <= a <= INT64_MAX
            and type(m) is int
            and 0 <= m <= INT64_MAX
            and type(n) is int
            and 1 <= n <= INT64_MAX
            and type(t) is float
            and 0.0 <= t <= MAX_TIME_S  # also refuses nan (inf > MAX_TIME_S)
        ):
            return
        p = "request."
        _set(self, "auction_id", check_int(p + "auction_id", self.auction_id))
        check_str(p + "borrower", self.borrower)
        _set(self, "amount_cents", check_int(p + "amount_cents", self.amount_cents, lo=1))
        _set(self, "max_rate_bps", check_int(p + "max_rate_bps", self.max_rate_bps))
        _set(self, "term_months", check_int(p + "term_months", self.term_months, lo=1))
        _set(self, "opened_at", check_time(p + "opened_at", self.opened_at))


@dataclass(frozen=True, slots=True)
class Offer:
    """A lender's offer to fund ``amount_cents`` at ``rate_bps``.

    ``revealed=False`` means the offer was never (validly) revealed; its amount and rate are
    then unknown and may be given as 0.  A revealed offer needs ``amount_cents > 0``.
    """

    offer_id: str
    lender: str
    amount_cents: int
    rate_bps: int
    committed_at: int | float
    revealed: bool = True

    def __post_init__(self) -> None:
        p = "offer."
        check_str(p + "offer_id", self.offer_id)
        check_str(p + "lender", self.lender)
        if type(self.revealed) is not bool:
            raise FieldError(p + "revealed", self.revealed, "must be true or false")
        if self.revealed:
            if type(self.amount_cents) is not int or self.amount_cents < 1:
                a = check_int(p + "amount_cents", self.amount_cents, lo=1)
                _set(self, "amount_cents", a)
        else:
            _set(self, "amount_cents", check_int(p + "amount_cents", self.amount_cents))
        if type(self.rate_bps) is not int or self.rate_bps < 0:
            _set(self, "rate_bps", check_int(p + "rate_bps", self.rate_bps))
        _set(self, "committed_at", check_time(p + "committed_at", self.committed_at))
        if self.amount_cents > INT64_MAX or self.rate_bps > INT64_MAX:
            field = "amount_cents" if self.amount_cents > INT64_MAX else "rate_bps"
            check_int(p + field, getattr(self, field))


@lru_cache(maxsize=64)
def _decimal_ratio(x: float) -> tuple[int, int]:
    """``x`` read as its shortest decimal form, as ``(numerator, denominator)``."""
    f = Fraction(repr(x))
    return f.numerator, f.denominator


def unchecked_constructor(cls: type, doc: str) -> Any:
    """A function ``(field1, field2, ...) -> cls`` building a frozen slots dataclass WITHOUT
    ``__init__`` / ``__post_init__``, with no defaults and no checks.  The result equals
    (``==``, ``hash``, ``repr``) the instance ``cls(...)`` would build from the same valid
    values, is of type ``cls`` and just as frozen.  For internal records whose inputs were
    already validated.

    How: the instance is first made as a plain (non-frozen) *layout twin* of ``cls`` — a class
    with the same base and the same ``__slots__`` in the same order, so each field lands at the
    same offset — whose fields are set by ordinary attribute stores; then its ``__class__`` is
    set to ``cls`` (CPython allows this exactly when the two layouts are compatible, and checks
    it).  That is 2-3x cheaper than ``object.__setattr__`` per field (the frozen ``__init__``)
    and than calling each slot's descriptor.  Building the constructor checks, on a probe
    instance, that every field reads back as stored, so a ``cls`` the trick does not fit
    (not slots-only, a ``__weakref__`` slot, ...) fails here at import time, not later."""
    names = [f.name for f in fields(cls)]
    if tuple(getattr(cls, "__slots__", ())) != tuple(names) or cls.__bases__ != (object,):
        raise TypeError(f"unchecked_constructor needs a slots dataclass on object, got {cls}")
    twin = type(f"_{cls.__name__}Layout", (), {"__slots__": tuple(names)})
    env = {"_twin": twin, "_cls": cls}
    body = "".join(f"    o.{name} = {name}\n" for name in names)
    src = (
        f"def make({', '.join(names)}):\n    o = _twin()\n{body}"
        "    o.__class__ = _cls\n    return o\n"
    )
    exec(src, env)  # generated from the dataclass's own field names, like dataclasses does
    make = env["make"]
    probe = [object() for _ in names]
    made = make(*probe)
    if type(made) is not cls or not all(
        getattr(made, n) is v for n, v in zip(names, probe, strict=True)
    ):
        raise TypeError(f"unchecked_constructor: {cls} does not take a layout twin")
    make.__name__ = make.__qualname__ = f"{cls.__name__.lower()}_unchecked"
    make.__module__ = cls.__module__
    make.__doc__ = doc
    return make


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one winning offer funds (``amount_cents``) and the rate it earns (``rate_bps``)."""

    offer_id: str
    lender: str
    amount_cents: int
    rate_bps: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "lender": self.lender,
            "amount_cents": self.amount_cents,
            "rate_bps": self.rate_bps,
        }


@dataclass(frozen=True, slots=True)
class Exclusion:
    """An offer that funds nothing, with the reason (one of :data:`EXCLUSION_REASONS`)."""

    offer_id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"offer_id": self.offer_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class ClearingResult:
    """Outcome of clearing one auction.

    ``clearing_rate_bps`` is the marginal rate r* (``None`` when UNFILLED); ``paid_rate`` is the
    pricing rule applied; ``filled_cents`` is F; ``fee_cents`` is ⌈F × fee_bps / 10000⌉;
    ``allocations`` are in clearing order (rate, committed_at, offer_id) and carry the rate each
    winner earns; ``excluded`` lists every other offer in input order.
    """

    status: str
    clearing_rate_bps: int | None
    paid_rate: str
    filled_cents: int
    fee_cents: int
    allocations: tuple[Allocation, ...]
    excluded: tuple[Exclusion, ...]

    def to_dict(self) -> dict[str, Any]:
        """The ``ce auction clear`` JSON object, keys in the spec's order."""
        return {
            "status": self.status,
            "clearing_rate_bps": self.clearing_rate_bps,
            "paid_rate": self.paid_rate,
            "filled_cents": self.filled_cents,
            "fee_cents": self.fee_cents,
            "allocations": [a.to_dict() for a in self.allocations],
            "excluded": [e.to_dict() for e in self.excluded],
        }

    @property
    def borrower_receives_cents(self) -> int:
        """F − fee: what the borrower is paid out."""
        return self.filled_cents - self.fee_cents


offer_unchecked = unchecked_constructor(
    Offer,
    """An :class:`Offer` built WITHOUT ``__post_init__``'s checks, for callers whose values were
    already validated (e.g. :mod:`market.auction.lifecycle` revealing a checked commit): about 3x
    cheaper. Passing unchecked input here breaks the guarantees of :class:`Offer`.""",
)
allocation_unchecked = unchecked_constructor(
    Allocation,
    """An :class:`Allocation` built from already-valid values (the clearing's own), equal to
    ``Allocation(...)`` and about 3x cheaper.""",
)
exclusion_unchecked = unchecked_constructor(
    Exclusion,
    """An :class:`Exclusion` built from already-valid values, equal to ``Exclusion(...)``
    and about 2x cheaper.""",
)

"""Value types of the reverse uniform-price auction (spec: ``spec/auction.md``).

Units: money in integer centavos (``*_cents``), rates in integer basis points of APR
(``*_bps``), time in seconds of simulated time (``*_at``, ``*_s``).

Inputs are checked once, where they enter ``market/``: :class:`AuctionRules`,
:class:`AuctionRequest` and :class:`Offer` validate themselves at construction with the
rules of :mod:`market.validation` and raise :class:`~market.validation.FieldError` (a
``ValueError``) whose message names the field, the value and the rule, e.g.
``offer.amount_cents=-5: must be a positive integer below 2**63``.  Integers must be real
``int``s (``bool`` and ``float`` are refused; numpy integers are accepted and normalised to
``int``).

:class:`OfferRecord` holds the same six fields as :class:`Offer` without checks: the lifecycle
builds it from values its commit and reveal rules have already checked. The clearing reads
either (:data:`OfferLike`). The results (:class:`Allocation`, :class:`Exclusion`,
:class:`ClearingResult`, ``.to_dict()`` is the ``ce auction clear`` JSON object) are plain
records built by the clearing from checked values. Code tuples: :data:`PRICING_RULES`,
:data:`STATUSES`, :data:`EXCLUSION_REASONS`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from market.validation import (
    FLAG,
    INT64_MAX,
    MAX_TIME_S,
    NON_NEGATIVE_INT64,
    POSITIVE_INT64,
    SECONDS,
    TEXT,
    FieldError,
    Integer,
    Number,
    OneOf,
    Rule,
)

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
    "OfferLike",
    "OfferRecord",
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

#: 0 is allowed: the clearing treats S = 0 as UNFILLED on its own, so 0 accepts any partial fill
_RATIO = Number(0, 1, text="must be a number in [0, 1]")
_PRICING = OneOf(PRICING_RULES)
_FEE_BPS = Integer(0, 10_000)


def _named(prefix: str, rules: tuple[tuple[str, Rule], ...]) -> tuple[tuple[str, str, Rule], ...]:
    """``(attribute, field name in messages, rule)`` of each ``(attribute, rule)``."""
    return tuple((name, f"{prefix}.{name}", rule) for name, rule in rules)


#: each checked type's fields with their rules, in checking order
_RULES_FIELDS = _named(
    "rules",
    (
        ("tick_bps", POSITIVE_INT64),
        ("max_offers_per_lender", POSITIVE_INT64),
        ("cooldown_s", NON_NEGATIVE_INT64),
        ("snipe_window_s", NON_NEGATIVE_INT64),
        ("snipe_extension_s", NON_NEGATIVE_INT64),
        ("max_extensions", NON_NEGATIVE_INT64),
        ("ttl_s", POSITIVE_INT64),
        ("reveal_window_s", POSITIVE_INT64),
        ("min_offer_cents", NON_NEGATIVE_INT64),
        ("min_fill_ratio", _RATIO),
        ("pricing", _PRICING),
        ("platform_fee_bps", _FEE_BPS),
    ),
)
_REQUEST_FIELDS = _named(
    "request",
    (
        ("auction_id", NON_NEGATIVE_INT64),
        ("borrower", TEXT),
        ("amount_cents", POSITIVE_INT64),
        ("max_rate_bps", NON_NEGATIVE_INT64),
        ("term_months", POSITIVE_INT64),
        ("opened_at", SECONDS),
    ),
)
#: an offer's checks by ``revealed``: a revealed offer's amount must be positive, an
#: unrevealed one's may be 0 (unknown); ``revealed`` itself is checked before the amount
_OFFER_FIELDS = {
    revealed: _named(
        "offer",
        (
            ("offer_id", TEXT),
            ("lender", TEXT),
            ("revealed", FLAG),
            ("amount_cents", POSITIVE_INT64 if revealed else NON_NEGATIVE_INT64),
            ("rate_bps", NON_NEGATIVE_INT64),
            ("committed_at", SECONDS),
        ),
    )
    for revealed in (True, False)
}


def _check_fields(obj: object, fields: tuple[tuple[str, str, Rule], ...]) -> None:
    """Check each ``(attribute, field name, rule)`` of a frozen instance in ``__post_init__``,
    storing the value back only where checking normalised it (a numpy integer to ``int``)."""
    for name, field, rule in fields:
        value = getattr(obj, name)
        checked = rule.check(field, value)
        if checked is not value:
            object.__setattr__(obj, name, checked)


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
        _check_fields(self, _RULES_FIELDS)

    def min_fill_cents(self, amount_cents: int) -> int:
        """⌈min_fill_ratio × amount⌉, exact: the ratio is read as its shortest decimal form
        (0.9 means 9/10, not the binary double 0.9000000000000000222...)."""
        if self.min_fill_ratio == 1.0:
            return amount_cents
        ratio = Fraction(repr(self.min_fill_ratio))
        return -((-ratio.numerator * amount_cents) // ratio.denominator)

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
        _check_fields(self, _REQUEST_FIELDS)


@dataclass(frozen=True, slots=True)
class Offer:
    """A lender's offer to fund ``amount_cents`` at ``rate_bps``, checked at construction
    (input from outside ``market/``).

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
        _check_fields(self, _OFFER_FIELDS[self.revealed is not False])


@dataclass(slots=True)
class OfferRecord:
    """An offer's fields as :mod:`market.auction.lifecycle` records them: built from values its
    commit and reveal rules have checked, so it checks nothing itself, and never changed once
    built (like the state's dicts).  Same fields and meaning as :class:`Offer`."""

    offer_id: str
    lender: str
    amount_cents: int
    rate_bps: int
    committed_at: int | float
    revealed: bool = True


#: what the clearing reads: checked input or the lifecycle's records of checked values
OfferLike = Offer | OfferRecord


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

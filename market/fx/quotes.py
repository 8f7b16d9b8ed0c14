"""USD/BRL venue quotes: bid and ask ladders around a mid, with a fee.

Units: a price is BRL per USD (a float, as a rate); a size is USD in **integer cents**; an
amount of BRL is integer centavos (1 USD cent at price ``p`` is ``p`` centavos). A fee is
integer basis points of the BRL notional, paid on top when buying USD and taken off when
selling it, so a level's **all-in price** is ``price·(1 + fee/10⁴)`` for a buyer of USD and
``price·(1 − fee/10⁴)`` for a seller.

A :class:`VenueQuote` is checked where it is built (it is input from outside ``market/``):
each side non-empty, prices positive and finite, sizes positive int64, asks rising and bids
falling from the best level, and the best bid below the best ask (a crossed or locked book —
a negative or zero spread — is refused). :func:`ladder_quote` builds the usual shape: ``k``
levels each side at ``mid·(1 ± (spread/2 + k·step)/10⁴)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from market.validation import POSITIVE_INT64, TEXT, FieldError, Integer, Number

__all__ = ["BUY", "SELL", "Level", "VenueQuote", "ladder_quote"]

#: the router's side: BUY = the platform buys USD (pays BRL), SELL = it sells USD
BUY = "BUY"
SELL = "SELL"

_PRICE = Number(0.0, 1e6, lo_open=True, text="must be a finite price in (0, 1e6] BRL per USD")
_FEE_BPS = Integer(0, 10_000, text="must be an integer number of bps in [0, 10000]")
_SPREAD_BPS = Number(0.0, 10_000.0, lo_open=True, text="must be a number of bps in (0, 10000]")
_STEP_BPS = Number(0.0, 10_000.0, text="must be a number of bps in [0, 10000]")
_MAX_LEVELS = 1_000


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: ``size_usd_cents`` available at ``price`` (BRL per USD)."""

    price: float
    size_usd_cents: int


@dataclass(frozen=True, slots=True)
class VenueQuote:
    """A venue's book at one instant: ``bids`` and ``asks`` best first, and its fee."""

    venue: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    fee_bps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "venue", TEXT.check("venue", self.venue))
        object.__setattr__(self, "fee_bps", _FEE_BPS.check(f"{self.venue}.fee_bps", self.fee_bps))
        for side, rising in (("bids", False), ("asks", True)):
            levels = tuple(
                _level(f"{self.venue}.{side}[{i}]", x) for i, x in enumerate(getattr(self, side))
            )
            if not 1 <= len(levels) <= _MAX_LEVELS:
                raise FieldError(
                    f"{self.venue}.{side}", len(levels), f"must hold 1 to {_MAX_LEVELS} levels"
                )
            for i in range(1, len(levels)):
                a, b = levels[i - 1].price, levels[i].price
                if (b <= a) if rising else (b >= a):
                    word = "above" if rising else "below"
                    raise FieldError(
                        f"{self.venue}.{side}[{i}].price",
                        b,
                        f"must be {word} level {i - 1}'s {a!r}",
                    )
            object.__setattr__(self, side, levels)
        if self.bids[0].price >= self.asks[0].price:
            raise FieldError(
                f"{self.venue}.bids[0].price",
                self.bids[0].price,
                f"must be below the best ask {self.asks[0].price!r} (a positive spread)",
            )

    @property
    def mid(self) -> float:
        """Mid of the best bid and ask."""
        return (self.bids[0].price + self.asks[0].price) / 2.0

    def all_in(self, side: str, price: float) -> float:
        """All-in price of ``price`` for a ``BUY`` (fee on top) or ``SELL`` (fee taken off)."""
        f = self.fee_bps / 10_000.0
        return price * (1.0 + f) if side == BUY else price * (1.0 - f)

    def levels(self, side: str) -> tuple[Level, ...]:
        """The levels a ``BUY`` takes (asks) or a ``SELL`` hits (bids)."""
        return self.asks if side == BUY else self.bids


def _level(field: str, x: object) -> Level:
    if not isinstance(x, Level):
        raise FieldError(field, x, "must be a Level(price, size_usd_cents)")
    price = _PRICE.check(f"{field}.price", x.price)
    size = POSITIVE_INT64.check(f"{field}.size_usd_cents", x.size_usd_cents)
    return Level(price, size)


def ladder_quote(
    venue: str,
    mid: float,
    *,
    spread_bps: float,
    sizes_usd_cents: Sequence[int],
    step_bps: float = 0.0,
    fee_bps: int = 0,
) -> VenueQuote:
    """A symmetric ladder: level ``k`` (0 = best) of each side at
    ``mid·(1 ∓ (spread_bps/2 + k·step_bps)/10⁴)`` with ``sizes_usd_cents[k]``. ``step_bps``
    must be > 0 when there is more than one level."""
    mid = _PRICE.check(f"{venue}.mid", mid)
    spread = _SPREAD_BPS.check(f"{venue}.spread_bps", spread_bps)
    step = _STEP_BPS.check(f"{venue}.step_bps", step_bps)
    if len(sizes_usd_cents) > 1 and step == 0.0:
        raise FieldError(f"{venue}.step_bps", step_bps, "must be > 0 with more than one level")
    half = spread / 2.0
    bids, asks = [], []
    for k, size in enumerate(sizes_usd_cents):
        off = (half + k * step) / 10_000.0
        bids.append(Level(mid * (1.0 - off), size))
        asks.append(Level(mid * (1.0 + off), size))
    return VenueQuote(venue, tuple(bids), tuple(asks), fee_bps)

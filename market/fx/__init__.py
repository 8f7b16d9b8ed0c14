"""FX mechanisms: USD/BRL venue quotes, best-execution routing, VPIN and the toxicity filter.

Pure: frozen inputs and plain outputs (the streaming VPIN meter and the filter are small
objects updated in place, one per venue); no simulation, no I/O.
"""

from market.fx.quotes import BUY, SELL, Level, VenueQuote, ladder_quote
from market.fx.router import Fill, Route, route
from market.fx.vpin import ToxicityFilter, VpinMeter

__all__ = [
    "BUY",
    "SELL",
    "Fill",
    "Level",
    "Route",
    "ToxicityFilter",
    "VenueQuote",
    "VpinMeter",
    "ladder_quote",
    "route",
]

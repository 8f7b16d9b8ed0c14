"""What a scenario value may be: the base model every scenario section derives from, and the
limits that keep every accepted value one the engine and its tables can hold.

- :class:`ConfigModel`: frozen, unknown keys refused, and no ``inf``/``nan`` anywhere (also
  inside lists of numbers), so a non-finite number is refused as ``must be a finite number``
  where it is written, not found later as a crash.
- Money: one amount (a capital, a loan amount, a band cap) is at most :data:`MAX_CENTS`; the
  capital of every lender and the pool together at most :data:`MAX_TOTAL_CAPITAL_CENTS`; the
  principal the borrowers are expected to request over the horizon at most
  :data:`MAX_DEMAND_CENTS`. With the rate cap (:data:`MAX_RATE_BPS` plus headroom) and terms
  the calendar allows, everything a run repays and holds then stays below ``2**63``: the
  int64 of the ledger and the event tables.
- Time: the horizon and run-off in days (:data:`MAX_HORIZON_DAYS`, :data:`MAX_RUNOFF_DAYS`);
  one agent's delay, window or duration in seconds at most :data:`MAX_DELAY_S`.
- Seeds: :data:`Seed`, ``0 <= seed < 2**63`` (the seed is written to int64 columns and to the
  run's ``scenario.yaml``); ``sim.config.scenario.check_seed`` applies the same rule to a seed
  given elsewhere (``ce run --seed``) with the same one-line error.

Why each limit is where it is: ``docs/decisions.md``, "Scenario bounds".
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "MAX_CENTS",
    "MAX_DELAY_S",
    "MAX_DEMAND_CENTS",
    "MAX_HORIZON_DAYS",
    "MAX_INCOME_CENTS",
    "MAX_RATE_BPS",
    "MAX_RUNOFF_DAYS",
    "MAX_TERM_MONTHS",
    "MAX_TOTAL_CAPITAL_CENTS",
    "SEED_LIMIT",
    "AgentId",
    "ConfigModel",
    "Seed",
    "TermMonths",
    "Weight",
]

#: seeds are ``0 <= seed < SEED_LIMIT`` (int64 columns, the run's scenario.yaml)
SEED_LIMIT = 2**63
#: one amount of money: R$ 100 billion
MAX_CENTS = 10**13
#: the capital of all lenders and the pool together: R$ 10 trillion (about Brazil's GDP)
MAX_TOTAL_CAPITAL_CENTS = 10**15
#: principal expected to be requested over the horizon: R$ 1 quadrillion; a loan repays at most
#: ~42x its principal (1000 % a year plus headroom over 15 years), so repayments stay < 2**62
MAX_DEMAND_CENTS = 10**17
#: a borrower's median monthly income: R$ 1 million
MAX_INCOME_CENTS = 10**8
#: the policy cap of the engine and the highest CDI a path may reach: 1000 % a year
MAX_RATE_BPS = 100_000
#: the simulated horizon (requests arrive in it), days
MAX_HORIZON_DAYS = 3650.0
#: days simulated after the horizon for the loans' run-off
MAX_RUNOFF_DAYS = 5000
#: one agent's delay, window or duration (a commit delay, an auction's TTL, a retry), seconds
MAX_DELAY_S = 30 * 86_400
#: the longest loan term, months (the business-day calendar then decides what can be priced)
MAX_TERM_MONTHS = 360


class ConfigModel(BaseModel):
    """Base of every scenario model: frozen, unknown keys refused, finite numbers only."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


#: a root seed (``Scenario.seed``, ``model.training_seed``, ``ce run --seed``)
Seed = Annotated[int, Field(ge=0, lt=SEED_LIMIT)]
#: a relative weight in a list of weights (arrival profiles, term weights)
Weight = Annotated[float, Field(ge=0.0, le=1e6)]
#: a loan term in months
TermMonths = Annotated[int, Field(ge=1, le=MAX_TERM_MONTHS)]

_AGENT_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _agent_id(v: str) -> str:
    if not _AGENT_ID.fullmatch(v):
        raise ValueError("must match [A-Za-z0-9_.-]{1,64}")
    return v


#: the id of a configured agent (a feeder, an FX venue): 1 to 64 of ``[A-Za-z0-9_.-]``
AgentId = Annotated[str, AfterValidator(_agent_id)]

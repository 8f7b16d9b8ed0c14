"""The liquidity-pool lender: deposits backed 1:1 by pool tokens, one offer per auction.

Depositors bring ``capital_cents`` at t=0 into the pool's cash account ``pool:<id>`` and
receive as many pool tokens (1 token per centavo). The pool bids in each auction (with
probability ``participation``) ``commit_delay_s`` after opening, for

    amount = min(max_share_per_loan * amount_cents, free cash,
                 overcommit * free cash - open offers), whole reais
    rate   = ceil_to_tick((cdi_apr + reservation_spread + pd * lgd) / (1 - pd))

and stays out when that rate is above the reserve. It always reveals, one second after the
close.

Utilisation is tracked exactly: ``deployed_cents`` is the principal the pool has funded and
not yet been repaid (or written off); :meth:`Pool.set_deployed` integrates ``deployed /
capital`` over simulated time, so :meth:`Pool.utilisation` is the time-weighted mean over a
window (the engine reads it at the end of the request horizon). The net asset value per token is ``(cash + deployed) / tokens``.
"""

from __future__ import annotations

import math

import numpy as np

from market.auction.commitment import lender_address
from sim.agents.lenders import PlannedCommit
from sim.config.market import PoolConfig
from sim.ledger.book import pool as pool_account

__all__ = ["Pool"]

#: Lender id prefix of the pool in offers and allocations.
POOL_LENDER_PREFIX = "pool-"


class Pool:
    """State of the liquidity pool (see the module docstring)."""

    def __init__(self, cfg: PoolConfig) -> None:
        self.cfg = cfg
        self.lender_id = POOL_LENDER_PREFIX + cfg.pool_id
        self.account = pool_account(cfg.pool_id)
        #: the pool's address in commitments (derived from its lender id)
        self.address = lender_address(self.lender_id)
        self.tokens = 0
        self.deposited_cents = 0
        self._deployed = 0
        self._t_last = 0.0
        self._area = 0.0  # integral of deployed_cents dt over [0, t_last]
        #: cents in the pool's offers of auctions not yet concluded
        self.open_cents = 0

    # ------------------------------------------------------------------ tokens
    def deposit(self, amount_cents: int) -> int:
        """Record a deposit and mint tokens 1:1; returns tokens minted."""
        if amount_cents <= 0:
            raise ValueError(f"pool deposit amount_cents={amount_cents}: must be > 0")
        self.deposited_cents += amount_cents
        self.tokens += amount_cents
        return amount_cents

    # ------------------------------------------------------------------ utilisation
    @property
    def deployed_cents(self) -> int:
        """Principal funded by the pool and still outstanding (centavos)."""
        return self._deployed

    def add_deployed(self, t_s: float, delta_cents: int) -> None:
        """Change the deployed principal by ``delta_cents`` at time ``t_s`` (non-decreasing)."""
        self._advance(t_s)
        self._deployed += delta_cents
        if self._deployed < 0:
            raise ValueError(
                f"pool deployed_cents={self._deployed} after delta {delta_cents}: must be >= 0"
            )

    def _advance(self, t_s: float) -> None:
        if t_s < self._t_last:
            raise ValueError(f"pool time t_s={t_s} < last update {self._t_last}: must not go back")
        self._area += self._deployed * (t_s - self._t_last)
        self._t_last = t_s

    def utilisation(self, t_end: float) -> float:
        """Time-weighted mean of ``deployed / deposited`` over ``[0, t_end]``; call it at
        simulated time ``t_end`` (not after a later change)."""
        if self.deposited_cents == 0 or t_end <= 0:
            return 0.0
        self._advance(t_end)
        return self._area / (self.deposited_cents * t_end)

    def nav_per_token(self, cash_cents: int) -> float:
        """Net asset value per token: ``(cash + deployed) / tokens`` (1.0 at inception)."""
        return (cash_cents + self._deployed) / self.tokens if self.tokens else math.nan

    # ------------------------------------------------------------------ bidding
    def plan(
        self,
        *,
        t0: float,
        amount_cents: int,
        max_rate_bps: int,
        pd: float,
        lgd: float,
        cdi_apr: float,
        tick_bps: int,
        min_offer_cents: int,
        free_cents: int,
        rng: np.random.Generator,
    ) -> PlannedCommit | None:
        """The pool's commit for one auction, or ``None`` when it stays out."""
        cfg = self.cfg
        if not cfg.enabled:
            return None
        if cfg.participation < 1.0 and rng.random() >= cfg.participation:
            return None
        room = max(0, int(free_cents * cfg.overcommit) - self.open_cents)
        amt = min(int(amount_cents * cfg.max_share_per_loan), free_cents, room) // 100 * 100
        if amt < min_offer_cents:
            return None
        r_res = (cdi_apr + cfg.reservation_spread_bps / 1e4 + pd * lgd) / (1.0 - pd) * 1e4
        rate = math.ceil(r_res / tick_bps - 1e-9) * tick_bps
        if rate > max_rate_bps:
            return None
        self.open_cents += amt
        return PlannedCommit(
            lender=self.lender_id,
            account=self.account,
            address=self.address,
            amount_cents=amt,
            rate_bps=rate,
            at=t0 + cfg.commit_delay_s,
            lead_s=0.0,
            reveal_after_s=1.0,
            strategy="pool",
        )

    def release(self, commits: list[PlannedCommit]) -> None:
        """Forget the open amounts of the pool's ``commits`` (their auction concluded)."""
        for c in commits:
            if c.lender == self.lender_id:
                self.open_cents -= c.amount_cents

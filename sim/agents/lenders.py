"""Lenders: a population built from ``lenders.groups`` and their per-auction bidding plans.

Each lender has an id ``<group>-<index>`` (zero-padded, e.g. ``retail-007``), a free-cash
ledger account ``lender:<id>:free`` funded with ``capital_cents`` at t=0, and a reservation
spread over CDI drawn once from its group's distribution.

For an auction opened at ``t0`` for ``amount_cents`` with reserve ``max_rate_bps``, published
model PD ``pd`` and the engine's LGD, a lender's reservation rate (annual, APR-365) is

    r_res = (cdi_apr + spread + noise + pd * lgd) / (1 - pd)

with ``noise ~ N(0, noise_bps)`` per auction. :meth:`LenderBook.plan` decides, vectorised over
all lenders, who bids (``participation``, enough free cash for ``min_offer_cents``), how much
(``U(min_loan_share, max_loan_share) * amount`` capped by ``max_offer_capital_share *
capital``, by its free cash, and by ``overcommit * free - open``, where ``open`` is what it
already has in offers of auctions not yet concluded; whole reais) and at what rate (rounded UP to the tick; nobody bids
above the reserve: a lender whose ``r_res`` exceeds it stays out, a shader caps its bid at it):

- ``truthful``: one commit at ``t0 + Exp(commit_delay_mean_s)`` at ``r_res``;
- ``shading``: the same at ``r_res + shade_bps``;
- ``late_sniper``: ``n_offers`` commits, each ``snipe_lead_s`` before the *current* close,
  at ``r_res + shade_bps`` (the auction runner schedules them as the close moves);
- ``multi_offer_manipulator``: ``n_offers`` commits ``offer_spacing_s`` apart from its first
  commit time, the amount split evenly, rates laddered up by ``ladder_step_bps``.

Commits drawn after the TTL are dropped (the lender came too late). Every commit also gets its
reveal behaviour: it is never revealed with probability ``reveal_fail_prob``, else revealed
``U(0, reveal_delay_max_s)`` after the close. Lenders do not reserve cash for open offers
beyond ``overcommit`` (capital is locked only at confirmation), so with ``overcommit > 1`` a
busy lender can be caught short then (``INSUFFICIENT_FUNDS``). The runner calls
:meth:`LenderBook.release` when an auction concludes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from sim.config.market import LendersConfig
from sim.ledger import lender_free

__all__ = ["STRATEGIES", "LenderBook", "PlannedCommit", "build_lenders"]

#: Strategy names in code order (the ``strategy`` code of a lender indexes this tuple).
STRATEGIES: tuple[str, ...] = ("truthful", "shading", "late_sniper", "multi_offer_manipulator")
_TRUTHFUL, _SHADING, _SNIPER, _MANIP = range(4)


class PlannedCommit(NamedTuple):
    """One commit a lender intends to make.

    ``at`` is an absolute time (seconds), or ``None`` for a sniper commit made ``lead_s``
    before whatever the close is then. ``reveal_after_s`` is the delay after the close at
    which it is revealed, ``None`` when it never is. ``index`` is the lender's number in the
    :class:`LenderBook` (-1 for a lender outside it, e.g. the pool).
    """

    lender: str
    account: str
    amount_cents: int
    rate_bps: int
    at: float | None
    lead_s: float
    reveal_after_s: float | None
    strategy: str
    index: int = -1


class LenderBook:
    """All lenders as column arrays (index = lender number), plus their bidding logic."""

    def __init__(self, cfg: LendersConfig, rng: np.random.Generator) -> None:
        ids: list[str] = []
        cols: dict[str, list[float]] = {
            k: []
            for k in (
                "capital",
                "spread",
                "noise",
                "strategy",
                "participation",
                "min_share",
                "max_share",
                "max_cap_share",
                "delay_mean",
                "overcommit",
                "reveal_max",
                "reveal_fail",
                "shade",
                "lead",
                "n_offers",
                "spacing",
                "ladder",
            )
        }
        group_of: list[str] = []
        for g in cfg.groups:
            width = max(3, len(str(g.count - 1)))
            s = g.reservation_spread
            spreads = np.clip(
                np.rint(s.mean_bps + s.sd_bps * rng.standard_normal(g.count)),
                s.min_bps,
                s.max_bps,
            )
            for i in range(g.count):
                ids.append(f"{g.name}-{i:0{width}d}")
                group_of.append(g.name)
                cols["capital"].append(g.capital_cents)
                cols["spread"].append(float(spreads[i]))
                cols["noise"].append(g.noise_bps)
                cols["strategy"].append(STRATEGIES.index(g.strategy))
                cols["participation"].append(g.participation)
                cols["min_share"].append(g.min_loan_share)
                cols["max_share"].append(g.max_loan_share)
                cols["max_cap_share"].append(g.max_offer_capital_share)
                cols["delay_mean"].append(g.commit_delay_mean_s)
                cols["overcommit"].append(g.overcommit)
                cols["reveal_max"].append(g.reveal_delay_max_s)
                cols["reveal_fail"].append(g.reveal_fail_prob)
                cols["shade"].append(g.shade_bps)
                cols["lead"].append(g.snipe_lead_s)
                cols["n_offers"].append(g.n_offers)
                cols["spacing"].append(g.offer_spacing_s)
                cols["ladder"].append(g.ladder_step_bps)
        self.ids: tuple[str, ...] = tuple(ids)
        self.accounts: tuple[str, ...] = tuple(lender_free(i) for i in ids)
        self.groups: tuple[str, ...] = tuple(group_of)
        self.capital_cents: np.ndarray = np.asarray(cols.pop("capital"), dtype=np.int64)
        self.strategy: np.ndarray = np.asarray(cols.pop("strategy"), dtype=np.int64)
        self.n_offers: np.ndarray = np.asarray(cols.pop("n_offers"), dtype=np.int64)
        self._f = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
        # per-offer cap from diversification, whole reais
        self._cap_cents = np.floor(self.capital_cents * self._f["max_cap_share"] / 100.0) * 100.0
        #: cents each lender has in offers of auctions not yet concluded
        self.open_cents = np.zeros(len(ids), dtype=np.float64)
        self._commits_held = np.where(self.strategy == _SNIPER, self.n_offers, 1).astype(float)
        # one row per lender, the columns plan() needs (a single fancy index per auction)
        f = self._f
        self._params = np.column_stack(
            [
                f["min_share"],
                f["max_share"] - f["min_share"],
                f["overcommit"],
                self._cap_cents,
                f["spread"],
                f["noise"],
                np.where(self.strategy == _TRUTHFUL, 0.0, f["shade"]),
                f["delay_mean"],
                f["reveal_fail"],
                f["reveal_max"],
            ]
        )

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def spread_bps(self) -> np.ndarray:
        """Reservation spread over CDI of each lender (bps, float64)."""
        return self._f["spread"]

    def plan(
        self,
        *,
        t0: float,
        ttl_s: float,
        amount_cents: int,
        max_rate_bps: int,
        pd: float,
        lgd: float,
        cdi_apr: float,
        tick_bps: int,
        min_offer_cents: int,
        free_cents: Callable[[str], int],
        rng: np.random.Generator,
    ) -> list[PlannedCommit]:
        """The commits all lenders intend for one auction, in lender order (see module doc).

        ``free_cents(account)`` returns a lender's current free balance. Draws come from
        ``rng`` in a fixed order, so the plan is deterministic given its state.
        """
        n = len(self.ids)
        u = rng.random(n)
        idx = np.flatnonzero(u < self._f["participation"])
        k = idx.size
        if k == 0:
            return []
        draws = rng.random((4, k))  # share, reveal fail, reveal delay, commit-delay uniform
        noise_z = rng.standard_normal(k)
        accounts = self.accounts
        idx_l = idx.tolist()
        free = np.array([free_cents(accounts[i]) for i in idx_l], dtype=np.float64)
        (lo, span, over, cap, spread, noise, shade, delay_mean, rfail, rmax) = self._params[idx].T
        share = lo + draws[0] * span
        strat = self.strategy[idx]
        # a sniper holds n_offers commits of the same amount open at once
        room = (free * over - self.open_cents[idx]) / self._commits_held[idx]
        amt = np.minimum(np.minimum(np.minimum(amount_cents * share, cap), free), room)
        amt = np.floor(amt / 100.0) * 100.0
        r_res_bps = (cdi_apr + (spread + noise * noise_z) / 1e4 + pd * lgd) / (1.0 - pd) * 1e4
        bid = np.minimum(r_res_bps + shade, float(max_rate_bps))
        rate = np.ceil(bid / tick_bps - 1e-9) * tick_bps
        t_commit = t0 - np.log1p(-draws[3]) * delay_mean
        ok = (amt >= min_offer_cents) & (r_res_bps <= max_rate_bps) & (rate <= max_rate_bps)
        ok &= (strat == _SNIPER) | (t_commit < t0 + ttl_s)
        reveal_after = np.where(draws[1] < rfail, -1.0, draws[2] * rmax)
        out: list[PlannedCommit] = []
        if not ok.any():
            return out
        ids = self.ids
        oc = self.open_cents
        for i, ok_j, s, a, r, tc, rv in zip(
            idx_l,
            ok.tolist(),
            strat.tolist(),
            amt.astype(np.int64).tolist(),
            rate.astype(np.int64).tolist(),
            t_commit.tolist(),
            reveal_after.tolist(),
            strict=True,
        ):
            if not ok_j:
                continue
            rv_opt = None if rv < 0 else rv
            name = STRATEGIES[s]
            if s <= _SHADING:
                out.append(PlannedCommit(ids[i], accounts[i], a, r, tc, 0.0, rv_opt, name, i))
                oc[i] += a
            elif s == _SNIPER:
                lead = float(self._f["lead"][i])
                m = int(self.n_offers[i])
                for _ in range(m):
                    out.append(
                        PlannedCommit(ids[i], accounts[i], a, r, None, lead, rv_opt, name, i)
                    )
                oc[i] += a * m
            else:
                m = int(self.n_offers[i])
                part = (a // m) // 100 * 100
                if part < min_offer_cents:
                    m, part = 1, a
                first = a - part * (m - 1)
                spacing = float(self._f["spacing"][i])
                step = int(self._f["ladder"][i])
                t_first = tc
                for q in range(m):
                    rq = min(r + q * step, max_rate_bps)
                    rq = rq - rq % tick_bps
                    out.append(
                        PlannedCommit(
                            ids[i],
                            accounts[i],
                            first if q == 0 else part,
                            rq,
                            t_first + q * spacing,
                            0.0,
                            rv_opt,
                            name,
                            i,
                        )
                    )
                self.open_cents[i] += a
        return out

    def release(self, commits: list[PlannedCommit]) -> None:
        """Forget the open amounts of ``commits`` (their auction concluded)."""
        oc = self.open_cents
        for c in commits:
            if c.index >= 0:
                oc[c.index] -= c.amount_cents


def build_lenders(cfg: LendersConfig, rng: np.random.Generator) -> LenderBook:
    """Build the lender population (spreads drawn from ``rng``)."""
    return LenderBook(cfg, rng)

"""Lenders: a population built from ``lenders.groups`` and their per-auction bidding plans.

Each lender has an id ``<group>-<index>`` (zero-padded, e.g. ``retail-007``), a free-cash
ledger account ``lender:<id>:free`` funded with ``capital_cents`` at t=0, and a reservation
spread over CDI drawn once from its group's distribution.

For an auction opened at ``t0`` for ``amount_cents`` with reserve ``max_rate_bps``, published
model PD ``pd`` and the engine's LGD, a lender's reservation rate (annual, APR-365) is

    r_res = (cdi_apr + spread + noise + pd * lgd) / (1 - pd)

with ``noise ~ N(0, noise_bps)`` per auction. :meth:`LenderBook.plan` decides who bids (each
lender independently with its group's ``participation``, and only with enough free cash for
``min_offer_cents``), how much (``U(min_loan_share, max_loan_share) * amount`` capped by
``max_offer_capital_share * capital``, by its free cash, and by ``overcommit * free - open``,
where ``open`` is what it already has in offers of auctions not yet concluded; whole reais)
and at what rate (rounded UP to the tick; nobody bids above the reserve: a lender whose
``r_res`` exceeds it stays out, a shader caps its bid at it):

- ``truthful``: one commit at ``t0 + Exp(commit_delay_mean_s)`` at ``r_res``;
- ``shading``: the same at ``r_res + shade_bps``;
- ``late_sniper``: ``n_offers`` commits, each ``snipe_lead_s`` before the *current* close,
  at ``r_res + shade_bps`` (the auction runner schedules them as the close moves);
- ``multi_offer_manipulator``: ``n_offers`` commits ``offer_spacing_s`` apart from its first
  commit time, the amount split evenly, rates laddered up by ``ladder_step_bps``.

Commits drawn after the TTL are dropped (the lender came too late). A participant's commits
also get its reveal behaviour: never revealed with probability ``reveal_fail_prob``, else
revealed ``U(0, reveal_delay_max_s)`` after the close. Lenders do not reserve cash for open
offers beyond ``overcommit`` (capital is locked only at confirmation), so with ``overcommit >
1`` a busy lender can be caught short then (``INSUFFICIENT_FUNDS``). The runner calls
:meth:`LenderBook.release` when an auction concludes.

Draws (all from the ``rng`` handed to :meth:`LenderBook.plan`; an auction has ~10 participants
among ~1,600 lenders, so the plan is plain Python over per-lender records, not numpy calls):

1. *Participants.* The lenders of a group, auction after auction, form one sequence of
   independent Bernoulli(``participation``) trials; its successes are found by jumping over
   ``Geometric(participation)`` gaps (the exact distribution of the distance between
   successes), so no uniform is drawn per lender. Each group keeps its gap buffer
   (``rng.geometric(p, 1024)``, refilled when used up) and the offset of its next
   participant in the next auction. A group with ``participation = 0`` never bids.
2. *Per participant, in lender order:* four uniforms — loan share, reveal failure, reveal
   delay, commit delay (``Exp`` by inversion, ``-log(1 - u) * mean``) — and one standard
   normal (the rate noise), taken from buffers of ``rng.random(4096)`` and
   ``rng.standard_normal(4096)`` (refilled, keeping what is left, when an auction needs
   more). They are consumed whether or not the participant ends up bidding.
3. ``free_cents`` is asked only for participants whose rate and commit time pass.

The buffers belong to the book and to the generator they came from (a different generator
starts fresh buffers), so a run's plans are a deterministic function of that generator's
state when it was first handed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from market.auction.commitment import lender_address
from sim.config.market import LendersConfig
from sim.ledger.book import lender_free

__all__ = ["STRATEGIES", "LenderBook", "PlannedCommit", "build_lenders"]

#: Strategy names in code order (the ``strategy`` code of a lender indexes this tuple).
STRATEGIES: tuple[str, ...] = ("truthful", "shading", "late_sniper", "multi_offer_manipulator")
_TRUTHFUL, _SHADING, _SNIPER, _MANIP = range(4)
#: uniforms / normals drawn per refill of the book's buffers
_BLOCK = 4096
#: geometric participation gaps drawn per refill of a group's buffer
_GAP_BLOCK = 1024
#: offset of a group whose participation is 0 (it never bids)
_NEVER = 2**62


@dataclass(slots=True, kw_only=True)
class PlannedCommit:
    """One commit a lender intends to make.

    ``address`` is the lender's address in commitments
    (:func:`market.auction.commitment.lender_address` of its id), ``account`` its free-cash
    ledger account. ``at`` is an absolute time (seconds), or ``None`` for a sniper commit made
    ``lead_s`` before whatever the close is then. ``reveal_after_s`` is the delay after the
    close at which it is revealed, ``None`` when it never is. ``index`` is the lender's number
    in the :class:`LenderBook` (-1 for a lender outside it, e.g. the pool).
    """

    lender: str
    account: str
    address: str
    amount_cents: int
    rate_bps: int
    at: float | None
    lead_s: float
    reveal_after_s: float | None
    strategy: str
    index: int = -1


@dataclass(slots=True, frozen=True, kw_only=True)
class _Bidder:
    """What :meth:`LenderBook.plan` reads of one lender (plain Python numbers: cheaper than
    numpy's per-call overhead for the ~10 participants of an auction). Rates are fractions
    (``spread``, ``noise``), ``shade`` is in bps, ``held`` the commits a lender holds at once."""

    index: int
    lender: str
    account: str
    address: str
    strategy: int
    strategy_name: str
    min_share: float
    share_span: float
    overcommit: float
    cap_cents: float
    spread: float
    noise: float
    shade: float
    delay_mean_s: float
    reveal_fail: float
    reveal_max_s: float
    held: float
    n_offers: int
    lead_s: float
    spacing_s: float
    ladder_bps: int

    def planned(
        self,
        amount_cents: int,
        rate_bps: int,
        *,
        at: float | None,
        lead_s: float,
        reveal_after_s: float | None,
    ) -> PlannedCommit:
        """A commit of this lender."""
        return PlannedCommit(
            lender=self.lender,
            account=self.account,
            address=self.address,
            amount_cents=amount_cents,
            rate_bps=rate_bps,
            at=at,
            lead_s=lead_s,
            reveal_after_s=reveal_after_s,
            strategy=self.strategy_name,
            index=self.index,
        )


class LenderBook:
    """All lenders as column arrays (index = lender number), plus their bidding logic."""

    _u: list[float]
    _uj: int
    _z: list[float]
    _zj: int
    _gaps: list[list[int]]
    _gj: list[int]
    _gnext: list[int]

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
        #: cents each lender has in offers of auctions not yet concluded (see ``open_cents``)
        self._open: list[int] = [0] * len(ids)
        f = self._f
        strategy = self.strategy.tolist()
        held_commits = np.where(self.strategy == _SNIPER, self.n_offers, 1).astype(float)
        shade = np.where(self.strategy == _TRUTHFUL, 0.0, f["shade"])
        #: each lender's address in commitments (derived from its id once, here)
        self.addresses: tuple[str, ...] = tuple(lender_address(i) for i in ids)
        col = {k: v.tolist() for k, v in f.items()}
        cap, shades, held = self._cap_cents.tolist(), shade.tolist(), held_commits.tolist()
        n_offers = self.n_offers.tolist()
        self._bidders: tuple[_Bidder, ...] = tuple(
            _Bidder(
                index=i,
                lender=self.ids[i],
                account=self.accounts[i],
                address=self.addresses[i],
                strategy=strategy[i],
                strategy_name=STRATEGIES[strategy[i]],
                min_share=col["min_share"][i],
                share_span=col["max_share"][i] - col["min_share"][i],
                overcommit=col["overcommit"][i],
                cap_cents=cap[i],
                spread=col["spread"][i] / 1e4,
                noise=col["noise"][i] / 1e4,
                shade=shades[i],
                delay_mean_s=col["delay_mean"][i],
                reveal_fail=col["reveal_fail"][i],
                reveal_max_s=col["reveal_max"][i],
                held=held[i],
                n_offers=n_offers[i],
                lead_s=col["lead"][i],
                spacing_s=col["spacing"][i],
                ladder_bps=int(col["ladder"][i]),
            )
            for i in range(len(ids))
        )
        # groups as (first lender, count, participation), in config order
        self._groups: tuple[tuple[int, int, float], ...] = ()
        start = 0
        for g in cfg.groups:
            self._groups += ((start, g.count, float(g.participation)),)
            start += g.count
        self._rng: np.random.Generator | None = None  # the generator the buffers come from

    def _bind(self, rng: np.random.Generator) -> None:
        """Start fresh draw buffers from ``rng`` (first plan, or a different generator)."""
        self._rng = rng
        self._u: list[float] = []  # uniforms, consumed from _uj on
        self._uj = 0
        self._z: list[float] = []  # standard normals, consumed from _zj on
        self._zj = 0
        #: per group: its geometric gaps, the next one to use, and the offset (from the group's
        #: first lender in the next auction) of its next participant
        self._gaps: list[list[int]] = []
        self._gj: list[int] = []
        self._gnext: list[int] = []
        for _start, _count, p in self._groups:
            if p > 0.0:
                gaps = rng.geometric(p, _GAP_BLOCK).tolist()
                self._gaps.append(gaps)
                self._gj.append(1)
                self._gnext.append(gaps[0] - 1)
            else:  # never participates
                self._gaps.append([])
                self._gj.append(0)
                self._gnext.append(_NEVER)

    def _participants(self, rng: np.random.Generator) -> list[int]:
        """This auction's participants (lender numbers, ascending): per group, the successes
        of its running Bernoulli(participation) sequence over the group's lenders."""
        parts: list[int] = []
        gnext = self._gnext
        for g, (start, count, p) in enumerate(self._groups):
            pos = gnext[g]
            if pos < count:
                gaps = self._gaps[g]
                j = self._gj[g]
                while pos < count:
                    parts.append(start + pos)
                    if j == len(gaps):
                        gaps = self._gaps[g] = rng.geometric(p, _GAP_BLOCK).tolist()
                        j = 0
                    pos += gaps[j]
                    j += 1
                self._gj[g] = j
            gnext[g] = pos - count
        return parts

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def spread_bps(self) -> np.ndarray:
        """Reservation spread over CDI of each lender (bps, float64)."""
        return self._f["spread"]

    @property
    def open_cents(self) -> np.ndarray:
        """Cents each lender has in offers of auctions not yet concluded (a read-only int64
        snapshot: writing to it raises, it never changes the book)."""
        out = np.asarray(self._open, dtype=np.int64)
        out.flags.writeable = False
        return out

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

        ``free_cents(account)`` returns a lender's current free balance; it is asked only for
        participants that would bid at an acceptable rate and time. Draws come from ``rng``
        through the book's draw buffers in the order the module docstring gives, so a run of
        plans is deterministic given the generator's state when it was first handed in.
        """
        if rng is not self._rng:
            self._bind(rng)
        parts = self._participants(rng)
        k = len(parts)
        if k == 0:
            return []
        # the participants' uniforms (4 each) and standard normals (1 each), in lender order
        u, uj = self._u, self._uj
        if uj + 4 * k > len(u):
            u = self._u = u[uj:] + rng.random(max(_BLOCK, 4 * k)).tolist()
            uj = 0
        self._uj = uj + 4 * k
        z, zj = self._z, self._zj
        if zj + k > len(z):
            z = self._z = z[zj:] + rng.standard_normal(max(_BLOCK, k)).tolist()
            zj = 0
        self._zj = zj + k
        bidders = self._bidders
        oc = self._open
        out: list[PlannedCommit] = []
        mr = float(max_rate_bps)
        t_end = t0 + ttl_s
        base = cdi_apr + pd * lgd
        scale = 1e4 / (1.0 - pd)  # r_res = (base + spread + noise) / (1 - pd), in bps
        log1p = math.log1p
        ceil = math.ceil
        for i in parts:
            u_share, u_fail, u_delay, u_commit = u[uj : uj + 4]
            uj += 4
            z_noise = z[zj]
            zj += 1
            b = bidders[i]
            r_res = (base + b.spread + b.noise * z_noise) * scale
            if r_res > mr:
                continue
            bid = r_res + b.shade
            if bid > mr:
                bid = mr
            rate = ceil(bid / tick_bps - 1e-9) * tick_bps
            if rate > max_rate_bps:
                continue
            tc = t0 - log1p(-u_commit) * b.delay_mean_s
            if tc >= t_end and b.strategy != _SNIPER:
                continue
            free = free_cents(b.account)
            amt = amount_cents * (b.min_share + u_share * b.share_span)
            if b.cap_cents < amt:
                amt = b.cap_cents
            if free < amt:
                amt = free
            room = (free * b.overcommit - oc[i]) / b.held  # a sniper holds n_offers at once
            if room < amt:
                amt = room
            a = int(amt // 100.0) * 100
            if a < min_offer_cents:
                continue
            reveal_after = None if u_fail < b.reveal_fail else u_delay * b.reveal_max_s
            if b.strategy == _SNIPER:
                sniped = b.planned(a, rate, at=None, lead_s=b.lead_s, reveal_after_s=reveal_after)
                out.extend([sniped] * b.n_offers)  # plans are read, never changed
                oc[i] += a * b.n_offers
            elif b.strategy == _MANIP:
                m = b.n_offers
                part = (a // m) // 100 * 100
                if part < min_offer_cents:
                    m, part = 1, a
                first = a - part * (m - 1)
                for q in range(m):
                    rq = min(rate + q * b.ladder_bps, max_rate_bps)
                    rq -= rq % tick_bps
                    at = tc + q * b.spacing_s
                    amount = first if q == 0 else part
                    out.append(
                        b.planned(amount, rq, at=at, lead_s=0.0, reveal_after_s=reveal_after)
                    )
                oc[i] += a
            else:  # truthful or shading
                out.append(b.planned(a, rate, at=tc, lead_s=0.0, reveal_after_s=reveal_after))
                oc[i] += a
        return out

    def release(self, commits: list[PlannedCommit]) -> None:
        """Forget the open amounts of ``commits`` (their auction concluded)."""
        oc = self._open
        for c in commits:
            if c.index >= 0:
                oc[c.index] -= c.amount_cents


def build_lenders(cfg: LendersConfig, rng: np.random.Generator) -> LenderBook:
    """Build the lender population (spreads drawn from ``rng``)."""
    return LenderBook(cfg, rng)

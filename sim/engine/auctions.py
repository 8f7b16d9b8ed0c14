"""The auction runner: one simpy process per auction, driving :mod:`market.auction.lifecycle`.

At opening, every lender's and the pool's intentions are drawn at once
(:meth:`sim.agents.lenders.LenderBook.plan`, :meth:`sim.agents.pool.Pool.plan`); each planned
commit gets an offer id ``<auction>-<seq>``, a 32-byte salt (the next four 64-bit words of the
salt generator's raw output, little-endian) and its commitment
(:func:`market.auction.commitment.commitment_hash` with the lender's address, which the lender
book and the pool derive once per lender), kept in the auction's :class:`PlannedCommitments`.
The process then:

1. **Commit phase** — wakes at each commit time in order (ties by plan order). Timed commits
   have absolute times; a sniper's commit is due ``lead_s`` before the *current* close, and it
   snipes again after each extension it caused while it has commits left.
   :func:`market.auction.lifecycle.commit` accepts or rejects (``MAX_OFFERS``, ``COOLDOWN``, ``CLOSED``)
   and applies anti-sniping.
2. **Reveal** — each accepted commit is revealed ``reveal_after_s`` after the close (or never).
   The process sleeps until the reveal deadline (or the last reveal when all reveal), then
   applies the reveals in time order, closes and clears in one step
   (:func:`market.auction.lifecycle.reveal_and_clear`, the same as ``reveal_many``, ``close``,
   ``clear`` in turn); the reveal check reads each planned offer's commitment from the
   auction's :class:`PlannedCommitments` instead of hashing it a second time.
3. **Clearing** — the result is recorded (``clearing``).
4. **Confirmation** — ``confirmation_delay_s`` later, :func:`market.auction.lifecycle.confirm` with the
   winners' free balances *then* (capital is locked only now): a winner short of cash is
   dropped (``INSUFFICIENT_FUNDS``) and the auction re-cleared. The debits move
   ``lender -> escrow`` (``lock``), the escrow pays the borrower ``F - fee`` (``disburse``)
   and the platform the fee (``fee``), the sink's ``settle_auction`` gets the settlement with
   the escrow balance after that, and the loan starts (:mod:`sim.engine.loans`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from market.auction import lifecycle as lc
from market.auction.commitment import commitment_hash, offer_commitments
from market.auction.types import AuctionRequest
from sim.agents.lenders import PlannedCommit
from sim.tables.rows import AuctionRow, OfferRow

if TYPE_CHECKING:
    from sim.engine.core import Engine

__all__ = ["AuctionCtx", "PlannedCommitments", "auction_process", "settle_payload"]

_INF = math.inf


_FIRST = itemgetter(0)


class PlannedCommitments:
    """One auction's commitments, made from its planned offers: ``.made[k]`` is planned offer
    ``k``'s.  Called as :func:`market.auction.commitment.offer_commitment`
    ``(auction_id, lender, amount_cents, rate_bps, salt)``, it answers a planned offer's
    values from ``made`` and hashes anything else (with the lender's planned address).  The
    simulation's only commitment cache: it lives as long as its auction."""

    __slots__ = ("_addresses", "_auction_id", "_known", "made")

    def __init__(self, auction_id: int, planned: list[PlannedCommit], salts: list[bytes]) -> None:
        self._auction_id = auction_id
        self._addresses = {p.lender: p.address for p in planned}
        terms = [
            (p.lender, p.amount_cents, p.rate_bps, salt)
            for p, salt in zip(planned, salts, strict=True)
        ]
        self.made = offer_commitments(auction_id, terms, address_of=self._addresses.__getitem__)
        self._known = dict(zip(terms, self.made, strict=True))

    def __call__(
        self, auction_id: int, lender: str, amount_cents: int, rate_bps: int, salt: bytes
    ) -> bytes:
        if auction_id == self._auction_id:
            made = self._known.get((lender, amount_cents, rate_bps, salt))
            if made is not None:
                return made
        address = self._addresses[lender]
        return commitment_hash(auction_id, address, amount_cents, rate_bps, salt)


@dataclass(slots=True)
class AuctionCtx:
    """Everything recorded about one auction (its rows are built from it when it concludes).

    The planned offers are columns indexed by plan position ``k`` (= the offer's ``seq``):
    ``planned[k]`` is the :class:`~sim.agents.lenders.PlannedCommit`,
    ``offer_ids``, ``salts`` and ``commitments.made`` what :func:`_plan` gave it, and ``at``
    (attempt time, ``inf`` until attempted), ``accepted``, ``reasons`` (rejection reason) and
    ``revealed`` what happened to it.
    """

    auction_id: int
    request_id: int
    borrower: str
    opened_at: float
    amount_cents: int
    max_rate_bps: int
    term_months: int
    pd_model: float
    cdi: float
    funding_apr: float
    state: Any = None  # market.auction.lifecycle.AuctionState
    planned: list[PlannedCommit] = field(default_factory=list)
    offer_ids: list[str] = field(default_factory=list)
    salts: list[bytes] = field(default_factory=list)
    commitments: PlannedCommitments = field(default_factory=lambda: PlannedCommitments(0, [], []))
    at: list[float] = field(default_factory=list)
    accepted: list[bool] = field(default_factory=list)
    reasons: list[str | None] = field(default_factory=list)
    revealed: list[bool] = field(default_factory=list)
    cleared_at: float = math.nan
    confirmed_at: float = math.nan
    insufficient: int = 0
    final_status: str = "OPEN"

    def auction_row(self) -> AuctionRow:
        """The ``auctions`` row of the auction's current state."""
        st = self.state
        res = st.result
        commits = sum(1 for a in self.at if a < _INF)
        return AuctionRow(
            auction_id=self.auction_id,
            request_id=self.request_id,
            borrower=self.borrower,
            opened_at=self.opened_at,
            amount_cents=self.amount_cents,
            max_rate_bps=self.max_rate_bps,
            term_months=self.term_months,
            pd_model=self.pd_model,
            cdi=self.cdi,
            funding_apr=self.funding_apr,
            close_at=float(st.close_at),
            extensions=st.extensions,
            commits=commits,
            rejected_commits=commits - sum(self.accepted),
            revealed=len(st.reveals),
            status=res.status if res is not None else None,
            clearing_rate_bps=res.clearing_rate_bps if res is not None else None,
            filled_cents=res.filled_cents if res is not None else 0,
            fee_cents=res.fee_cents if res is not None else 0,
            cleared_at=self.cleared_at,
            confirmed_at=self.confirmed_at,
            insufficient_funds=self.insufficient,
            final_status=self.final_status,
        )

    def offer_rows(self) -> list[OfferRow]:
        """The ``offers`` rows of every attempted commit, in plan order."""
        st = self.state
        res = st.result
        alloc: dict[str, tuple[int, int]] = {}
        excl: dict[str, str] = {}
        if res is not None:
            for a in res.allocations:
                alloc[a.offer_id] = (a.amount_cents, a.rate_bps)
            for e in res.excluded:
                excl[e.offer_id] = e.reason
        out: list[OfferRow] = []
        won = "ALLOCATED" if self.final_status == "FUNDED" else "WON"
        for k, p in enumerate(self.planned):
            at = self.at[k]
            if at == _INF:
                continue  # never attempted (the auction ended first)
            oid = self.offer_ids[k]
            accepted = self.accepted[k]
            got = alloc.get(oid)
            if not accepted:
                outcome = "REJECTED"
            elif got is not None:
                outcome = won
            elif oid in excl:
                outcome = excl[oid]
            else:
                outcome = "PENDING"
            out.append(
                OfferRow(
                    auction_id=self.auction_id,
                    seq=k,
                    offer_id=oid,
                    lender=p.lender,
                    strategy=p.strategy,
                    amount_cents=p.amount_cents,
                    rate_bps=p.rate_bps,
                    committed_at=at,
                    accepted=accepted,
                    reject_reason=self.reasons[k],
                    revealed=self.revealed[k],
                    outcome=outcome,
                    allocated_cents=got[0] if got else 0,
                    paid_rate_bps=got[1] if got else None,
                )
            )
        return out


def _plan(eng: Engine, ctx: AuctionCtx) -> None:
    """Draw the auction's planned offers into ``ctx``'s columns (see the module docstring)."""
    rules = eng.rules
    t0 = ctx.opened_at
    amount, max_rate, pd = ctx.amount_cents, ctx.max_rate_bps, ctx.pd_model
    lgd = eng.engine_cfg.lgd
    cdi_apr = eng.lender_cdi_apr(t0, ctx.term_months)
    tick, min_offer = rules.tick_bps, rules.min_offer_cents
    ledger = eng.ledger
    plans = eng.lenders.plan(
        t0=t0, ttl_s=rules.ttl_s, amount_cents=amount, max_rate_bps=max_rate, pd=pd, lgd=lgd,
        cdi_apr=cdi_apr, tick_bps=tick, min_offer_cents=min_offer, free_cents=ledger.balance,
        rng=eng.rng_lenders,
    )  # fmt: skip
    pool = eng.pool
    if pool is not None:
        pp = pool.plan(
            t0=t0, amount_cents=amount, max_rate_bps=max_rate, pd=pd, lgd=lgd, cdi_apr=cdi_apr,
            tick_bps=tick, min_offer_cents=min_offer, free_cents=ledger.balance(pool.account),
            rng=eng.rng_pool,
        )  # fmt: skip
        if pp is not None:
            plans.append(pp)
    ctx.planned = plans
    n = len(plans)
    aid = ctx.auction_id
    if n:  # 32 bytes of the salt generator's raw output per offer (4 x uint64, little-endian)
        raw = eng.rng_salts.bit_generator.random_raw(4 * n).astype("<u8", copy=False).tobytes()
        ctx.salts = [raw[j : j + 32] for j in range(0, 32 * n, 32)]
    ctx.commitments = PlannedCommitments(aid, plans, ctx.salts)
    prefix = f"{aid}-"
    ctx.offer_ids = [prefix + str(seq) for seq in range(n)]
    ctx.at = [_INF] * n
    ctx.accepted = [False] * n
    ctx.reasons = [None] * n
    ctx.revealed = [False] * n


def auction_process(eng: Engine, ctx: AuctionCtx):
    """The simpy process of one auction (see the module docstring)."""
    env = eng.env
    rules = eng.rules
    request = AuctionRequest(
        auction_id=ctx.auction_id,
        borrower=ctx.borrower,
        amount_cents=ctx.amount_cents,
        max_rate_bps=ctx.max_rate_bps,
        term_months=ctx.term_months,
        opened_at=ctx.opened_at,
    )
    state = lc.open_auction(request, rules)
    ctx.state = state
    _plan(eng, ctx)
    planned = ctx.planned
    n = len(planned)
    oids = ctx.offer_ids
    assert ctx.commitments is not None  # set by _plan
    commitments = ctx.commitments.made
    at, accepted, reasons = ctx.at, ctx.accepted, ctx.reasons
    # timed commits by time, ties in plan order (the sort is stable); snipers in plan order
    dues = [p.at for p in planned]
    timed = [k for k in range(n) if dues[k] is not None]
    timed.sort(key=dues.__getitem__)
    snipers = [k for k in range(n) if dues[k] is None]
    sniped_close: dict[str, float] = {}  # lender -> close it last sniped
    batch = lc.CommitBatch(state)  # the commits below, O(1) each, same rules as lc.commit
    commit = batch.commit
    timeout = env.timeout
    i = 0
    n_timed = len(timed)
    # ---------------------------------------------------------------- commit phase
    while True:
        close_at = batch.close_at
        if i < n_timed:
            k = timed[i]
            t_next = dues[k]
        else:
            k = -1
            t_next = _INF
        now = env.now
        if snipers:
            for s in snipers:
                if at[s] < _INF or sniped_close.get(planned[s].lender) == close_at:
                    continue
                t_s = max(close_at - planned[s].lead_s, now)
                if t_s < t_next:
                    t_next, k = t_s, s
        if k < 0 or t_next >= close_at:
            break
        if t_next > now:
            yield timeout(t_next - now)
            now = env.now
        lender = planned[k].lender
        if dues[k] is None:
            sniped_close[lender] = close_at
        else:
            i += 1
        at[k] = now
        accepted[k], reasons[k], _ = commit(
            offer_id=oids[k], lender=lender, commitment=commitments[k], t=now
        )
    state = ctx.state = batch.state()
    # ---------------------------------------------------------------- reveal phase
    n_accepted = 0
    reveals = []  # (t_reveal, k) in plan order, then sorted by time (stable)
    close_at = state.close_at
    latest = rules.reveal_window_s * 0.999
    for k in range(n):
        if accepted[k]:
            n_accepted += 1
            rv = planned[k].reveal_after_s
            if rv is not None:
                reveals.append((close_at + (rv if rv < latest else latest), k))
    reveals.sort(key=_FIRST)
    if n_accepted and len(reveals) == n_accepted:
        t_close = reveals[-1][0]
    else:
        t_close = close_at + rules.reveal_window_s
    yield env.timeout(max(0.0, t_close - env.now))
    # reveal_many + close + clear in one step; ``now + (t_close - now)`` can round one ulp
    # below ``t_close``: close at t_close then
    salts = ctx.salts
    state, outcomes = lc.reveal_and_clear(
        state,
        [
            lc.Reveal(
                offer_id=oids[k],
                amount_cents=planned[k].amount_cents,
                rate_bps=planned[k].rate_bps,
                salt=salts[k],
                t=t,
            )
            for t, k in reveals
        ],
        max(env.now, t_close),
        commitment_of=ctx.commitments,
    )
    revealed = ctx.revealed
    for (_, k), (ok, _, _) in zip(reveals, outcomes, strict=True):
        revealed[k] = ok
    ctx.state = state
    ctx.cleared_at = env.now
    eng.record_clearing(ctx, state.result, "clear")
    if state.phase != "CLEARED":
        ctx.final_status = "UNFILLED"
        eng.release(ctx)
        return
    # ---------------------------------------------------------------- confirmation
    yield env.timeout(eng.engine_cfg.confirmation_delay_s)
    now = env.now
    bal = eng.ledger.balance
    acct = eng.account_of
    free = {a.lender: bal(acct[a.lender]) for a in state.result.allocations}
    conf = lc.confirm(state, free)
    state = ctx.state = conf.state
    ctx.insufficient = len(conf.dropped)
    if conf.dropped:
        eng.record_clearing(ctx, state.result, "confirm")
    eng.release(ctx)
    if state.phase != "CONFIRMED":
        ctx.final_status = "UNFILLED"
        return
    ctx.confirmed_at = now
    ctx.final_status = "FUNDED"
    eng.fund(ctx, state, conf.debits)


def settle_payload(state: Any, escrow_cents_after: int) -> dict[str, Any]:
    """The sink's ``settle_auction`` mapping for a confirmed auction."""
    payload = lc.settlement_payload(state)
    payload["escrow_cents_after"] = escrow_cents_after
    return payload

"""The simulated CreditEngine: state shared by the request, auction and loan processes.

:class:`Engine` wires one run together — the world (oracles, calendar, true CDI path), the
ledger, the event log, the attestation sink, the model batcher, the latency sampler, the
lenders and the pool — and owns the operations the processes call:

- :meth:`Engine.start` deposits the lenders' and the pool's capital (``external ->
  lender:<id>:free`` / ``pool:<id>``, the pool minting tokens 1:1) and starts the arrival
  process (one :func:`sim.engine.decision.request_process` per request);
- :meth:`Engine.pricing_event` / :meth:`Engine.decide` record a pricing attempt / a decision
  of a request (:class:`sim.engine.decision.RequestCtx`): table row + sink record;
- :meth:`Engine.open_auction` starts one :func:`sim.engine.auctions.auction_process`; when it
  ends, the auction's row and its offers' rows are written from its final state;
- :meth:`Engine.fund` moves the money of a confirmed auction (lock, disburse, fee), hands the
  settlement to the sink (``settle_auction`` with the escrow balance after LoanConfirmed,
  which locks and pays out in one step, and the auction ``rules``), lets the borrower spend
  the cash and originates the loan (:class:`sim.engine.loans.LoanBook`, which hands every
  loan that ends back for its ``loans`` row) and keeps its CET inputs (:attr:`Engine.cets`);
- :meth:`Engine.finish` writes the rows of the auctions still open and the loans still
  outstanding, as of the end of the run.

Only live state stays in memory: the open auctions, the outstanding loans, the ledger's
balances; every row goes to the event log (:class:`sim.tables.events.EventLog`) as it is made.

Random streams (``SeedTree`` component names): ``borrowers.arrivals``,
``borrowers.population``, ``lenders.population``, ``lenders.bids``, ``pool.bids``,
``auctions.salts``, ``loans.behaviour``, ``latency.*``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from market.calendar import DAY_S, sim_date
from market.oracle.aggregator import OracleAnswer
from sim.agents.borrowers import arrival_times
from sim.agents.lenders import LenderBook
from sim.agents.pool import Pool
from sim.agents.population import sample_borrowers
from sim.engine.auctions import AuctionCtx, auction_process, settle_payload
from sim.engine.cet_fast import LoanCets
from sim.engine.decision import RequestCtx, request_process
from sim.engine.latency import LatencySampler
from sim.engine.loans import Loan, LoanBook, loan_row
from sim.engine.pricing import FundingCurve, Priced
from sim.ledger.book import ESCROW, PLATFORM_FEES, Ledger
from sim.model.batcher import DynamicBatcher
from sim.tables.events import EventLog
from sim.tables.rows import DecisionRow, PricingEventRow

if TYPE_CHECKING:
    import simpy

    from sim.config.scenario import Scenario
    from sim.seeds import SeedTree
    from sim.world import World

__all__ = ["Engine"]

#: what a sink that reads no payloads gets (see ``wants_payloads`` in :mod:`sim.attest`)
_NO_PAYLOAD: Mapping[str, Any] = MappingProxyType({})


def _f(x: float | None) -> float | None:
    """JSON-safe float (None for missing / NaN)."""
    if x is None or x != x:
        return None
    return float(x)


class Engine:
    """One run of the simulated engine (see the module docstring)."""

    def __init__(
        self,
        scenario: Scenario,
        env: simpy.Environment,
        world: World,
        seeds: SeedTree,
        *,
        scorer: Any,
        sink: Any,
        log: EventLog,
        ledger: Ledger | None = None,
    ) -> None:
        self.scenario = scenario
        self.env = env
        self.world = world
        self.oracles = world.oracles
        self.sink = sink
        # build record / settlement payloads only for a sink that reads them (sim.attest)
        self._payloads = bool(getattr(sink, "wants_payloads", True))
        self._settlements = bool(getattr(sink, "wants_settlements", True))
        self.engine_cfg = scenario.engine
        self.rules = scenario.auction.to_rules()
        self._rules_payload = scenario.auction.model_dump()
        self.start_date: date = scenario.start_date
        self.horizon_s = float(scenario.horizon_days) * DAY_S
        agg = scenario.oracles.cdi.aggregator
        self.staleness_s = float(agg.staleness_s)
        self.twap_max_age_s = float(agg.twap_max_age_s)
        self.ledger = ledger if ledger is not None else Ledger()
        self.ledger.allow_negative("debt:")
        self.log = log
        self.funding = FundingCurve()
        model_cfg = scenario.model
        self.latency = LatencySampler(scenario.latency, model_cfg.inference_ms, seeds.rng)
        self.batcher = DynamicBatcher(
            env,
            scorer,
            model_cfg.max_batch_size,
            model_cfg.max_batch_delay_ms,
            self.latency.inference,
        )
        # --- borrowers: all arrivals and who they are, drawn up front
        self.arrivals = arrival_times(
            scenario.borrowers, self.start_date, self.horizon_s, seeds.rng("borrowers.arrivals")
        )
        n = len(self.arrivals)
        pop = sample_borrowers(scenario.population, seeds.rng("borrowers.population"), n)
        self.features = pop.features
        self.amount_cents = pop.amount_cents
        self.term_months = pop.term_months
        self.pd_true = pop.pd_12m
        self.hazard_true = pop.hazard_monthly
        # --- lenders and pool
        self.lenders = LenderBook(scenario.lenders, seeds.rng("lenders.population"))
        self.rng_lenders = seeds.rng("lenders.bids")
        self.rng_pool = seeds.rng("pool.bids")
        self.rng_salts = seeds.rng("auctions.salts")
        self.pool = Pool(scenario.pool) if scenario.pool.enabled else None
        self.account_of: dict[str, str] = dict(
            zip(self.lenders.ids, self.lenders.accounts, strict=True)
        )
        if self.pool is not None:
            self.account_of[self.pool.lender_id] = self.pool.account
        self.loans = LoanBook(
            env,
            self.ledger,
            self.log.rows["payments"].append,
            lgd=scenario.engine.lgd,
            default_dpd=scenario.engine.default_dpd,
            recovery_delay_days=scenario.engine.recovery_delay_days,
            prepayment_hazard=scenario.borrowers.prepayment_hazard_monthly,
            rng=seeds.rng("loans.behaviour"),
            pool_account=self.pool.account if self.pool is not None else None,
            on_pool_principal=self._pool_delta,
            start_date=self.start_date,
            on_end=self._loan_ended,
        )
        self.cets = LoanCets()
        #: auctions not concluded yet, by id (a concluded one is written out and dropped)
        self.open_auctions: dict[int, AuctionCtx] = {}
        self.auctions_opened = 0
        self._pricing_seq = 0
        self._lender_apr_cache: dict[tuple[int, date, int], float] = {}
        self.pool_utilisation: float | None = None

    # ------------------------------------------------------------------ helpers
    def calendar_date(self, t_s: float) -> date:
        """Calendar date of simulated time ``t_s``."""
        return sim_date(self.start_date, t_s)

    @staticmethod
    def borrower_id(rid: int) -> str:
        """Pseudonymous borrower id of request ``rid``."""
        return f"b{rid}"

    def lender_cdi_apr(self, t_s: float, term_months: int) -> float:
        """The true CDI at ``t_s`` on the loan's 365-day basis (what lenders price from)."""
        bps = self.world.paths.cdi_bps_at(t_s)
        d = self.calendar_date(t_s)
        key = (bps, d, term_months)
        got = self._lender_apr_cache.get(key)
        if got is None:
            got = self._lender_apr_cache[key] = self.funding.apr(bps / 10_000.0, d, term_months)
        return got

    def _pool_delta(self, t_s: float, delta: int) -> None:
        if self.pool is not None and delta:
            self.pool.add_deployed(t_s, delta)

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Deposit capital at t=0 and start the arrival process."""
        led = self.ledger
        for lid, acct, cap in zip(
            self.lenders.ids,
            self.lenders.accounts,
            self.lenders.capital_cents.tolist(),
            strict=True,
        ):
            led.deposit(0.0, acct, int(cap), "deposit", lid)
        if self.pool is not None:
            cap = self.scenario.pool.capital_cents
            led.deposit(0.0, self.pool.account, cap, "pool_deposit", self.pool.lender_id)
            self.pool.deposit(cap)
        self.env.process(self._arrivals())
        if self.pool is not None:
            self.env.process(self._pool_window())

    def _arrivals(self):
        env = self.env
        for rid, t in enumerate(self.arrivals.tolist()):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(request_process(self, rid))

    def _pool_window(self):
        yield self.env.timeout(self.horizon_s)
        assert self.pool is not None
        self.pool_utilisation = self.pool.utilisation(self.horizon_s)

    # ------------------------------------------------------------------ recording
    def pricing_event(
        self,
        req: RequestCtx,
        answer: OracleAnswer,
        priced: Priced | None,
        outcome: str,
        reason: str | None = None,
    ) -> None:
        """Record attempt ``req.attempts`` to price ``req`` (row + ``price`` record).
        ``reason`` (default: the answer's own) says why an attempt was not priced."""
        now = self.env.now
        eid = self._pricing_seq
        self._pricing_seq += 1
        q = priced.quote if priced is not None else None
        valid = priced is not None
        rid, attempt, pd = req.request_id, req.attempts, req.pd
        self.log.rows["pricing_events"].append(
            PricingEventRow(
                event_id=eid,
                request_id=rid,
                t_s=now,
                attempt=attempt,
                feed="cdi",
                oracle_status=answer.status,
                oracle_price=math.nan if answer.price is None else float(answer.price),
                oracle_age_s=math.nan if answer.age_s is None else float(answer.age_s),
                oracle_sources=",".join(answer.sources),
                oracle_reason=answer.reason if reason is None else reason,
                valid=valid,
                funding_apr=priced.funding_apr if priced is not None else math.nan,
                k=priced.k if priced is not None else math.nan,
                pd=pd,
                r_min_bps=q.r_min_bps if q is not None else None,
                max_rate_bps=q.max_rate_bps if q is not None else None,
                outcome=outcome,
            )
        )
        if not self._payloads:
            self.sink.record("price", _NO_PAYLOAD, now)
            return
        self.sink.record(
            "price",
            {
                "event_id": eid,
                "request_id": rid,
                "attempt": attempt,
                "oracle_status": answer.status,
                "cdi": _f(answer.price),
                "oracle_age_s": _f(answer.age_s),
                "valid": valid,
                "pd": pd,
                "r_min_bps": q.r_min_bps if q is not None else None,
                "max_rate_bps": q.max_rate_bps if q is not None else None,
                "outcome": outcome,
            },
            now,
        )

    def decide(self, req: RequestCtx) -> None:
        """Record the decision on ``req`` now (row + ``decision`` record); the decision time
        is the time since the request arrived."""
        now = self.env.now
        self.log.rows["decisions"].append(
            DecisionRow(
                request_id=req.request_id,
                t_s=now,
                decision=req.decision,
                reason=req.reason,
                pd_model=req.pd,
                amount_requested_cents=req.amount_cents,
                amount_approved_cents=req.approved_cents,
                r_min_bps=req.r_min_bps,
                max_rate_bps=req.max_rate_bps,
                oracle_status=req.oracle_status,
                ttvp_ms=req.ttvp_ms,
                decision_ms=(now - req.t0) * 1000.0,
                network_ms=req.network_ms,
                batch_wait_ms=req.batch_wait_ms,
                inference_ms=req.inference_ms,
                oracle_ms=req.oracle_ms,
                pricing_ms=req.pricing_ms,
                batch_size=req.batch_size,
                attempts=req.attempts,
            )
        )
        if not self._payloads:
            self.sink.record("decision", _NO_PAYLOAD, now)
            return
        self.sink.record(
            "decision",
            {
                "request_id": req.request_id,
                "borrower": req.borrower,
                "decision": req.decision,
                "reason": req.reason,
                "pd": req.pd,
                "amount_cents": req.approved_cents,
                "max_rate_bps": req.max_rate_bps,
                "ttvp_ms": _f(req.ttvp_ms),
            },
            now,
        )

    def record_clearing(self, ctx: AuctionCtx, result: Any, stage: str) -> None:
        """``clearing`` record of an auction's (re-)clearing."""
        if not self._payloads:
            self.sink.record("clearing", _NO_PAYLOAD, self.env.now)
            return
        payload: dict[str, Any] = {"auction_id": ctx.auction_id, "stage": stage}
        payload.update(result.to_dict())
        self.sink.record("clearing", payload, self.env.now)

    # ------------------------------------------------------------------ auctions and funding
    def open_auction(
        self,
        req: RequestCtx,
        *,
        amount_cents: int,
        max_rate_bps: int,
        cdi: float,
        funding_apr: float,
    ) -> AuctionCtx:
        """Open the auction of approved request ``req`` now (auction id = request id); its
        rows are written when its process ends."""
        rid = req.request_id
        ctx = AuctionCtx(
            auction_id=rid,
            request_id=rid,
            borrower=req.borrower,
            opened_at=self.env.now,
            amount_cents=amount_cents,
            max_rate_bps=max_rate_bps,
            term_months=req.term_months,
            pd_model=req.pd,
            cdi=cdi,
            funding_apr=funding_apr,
        )
        self.open_auctions[rid] = ctx
        self.auctions_opened += 1
        proc = self.env.process(auction_process(self, ctx))
        proc.callbacks.append(lambda _: self._auction_concluded(ctx))
        return ctx

    def _auction_concluded(self, ctx: AuctionCtx) -> None:
        """Write the rows of an auction whose process ended and drop it."""
        del self.open_auctions[ctx.auction_id]
        rows = self.log.rows
        rows["auctions"].append(ctx.auction_row())
        rows["offers"].extend(ctx.offer_rows())

    def release(self, ctx: AuctionCtx) -> None:
        """The auction concluded: its offers no longer count as the lenders' open offers."""
        self.lenders.release(ctx.planned)
        if self.pool is not None:
            self.pool.release(ctx.planned)

    def fund(self, ctx: AuctionCtx, state: Any, debits: Mapping[str, int]) -> None:
        """Move the money of a confirmed auction and originate its loan (see module doc)."""
        now = self.env.now
        led = self.ledger
        aid = ctx.auction_id
        acct = self.account_of
        for lender in sorted(debits):
            led.transfer(now, acct[lender], ESCROW, debits[lender], "lock", aid)
        result = state.result
        filled, fee = result.filled_cents, result.fee_cents
        b_cash = f"borrower:{ctx.borrower}"
        if filled - fee:
            led.transfer(now, ESCROW, b_cash, filled - fee, "disburse", aid)
        if fee:
            led.transfer(now, ESCROW, PLATFORM_FEES, fee, "fee", aid)
        # LoanConfirmed on chain locks and pays out in one step: reconcile after both
        if self._settlements:
            payload = settle_payload(state, led.balance(ESCROW))
            payload["rules"] = self._rules_payload
            self.sink.settle_auction(payload)
        else:
            self.sink.settle_auction(_NO_PAYLOAD)
        if filled - fee:
            led.transfer(now, b_cash, "external", filled - fee, "spend", aid)
        allocations = [(acct[a.lender], a.amount_cents, a.rate_bps) for a in result.allocations]
        loan = self.loans.originate(
            loan_id=aid,
            request_id=ctx.request_id,
            borrower=ctx.borrower,
            allocations=allocations,
            fee_cents=fee,
            term_months=ctx.term_months,
            pd_model=ctx.pd_model,
            hazard_true=float(self.hazard_true[ctx.request_id]),
        )
        # the contract CET: received = principal - fee, the schedule on its due dates
        self.cets.add(
            aid,
            loan.principal_cents - loan.fee_cents,
            loan.pay_cents,
            [(t - loan.funded_at) / DAY_S for t in loan.due_s],
        )

    def _loan_ended(self, loan: Loan) -> None:
        """Write the row of a loan whose process ended (its CET is set at the end)."""
        self.log.rows["loans"].append(loan_row(loan, self.env.now))

    # ------------------------------------------------------------------ end of run
    def finish(self, t_end: float) -> None:
        """Write the rows of the auctions still open and the loans still outstanding, as of
        ``t_end``."""
        rows = self.log.rows
        for ctx in self.open_auctions.values():
            rows["auctions"].append(ctx.auction_row())
            rows["offers"].extend(ctx.offer_rows())
        for loan in self.loans.outstanding.values():
            rows["loans"].append(loan_row(loan, t_end))

"""The simulated CreditEngine: state shared by the request, auction and loan processes.

:class:`Engine` wires one run together — the world (oracles, calendar, true CDI path), the
ledger, the event log, the attestation sink, the model batcher, the latency sampler, the
lenders and the pool — and owns the operations the processes call:

- :meth:`Engine.start` deposits the lenders' and the pool's capital (``external ->
  lender:<id>:free`` / ``pool:<id>``, the pool minting tokens 1:1) and starts the arrival
  process (one :func:`sim.engine.decision.request_process` per request);
- :meth:`Engine.pricing_event` / :meth:`Engine.decide` record a pricing attempt / a decision
  (table row + sink record);
- :meth:`Engine.open_auction` starts one :func:`sim.engine.auctions.auction_process`;
- :meth:`Engine.fund` moves the money of a confirmed auction (lock, disburse, fee), hands the
  settlement to the sink (``settle_auction`` with the escrow balance after LoanConfirmed,
  which locks and pays out in one step, and the auction ``rules``), lets the borrower spend
  the cash and originates the loan (:class:`sim.engine.loans.LoanBook`);
- :meth:`Engine.finish` writes the auctions, offers and loans rows from the final state.

Random streams (``SeedTree`` component names): ``borrowers.arrivals``,
``borrowers.population``, ``lenders.population``, ``lenders.bids``, ``pool.bids``,
``auctions.salts``, ``loans.behaviour``, ``latency.*``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from market.calendar import DAY_S, sim_date
from market.oracle.aggregator import OracleAnswer
from sim.agents.borrowers import arrival_times
from sim.agents.lenders import LenderBook
from sim.agents.pool import Pool
from sim.agents.population import sample_borrowers
from sim.engine.auctions import AuctionCtx, auction_process, settle_payload
from sim.engine.decision import request_process
from sim.engine.latency import LatencySampler
from sim.engine.loans import LoanBook
from sim.engine.pricing import FundingCurve, Priced
from sim.ledger.book import ESCROW, PLATFORM_FEES, Ledger
from sim.model.batcher import DynamicBatcher
from sim.tables.events import EventLog

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
        self.log = EventLog()
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
        )
        self.auctions: list[AuctionCtx] = []
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
        rid: int,
        attempt: int,
        answer: OracleAnswer,
        pd: float,
        priced: Priced | None,
        outcome: str,
        reason: str | None = None,
    ) -> None:
        """Record one pricing attempt (row + ``price`` record). ``reason`` (default: the
        answer's own) says why an attempt was not priced."""
        now = self.env.now
        eid = self._pricing_seq
        self._pricing_seq += 1
        q = priced.quote if priced is not None else None
        valid = priced is not None
        row = (
            eid,
            rid,
            now,
            attempt,
            "cdi",
            answer.status,
            math.nan if answer.price is None else float(answer.price),
            math.nan if answer.age_s is None else float(answer.age_s),
            ",".join(answer.sources),
            answer.reason if reason is None else reason,
            valid,
            priced.funding_apr if priced is not None else math.nan,
            priced.k if priced is not None else math.nan,
            pd,
            q.r_min_bps if q is not None else None,
            q.max_rate_bps if q is not None else None,
            outcome,
        )
        self.log.rows["pricing_events"].append(row)
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

    def decide(
        self,
        rid: int,
        decision: str,
        reason: str | None,
        pd: float,
        amount: int,
        approved: int,
        r_min_bps: int | None,
        max_rate_bps: int | None,
        oracle_status: str,
        ttvp_ms: float,
        decision_ms: float,
        parts: tuple[float, float, float, float, float],
        batch_size: int,
        attempts: int,
    ) -> None:
        """Record one decision (row + ``decision`` record)."""
        now = self.env.now
        self.log.rows["decisions"].append(
            (
                rid,
                now,
                decision,
                reason,
                pd,
                amount,
                approved,
                r_min_bps,
                max_rate_bps,
                oracle_status,
                ttvp_ms,
                decision_ms,
                *parts,
                batch_size,
                attempts,
            )
        )
        if not self._payloads:
            self.sink.record("decision", _NO_PAYLOAD, now)
            return
        self.sink.record(
            "decision",
            {
                "request_id": rid,
                "borrower": self.borrower_id(rid),
                "decision": decision,
                "reason": reason,
                "pd": pd,
                "amount_cents": approved,
                "max_rate_bps": max_rate_bps,
                "ttvp_ms": _f(ttvp_ms),
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
        rid: int,
        borrower: str,
        amount: int,
        max_rate_bps: int,
        term: int,
        pd: float,
        cdi: float,
        funding_apr: float,
    ) -> AuctionCtx:
        """Open the auction of approved request ``rid`` now (auction id = request id)."""
        ctx = AuctionCtx(
            rid, rid, borrower, self.env.now, amount, max_rate_bps, term, pd, cdi, funding_apr
        )
        self.auctions.append(ctx)
        self.env.process(auction_process(self, ctx))
        return ctx

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
        self.loans.originate(
            loan_id=aid,
            request_id=ctx.request_id,
            borrower=ctx.borrower,
            allocations=allocations,
            fee_cents=fee,
            term_months=ctx.term_months,
            pd_model=ctx.pd_model,
            hazard_true=float(self.hazard_true[ctx.request_id]),
        )

    # ------------------------------------------------------------------ end of run
    def finish(self, t_end: float, cet_of: Callable[[Any], float]) -> None:
        """Write auctions, offers and loans rows as of ``t_end``."""
        log = self.log
        for ctx in self.auctions:
            log.rows["auctions"].append(ctx.auction_row())
            log.rows["offers"].extend(ctx.offer_rows())
        for loan in self.loans.loans:
            dpd = 0
            if loan.status == "DELINQUENT":
                dpd = int((t_end - loan.missed_at) // DAY_S)
            exposure = loan.exposure_months
            if loan.status == "ACTIVE":
                exposure = float(sum(1 for t in loan.due_s if t <= t_end))
            n_lenders = len({a for t in loan.tranches for a in t.weights})
            by_lender: dict[str, int] = {}
            for t in loan.tranches:
                for a, w in t.weights.items():
                    by_lender[a] = by_lender.get(a, 0) + w
            s = np.asarray(list(by_lender.values()), dtype=np.float64) / loan.principal_cents
            log.rows["loans"].append(
                (
                    loan.loan_id,
                    loan.request_id,
                    loan.borrower,
                    loan.funded_at,
                    loan.principal_cents,
                    loan.fee_cents,
                    loan.rate_bps,
                    loan.term_months,
                    loan.installment(1)[0],
                    n_lenders,
                    float(np.sum(s * s)),
                    loan.pool_cents,
                    loan.pd_model,
                    loan.hazard_true,
                    cet_of(loan),
                    loan.status,
                    loan.ended_at,
                    loan.missed_at,
                    loan.written_off_at,
                    loan.recovered_cents,
                    loan.written_off_cents,
                    float(exposure),
                    loan.balance_cents if loan.status not in ("REPAID", "PREPAID") else 0,
                    loan.accrued_interest(t_end),
                    dpd,
                )
            )

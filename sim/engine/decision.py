"""The decision core: one simpy process per loan request.

Timeline of a request arriving at ``t0`` (all latencies in simulated ms, from
:class:`sim.engine.latency.LatencySampler`):

1. ``network`` — the request reaches the decision core.
2. The feature row goes to the dynamic batcher; the PD comes back after the batch wait and the
   batch's inference time.
3. ``oracle_read`` — the CDI answer is read from the oracle service at that instant.
   ``NO_PRICE`` (or an answer no longer valid, see :func:`sim.engine.pricing.answer_valid_at`)
   never yields a price: the attempt is recorded and the request is deferred (``engine.
   no_price_action = defer``: retry after ``no_price_retry_s``, at most
   ``no_price_max_retries`` times) or declined with reason ``NO_PRICE``.
4. ``pricing`` — the quote is built from the PD and the (still valid) oracle input. *Time to
   valid price* = now − t0.
5. Policy: decline ``PD_ABOVE_MAX`` (PD > ``max_pd``), ``ABOVE_POLICY_CAP`` (r_min > cap);
   cap the amount by PD band (``AMOUNT_CAPPED``, or decline ``AMOUNT_ABOVE_CAP``); approve
   and open the auction with ``max_rate_bps`` as reserve.

Every pricing attempt is a ``pricing_events`` row and a ``price`` record to the attestation
sink; every decision a ``decisions`` row and a ``decision`` record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from market.oracle.aggregator import NO_PRICE, OracleAnswer
from sim.engine.pricing import answer_valid_at, price
from sim.tables.rows import RequestRow

if TYPE_CHECKING:
    from sim.engine.core import Engine

__all__ = ["APPROVED", "DECLINED", "RequestCtx", "request_process"]

APPROVED = "APPROVED"
DECLINED = "DECLINED"


@dataclass(slots=True)
class RequestCtx:
    """One loan request through the decision core: what was asked, what the model and the
    oracle said, what was decided and where the time went (simulated ms). Built by keyword on
    arrival, filled in as the request proceeds, recorded by :meth:`Engine.decide` (its
    ``decisions`` row and ``decision`` record)."""

    request_id: int
    t0: float
    borrower: str
    amount_cents: int
    term_months: int
    pd: float = math.nan
    batch_size: int = 0
    network_ms: float = 0.0
    batch_wait_ms: float = 0.0
    inference_ms: float = 0.0
    oracle_ms: float = 0.0
    pricing_ms: float = 0.0
    attempts: int = 0
    # the decision
    decision: str = DECLINED
    reason: str | None = None
    approved_cents: int = 0
    r_min_bps: int | None = None
    max_rate_bps: int | None = None
    oracle_status: str = ""
    ttvp_ms: float = math.nan  # time to valid price; NaN when the request was never priced


def _expired(answer: OracleAnswer, now: float, staleness_s: float, twap_max_age_s: float) -> str:
    """Why a non-``NO_PRICE`` answer is no longer a valid input when the quote is built."""
    age = (answer.age_s or 0.0) + (now - answer.as_of)
    if answer.status == "FALLBACK_TWAP":
        limit = f"twap_max_age_s={twap_max_age_s:g}"
    else:
        limit = f"staleness_s={staleness_s:g}"
    return f"{answer.status} answer {age:.3f} s old when the price was built > {limit}"


def request_process(eng: Engine, rid: int):
    """The simpy process of request ``rid`` (see the module docstring)."""
    env = eng.env
    lat = eng.latency
    cfg = eng.engine_cfg
    req = RequestCtx(
        request_id=rid,
        t0=env.now,
        borrower=eng.borrower_id(rid),
        amount_cents=int(eng.amount_cents[rid]),
        term_months=int(eng.term_months[rid]),
    )
    eng.log.rows["requests"].append(
        RequestRow(
            request_id=rid,
            t_s=req.t0,
            borrower=req.borrower,
            amount_cents=req.amount_cents,
            term_months=req.term_months,
            pd_true=float(eng.pd_true[rid]),
            hazard_true=float(eng.hazard_true[rid]),
        )
    )
    req.network_ms = lat.network()
    yield env.timeout(req.network_ms / 1000.0)
    batch, k = eng.batcher.submit(eng.features[rid])
    pd, req.batch_wait_ms, req.inference_ms, req.batch_size = (yield batch)[k]
    req.pd = float(pd)
    while True:
        req.attempts += 1
        o_ms = lat.oracle_read()
        req.oracle_ms += o_ms
        yield env.timeout(o_ms / 1000.0)
        answer = eng.oracles.read("cdi", env.now)
        valid = answer.status != NO_PRICE
        why = None
        if valid:
            p_ms = lat.pricing()
            req.pricing_ms += p_ms
            yield env.timeout(p_ms / 1000.0)
            valid = answer_valid_at(answer, env.now, eng.staleness_s, eng.twap_max_age_s)
            if not valid:
                why = _expired(answer, env.now, eng.staleness_s, eng.twap_max_age_s)
        if valid:
            break
        retry = cfg.no_price_action == "defer" and req.attempts <= cfg.no_price_max_retries
        eng.pricing_event(req, answer, None, "DEFERRED" if retry else "NO_PRICE", why)
        if not retry:
            req.reason = "NO_PRICE"
            req.oracle_status = answer.status
            eng.decide(req)
            return
        yield env.timeout(cfg.no_price_retry_s)

    now = env.now
    req.ttvp_ms = (now - req.t0) * 1000.0
    priced = price(
        req.pd,
        float(answer.price),
        eng.calendar_date(now),
        req.term_months,
        cfg,
        eng.rules.tick_bps,
        eng.funding,
    )
    q = priced.quote
    reason = None
    approved_amount = req.amount_cents
    if req.pd > cfg.max_pd:
        reason = "PD_ABOVE_MAX"
    elif not q.approved:
        reason = q.reason or "DECLINED"
    else:
        cap = cfg.amount_cap_cents(req.pd)
        if cap is not None and req.amount_cents > cap:
            if cfg.amount_cap_action == "decline":
                reason = "AMOUNT_ABOVE_CAP"
            else:
                approved_amount = cap
    decision = DECLINED if reason is not None else APPROVED
    if decision == APPROVED and approved_amount != req.amount_cents:
        reason = "AMOUNT_CAPPED"
    eng.pricing_event(req, answer, priced, decision)
    req.decision = decision
    req.reason = reason
    req.approved_cents = approved_amount if decision == APPROVED else 0
    req.r_min_bps = q.r_min_bps
    req.max_rate_bps = q.max_rate_bps
    req.oracle_status = answer.status
    eng.decide(req)
    if decision == APPROVED:
        assert q.max_rate_bps is not None
        eng.open_auction(
            req,
            amount_cents=approved_amount,
            max_rate_bps=q.max_rate_bps,
            cdi=float(answer.price),
            funding_apr=priced.funding_apr,
        )

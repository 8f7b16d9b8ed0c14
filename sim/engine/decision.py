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
from typing import TYPE_CHECKING

from market.oracle.aggregator import NO_PRICE, OracleAnswer
from sim.engine.pricing import answer_valid_at, price

if TYPE_CHECKING:
    from sim.engine.core import Engine

__all__ = ["request_process"]

APPROVED = "APPROVED"
DECLINED = "DECLINED"


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
    t0 = env.now
    lat = eng.latency
    cfg = eng.engine_cfg
    amount = int(eng.amount_cents[rid])
    term = int(eng.term_months[rid])
    borrower = eng.borrower_id(rid)
    eng.log.add(
        "requests",
        (rid, t0, borrower, amount, term, float(eng.pd_true[rid]), float(eng.hazard_true[rid])),
    )
    net_ms = lat.network()
    yield env.timeout(net_ms / 1000.0)
    batch, k = eng.batcher.submit(eng.features[rid])
    pd, wait_ms, infer_ms, batch_size = (yield batch)[k]
    pd = float(pd)
    attempts = 0
    oracle_ms = 0.0
    pricing_ms = 0.0
    while True:
        attempts += 1
        o_ms = lat.oracle_read()
        oracle_ms += o_ms
        yield env.timeout(o_ms / 1000.0)
        answer = eng.oracles.read("cdi", env.now)
        valid = answer.status != NO_PRICE
        why = None
        if valid:
            p_ms = lat.pricing()
            pricing_ms += p_ms
            yield env.timeout(p_ms / 1000.0)
            valid = answer_valid_at(answer, env.now, eng.staleness_s, eng.twap_max_age_s)
            if not valid:
                why = _expired(answer, env.now, eng.staleness_s, eng.twap_max_age_s)
        if valid:
            break
        retry = cfg.no_price_action == "defer" and attempts <= cfg.no_price_max_retries
        outcome = "DEFERRED" if retry else "NO_PRICE"
        eng.pricing_event(rid, attempts, answer, pd, None, outcome, why)
        if not retry:
            decision_ms = (env.now - t0) * 1000.0
            eng.decide(
                rid,
                DECLINED,
                "NO_PRICE",
                pd,
                amount,
                0,
                None,
                None,
                answer.status,
                math.nan,
                decision_ms,
                (net_ms, wait_ms, infer_ms, oracle_ms, pricing_ms),
                batch_size,
                attempts,
            )
            return
        yield env.timeout(cfg.no_price_retry_s)

    now = env.now
    ttvp_ms = (now - t0) * 1000.0
    priced = price(
        pd,
        float(answer.price),
        eng.calendar_date(now),
        term,
        cfg,
        eng.rules.tick_bps,
        eng.funding,
    )
    q = priced.quote
    reason = None
    approved_amount = amount
    if pd > cfg.max_pd:
        reason = "PD_ABOVE_MAX"
    elif not q.approved:
        reason = q.reason or "DECLINED"
    else:
        cap = cfg.amount_cap_cents(pd)
        if cap is not None and amount > cap:
            if cfg.amount_cap_action == "decline":
                reason = "AMOUNT_ABOVE_CAP"
            else:
                approved_amount = cap
    decision = DECLINED if reason is not None else APPROVED
    if decision == APPROVED and approved_amount != amount:
        reason = "AMOUNT_CAPPED"
    eng.pricing_event(rid, attempts, answer, pd, priced, decision)
    eng.decide(
        rid,
        decision,
        reason,
        pd,
        amount,
        approved_amount if decision == APPROVED else 0,
        q.r_min_bps,
        q.max_rate_bps,
        answer.status,
        ttvp_ms,
        ttvp_ms,
        (net_ms, wait_ms, infer_ms, oracle_ms, pricing_ms),
        batch_size,
        attempts,
    )
    if decision == APPROVED:
        assert q.max_rate_bps is not None
        eng.open_auction(
            rid,
            borrower,
            approved_amount,
            q.max_rate_bps,
            term,
            pd,
            float(answer.price),
            priced.funding_apr,
        )

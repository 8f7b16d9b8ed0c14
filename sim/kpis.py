"""KPIs of a run, computed from its event tables (``kpis.json``), and the KPI table.

:func:`compute_kpis` returns an ordered dict of scalars (floats rounded to 6 decimals, ``None``
where a KPI is undefined, e.g. a percentile of nothing) plus three small nested entries
(``declined_by_reason``, ``calibration_deciles``, ``attestation``), so ``json.dumps`` of it is
byte-stable for a given run. Definitions:

- ``ttvp_ms_p50/p75/p95/max`` — time to valid price (request -> a price built only from valid
  oracle inputs) over every request that got one (``decisions.ttvp_ms``); the North-Star.
- ``approval_rate`` — approved / decided requests. ``priced_share`` — requests with a valid
  price / decided.
- ``fill_rate`` — funded auctions / concluded auctions (cleared or unfilled);
  ``fill_rate_amount`` — funded cents / requested cents of the concluded auctions.
- ``funded_24h_share`` — approved requests whose loan was confirmed within 24 h of the request.
- ``clearing_spread_bps_mean/median`` — clearing rate r* of funded auctions minus the CDI on
  the loan's 365-day basis at pricing (``auctions.funding_apr``), in bps.
- ``npl30`` — at the end of the run, principal of loans 30+ days past due and not written off,
  over all outstanding principal (written-off loans excluded).
- ``hhi_loan_mean/max`` — Herfindahl index of each loan's lender shares; ``hhi_platform`` — of
  the lenders' shares of all funded principal.
- ``pool_utilisation`` — time-weighted deployed / deposited over the request horizon (from the
  engine); ``pool_nav_per_token``.
- ``lender_return_annual`` / ``pool_return_annual`` — annual IRR of the ledger cash flows of the
  non-pool lenders together / of the pool (funding at lock, payments received), with the
  claims still open at the end valued at par plus accrued interest (performing), at
  ``1 - lgd`` of principal (delinquent) or at the expected recovery (written off).
- ``cet_median`` — median contract CET of the loans (annual fraction; ``cet_median_pct`` the
  published two-decimal percentage).
- calibration — the model's monthly hazard ``1 - (1 - pd)^(1/12)`` against realised defaults
  (a missed installment, observed by the end) over the months each loan was at risk:
  ``calibration_ratio`` = realised / expected defaults, ``calibration_ratio_true`` the same
  with the TRUE hazard (a check of the simulator), ``hazard_model_mean`` vs
  ``hazard_true_mean``, and per PD decile in ``calibration_deciles``.
- ``attest_*`` — inclusion latency and gas of the attestation sink when a chain is on.

:func:`format_kpi_table` prints one KPI per line with its target and PASS / FAIL / —.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from market.calendar import DAY_S
from sim.tables.stream import release_arrow_memory

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["compute_kpis", "format_kpi_table", "irr_annual"]

_ND = 6


def _r(x: Any, nd: int = _ND) -> float | None:
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, nd) + 0.0  # + 0.0 turns -0.0 into 0.0


def _pct(a: np.ndarray, q: float) -> float | None:
    return float(np.percentile(a, q)) if a.size else None


def irr_annual(t_s: np.ndarray, cash_cents: np.ndarray) -> float | None:
    """Annual IRR ``x`` of cash flows ``cash_cents`` at times ``t_s`` (seconds): the root of
    ``sum c_j (1 + x)^(-(t_j - t_0)/365 days)``; ``None`` without both signs."""
    t = np.asarray(t_s, dtype=np.float64)
    c = np.asarray(cash_cents, dtype=np.float64)
    if c.size == 0 or not (c > 0).any() or not (c < 0).any():
        return None
    yrs = t - t.min()
    yrs /= 365.0 * DAY_S
    scale = np.abs(c).sum()
    term = np.empty_like(c)  # c * exp(-y * yrs), computed in place (runs have millions of flows)

    def npv(y: float) -> float:
        np.multiply(yrs, -y, out=term)
        np.exp(term, out=term)
        np.multiply(c, term, out=term)
        return float(np.sum(term) / scale)

    lo, hi = -1.0, 1.0
    for _ in range(60):
        if npv(lo) * npv(hi) < 0:
            break
        lo, hi = lo * 2.0, hi * 2.0
    else:
        return None
    # npv is monotone in y between lo and hi (bisection; 200 halvings reach float precision)
    f_lo = npv(lo)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        f_mid = npv(mid)
        if (f_mid > 0) == (f_lo > 0):
            lo, f_lo = mid, f_mid
        else:
            hi = mid
    return math.expm1(0.5 * (lo + hi))


def _claims_value(loans: pd.DataFrame, lgd: float) -> np.ndarray:
    bal = loans["balance_end_cents"].to_numpy(dtype=np.float64)
    accrued = loans["accrued_interest_end_cents"].to_numpy(dtype=np.float64)
    status = loans["outcome"].to_numpy()
    return np.where(status == "DELINQUENT", bal * (1.0 - lgd), bal + accrued)


#: ledger kinds of the payments a lender receives
_RECEIVED = ("installment", "prepayment", "recovery")
_FLOW_COLUMNS = ("t_s", "src", "dst", "amount_cents", "kind")


def _cash_flows(
    batches: Iterable[Any], pool_acct: str | None
) -> dict[str, tuple[list[np.ndarray], ...]]:
    """The ledger cash flows of the non-pool lenders together and of the pool, from the
    postings in ``batches`` (Arrow tables, row order): ``who -> (out_t, out_cents, in_t,
    in_cents)``, one array per batch of the fundings (``lock``, negative) and of the
    payments received, each summed per instant."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def mask(values: Any) -> np.ndarray:
        return values.to_numpy(zero_copy_only=False).astype(bool, copy=False)

    received_kinds = pa.array(_RECEIVED)
    parts: dict[str, tuple[list[np.ndarray], ...]] = {
        who: ([], [], [], []) for who in ("lenders", "pool")
    }
    for b in batches:
        if b.num_rows == 0:
            continue
        t = b.column("t_s").to_numpy().astype(np.float64, copy=False)
        amt = b.column("amount_cents").to_numpy().astype(np.float64)
        src, dst, kind = b.column("src"), b.column("dst"), b.column("kind")
        received = mask(pc.is_in(kind, value_set=received_kinds))
        lock = mask(pc.equal(kind, "lock"))
        masks = {
            "lenders": (
                lock & mask(pc.starts_with(src, "lender:")),
                received & mask(pc.starts_with(dst, "lender:")),
            )
        }
        if pool_acct is not None:
            masks["pool"] = (
                lock & mask(pc.equal(src, pool_acct)),
                received & mask(pc.equal(dst, pool_acct)),
            )
        for who, (out_mask, in_mask) in masks.items():
            out_t, out_c, in_t, in_c = parts[who]
            tt, cc = _per_instant(t[out_mask], amt[out_mask])
            out_t.append(tt)
            out_c.append(-cc)
            tt, cc = _per_instant(t[in_mask], amt[in_mask])
            in_t.append(tt)
            in_c.append(cc)
    return parts


def _per_instant(t: np.ndarray, cents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The flows ``cents`` at times ``t`` summed per distinct time (exact: whole centavos far
    below 2**53), so a long run's IRR works on one flow per payment, not one per lender."""
    times, at = np.unique(t, return_inverse=True)
    return times, np.bincount(at, weights=cents, minlength=len(times))


def _returns(
    flows: dict[str, tuple[list[np.ndarray], ...]],
    loans: pd.DataFrame,
    end_s: float,
    lgd: float,
    pool_acct: str | None,
) -> tuple[float | None, float | None]:
    value = _claims_value(loans, lgd)
    principal = loans["principal_cents"].to_numpy(dtype=np.float64)
    pool_share = np.divide(
        loans["pool_cents"].to_numpy(dtype=np.float64),
        principal,
        out=np.zeros_like(principal),
        where=principal > 0,
    )
    out: list[float | None] = []
    for who in ("lenders", "pool"):
        if who == "lenders":
            terminal = float(np.sum(value * (1.0 - pool_share)))
        else:
            if pool_acct is None:
                out.append(None)
                continue
            terminal = float(np.sum(value * pool_share))
        # fundings then payments received, each in posting order, then the terminal value
        out_t, out_c, in_t, in_c = flows.pop(who)
        tt = np.concatenate([*out_t, *in_t, [end_s]])
        del out_t[:], in_t[:]
        cc = np.concatenate([*out_c, *in_c, [terminal]])
        del out_c[:], in_c[:]
        out.append(irr_annual(tt, cc))
    return out[0], out[1]


def _calibration(loans: pd.DataFrame, end_s: float) -> dict[str, Any]:
    pd_m = np.clip(loans["pd_model"].to_numpy(dtype=np.float64), 0.0, 1.0 - 1e-12)
    h_true = loans["hazard_true"].to_numpy(dtype=np.float64)
    expo = loans["exposure_months"].to_numpy(dtype=np.float64)
    missed = loans["missed_at"].to_numpy(dtype=np.float64)
    realised = np.isfinite(missed) & (missed <= end_s)
    h_model = -np.expm1(np.log1p(-pd_m) / 12.0)
    exp_model = -np.expm1(expo * np.log1p(-h_model))
    exp_true = -np.expm1(expo * np.log1p(-np.clip(h_true, 0.0, 1.0 - 1e-12)))
    n = len(pd_m)
    deciles = []
    if n:
        order = np.argsort(pd_m, kind="stable")
        dec = np.empty(n, dtype=np.int64)
        dec[order] = (np.arange(n) * 10) // n
        for d in range(10):
            m = dec == d
            if not m.any():
                continue
            e = float(expo[m].sum())
            deciles.append(
                {
                    "decile": d + 1,
                    "loans": int(m.sum()),
                    "pd_model_mean": _r(pd_m[m].mean()),
                    "hazard_model_mean": _r(h_model[m].mean()),
                    "hazard_true_mean": _r(h_true[m].mean()),
                    "exposure_months": _r(e),
                    "defaults": int(realised[m].sum()),
                    "expected_defaults": _r(exp_model[m].sum()),
                    "hazard_realised": _r(realised[m].sum() / e) if e > 0 else None,
                }
            )
    em, et = float(exp_model.sum()), float(exp_true.sum())
    return {
        "defaults": int(realised.sum()),
        "expected_defaults": _r(em),
        "calibration_ratio": _r(realised.sum() / em) if em > 0 else None,
        "calibration_ratio_true": _r(realised.sum() / et) if et > 0 else None,
        "hazard_model_mean": _r(h_model.mean()) if n else None,
        "hazard_true_mean": _r(h_true.mean()) if n else None,
        "calibration_deciles": deciles,
    }


#: the columns of each table the KPIs read
_USED: dict[str, tuple[str, ...]] = {
    "requests": ("request_id", "t_s"),
    "decisions": ("decision", "reason", "ttvp_ms"),
    "auctions": (
        "request_id",
        "amount_cents",
        "extensions",
        "clearing_rate_bps",
        "filled_cents",
        "confirmed_at",
        "funding_apr",
        "insufficient_funds",
        "final_status",
    ),
    "offers": ("lender", "reject_reason", "outcome", "allocated_cents"),
    "loans": (
        "principal_cents",
        "pool_cents",
        "pd_model",
        "hazard_true",
        "cet_annual",
        "outcome",
        "missed_at",
        "written_off_cents",
        "exposure_months",
        "balance_end_cents",
        "accrued_interest_end_cents",
        "dpd_end",
        "hhi",
        "fee_cents",
    ),
}


def _columns(tables: Mapping[str, pd.DataFrame], name: str, cols: tuple[str, ...]) -> pd.DataFrame:
    """Columns ``cols`` of table ``name`` (read alone when ``tables`` can)."""
    if hasattr(tables, "read"):
        return tables.read(name, cols)
    return tables[name][list(cols)]


def _arrow_columns(tables: Mapping[str, pd.DataFrame], name: str, cols: tuple[str, ...]) -> Any:
    """Columns ``cols`` of table ``name`` as an Arrow table (read from its file when
    ``tables`` has one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if hasattr(tables, "path"):
        return pq.read_table(tables.path(name), columns=list(cols), use_threads=False)
    return pa.Table.from_pandas(tables[name][list(cols)], preserve_index=False)


def compute_kpis(
    tables: Mapping[str, pd.DataFrame],
    *,
    horizon_s: float,
    end_s: float,
    lgd: float,
    pool: Mapping[str, Any] | None = None,
    attest: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """KPIs of a run from its tables (see the module docstring for every definition).

    Reads only the columns it needs, through ``tables.read(name, columns)`` and, for the
    ledger, ``tables.batches(name, columns)`` row group by row group when ``tables`` offers
    them (:class:`sim.tables.files.EventTables`), else from the DataFrames of the mapping."""
    from market.cet import percent_2dp

    pool_acct = pool.get("account") if pool else None
    k: dict[str, Any] = {}
    # one table at a time, dropped once its KPIs are taken (long runs: offers has ~400k rows)
    t_req = _request_times(_columns(tables, "requests", _USED["requests"]))
    k["requests"] = len(t_req)
    k.update(_decision_kpis(_columns(tables, "decisions", _USED["decisions"])))
    k.update(_auction_kpis(_columns(tables, "auctions", _USED["auctions"]), t_req))
    del t_req
    offer_kpis, hhi_platform = _offer_kpis(_arrow_columns(tables, "offers", _USED["offers"]))
    release_arrow_memory()
    k.update(offer_kpis)
    loans = _columns(tables, "loans", _USED["loans"])
    k.update(_loan_kpis(loans))
    k["hhi_platform"] = hhi_platform
    k["pool_utilisation"] = _r(pool.get("utilisation")) if pool else None
    k["pool_nav_per_token"] = _r(pool.get("nav_per_token")) if pool else None
    if hasattr(tables, "batches"):
        postings = tables.batches("ledger", _FLOW_COLUMNS)
    else:
        import pyarrow as pa

        frame = tables["ledger"][list(_FLOW_COLUMNS)]
        postings = iter([pa.Table.from_pandas(frame, preserve_index=False)])
    r_l, r_p = _returns(_cash_flows(postings, pool_acct), loans, end_s, lgd, pool_acct)
    k["lender_return_annual"] = _r(r_l)
    k["pool_return_annual"] = _r(r_p)
    cet = loans["cet_annual"].to_numpy(dtype=np.float64)
    cet = cet[np.isfinite(cet)]
    med = float(np.median(cet)) if cet.size else None
    k["cet_median"] = _r(med)
    k["cet_median_pct"] = percent_2dp(med) if med is not None else None
    k["platform_fees_cents"] = int(loans["fee_cents"].sum())
    k.update(_calibration(loans, end_s))
    if attest:
        k["attest_records"] = attest.get("records")
        k["attest_batches"] = attest.get("batches")
        k["attest_gas_per_record"] = _r(attest.get("gas_per_record"))
        for q in ("p50", "p95", "max"):
            k[f"attest_inclusion_s_{q}"] = _r(attest.get(f"inclusion_latency_s_{q}"))
    k["horizon_days"] = _r(horizon_s / DAY_S)
    k["simulated_days"] = _r(end_s / DAY_S)
    return k


def _request_times(req: pd.DataFrame) -> dict[Any, float]:
    """Arrival time of every request, by id."""
    return dict(zip(req["request_id"].tolist(), req["t_s"].tolist(), strict=True))


def _decision_kpis(dec: pd.DataFrame) -> dict[str, Any]:
    k: dict[str, Any] = {}
    n_dec = len(dec)
    decision = dec["decision"].to_numpy()
    approved = int((decision == "APPROVED").sum())
    ttvp = dec["ttvp_ms"].to_numpy(dtype=np.float64)
    ttvp = ttvp[np.isfinite(ttvp)]
    k["decided"] = n_dec
    k["approved"] = approved
    k["approval_rate"] = _r(approved / n_dec) if n_dec else None
    k["priced_share"] = _r(ttvp.size / n_dec) if n_dec else None
    reasons = dec.loc[dec["decision"] != "APPROVED", "reason"].fillna("NONE").to_numpy()
    names, counts = np.unique(reasons.astype(str), return_counts=True)
    k["declined_by_reason"] = {str(a): int(b) for a, b in zip(names, counts, strict=True)}
    for q in (50, 75, 95):
        k[f"ttvp_ms_p{q}"] = _r(_pct(ttvp, q), 3)
    k["ttvp_ms_max"] = _r(ttvp.max(), 3) if ttvp.size else None
    return k


def _auction_kpis(auc: pd.DataFrame, t_req: Mapping[Any, float]) -> dict[str, Any]:
    k: dict[str, Any] = {}
    final = auc["final_status"].to_numpy()
    concluded = final != "OPEN"
    funded = final == "FUNDED"
    k["auctions"] = len(auc)
    k["funded"] = int(funded.sum())
    k["fill_rate"] = _r(funded.sum() / concluded.sum()) if concluded.any() else None
    asked = auc["amount_cents"].to_numpy(dtype=np.float64)
    filled = auc["filled_cents"].to_numpy(dtype=np.float64)
    k["fill_rate_amount"] = (
        _r((filled * funded).sum() / asked[concluded].sum()) if concluded.any() else None
    )
    conf = auc["confirmed_at"].to_numpy(dtype=np.float64)
    t0 = np.array([t_req.get(r, math.nan) for r in auc["request_id"].tolist()], dtype=np.float64)
    in24 = np.isfinite(conf) & (conf - t0 <= DAY_S)
    k["funded_24h_share"] = _r(in24.sum() / len(auc)) if len(auc) else None
    rate = auc["clearing_rate_bps"].to_numpy(dtype=np.float64, na_value=np.nan)
    spread = (rate - auc["funding_apr"].to_numpy(dtype=np.float64) * 1e4)[funded]
    k["clearing_rate_bps_mean"] = _r(rate[funded].mean()) if funded.any() else None
    k["clearing_spread_bps_mean"] = _r(spread.mean()) if spread.size else None
    k["clearing_spread_bps_median"] = _r(np.median(spread)) if spread.size else None
    ext = auc["extensions"].to_numpy()
    k["extensions_mean"] = _r(ext.mean()) if ext.size else None
    k["extended_share"] = _r((ext > 0).mean()) if ext.size else None
    k["insufficient_funds_drops"] = int(auc["insufficient_funds"].sum())
    return k


def _offer_kpis(offers: Any) -> tuple[dict[str, Any], float | None]:
    """The offers' KPIs and the platform's HHI of allocations by lender, from the Arrow table
    ``offers`` (the largest table: counted in Arrow, never turned into Python objects)."""
    import pyarrow.compute as pc

    def count(column: str, value: str) -> int:
        return int(pc.sum(pc.equal(offers.column(column), value)).as_py() or 0)  # nulls: no

    k: dict[str, Any] = {}
    k["offers"] = offers.num_rows
    k["offers_rejected_max_offers"] = count("reject_reason", "MAX_OFFERS")
    k["offers_rejected_cooldown"] = count("reject_reason", "COOLDOWN")
    k["offers_not_revealed"] = count("outcome", "NOT_REVEALED")
    alloc = offers.filter(pc.equal(offers.column("outcome"), "ALLOCATED"))
    sums = alloc.group_by("lender").aggregate([("allocated_cents", "sum")])
    sums = sums.take(pc.sort_indices(sums, sort_keys=[("lender", "ascending")]))
    by_lender = sums.column("allocated_cents_sum").to_numpy().astype(np.float64)
    if not by_lender.size:
        return k, None
    s = by_lender / by_lender.sum()
    return k, _r(np.sum(s * s))


def _loan_kpis(loans: pd.DataFrame) -> dict[str, Any]:
    k: dict[str, Any] = {}
    status = loans["outcome"].to_numpy()
    bal = loans["balance_end_cents"].to_numpy(dtype=np.float64)
    live = np.isin(status, ("ACTIVE", "DELINQUENT"))
    npl = live & (loans["dpd_end"].to_numpy() >= 30)
    k["loans"] = len(loans)
    k["principal_cents"] = int(loans["principal_cents"].sum())
    k["outstanding_cents_end"] = int(bal[live].sum())
    k["npl30"] = _r(bal[npl].sum() / bal[live].sum()) if bal[live].sum() > 0 else None
    k["written_off_cents"] = int(loans["written_off_cents"].sum())
    hhi = loans["hhi"].to_numpy(dtype=np.float64)
    k["hhi_loan_mean"] = _r(hhi.mean()) if hhi.size else None
    k["hhi_loan_max"] = _r(hhi.max()) if hhi.size else None
    return k


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool | int):
        return f"{v:,}"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.1f}"
        return f"{v:.4f}".rstrip("0").rstrip(".") if v != int(v) else f"{v:.1f}"
    return str(v)


def format_kpi_table(kpis: Mapping[str, Any], targets: Mapping[str, Mapping[str, float]]) -> str:
    """Aligned text table: every scalar KPI with its value, its target (``<= x``, ``>= x`` or
    ``[lo, hi]``) and ``PASS`` / ``FAIL`` (``—`` without a target or a value)."""
    rows = [("KPI", "value", "target", "status")]
    for name, v in kpis.items():
        if isinstance(v, Mapping | list | tuple):
            continue
        t = targets.get(name)
        tgt, status = "", "—"
        if t:
            lo, hi = t.get("min"), t.get("max")
            if lo is not None and hi is not None:
                tgt = f"[{_fmt(lo)}, {_fmt(hi)}]"
            elif hi is not None:
                tgt = f"<= {_fmt(hi)}"
            else:
                tgt = f">= {_fmt(lo)}"
            if isinstance(v, int | float) and not isinstance(v, bool):
                ok = (lo is None or v >= lo) and (hi is None or v <= hi)
                status = "PASS" if ok else "FAIL"
        rows.append((name, _fmt(v), tgt, status))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]}".rstrip() for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)

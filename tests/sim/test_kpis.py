"""KPI definitions on hand-made event tables, the IRR, and the KPI table."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from sim.kpis import compute_kpis, format_kpi_table, irr_annual
from sim.tables.events import build_frame

DAY = 86_400.0
NAN = math.nan


def _dec(rid, decision, reason, ttvp):
    return (rid, 1.0, decision, reason, 0.05, 1000, 1000 if decision == "APPROVED" else 0,
            2000, 2500, "OK", ttvp, ttvp, 1.0, 1.0, 1.0, 1.0, 1.0, 1, 1)  # fmt: skip


def _auction(aid, status, final, rate, filled, confirmed, funding=0.15, ext=0, ins=0):
    return (aid, aid, f"b{aid}", float(aid), 100_000, 3000, 12, 0.05, 0.149, funding, 10.0, ext,
            3, 0, 3, status, rate, filled, filled // 200, 20.0, confirmed, ins, final)  # fmt: skip


def _offer(aid, seq, lender, outcome, alloc, reject=None):
    return (aid, seq, f"{aid}-{seq}", lender, "truthful", 50_000, 2000, 5.0, reject is None,
            reject, True, outcome, alloc, 2000 if alloc else None)  # fmt: skip


def _loan(lid, status, principal, balance, dpd, hhi, pool=0, missed=NAN, expo=1.0,
          pd=0.05, h=0.004, cet=0.25, accrued=0):  # fmt: skip
    return (lid, lid, f"b{lid}", 0.0, principal, principal // 200, 2500, 12, 9000, 2, hhi, pool,
            pd, h, cet, status, NAN, missed, NAN, 0, 0, expo, balance, accrued, dpd)  # fmt: skip


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    requests = build_frame(
        "requests", [(i, float(i), f"b{i}", 100_000, 12, 0.05, 0.004) for i in range(4)]
    )
    decisions = build_frame(
        "decisions",
        [
            _dec(0, "APPROVED", None, 100.0),
            _dec(1, "APPROVED", None, 200.0),
            _dec(2, "APPROVED", "AMOUNT_CAPPED", 300.0),
            _dec(3, "DECLINED", "NO_PRICE", NAN),
        ],
    )
    auctions = build_frame(
        "auctions",
        [
            _auction(0, "FILLED", "FUNDED", 2200, 100_000, 3600.0, ext=2),
            _auction(1, "FILLED", "FUNDED", 2400, 100_000, 2 * DAY),
            _auction(2, "UNFILLED", "UNFILLED", None, 0, NAN, ins=1),
        ],
    )
    offers = build_frame(
        "offers",
        [
            _offer(0, 0, "l1", "ALLOCATED", 60_000),
            _offer(0, 1, "l2", "ALLOCATED", 40_000),
            _offer(1, 0, "l1", "ALLOCATED", 100_000),
            _offer(2, 0, "l3", "INSUFFICIENT_FUNDS", 0),
            _offer(2, 1, "l3", "REJECTED", 0, reject="COOLDOWN"),
        ],
    )
    loans = build_frame(
        "loans",
        [
            _loan(0, "ACTIVE", 100_000, 80_000, 0, 0.52),
            _loan(1, "DELINQUENT", 100_000, 20_000, 45, 1.0, missed=100.0),
        ],
    )
    ledger = build_frame_ledger(
        [
            (0.0, "lender:l1:free", "escrow", 100_000, "lock", "0"),
            (30 * DAY, "borrower:b0", "lender:l1:free", 9_000, "installment", "0"),
        ]
    )
    return {
        "requests": requests,
        "decisions": decisions,
        "auctions": auctions,
        "offers": offers,
        "loans": loans,
        "payments": build_frame("payments", []),
        "pricing_events": build_frame("pricing_events", []),
        "ledger": ledger,
    }


def build_frame_ledger(rows):
    cols = ("t_s", "src", "dst", "amount_cents", "kind", "ref")
    df = pd.DataFrame(rows, columns=cols)
    df.insert(0, "seq", range(len(df)))
    return df


def test_kpis_on_hand_made_tables(tables) -> None:
    k = compute_kpis(tables, horizon_s=DAY, end_s=60 * DAY, lgd=0.6, pool=None, attest=None)
    assert k["requests"] == 4 and k["approved"] == 3
    assert k["approval_rate"] == 0.75
    assert k["priced_share"] == 0.75
    assert k["ttvp_ms_p50"] == 200.0 and k["ttvp_ms_p75"] == 250.0 and k["ttvp_ms_p95"] == 290.0
    assert k["declined_by_reason"] == {"NO_PRICE": 1}
    assert k["fill_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert k["funded_24h_share"] == pytest.approx(1 / 3, abs=1e-6)  # auction 1 took 2 days
    assert k["clearing_spread_bps_mean"] == pytest.approx(800.0)
    assert k["clearing_spread_bps_median"] == pytest.approx(800.0)
    assert k["npl30"] == pytest.approx(20_000 / 100_000)
    assert k["hhi_loan_mean"] == pytest.approx(0.76) and k["hhi_loan_max"] == 1.0
    assert k["hhi_platform"] == pytest.approx(0.8**2 + 0.2**2)
    assert k["insufficient_funds_drops"] == 1 and k["offers_rejected_cooldown"] == 1
    assert k["extensions_mean"] == pytest.approx(2 / 3, abs=1e-6)
    assert k["cet_median"] == 0.25 and k["cet_median_pct"] == "25.00"
    assert k["pool_utilisation"] is None
    assert k["defaults"] == 1
    json.dumps(k, allow_nan=False)  # byte-stable JSON: no NaN anywhere


def test_npl30_excludes_written_off_and_repaid(tables) -> None:
    loans = build_frame(
        "loans",
        [
            _loan(0, "ACTIVE", 100_000, 50_000, 0, 1.0),
            _loan(1, "WRITTEN_OFF", 100_000, 40_000, 0, 1.0, missed=0.0),
            _loan(2, "REPAID", 100_000, 0, 0, 1.0),
            _loan(3, "DELINQUENT", 100_000, 50_000, 29, 1.0, missed=0.0),
        ],
    )
    k = compute_kpis({**tables, "loans": loans}, horizon_s=DAY, end_s=DAY, lgd=0.6)
    assert k["npl30"] == 0.0  # DPD 29 is not yet NPL30; the write-off is excluded
    loans.loc[3, "dpd_end"] = 30
    k = compute_kpis({**tables, "loans": loans}, horizon_s=DAY, end_s=DAY, lgd=0.6)
    assert k["npl30"] == 0.5


def test_calibration_ratio_counts_defaults_against_expected() -> None:
    n = 1000
    pd_ = np.full(n, 0.12)
    h = -np.expm1(np.log1p(-pd_) / 12)
    expected = n * (1 - (1 - h[0]) ** 12)
    missed = np.full(n, NAN)
    missed[: round(expected)] = 5.0
    loans = build_frame(
        "loans",
        [
            _loan(i, "ACTIVE", 1000, 0, 0, 1.0, missed=missed[i], expo=12.0, pd=0.12, h=h[0])
            for i in range(n)
        ],
    )
    t = {
        "requests": build_frame("requests", []),
        "decisions": build_frame("decisions", []),
        "auctions": build_frame("auctions", []),
        "offers": build_frame("offers", []),
        "loans": loans,
        "ledger": build_frame_ledger([]),
    }
    k = compute_kpis(t, horizon_s=DAY, end_s=DAY, lgd=0.6)
    assert k["defaults"] == round(expected)
    assert k["calibration_ratio"] == pytest.approx(1.0, abs=0.01)
    assert k["calibration_ratio_true"] == pytest.approx(1.0, abs=0.01)
    assert len(k["calibration_deciles"]) == 10
    assert sum(d["loans"] for d in k["calibration_deciles"]) == n
    assert k["hazard_model_mean"] == pytest.approx(h[0], abs=1e-6)
    assert k["ttvp_ms_p75"] is None and k["approval_rate"] is None


def test_irr() -> None:
    y = 365 * DAY
    assert irr_annual(np.array([0.0, y]), np.array([-100.0, 112.0])) == pytest.approx(0.12)
    assert irr_annual(np.array([0.0, y / 2, y]), np.array([-100.0, 6.0, 106.0])) == pytest.approx(
        1.06**2 - 1
    )
    assert irr_annual(np.array([0.0]), np.array([-1.0])) is None


def test_format_kpi_table() -> None:
    kpis = {"ttvp_ms_p75": 420.5, "pool_utilisation": 0.5, "calibration_ratio": 1.0,
            "npl30": None, "approved": 3, "calibration_deciles": [{"decile": 1}]}  # fmt: skip
    targets = {"ttvp_ms_p75": {"max": 500.0}, "pool_utilisation": {"min": 0.65},
               "calibration_ratio": {"min": 0.75, "max": 1.33}, "npl30": {"max": 0.1}}  # fmt: skip
    out = format_kpi_table(kpis, targets).splitlines()
    by = {line.split()[0]: line for line in out[2:]}
    assert by["ttvp_ms_p75"].endswith("PASS") and "<= 500" in by["ttvp_ms_p75"]
    assert by["pool_utilisation"].endswith("FAIL") and ">= 0.65" in by["pool_utilisation"]
    assert by["calibration_ratio"].endswith("PASS") and "[0.75, 1.33]" in by["calibration_ratio"]
    assert "n/a" in by["npl30"] and by["npl30"].endswith("—")
    assert by["approved"].endswith("—")
    assert "calibration_deciles" not in by
    assert len({len(line) for line in out[2:]}) >= 1

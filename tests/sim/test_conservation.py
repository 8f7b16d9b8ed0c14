"""Ledger conservation as a property over random tiny scenarios (seeds and a few parameters).

``simulate`` itself raises ``LedgerImbalanceError`` when the books do not balance; on top of
that every example checks the accounts against the event tables: escrow empty, fees equal to
the loans' fees, every loan's principal account equal to its outstanding balance, losses equal
to write-offs, the borrowers' debt mirroring principal plus losses, and the lenders' cash equal
to deposits minus locks plus receipts.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.config import load_scenario
from sim.config.scenario import REPO_ROOT
from sim.run.simulation import simulate

MODELS = REPO_ROOT / "models"


def _balances(ledger: pd.DataFrame) -> pd.Series:
    out = ledger.groupby("src")["amount_cents"].sum().mul(-1)
    inc = ledger.groupby("dst")["amount_cents"].sum()
    return out.add(inc, fill_value=0).astype("int64")


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31 - 1),
    arrivals=st.integers(200, 900),
    pricing=st.sampled_from(["uniform", "pay_as_bid", "first_rejected"]),
    overcommit=st.sampled_from([1.0, 1.5, 4.0]),
    min_fill=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    lgd=st.sampled_from([0.0, 0.45, 1.0]),
    prepay=st.sampled_from([0.0, 0.2]),
    default_dpd=st.sampled_from([5, 90]),
    pool=st.booleans(),
)
def test_ledger_conserves_money(
    seed, arrivals, pricing, overcommit, min_fill, lgd, prepay, default_dpd, pool
) -> None:
    sc = load_scenario(
        "small",
        [
            "horizon_days=0.5",
            f"borrowers.arrivals_per_day={arrivals}",
            f"borrowers.prepayment_hazard_monthly={prepay}",
            "engine.runoff_days=100",
            f"engine.lgd={lgd}",
            f"engine.default_dpd={default_dpd}",
            "engine.recovery_delay_days=3",
            f"auction.pricing={pricing}",
            f"auction.min_fill_ratio={min_fill}",
            "auction.ttl_s=3600",
            f"lenders.groups[0].overcommit={overcommit}",
            f"pool.enabled={str(pool).lower()}",
        ],
    )
    res = simulate(sc, seed=seed, models_dir=MODELS)  # raises LedgerImbalanceError if unbalanced
    t = res.tables
    bal = _balances(t["ledger"])
    assert bal.sum() == 0
    loans = t["loans"]
    get = lambda acct: int(bal.get(acct, 0))  # noqa: E731
    assert get("escrow") == 0
    assert get("platform:fees") == int(loans["fee_cents"].sum())
    assert get("defaulted") == int(loans["written_off_cents"].sum())
    for row in loans.itertuples():
        assert get(f"loan:{row.loan_id}:principal") == row.balance_end_cents
        debt = get(f"debt:{row.borrower}")
        assert debt == -(row.balance_end_cents + row.written_off_cents)
        assert get(f"borrower:{row.borrower}") == 0
    led = t["ledger"]
    lend = led["src"].str.startswith(("lender:", "pool:"))
    recv = led["dst"].str.startswith(("lender:", "pool:"))
    deposits = led.loc[led["kind"].isin(["deposit", "pool_deposit"]), "amount_cents"].sum()
    locked = led.loc[lend & (led["kind"] == "lock"), "amount_cents"].sum()
    received = led.loc[recv & led["kind"].isin(["installment", "prepayment", "recovery"]),
                       "amount_cents"].sum()  # fmt: skip
    cash = bal[bal.index.str.startswith(("lender:", "pool:"))].sum()
    assert cash == deposits - locked + received
    funded = t["auctions"].query("final_status == 'FUNDED'")["filled_cents"].sum()
    assert locked == funded == loans["principal_cents"].sum()
    pays = t["payments"]
    assert pays["amount_cents"].sum() == received
    assert (pays["interest_cents"] + pays["principal_cents"] == pays["amount_cents"]).all()

"""``auction.min_fill_ratio`` in scenarios: any value in [0, 1] (0 accepts any partial fill;
the clearing refuses S = 0 on its own), refused outside it in one line; a run at 0 works and
replays."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.config.scenario import ScenarioError, load_scenario

MODELS = Path(__file__).resolve().parents[2] / "models"
TINY = ("horizon_days=0.3", "engine.runoff_days=5", "chain.backend=off")


@pytest.mark.parametrize("value", ["0", "0.0", "1", "0.25"])
def test_ratios_in_the_closed_interval_load(value: str) -> None:
    sc = load_scenario("small", [f"auction.min_fill_ratio={value}"])
    assert sc.auction.to_rules().min_fill_ratio == float(value)


@pytest.mark.parametrize("value", ["-0.01", "1.01", ".nan", ".inf"])
def test_ratios_outside_it_are_one_line_errors(value: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("small", [f"auction.min_fill_ratio={value}"])
    message = str(err.value)
    assert "auction.min_fill_ratio" in message and "\n" not in message


def test_a_run_at_ratio_zero_works_and_replays(tmp_path: Path, capsys) -> None:
    argv = ["run", "small", "--quiet", "--out", str(tmp_path), "--models", str(MODELS)]
    sets = [f"--set={s}" for s in (*TINY, "auction.min_fill_ratio=0")]
    assert main([*argv, *sets]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    auctions = pd.read_parquet(run_dir / "events" / "auctions.parquet")
    assert len(auctions) and set(auctions["status"].dropna()) <= {"FILLED", "PARTIAL", "UNFILLED"}
    again = load_scenario(run_dir / "scenario.yaml")
    assert again.auction.min_fill_ratio == 0.0
    replay = tmp_path / "replay"
    assert main(["run", str(run_dir / "scenario.yaml"), "--quiet", "--out", str(replay),
                 "--models", str(MODELS)]) == 0  # fmt: skip
    replayed = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert replayed.name == run_dir.name
    assert (replayed / "kpis.json").read_bytes() == (run_dir / "kpis.json").read_bytes()

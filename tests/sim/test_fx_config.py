"""The scenario section ``fx``: off by default and invisible then, bad FX input refused in one
line naming the file, the key path, the value and the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.config import ScenarioError, load_scenario
from sim.config.fx import FxConfig


def _error(tmp_path: Path, text: str, overrides: tuple[str, ...] = ()) -> str:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\n" + text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_fx_is_off_by_default_and_left_out_of_the_canonical_form() -> None:
    sc = load_scenario("small")
    assert sc.fx == FxConfig() and not sc.fx.enabled
    assert "fx" not in sc.canonical_dict()
    on = load_scenario("small", ("fx.enabled=true",))
    assert on.canonical_dict()["fx"]["enabled"] is True
    assert on.config_hash() != sc.config_hash()
    assert [v.id for v in on.fx.venues] == ["v1", "v2", "v3"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            "fx: {traders: {informed: {venues: [{venue: x}]}}}\n",
            "x.yaml: fx: traders.informed.venues[0].venue='x': must name a venue "
            "(known: v1, v2, v3)",
        ),
        (
            "fx: {venues: [{id: a, spread_bps: 2}], traders: {noise: {venues: [{venue: b}]}}}\n",
            "fx: traders.noise.venues[0].venue='b': must name a venue (known: a)",
        ),
        (
            "fx: {venues: [{id: a, spread_bps: 2}, {id: a, spread_bps: 3}]}\n",
            "fx: venues: id 'a' is used twice",
        ),
        ("fx: {venues: [{id: a, spread_bps: -1}]}\n", "fx.venues[0].spread_bps=-1: must be > 0"),
        ("fx: {venues: []}\n", "fx.venues: must have at least 1 items"),
        (
            "fx: {venues: [{id: a, spread_bps: 2, levels_usd_cents: []}]}\n",
            "fx.venues[0].levels_usd_cents: must have at least 1 items",
        ),
        (
            "fx: {venues: [{id: a, spread_bps: 2, step_bps: 0}]}\n",
            "fx.venues[0]: step_bps=0.0: must be > 0 with more than one level",
        ),
        (
            "fx: {traders: {noise: {venues: [{venue: v1, weight: 0}]}}}\n",
            "fx: traders.noise.venues: every weight is 0",
        ),
        ("fx: {vpin: {n_buckets: 0}}\n", "fx.vpin.n_buckets=0: must be >= 1"),
        ("fx: {toxicity: {quantile: 1.5}}\n", "fx.toxicity.quantile=1.5: must be <= 1"),
    ],
)
def test_bad_fx_input_is_refused_in_one_line(tmp_path: Path, text: str, needle: str) -> None:
    assert needle in _error(tmp_path, text)


def test_an_override_naming_an_unknown_venue_is_refused(tmp_path: Path) -> None:
    msg = _error(tmp_path, "", ("fx.traders.informed.venues=[{venue: x}]",))
    assert "fx: traders.informed.venues[0].venue='x': must name a venue" in msg


@pytest.mark.parametrize("model", ["sim.config.world.FeederConfig", "sim.config.fx.FxVenueConfig"])
def test_agent_ids_share_one_rule(model: str) -> None:
    import importlib

    import pydantic

    module, name = model.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    extra = {"spread_bps": 4.0} if name == "FxVenueConfig" else {}
    with pytest.raises(pydantic.ValidationError, match=r"must match \[A-Za-z0-9_.-\]\{1,64\}"):
        cls(id="bad id!", **extra)
    assert cls(id="ok_1.a-b", **extra).id == "ok_1.a-b"

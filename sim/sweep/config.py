"""Sweep files and their expansion into runs.

A sweep file (YAML, validated by :class:`SweepConfig`, unknown keys rejected)::

    scenario: small                 # a name (scenarios/<name>.yaml) or a path relative to the file
    description: headroom vs fill   # optional
    grid:                           # key path -> list of values (YAML scalars or lists)
      engine.headroom_bps: [100, 200]
    seeds: [1, 2]

expands to the cartesian product of the grid (in file order, last key fastest) times the
seeds (fastest); each combination is one ``ce run`` with ``--set key=value`` overrides,
written to its own run directory ``<out>/<scenario>-<seed>-<confighash8>/``. Every combination
is validated before anything runs (a bad key or value stops the sweep with one message). Runs
go to a process pool (``spawn`` context, one whole run per task, so start-up costs are paid
once per run, not per event); models are trained once in the parent first. A run that fails
becomes a row with ``status="failed"`` and its error; the others are kept.

``<out>/results.parquet`` (written atomically) has one row per run in expansion order:
``run``, ``run_dir``, ``status``, ``error``, ``seed``, ``param.<key path>`` for each grid key
and ``kpi.<name>`` for every KPI (nested KPI mappings flattened with dots, lists as JSON
text). It holds no wall-clock values, so it is deterministic too.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sim.config.yaml_io import YamlError, read_yaml_file

__all__ = ["RunSpec", "SweepConfig", "SweepError", "expand", "load_sweep"]


class SweepError(ValueError):
    """A sweep file or combination that cannot run: one line naming file, key and rule."""


class SweepConfig(BaseModel):
    """A grid sweep over one scenario (see the module docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str = Field(min_length=1, description="scenario name or path (relative to file)")
    description: str = Field(default="", max_length=4000)
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="key path -> values")
    seeds: list[int] = Field(min_length=1, description="run seeds")

    @field_validator("grid")
    @classmethod
    def _grid(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in grid.items():
            if not key or "=" in key or key.strip() != key:
                raise ValueError(f"key {key!r}: must be a key path like engine.headroom_bps")
            if key == "seed":
                raise ValueError("key 'seed': list run seeds under `seeds`, not in the grid")
            if not values:
                raise ValueError(f"{key}: needs at least one value")
        return grid

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        from sim.config.scenario import check_seed  # the scenario schema's seed rule

        for i, s in enumerate(seeds):
            check_seed(f"seeds[{i}]", s)
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds {seeds}: must be distinct")
        return seeds


@dataclass(frozen=True)
class RunSpec:
    """One combination: the scenario reference, ``--set`` overrides, grid values, seed."""

    scenario: str
    overrides: tuple[str, ...]
    params: tuple[tuple[str, Any], ...]
    seed: int


def load_sweep(path: str | Path) -> tuple[SweepConfig, str]:
    """Read and validate a sweep file; returns the config and the resolved scenario reference
    (an absolute path if the file names a path, else the bare scenario name)."""
    p = Path(path)
    try:
        raw = read_yaml_file(p)
    except YamlError as err:
        raise SweepError(str(err)) from None
    if not isinstance(raw, dict):
        raise SweepError(f"{p}: must be a mapping with scenario, grid, seeds")
    try:
        cfg = SweepConfig.model_validate(raw)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(x) for x in e["loc"]) or "(top)"
        value = e.get("input")
        rule = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            rule = "unknown key (allowed: scenario, description, grid, seeds)"
        shown = "" if e["type"] in ("missing", "extra_forbidden") else f"={value!r}"
        raise SweepError(f"{p}: {loc}{shown}: {rule}") from None
    ref = cfg.scenario
    if "/" in ref or ref.endswith((".yaml", ".yml")):
        target = (p.parent / ref).resolve()
        if not target.is_file():
            raise SweepError(
                f"{p}: scenario={ref!r}: no file at {target} (a relative path resolves against "
                f"the sweep file's folder, {p.parent.resolve()}; a bare name is a scenario "
                "shipped in scenarios/)"
            )
        ref = str(target)
    return cfg, ref


def _render(value: Any) -> str:
    """A grid value as a ``--set`` value (JSON is valid YAML flow syntax)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def expand(cfg: SweepConfig, scenario_ref: str) -> list[RunSpec]:
    """Every (grid combination x seed) in order: grid keys in file order, seeds fastest."""
    keys = list(cfg.grid)
    specs = []
    for values in itertools.product(*(cfg.grid[k] for k in keys)):
        params = tuple(zip(keys, values, strict=True))
        overrides = tuple(f"{k}={_render(v)}" for k, v in params)
        for seed in cfg.seeds:
            specs.append(RunSpec(scenario_ref, overrides, params, int(seed)))
    return specs

"""Scenario configuration: the validated ``Scenario`` model and its loader.

Section models live in concrete modules (``sim.config.world``, ``sim.config.market``,
``sim.config.model``); the top-level names below are resolved lazily so that importing a section
module never drags in the whole scenario (and never creates an import cycle).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Scenario", "ScenarioError", "available_scenarios", "load_scenario"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("sim.config.scenario"), name)
    raise AttributeError(f"module 'sim.config' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

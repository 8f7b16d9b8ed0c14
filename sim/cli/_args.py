"""Arguments and command shapes several ``ce`` subcommands share, declared once."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_models_arg(p: argparse.ArgumentParser, *flags: str) -> None:
    """``--models DIR`` (or the given flags): the PD model registry directory."""
    p.add_argument(
        *(flags or ("--models",)),
        dest="models",
        type=Path,
        default=Path("models"),
        metavar="DIR",
        help="model registry directory (default: models)",
    )


def add_set_arg(p: argparse.ArgumentParser, example: str) -> None:
    """``--set KEY.PATH=VALUE`` (repeatable) into ``args.overrides``."""
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help=f"override a scenario value (YAML scalar), e.g. {example} (repeatable)",
    )


def add_actions(
    sub: argparse._SubParsersAction, name: str, *, help: str, description: str
) -> argparse._SubParsersAction:
    """``ce NAME ACTION``: add command ``name`` and return the subparsers its actions are added
    to (an ACTION is required)."""
    p = sub.add_parser(name, help=help, description=description)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    return actions

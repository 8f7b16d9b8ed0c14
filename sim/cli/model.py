"""``ce model train``: train the PD model on a scenario's population and register it."""

from __future__ import annotations

import argparse

from sim.cli._args import add_actions, add_models_arg, add_set_arg
from sim.cli._errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    actions = add_actions(
        sub,
        "model",
        help="train and inspect the PD model",
        description="PD model commands. The model is trained with scikit-learn on a synthetic "
        "population from the scenario's generator, exported to ONNX (versioned by the sha256 "
        "of its bytes) and served with ONNX Runtime in runs.",
    )
    t = actions.add_parser(
        "train",
        help="train the scenario's PD model and print its held-out metrics",
        description="Train the PD model for SCENARIO's population and model sections, write "
        "models/pd-<hash8>.onnx and .json, and print AUC, Brier, the calibration table, the "
        "model hash and its path (path on the last line). Deterministic: the same sections "
        "give the same bytes and hash.",
    )
    t.add_argument(
        "--scenario",
        default="baseline",
        help="scenario name (scenarios/<name>.yaml) or path to a YAML file (default: baseline)",
    )
    add_models_arg(t, "--out")
    add_set_arg(t, "model.algorithm=logistic")
    t.add_argument(
        "--force",
        action="store_true",
        help="train even if a model with the same training key is registered",
    )
    t.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import time

    from sim.config.scenario import ScenarioError, load_scenario
    from sim.model.registry import find_model, train_and_register

    try:
        scenario = load_scenario(args.scenario, args.overrides)
    except ScenarioError as err:
        raise CliError(str(err)) from None
    t0 = time.perf_counter()
    found = None if args.force else find_model(scenario.population, scenario.model, args.models)
    handle = found or train_and_register(scenario.population, scenario.model, args.models)
    wall = time.perf_counter() - t0
    met = handle.metrics
    print(f"scenario     {scenario.name}")
    print(
        f"algorithm    {scenario.model.algorithm}  (train {met['n_train']}, test {met['n_test']})"
    )
    print(f"status       {'reused (already registered)' if found else f'trained in {wall:.1f} s'}")
    print(f"AUC          {met['auc']:.4f}   (true PD on the same rows: {met['auc_true_pd']:.4f})")
    print(f"Brier        {met['brier']:.5f}")
    print(f"ECE          {met['ece']:.5f}")
    print(
        f"mean PD      predicted {met['mean_predicted']:.4f}  realised {met['mean_realised']:.4f}"
    )
    print("calibration  bin      n  predicted  realised")
    for row in met["calibration"]:
        print(
            f"             {row['bin']:>3} {row['n']:>6}  {row['predicted']:>9.4f}  "
            f"{row['realised']:>8.4f}"
        )
    print(f"version      {handle.version}")
    print(f"sha256       {handle.sha256}")
    print(str(handle.path))
    return 0

"""Content-addressed model registry: ``models/pd-<hash8>.onnx`` + ``models/pd-<hash8>.json``.

- The model's **version is its content hash**: sha256 of the ONNX bytes; files are named by
  the first 8 hex digits, the sidecar JSON holds the full hash, the held-out metrics, the
  training config, the feature names and the library versions.
- A model is *found* by its **training key**: sha256 of the canonical JSON of the population
  config, the model's training fields (:meth:`ModelConfig.training_fields`), the feature names
  and :data:`TRAINING_CODE_VERSION`. Serving fields (batch size, latency) do not change it.
- :func:`ensure_model` returns the registered model for a scenario, training it first (a few
  seconds) when no sidecar with the same training key exists — so a fresh clone works without
  an extra step. Training is deterministic, so concurrent processes that both train write the
  same bytes; every file is written atomically (temp file, fsync, ``os.replace``), ONNX first,
  so a sidecar never points at a missing model.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.agents.population import FEATURE_NAMES
from sim.config.model import ModelConfig, PopulationConfig
from sim.run.atomic import atomic_write_bytes

__all__ = [
    "TRAINING_CODE_VERSION",
    "ModelHandle",
    "ensure_model",
    "find_model",
    "register_model",
    "train_and_register",
    "training_key",
]

#: bump when training / export code changes what a given config produces
TRAINING_CODE_VERSION = 1


@dataclass(frozen=True)
class ModelHandle:
    """A registered model: ONNX ``path``, full ``sha256`` of its bytes, ``version``
    (``pd-<hash8>``), held-out ``metrics``, and the sidecar's other fields in ``info``."""

    path: Path
    sha256: str
    version: str
    metrics: dict[str, Any]
    info: dict[str, Any] = field(default_factory=dict, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able summary for manifests and ``SimResult.model``."""
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "version": self.version,
            "metrics": self.metrics,
            "training_key": self.info.get("training_key"),
        }


def _cfgs(scenario_or_cfgs: Any) -> tuple[PopulationConfig, ModelConfig]:
    if isinstance(scenario_or_cfgs, tuple) and len(scenario_or_cfgs) == 2:
        pop, mod = scenario_or_cfgs
    else:
        pop = getattr(scenario_or_cfgs, "population", None)
        mod = getattr(scenario_or_cfgs, "model", None)
    if not isinstance(pop, PopulationConfig) or not isinstance(mod, ModelConfig):
        raise TypeError(
            "ensure_model: expected a Scenario or a (PopulationConfig, ModelConfig) tuple, got "
            f"{type(scenario_or_cfgs).__name__}"
        )
    return pop, mod


def training_key(population: PopulationConfig, model: ModelConfig) -> str:
    """sha256 hex identifying what would be trained (see the module docstring)."""
    doc = {
        "code_version": TRAINING_CODE_VERSION,
        "features": list(FEATURE_NAMES),
        "population": population.model_dump(mode="json"),
        "training": model.training_fields(),
    }
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return float(f"{obj:.12g}") if np.isfinite(obj) else None
    return obj


def _handle_from_sidecar(sidecar: Path, meta: dict[str, Any]) -> ModelHandle:
    return ModelHandle(
        path=sidecar.with_suffix(".onnx"),
        sha256=meta["sha256"],
        version=meta["version"],
        metrics=meta["metrics"],
        info=meta,
    )


def find_model(
    population: PopulationConfig, model: ModelConfig, models_dir: str | Path = Path("models")
) -> ModelHandle | None:
    """The registered model with this training key whose ONNX bytes match its sidecar, or None."""
    key = training_key(population, model)
    root = Path(models_dir)
    if not root.is_dir():
        return None
    for sidecar in sorted(root.glob("pd-*.json")):
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if meta.get("training_key") != key:
            continue
        onnx_path = sidecar.with_suffix(".onnx")
        try:
            digest = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
        except OSError:
            continue
        if digest == meta.get("sha256"):
            return _handle_from_sidecar(sidecar, meta)
    return None


def register_model(
    onnx_bytes: bytes, meta: dict[str, Any], models_dir: str | Path = Path("models")
) -> ModelHandle:
    """Write ``pd-<hash8>.onnx`` then its sidecar ``pd-<hash8>.json`` (both atomic)."""
    digest = hashlib.sha256(onnx_bytes).hexdigest()
    version = f"pd-{digest[:8]}"
    root = Path(models_dir)
    onnx_path = root / f"{version}.onnx"
    atomic_write_bytes(onnx_path, onnx_bytes)
    doc = _json_safe({**meta, "sha256": digest, "version": version, "file": onnx_path.name})
    text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
    atomic_write_bytes(root / f"{version}.json", text.encode("utf-8"))
    return _handle_from_sidecar(root / f"{version}.json", doc)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("scikit-learn", "skl2onnx", "onnx", "onnxruntime", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out


def train_and_register(
    population: PopulationConfig, model: ModelConfig, models_dir: str | Path = Path("models")
) -> ModelHandle:
    """Train, export to ONNX, score the held-out rows with ONNX Runtime, register."""
    from sim.model import metrics as m
    from sim.model.export import to_onnx_bytes
    from sim.model.serving import PDScorer
    from sim.model.train import train

    key = training_key(population, model)
    trained = train(population, model)
    blob = to_onnx_bytes(
        trained.estimator,
        len(FEATURE_NAMES),
        metadata={
            "creditengine.training_key": key,
            "creditengine.features": ",".join(FEATURE_NAMES),
            "creditengine.algorithm": model.algorithm,
        },
    )
    # held-out metrics from what is actually served: the ONNX model through onnxruntime
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.onnx"
        probe.write_bytes(blob)
        p_onnx = PDScorer(probe).score(trained.data.x_test)
    data = trained.data
    summary = m.summary(data.y_test, p_onnx)
    metrics = {
        "auc": summary["auc"],
        "brier": summary["brier"],
        "ece": summary["ece"],
        "mean_predicted": summary["mean_predicted"],
        "mean_realised": summary["mean_realised"],
        "auc_true_pd": m.auc(data.y_test, data.pd_true_test),
        "n_train": int(data.y_train.size),
        "n_test": int(data.y_test.size),
        "max_abs_diff_sklearn_onnx": float(np.max(np.abs(p_onnx - trained.p_test))),
        "calibration": summary["calibration"],
    }
    meta = {
        "training_key": key,
        "feature_names": list(FEATURE_NAMES),
        "algorithm": model.algorithm,
        "training": model.training_fields(),
        "population": population.model_dump(mode="json"),
        "metrics": metrics,
        "versions": _versions(),
        "code_version": TRAINING_CODE_VERSION,
    }
    return register_model(blob, meta, models_dir)


def ensure_model(scenario_or_cfgs: Any, models_dir: str | Path = Path("models")) -> ModelHandle:
    """The model for a ``Scenario`` (or ``(PopulationConfig, ModelConfig)``): reuse the
    registered one with the same training key, else train and register it (deterministic)."""
    population, model = _cfgs(scenario_or_cfgs)
    found = find_model(population, model, models_dir)
    if found is not None:
        return found
    return train_and_register(population, model, models_dir)

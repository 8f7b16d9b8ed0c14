"""The engine's PD model: training, ONNX export, content-addressed registry, serving, batching.

- :func:`ensure_model` (``registry``): the scenario's model, trained on first use.
- :class:`~sim.model.serving.PDScorer`: ONNX Runtime scoring of float32 feature rows.
- :class:`~sim.model.batcher.DynamicBatcher`: dynamic batching in simulated time.
- :mod:`sim.model.metrics`: AUC, Brier, calibration (numpy only).

scikit-learn and skl2onnx are imported only when a model is trained; runs need onnxruntime.
"""

from __future__ import annotations

from sim.model.registry import ModelHandle, ensure_model, find_model, training_key

__all__ = ["ModelHandle", "ensure_model", "find_model", "training_key"]

"""Export a fitted scikit-learn classifier to ONNX bytes, deterministically.

- Input: one float32 tensor ``X`` of shape ``(None, F)``.
- Output: ``probabilities`` (float32, ``(None, 2)``; column 1 = PD) as a plain tensor —
  ``zipmap=False``: the default ZipMap output is a list of dicts, far slower to serve.
- The bytes depend only on the fitted estimator and the metadata given: no timestamps, a fixed
  opset (imports sorted by domain), node names from skl2onnx's deterministic counters, metadata
  props in sorted order. The
  same training inputs therefore give the same sha256 (checked by the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "TARGET_OPSET", "to_onnx_bytes"]

INPUT_NAME = "X"
OUTPUT_NAME = "probabilities"
#: pinned so that a skl2onnx upgrade does not silently change the bytes
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}


def to_onnx_bytes(estimator: Any, n_features: int, metadata: Mapping[str, str] = ()) -> bytes:
    """Serialise ``estimator`` to ONNX with a ``(None, n_features)`` float32 input.

    ``metadata`` (str -> str) is stored as model metadata props, sorted by key.
    """
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import FloatTensorType

    onx = to_onnx(
        estimator,
        initial_types=[(INPUT_NAME, FloatTensorType([None, int(n_features)]))],
        options={"zipmap": False},
        target_opset=dict(TARGET_OPSET),
    )
    names = [o.name for o in onx.graph.output]
    if OUTPUT_NAME not in names:
        raise RuntimeError(f"exported ONNX graph has outputs {names}, expected {OUTPUT_NAME!r}")
    onx.doc_string = ""
    # skl2onnx may list a domain twice, in an order that depends on which converters were
    # loaded earlier in the process: keep one entry per domain (its highest version), sorted,
    # so the bytes (and the model hash) do not depend on the process's history.
    opsets: dict[str, int] = {}
    for o in onx.opset_import:
        opsets[o.domain] = max(o.version, opsets.get(o.domain, 0))
    del onx.opset_import[:]
    for domain, version in sorted(opsets.items()):
        entry = onx.opset_import.add()
        entry.domain = domain
        entry.version = version
    del onx.metadata_props[:]
    for key in sorted(dict(metadata)):
        prop = onx.metadata_props.add()
        prop.key = str(key)
        prop.value = str(dict(metadata)[key])
    return onx.SerializeToString(deterministic=True)

"""Serve the PD model from its ONNX file with ONNX Runtime.

:class:`PDScorer` opens one ``InferenceSession`` (CPU, one intra-op and one inter-op thread,
sequential execution, all graph optimisations) and scores float32 rows: ``score(X)`` returns
the PD (the positive-class probability) of every row as float64. Only the ``probabilities``
output is fetched. Runs use the ONNX file only; scikit-learn is never imported here.

Per-call cost matters at small batch sizes (the simulation's dynamic batcher): the output-name
list, the input dict and a ``RunOptions`` are built once and reused, and
:meth:`PDScorer.score_rows` skips the input conversion for a caller that already holds
C-contiguous float32 rows of the right width. The PDs are the same numbers either way: the same
session runs the same float32 input. (Measured costs: ``docs/decisions.md``.)

One thread per session is deliberate: runs are parallelised as whole processes (``ce sweep``),
and the batches are small, where thread hand-off would cost more than it saves.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from sim.model.export import INPUT_NAME, OUTPUT_NAME

__all__ = ["PDScorer"]


class PDScorer:
    """PD scoring with ONNX Runtime over one ONNX model file.

    ``expected_sha256`` (hex), when given, is checked against the file's bytes before loading:
    a mismatch raises ``ValueError`` (a corrupted or swapped model never scores).
    """

    def __init__(self, path: str | Path, *, expected_sha256: str | None = None) -> None:
        import onnxruntime as ort

        self._path = Path(path)
        try:
            blob = self._path.read_bytes()
        except OSError as err:
            raise ValueError(f"model file {self._path}: cannot read ({err.strerror})") from None
        self._sha256 = hashlib.sha256(blob).hexdigest()
        if expected_sha256 is not None and expected_sha256 != self._sha256:
            raise ValueError(
                f"model file {self._path}: sha256={self._sha256[:16]}... does not match the "
                f"expected {expected_sha256[:16]}..."
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self._session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or inputs[0].name != INPUT_NAME:
            raise ValueError(
                f"model file {self._path}: inputs {[i.name for i in inputs]}, expected "
                f"[{INPUT_NAME!r}]"
            )
        shape = inputs[0].shape
        self._n_features = int(shape[1]) if isinstance(shape[1], int) else None
        self._outputs = [OUTPUT_NAME]
        self._run = self._session.run
        self._run_options = ort.RunOptions()
        self._feed: dict[str, np.ndarray] = {}

    @property
    def path(self) -> Path:
        """The ONNX file being served."""
        return self._path

    @property
    def sha256(self) -> str:
        """sha256 hex of the ONNX file's bytes (the model version)."""
        return self._sha256

    @property
    def n_features(self) -> int | None:
        """Number of input columns the model expects (None if the graph leaves it open)."""
        return self._n_features

    def score(self, x: np.ndarray) -> np.ndarray:
        """PD of every row of ``x`` ((n, F) or a single (F,) row), as a float64 array (n,).

        Rows are converted to C-contiguous float32 if they are not already.
        """
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.dtype != np.float32 or not x.flags.c_contiguous:
            x = np.ascontiguousarray(x, dtype=np.float32)
        if self._n_features is not None and x.shape[1] != self._n_features:
            raise ValueError(
                f"score: X has {x.shape[1]} columns, the model expects {self._n_features}"
            )
        if x.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        return self.score_rows(x)

    def score_rows(self, x: np.ndarray) -> np.ndarray:
        """:meth:`score` without the input conversion: ``x`` must already be a C-contiguous
        float32 array (n >= 1, F) with the model's F columns (the batcher's row buffer is).
        Anything else is rejected by onnxruntime itself or gives the same PDs as
        :meth:`score`."""
        feed = self._feed
        feed[INPUT_NAME] = x
        try:
            probs = self._run(self._outputs, feed, self._run_options)[0]
        finally:
            feed.clear()  # never keep the caller's buffer alive
        return probs[:, 1].astype(np.float64)

    def __repr__(self) -> str:
        return f"PDScorer({str(self._path)!r}, sha256={self._sha256[:8]})"

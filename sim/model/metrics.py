"""Discrimination and calibration metrics for PD models (pure numpy, no scikit-learn).

- :func:`auc`: area under the ROC curve = P(score of a random default > score of a random
  non-default), ties counted one half (Mann-Whitney U with mid-ranks).
- :func:`brier`: mean squared error of the predicted probability against the 0/1 outcome.
- :func:`calibration_table`: predicted vs realised default rate in ``bins`` quantile bins of
  the prediction; :func:`expected_calibration_error` is the count-weighted mean absolute gap.

Used on held-out data when a model is trained and by the KPIs (predicted vs realised defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["auc", "brier", "calibration_table", "expected_calibration_error", "summary"]


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1:
        raise ValueError(f"y shape {y.shape} and p shape {p.shape} must be equal and 1-D")
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError("y must contain only 0/1 outcomes")
    return y.astype(np.float64), p


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC of scores ``p`` for outcomes ``y`` (NaN when only one class is present)."""
    y, p = _check(y, p)
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    sorted_p = p[order]
    ranks = np.empty(p.size, dtype=np.float64)
    # mid-ranks for ties
    _, first, counts = np.unique(sorted_p, return_index=True, return_counts=True)
    mid = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(mid, counts)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Mean of ``(p - y)^2`` (NaN for no rows)."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2)) if y.size else float("nan")


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    """Rows ``{bin, n, predicted, realised}`` over quantile bins of ``p`` (empty bins dropped).

    ``predicted`` is the mean prediction and ``realised`` the default rate in the bin.
    """
    y, p = _check(y, p)
    if bins < 1:
        raise ValueError(f"bins={bins}: must be >= 1")
    if not y.size:
        return []
    order = np.argsort(p, kind="mergesort")
    rows = []
    for i, idx in enumerate(np.array_split(order, bins)):
        if idx.size == 0:
            continue
        rows.append(
            {
                "bin": i,
                "n": int(idx.size),
                "predicted": float(p[idx].mean()),
                "realised": float(y[idx].mean()),
            }
        )
    return rows


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean of ``|predicted - realised|`` over :func:`calibration_table` bins."""
    table = calibration_table(y, p, bins)
    total = sum(r["n"] for r in table)
    if not total:
        return float("nan")
    return float(sum(r["n"] * abs(r["predicted"] - r["realised"]) for r in table) / total)


def summary(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """``auc``, ``brier``, ``ece``, mean predicted / realised rate, ``n`` and the table."""
    y_arr, p_arr = _check(y, p)
    return {
        "n": int(y_arr.size),
        "auc": auc(y_arr, p_arr),
        "brier": brier(y_arr, p_arr),
        "ece": expected_calibration_error(y_arr, p_arr, bins),
        "mean_predicted": float(p_arr.mean()) if p_arr.size else float("nan"),
        "mean_realised": float(y_arr.mean()) if y_arr.size else float("nan"),
        "calibration": calibration_table(y_arr, p_arr, bins),
    }

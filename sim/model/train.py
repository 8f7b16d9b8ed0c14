"""Train the engine's PD model on a synthetic population drawn from the scenario's generator.

Data: ``model.train_size`` borrowers from :func:`sim.agents.population.sample_borrowers` with a
generator seeded by ``model.training_seed`` (independent of any run's seed); the label is
"defaulted within 12 months", drawn as ``Bernoulli(pd_12m)`` from the true hazard with a
second, independent stream. The first ``1 - test_share`` of the rows train the model, the rest
are held out for AUC, Brier and calibration.

Algorithms: ``logistic`` (standardise + L2 logistic regression, lbfgs) or ``gbm``
(scikit-learn ``GradientBoostingClassifier``; ``HistGradientBoostingClassifier`` does not
convert to ONNX with skl2onnx 1.20). Both are deterministic given the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.agents.population import sample_borrowers
from sim.config.model import ModelConfig, PopulationConfig

__all__ = ["TrainedModel", "TrainingData", "fit_estimator", "make_training_data", "train"]


@dataclass(frozen=True, eq=False)
class TrainingData:
    """Training / held-out split: float32 features, int64 0/1 labels, true PDs of the test set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pd_true_test: np.ndarray


@dataclass(frozen=True, eq=False)
class TrainedModel:
    """A fitted scikit-learn estimator with its data and held-out predictions."""

    estimator: Any
    data: TrainingData
    p_test: np.ndarray


def make_training_data(population: PopulationConfig, model: ModelConfig) -> TrainingData:
    """Draw the training population and labels from ``model.training_seed`` (deterministic)."""
    ss = np.random.SeedSequence(model.training_seed)
    feat_ss, label_ss = ss.spawn(2)
    b = sample_borrowers(
        population, np.random.Generator(np.random.PCG64(feat_ss)), model.train_size
    )
    u = np.random.Generator(np.random.PCG64(label_ss)).random(model.train_size)
    y = (u < b.pd_12m).astype(np.int64)
    n_train = model.train_size - round(model.train_size * model.test_share)
    y_train = y[:n_train]
    if y_train.min() == y_train.max():
        raise ValueError(
            f"model.train_size={model.train_size}: the training labels have one class only "
            f"(mean true PD {b.pd_12m.mean():.4f}); raise train_size or the hazard level"
        )
    return TrainingData(
        x_train=np.ascontiguousarray(b.features[:n_train]),
        y_train=y_train,
        x_test=np.ascontiguousarray(b.features[n_train:]),
        y_test=y[n_train:],
        pd_true_test=b.pd_12m[n_train:],
    )


def fit_estimator(model: ModelConfig, x: np.ndarray, y: np.ndarray) -> Any:
    """Fit the configured scikit-learn classifier on ``x`` (n, F) and 0/1 labels ``y``."""
    if model.algorithm == "gbm":
        from sklearn.ensemble import GradientBoostingClassifier

        est: Any = GradientBoostingClassifier(
            n_estimators=model.gbm_n_estimators,
            max_depth=model.gbm_max_depth,
            learning_rate=model.gbm_learning_rate,
            random_state=0,
        )
    else:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        est = make_pipeline(StandardScaler(), LogisticRegression(C=model.logistic_c, max_iter=1000))
    return est.fit(x, y)


def train(population: PopulationConfig, model: ModelConfig) -> TrainedModel:
    """Draw data, fit the estimator and predict the held-out rows (scikit-learn)."""
    data = make_training_data(population, model)
    est = fit_estimator(model, data.x_train, data.y_train)
    p_test = est.predict_proba(data.x_test)[:, 1].astype(np.float64)
    return TrainedModel(estimator=est, data=data, p_test=p_test)

"""PD model: training, ONNX export round trip, content hash, registry, serving, metrics."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.config.model import ModelConfig, PopulationConfig
from sim.model import ensure_model, find_model, training_key
from sim.model import metrics as m
from sim.model.export import to_onnx_bytes
from sim.model.registry import train_and_register
from sim.model.serving import PDScorer
from sim.model.train import train

POP = PopulationConfig()
GBM_SMALL = ModelConfig(algorithm="gbm", train_size=4_000, gbm_n_estimators=25)
LOGISTIC = ModelConfig(algorithm="logistic", train_size=20_000)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.mark.parametrize("cfg", [LOGISTIC, GBM_SMALL], ids=["logistic", "gbm"])
def test_onnx_scores_equal_sklearn_predict_proba(cfg: ModelConfig, tmp_path: Path) -> None:
    trained = train(POP, cfg)
    blob = to_onnx_bytes(trained.estimator, trained.data.x_test.shape[1])
    (tmp_path / "m.onnx").write_bytes(blob)
    scorer = PDScorer(tmp_path / "m.onnx")
    p_onnx = scorer.score(trained.data.x_test)
    np.testing.assert_allclose(p_onnx, trained.p_test, atol=1e-5, rtol=0)
    # one row at a time gives the same as the batch
    for i in range(5):
        assert scorer.score(trained.data.x_test[i]) == pytest.approx(p_onnx[i], abs=1e-6)


@pytest.mark.parametrize("cfg", [LOGISTIC, GBM_SMALL], ids=["logistic", "gbm"])
def test_content_hash_is_deterministic_across_trainings(cfg: ModelConfig, tmp_path: Path) -> None:
    a = train_and_register(POP, cfg, tmp_path / "a")
    b = train_and_register(POP, cfg, tmp_path / "b")
    assert a.sha256 == b.sha256
    assert a.path.read_bytes() == b.path.read_bytes()
    assert a.version == f"pd-{a.sha256[:8]}" and a.path.name == f"{a.version}.onnx"
    assert hashlib.sha256(a.path.read_bytes()).hexdigest() == a.sha256
    # a different training seed is a different model
    c = train_and_register(POP, cfg.model_copy(update={"training_seed": 1}), tmp_path / "c")
    assert c.sha256 != a.sha256


def test_held_out_metrics_are_sane(registry: Path) -> None:
    h = ensure_model((POP, LOGISTIC), registry)
    met = h.metrics
    assert met["auc"] > 0.6
    assert met["auc"] <= met["auc_true_pd"] + 0.03  # cannot beat the truth by much
    assert 0.0 < met["brier"] < 0.1
    assert abs(met["mean_predicted"] - met["mean_realised"]) < 0.02
    assert met["n_test"] == 5_000 and met["n_train"] == 15_000
    assert met["max_abs_diff_sklearn_onnx"] < 1e-5
    assert len(met["calibration"]) == 10
    side = json.loads(h.path.with_suffix(".json").read_text())
    assert side["sha256"] == h.sha256
    assert side["feature_names"][0] == "log_income"
    assert side["training_key"] == training_key(POP, LOGISTIC)


def test_ensure_model_reuses_registered_model(
    registry: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_model((POP, LOGISTIC), registry)

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("retrained although the model was registered")

    monkeypatch.setattr("sim.model.registry.train_and_register", boom)
    again = ensure_model((POP, LOGISTIC.model_copy(update={"max_batch_size": 7})), registry)
    assert again == first  # serving fields do not change the model


def test_tampered_model_is_not_reused_and_not_served(tmp_path: Path) -> None:
    h = ensure_model((POP, LOGISTIC), tmp_path)
    good = h.path.read_bytes()
    h.path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    assert find_model(POP, LOGISTIC, tmp_path) is None
    with pytest.raises(ValueError, match="does not match"):
        PDScorer(h.path, expected_sha256=h.sha256)
    again = ensure_model((POP, LOGISTIC), tmp_path)  # retrains the same bytes
    assert again.path.read_bytes() == good


def test_training_key_ignores_serving_fields_only() -> None:
    base = training_key(POP, LOGISTIC)
    assert training_key(POP, LOGISTIC.model_copy(update={"max_batch_delay_ms": 1.0})) == base
    assert training_key(POP, LOGISTIC.model_copy(update={"train_size": 999})) != base
    pop2 = POP.model_copy(update={"income_sigma": 0.5})
    assert training_key(pop2, LOGISTIC) != base


def test_scorer_rejects_bad_input(registry: Path) -> None:
    h = ensure_model((POP, LOGISTIC), registry)
    s = PDScorer(h.path)
    assert s.n_features == 8
    with pytest.raises(ValueError, match="8"):
        s.score(np.zeros((2, 3), dtype=np.float32))
    assert s.score(np.zeros((0, 8), dtype=np.float32)).shape == (0,)
    out = s.score(np.zeros((3, 8), dtype=np.float64))  # converted
    assert out.dtype == np.float64 and out.shape == (3,)
    with pytest.raises(ValueError, match="cannot read"):
        PDScorer(registry / "missing.onnx")
    with pytest.raises(TypeError, match="Scenario"):
        ensure_model("small", registry)


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=60),
)
def test_auc_matches_pairwise_definition(pairs: list[tuple[int, int]]) -> None:
    y = np.array([a for a, _ in pairs])
    p = np.array([b for _, b in pairs], dtype=float) / 6.0
    pos, neg = p[y == 1], p[y == 0]
    got = m.auc(y, p)
    if pos.size == 0 or neg.size == 0:
        assert np.isnan(got)
        return
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert got == pytest.approx(wins / (pos.size * neg.size))


def test_brier_and_calibration() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.array([0.0, 0.5, 0.5, 1.0])
    assert m.brier(y, p) == pytest.approx(0.125)
    table = m.calibration_table(y, p, bins=2)
    assert [r["n"] for r in table] == [2, 2]
    assert table[0]["predicted"] == pytest.approx(0.25) and table[0]["realised"] == 0.0
    assert m.expected_calibration_error(y, p, bins=2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="0/1"):
        m.brier(np.array([2]), np.array([0.1]))


def test_onnx_opset_imports_are_sorted_by_domain() -> None:
    """skl2onnx's opset_import order varies with what was loaded before in the process; the
    exported bytes (and so the model hash) must not, so the exporter sorts it."""
    import onnx
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    y = (x[:, 0] + rng.normal(size=200) > 0).astype(int)
    model = onnx.load_from_string(to_onnx_bytes(LogisticRegression().fit(x, y), 3))
    domains = [o.domain for o in model.opset_import]
    assert domains == sorted(domains) and len(domains) == len(set(domains))

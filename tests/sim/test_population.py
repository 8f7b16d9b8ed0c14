"""Borrower population: determinism, ranges, the true hazard's level, config validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from sim.agents.population import FEATURE_NAMES, sample_borrowers
from sim.config.model import HazardConfig, ModelConfig, PopulationConfig

CFG = PopulationConfig()


def test_same_generator_state_gives_identical_borrowers() -> None:
    a = sample_borrowers(CFG, np.random.default_rng(7), 5_000)
    b = sample_borrowers(CFG, np.random.default_rng(7), 5_000)
    assert a.features.tobytes() == b.features.tobytes()
    assert a.pd_12m.tobytes() == b.pd_12m.tobytes()
    assert np.array_equal(a.amount_cents, b.amount_cents)
    c = sample_borrowers(CFG, np.random.default_rng(8), 5_000)
    assert a.features.tobytes() != c.features.tobytes()


def test_default_hazard_mean_is_a_realistic_12m_pd() -> None:
    b = sample_borrowers(CFG, np.random.default_rng(11), 100_000)
    assert 0.05 <= b.pd_12m.mean() <= 0.10
    # riskier by score: the worst score decile defaults far more than the best
    score = b.column("bureau_score")
    lo, hi = np.quantile(score, [0.1, 0.9])
    assert b.pd_12m[score <= lo].mean() > 3 * b.pd_12m[score >= hi].mean()


def test_monthly_hazard_compounds_to_the_12m_pd() -> None:
    b = sample_borrowers(CFG, np.random.default_rng(3), 2_000)
    np.testing.assert_allclose(1.0 - (1.0 - b.hazard_monthly) ** 12, b.pd_12m, rtol=1e-9)


def test_shapes_types_and_ranges() -> None:
    n = 3_000
    b = sample_borrowers(CFG, np.random.default_rng(5), n)
    assert len(b) == n
    assert b.features.shape == (n, len(FEATURE_NAMES)) and b.features.dtype == np.float32
    assert b.feature_names == FEATURE_NAMES
    for arr in (b.income_cents, b.amount_cents, b.term_months):
        assert arr.dtype == np.int64 and arr.shape == (n,)
    assert (b.income_cents >= CFG.income_min_cents).all()
    assert (b.amount_cents >= CFG.amount_min_cents).all()
    assert (b.amount_cents <= CFG.amount_max_cents).all()
    assert (b.amount_cents % 100 == 0).all()  # whole reais
    assert set(np.unique(b.term_months)) <= set(CFG.terms_months)
    score = b.column("bureau_score")
    assert score.min() >= 0 and score.max() <= 1000
    age = b.column("age_years")
    assert age.min() >= CFG.age_min and age.max() <= CFG.age_max
    assert (b.column("tenure_months") <= (age - 16) * 12).all()
    assert ((b.pd_12m > 0) & (b.pd_12m < 1)).all()
    assert np.isfinite(b.features).all()


def test_zero_rows_and_bad_n() -> None:
    assert len(sample_borrowers(CFG, np.random.default_rng(0), 0)) == 0
    with pytest.raises(ValueError, match="n=-1"):
        sample_borrowers(CFG, np.random.default_rng(0), -1)


@given(st.floats(min_value=-6.0, max_value=0.0), st.integers(min_value=0, max_value=2**32))
def test_intercept_moves_pd_monotonically(intercept: float, seed: int) -> None:
    lo = PopulationConfig(hazard=HazardConfig(intercept=intercept))
    hi = PopulationConfig(hazard=HazardConfig(intercept=intercept + 0.5))
    a = sample_borrowers(lo, np.random.default_rng(seed), 200)
    b = sample_borrowers(hi, np.random.default_rng(seed), 200)
    assert a.features.tobytes() == b.features.tobytes()  # hazard does not change the features
    assert (b.pd_12m >= a.pd_12m).all()


def test_config_rejects_unknown_keys_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="income_medain_cents"):
        PopulationConfig(income_medain_cents=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="term_weights"):
        PopulationConfig(terms_months=(12, 24), term_weights=(1.0,))
    with pytest.raises(ValidationError, match="age_min"):
        PopulationConfig(age_min=60, age_max=50)
    with pytest.raises(ValidationError, match="algorithm"):
        ModelConfig(algorithm="hist_gbm")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        CFG.income_sigma = 1.0  # type: ignore[misc]  # frozen


def test_model_config_latency_and_training_fields() -> None:
    m = ModelConfig(inference_fixed_ms=1.5, inference_per_row_ms=0.25)
    assert m.inference_ms(4) == pytest.approx(2.5)
    assert "max_batch_size" not in m.training_fields()
    assert m.training_fields()["algorithm"] == "gbm"

"""Scenario sections ``population`` (who the borrowers are, and how they truly default) and
``model`` (how the engine's PD model is trained and served).

Units
-----
Money in integer centavos (``*_cents``), durations in months where named ``*_months``, serving
latencies in milliseconds of *simulated* time (``*_ms``).

The population
--------------
Each borrower has a latent credit-quality factor ``u ~ N(0, 1)`` (positive = riskier) that the
engine never sees; the observable features are drawn around it:

================================  =========================================================
monthly income (centavos)         lognormal, median ``income_median_cents``, shifted by
                                  ``-income_risk_loading * u`` in log space, floored at the
                                  minimum wage
age (years)                       normal, truncated to ``[age_min, age_max]``
employment tenure (months)        exponential with mean ``tenure_mean_months`` scaled by age
bureau score (0-1000, Serasa-like) ``score_mean - score_sd * (rho*u + sqrt(1-rho^2)*e)``
debt-to-income ratio              beta(``dti_alpha``, ``dti_beta``), shifted by ``u``
past delinquencies (count)        Poisson(``delinq_base_rate * exp(delinq_risk_loading*u)``)
requested amount / income         lognormal, median ``amount_ratio_median``; amount clipped
term (months)                     drawn from ``terms_months`` with ``term_weights``
================================  =========================================================

The TRUE 12-month default probability is a logistic link of these (``HazardConfig``) with
non-linear pieces (a debt-to-income kink, a young-age penalty, a saturating tenure effect)
plus the unobserved factor ``u``, so a model fitted on the features has something to
estimate and cannot be perfect. The defaults give a mean 12-month PD of about 7 % (checked
by ``tests/sim/test_population.py``). The monthly hazard is the constant hazard with the same
12-month survival: ``h = 1 - (1 - pd_12m) ** (1/12)``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sim.config.limits import (
    MAX_CENTS,
    MAX_INCOME_CENTS,
    MAX_TERM_MONTHS,
    ConfigModel,
    Seed,
    TermMonths,
    Weight,
)

__all__ = ["HazardConfig", "ModelConfig", "PopulationConfig"]

#: Brazilian minimum monthly wage 2024 (R$ 1,412.00), in centavos.
MINIMUM_WAGE_CENTS = 141_200


#: bounds of the true log-odds' coefficients: with every feature at its extreme (score term
#: within [-6, 4], |log income ratio| < 27, age term <= 7, log tenure <= 6.4, log
#: delinquencies <= 3.1, amount ratio <= 12, term <= 360 months, |u| < 9) the logit stays
#: within about +-560, so exp(-logit) never overflows a double (e^709)
_COEF = 5.0
_INTERCEPT = 20.0
_COEF_TERM = 0.5


class HazardConfig(ConfigModel):
    """Coefficients of the true log-odds of default within 12 months.

    ``logit(pd_12m) = intercept
    + coef_score * (score - 600) / 100
    + coef_log_income * ln(income / income_median)
    + coef_dti * dti + coef_dti_above_kink * max(dti - dti_kink, 0)
    + coef_age_young * max(25 - age, 0)
    + coef_log_tenure * ln(1 + tenure_months)
    + coef_log_delinquencies * ln(1 + delinquencies)
    + coef_amount_ratio * min(amount / income, 12)
    + coef_term * term_months
    + coef_latent * u``
    """

    intercept: float = Field(
        default=-3.5,
        ge=-_INTERCEPT,
        le=_INTERCEPT,
        description="log-odds offset (sets the PD level)",
    )
    coef_score: float = Field(
        default=-0.4, ge=-_COEF, le=_COEF, description="per 100 bureau-score points"
    )
    coef_log_income: float = Field(
        default=-0.35, ge=-_COEF, le=_COEF, description="per log unit of income"
    )
    coef_dti: float = Field(
        default=1.2, ge=-_COEF, le=_COEF, description="per unit of debt-to-income"
    )
    dti_kink: float = Field(
        default=0.45, gt=0.0, lt=1.0, description="DTI above which risk steepens"
    )
    coef_dti_above_kink: float = Field(
        default=3.0, ge=-_COEF, le=_COEF, description="extra slope above the kink"
    )
    coef_age_young: float = Field(
        default=0.08, ge=-_COEF, le=_COEF, description="per year of age below 25"
    )
    coef_log_tenure: float = Field(
        default=-0.22, ge=-_COEF, le=_COEF, description="per log(1+months) of tenure"
    )
    coef_log_delinquencies: float = Field(
        default=0.55, ge=-_COEF, le=_COEF, description="per log(1+count)"
    )
    coef_amount_ratio: float = Field(
        default=0.08, ge=-_COEF, le=_COEF, description="per month of income requested"
    )
    coef_term: float = Field(
        default=0.012, ge=-_COEF_TERM, le=_COEF_TERM, description="per month of term"
    )
    coef_latent: float = Field(
        default=0.35, ge=-_COEF, le=_COEF, description="unobserved factor u (model cannot see)"
    )


class PopulationConfig(ConfigModel):
    """Feature distributions of the borrower population and its true default hazard."""

    income_median_cents: int = Field(
        default=350_000, gt=0, le=MAX_INCOME_CENTS, description="median monthly income"
    )
    income_sigma: float = Field(default=0.65, gt=0.0, le=2.0, description="lognormal sigma")
    income_min_cents: int = Field(
        default=MINIMUM_WAGE_CENTS, gt=0, le=MAX_INCOME_CENTS, description="income floor"
    )
    income_risk_loading: float = Field(
        default=0.15, ge=0.0, le=1.0, description="log-income shift per u"
    )
    age_mean: float = Field(default=38.0, ge=18.0, le=90.0)
    age_sd: float = Field(default=11.0, gt=0.0, le=50.0)
    age_min: int = Field(default=18, ge=18, le=99)
    age_max: int = Field(default=75, ge=19, le=100)
    tenure_mean_months: float = Field(
        default=48.0, gt=0.0, le=600.0, description="mean employment tenure"
    )
    score_mean: float = Field(default=620.0, ge=0.0, le=1000.0, description="bureau score mean")
    score_sd: float = Field(default=170.0, gt=0.0, le=1000.0, description="bureau score spread")
    score_risk_corr: float = Field(
        default=0.7, ge=0.0, le=1.0, description="weight of u in the bureau score"
    )
    dti_alpha: float = Field(default=2.4, gt=0.0, le=1000.0, description="beta distribution alpha")
    dti_beta: float = Field(default=5.6, gt=0.0, le=1000.0, description="beta distribution beta")
    dti_risk_loading: float = Field(default=0.05, ge=0.0, le=1.0, description="DTI shift per u")
    delinq_base_rate: float = Field(
        default=0.3, ge=0.0, le=100.0, description="Poisson mean at u=0"
    )
    # <= 2 keeps the Poisson mean below numpy's limit (~9e18) for any latent factor |u| < 18
    delinq_risk_loading: float = Field(default=0.8, ge=0.0, le=2.0, description="log-rate per u")
    amount_ratio_median: float = Field(
        default=2.5, gt=0.0, le=100.0, description="amount / income median"
    )
    amount_ratio_sigma: float = Field(default=0.6, gt=0.0, le=3.0)
    amount_min_cents: int = Field(
        default=50_000, gt=0, le=MAX_CENTS, description="smallest request (R$ 500)"
    )
    amount_max_cents: int = Field(
        default=5_000_000, gt=0, le=MAX_CENTS, description="largest request (R$ 50k)"
    )
    terms_months: tuple[TermMonths, ...] = Field(
        default=(6, 12, 18, 24, 36), min_length=1, max_length=MAX_TERM_MONTHS
    )
    term_weights: tuple[Weight, ...] = Field(
        default=(0.15, 0.35, 0.2, 0.2, 0.1), min_length=1, max_length=MAX_TERM_MONTHS
    )
    hazard: HazardConfig = Field(default_factory=HazardConfig)

    @model_validator(mode="after")
    def _check(self) -> PopulationConfig:
        if self.age_min >= self.age_max:
            raise ValueError(f"age_min={self.age_min} must be < age_max={self.age_max}")
        if self.amount_min_cents > self.amount_max_cents:
            raise ValueError(
                f"amount_min_cents={self.amount_min_cents} must be <= "
                f"amount_max_cents={self.amount_max_cents}"
            )
        if len(self.terms_months) != len(self.term_weights):
            raise ValueError(
                f"term_weights has {len(self.term_weights)} entries but terms_months has "
                f"{len(self.terms_months)}; they must match"
            )
        if sum(self.term_weights) <= 0:
            raise ValueError(f"term_weights={list(self.term_weights)}: must have a positive sum")
        return self


class ModelConfig(ConfigModel):
    """How the PD model is trained (identity of the model) and served (latency, batching).

    Training fields (``algorithm`` .. ``logistic_c``) determine the model file: the same
    training fields and population give byte-identical ONNX and the same content hash. The
    training population is drawn from ``training_seed``, NOT from the run's seed, so every run
    of a scenario (any seed) scores with the same model, as a deployed engine would.

    Serving: requests arriving within ``max_batch_delay_ms`` of the first request of a batch
    are scored together, up to ``max_batch_size`` (a full batch dispatches at once); a batch of
    ``n`` rows takes ``inference_fixed_ms + inference_per_row_ms * n`` of simulated time.
    ``max_batch_size = 1`` is one-row scoring.
    """

    algorithm: Literal["logistic", "gbm"] = Field(
        default="gbm", description="logistic regression or sklearn GradientBoostingClassifier"
    )
    train_size: int = Field(default=20_000, ge=500, le=2_000_000, description="rows drawn")
    test_share: float = Field(default=0.25, gt=0.0, lt=0.9, description="held-out share")
    training_seed: Seed = Field(default=20_240_601, description="seed of the training data")
    gbm_n_estimators: int = Field(default=80, ge=1, le=2000)
    gbm_max_depth: int = Field(default=3, ge=1, le=12)
    gbm_learning_rate: float = Field(default=0.1, gt=0.0, le=1.0)
    logistic_c: float = Field(default=1.0, ge=1e-6, le=1e6, description="inverse L2 regularisation")
    max_batch_size: int = Field(default=64, ge=1, le=65_536)
    max_batch_delay_ms: float = Field(default=20.0, ge=0.0, le=60_000.0)
    inference_fixed_ms: float = Field(default=2.0, ge=0.0, le=60_000.0, description="per batch")
    inference_per_row_ms: float = Field(
        default=0.02, ge=0.0, le=1000.0, description="per row in a batch"
    )

    def training_fields(self) -> dict[str, object]:
        """The fields that determine the trained model (serving fields excluded)."""
        keys = (
            "algorithm",
            "train_size",
            "test_share",
            "training_seed",
            "gbm_n_estimators",
            "gbm_max_depth",
            "gbm_learning_rate",
            "logistic_c",
        )
        return {k: getattr(self, k) for k in keys}

    def inference_ms(self, batch_size: int) -> float:
        """Simulated inference time of one batch of ``batch_size`` rows, in milliseconds."""
        return self.inference_fixed_ms + self.inference_per_row_ms * batch_size

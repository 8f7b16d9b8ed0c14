"""Synthetic Brazilian consumer-credit borrowers: observable features and the TRUE default hazard.

:func:`sample_borrowers` draws ``n`` borrowers at once (vectorised numpy) from a :class:`~sim.config.model.PopulationConfig`. The distributions and the
true hazard are documented in :mod:`sim.config.model`. The same config, ``n`` and generator
state give the same borrowers, bit for bit; all draws come from the generator handed in.

``Borrowers.features`` is the model's input matrix (float32, one row per borrower, columns
:data:`FEATURE_NAMES`); the engine scores exactly these rows with the ONNX model. The true
``pd_12m`` / ``hazard_monthly`` are for the simulator only (loan defaults, calibration KPIs).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.config.model import PopulationConfig

__all__ = ["FEATURE_NAMES", "Borrowers", "sample_borrowers", "true_logit"]

#: Model input columns, in order. Income and amount enter as logs / ratios (scale-free).
FEATURE_NAMES: tuple[str, ...] = (
    "log_income",  # ln(monthly income in BRL)
    "age_years",
    "tenure_months",
    "bureau_score",  # 0..1000
    "dti",  # debt-to-income ratio, 0..1
    "past_delinquencies",  # count
    "amount_to_income",  # requested amount / monthly income
    "term_months",
)

_PD_FLOOR = 1e-5
_PD_CAP = 1.0 - 1e-5


@dataclass(frozen=True, slots=True, eq=False)
class Borrowers:
    """``n`` sampled borrowers (column arrays, all of length ``n``).

    ``features`` (n, F) float32 in the order of ``feature_names``; ``income_cents``,
    ``amount_cents`` (requested principal) and ``term_months`` are int64; ``pd_12m`` is the
    true 12-month default probability and ``hazard_monthly`` the equivalent constant monthly
    default hazard (float64).
    """

    features: np.ndarray
    feature_names: tuple[str, ...]
    income_cents: np.ndarray
    amount_cents: np.ndarray
    term_months: np.ndarray
    pd_12m: np.ndarray
    hazard_monthly: np.ndarray

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def column(self, name: str) -> np.ndarray:
        """One feature column by name (float32 view)."""
        try:
            j = self.feature_names.index(name)
        except ValueError:
            raise KeyError(f"feature {name!r} not in {list(self.feature_names)}") from None
        return self.features[:, j]


def true_logit(
    cfg: PopulationConfig,
    *,
    income_cents: np.ndarray,
    age: np.ndarray,
    tenure_months: np.ndarray,
    score: np.ndarray,
    dti: np.ndarray,
    delinquencies: np.ndarray,
    amount_to_income: np.ndarray,
    term_months: np.ndarray,
    latent: np.ndarray,
) -> np.ndarray:
    """True log-odds of default within 12 months (formula in :class:`HazardConfig`)."""
    h = cfg.hazard
    z = h.intercept + h.coef_score * (score - 600.0) / 100.0
    z = z + h.coef_log_income * np.log(income_cents / cfg.income_median_cents)
    z = z + h.coef_dti * dti + h.coef_dti_above_kink * np.maximum(dti - h.dti_kink, 0.0)
    z = z + h.coef_age_young * np.maximum(25.0 - age, 0.0)
    z = z + h.coef_log_tenure * np.log1p(tenure_months)
    z = z + h.coef_log_delinquencies * np.log1p(delinquencies)
    z = z + h.coef_amount_ratio * np.minimum(amount_to_income, 12.0)
    z = z + h.coef_term * term_months
    return z + h.coef_latent * latent


def sample_borrowers(cfg: PopulationConfig, rng: np.random.Generator, n: int) -> Borrowers:
    """Draw ``n`` borrowers from ``cfg`` using only ``rng`` (deterministic given its state).

    The draw order is fixed (latent factor, income, age, tenure, score, DTI, delinquencies,
    amount ratio, term), each a single vectorised call, so the result depends only on
    ``cfg``, ``n`` and the generator state.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n={n!r}: must be a non-negative integer")
    n = int(n)
    u = rng.standard_normal(n)

    log_income = (
        np.log(cfg.income_median_cents)
        + cfg.income_sigma * rng.standard_normal(n)
        - cfg.income_risk_loading * u
    )
    income_cents = np.maximum(np.rint(np.exp(log_income)), cfg.income_min_cents).astype(np.int64)

    age = np.clip(cfg.age_mean + cfg.age_sd * rng.standard_normal(n), cfg.age_min, cfg.age_max)
    age = np.floor(age)
    # tenure cannot exceed working life since 16; scale the mean down for the young
    working_months = (age - 16.0) * 12.0
    tenure = rng.exponential(cfg.tenure_mean_months, n) * np.minimum(1.0, working_months / 240.0)
    tenure = np.floor(np.minimum(tenure, working_months))

    rho = cfg.score_risk_corr
    noise = rng.standard_normal(n)
    score = cfg.score_mean - cfg.score_sd * (rho * u + np.sqrt(1.0 - rho * rho) * noise)
    score = np.clip(np.rint(score), 0.0, 1000.0)

    dti = rng.beta(cfg.dti_alpha, cfg.dti_beta, n) + cfg.dti_risk_loading * u
    dti = np.clip(dti, 0.0, 0.95)

    delinquencies = rng.poisson(cfg.delinq_base_rate * np.exp(cfg.delinq_risk_loading * u))
    delinquencies = np.minimum(delinquencies, 20).astype(np.float64)

    ratio = cfg.amount_ratio_median * np.exp(cfg.amount_ratio_sigma * rng.standard_normal(n))
    amount_cents = np.clip(
        np.rint(ratio * income_cents / 100.0) * 100.0,  # whole reais
        cfg.amount_min_cents,
        cfg.amount_max_cents,
    ).astype(np.int64)
    amount_to_income = amount_cents / income_cents

    weights = np.asarray(cfg.term_weights, dtype=np.float64)
    terms = np.asarray(cfg.terms_months, dtype=np.int64)
    term_months = terms[rng.choice(len(terms), size=n, p=weights / weights.sum())]

    z = true_logit(
        cfg,
        income_cents=income_cents.astype(np.float64),
        age=age,
        tenure_months=tenure,
        score=score,
        dti=dti,
        delinquencies=delinquencies,
        amount_to_income=amount_to_income,
        term_months=term_months.astype(np.float64),
        latent=u,
    )
    pd_12m = np.clip(1.0 / (1.0 + np.exp(-z)), _PD_FLOOR, _PD_CAP)
    hazard_monthly = -np.expm1(np.log1p(-pd_12m) / 12.0)

    features = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    features[:, 0] = np.log(income_cents / 100.0)
    features[:, 1] = age
    features[:, 2] = tenure
    features[:, 3] = score
    features[:, 4] = dti
    features[:, 5] = delinquencies
    features[:, 6] = amount_to_income
    features[:, 7] = term_months
    return Borrowers(
        features=features,
        feature_names=FEATURE_NAMES,
        income_cents=income_cents,
        amount_cents=amount_cents,
        term_months=term_months,
        pd_12m=pd_12m,
        hazard_monthly=hazard_monthly,
    )

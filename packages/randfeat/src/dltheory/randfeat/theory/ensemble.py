"""Ensembles of random-features estimators and the double-descent decomposition (arXiv 2003.01054).

K estimators share the training data and differ in their feature matrices F; their outputs are
averaged. With rho = 1 the test error is (2003.01054, eq. of E_g(K), reference notes section 3)

    E_g(K) = F1^2 [1 - 2 Psi1 + Psi2/K + (1 - 1/K) Psi4] + (F*^2 + tau^2) [Psi3/K + (1 - 1/K) Psi5] + F*^2

* Psi1 = M, Psi2 = Q(tau = 0), Psi3 = dQ/dtau^2 from the single-estimator replica solution;
* Psi4, Psi5: noise-free part and tau^2 coefficient of E_x[yhat1 yhat2] for two estimators sharing the
  data; Psi6 (independent data) = Psi1^2. They are computed here by the effective-ridge route: averaged
  over F, the features are Gaussian with kernel mu1^2 X X^T / D + mu*^2 I, and the K -> infinity
  ensemble is linear ridge with the effective ridge kappa of Jacot et al. (2020).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from dltheory.randfeat.errors import RidgeAtBoundWarning, require
from dltheory.randfeat.theory.activations import GETCoefficients, resolve_coefficients
from dltheory.randfeat.theory.conventions import to_replica_ridge
from dltheory.randfeat.theory.numerics import bisect
from dltheory.randfeat.theory.ridge import rf_ridge


@dataclass
class PsiTerms:
    psi1_term: np.ndarray
    psi2_term: np.ndarray
    psi3_term: np.ndarray
    psi4_term: np.ndarray
    psi5_term: np.ndarray
    psi6_term: np.ndarray
    effective_ridge: np.ndarray


def _mp_linear(ell, psi2):
    """m(ell) and m'(ell) of linear ridge with ridge ell at sample ratio psi2 (reference notes section 3)."""
    m = (1 - psi2 - ell + np.sqrt((ell + psi2 - 1) ** 2 + 4 * ell)) / (2 * ell)
    m_prime = m * (1 + m) / (2 * ell * m + ell + psi2 - 1)
    return m, m_prime


def effective_ridge(psi1, psi2, lam_jacot, mu1: float, mustar: float) -> np.ndarray:
    """kappa solving kappa = lam_J + kappa (psi2/psi1)[1 - (kappa/mu1^2)(m(l)/psi2 + (1-1/psi2)/l)],
    l = (mu*^2 + kappa)/mu1^2 (Jacot et al. 2020, effective ridge of random-features models)."""
    psi1, psi2, lam = np.broadcast_arrays(*(np.asarray(a, float) for a in (psi1, psi2, lam_jacot)))

    def residual(log_kappa):
        kappa = np.exp(log_kappa)
        ell = (mustar**2 + kappa) / mu1**2
        m, _ = _mp_linear(ell, psi2)
        bracket = 1 - kappa / mu1**2 * (m / psi2 + (1 - 1 / psi2) / ell)
        return lam + kappa * psi2 / psi1 * bracket - kappa

    lo = np.log(lam)  # kappa >= lam_J
    hi = lo + 1.0
    for _ in range(200):  # expand the bracket until the residual changes sign
        bad = residual(hi) > 0
        if not bad.any():
            break
        hi = np.where(bad, hi + 2.0, hi)
    return np.exp(bisect(residual, lo, hi, iterations=300))


def psi_terms(psi1, psi2, ridge, *, activation="relu", ridge_convention: str = "mm") -> PsiTerms:
    """The terms Psi1..Psi6 of 2003.01054 at unit teacher norm (arrays broadcast over the inputs)."""
    coef: GETCoefficients = resolve_coefficients(activation)
    require(coef.mu1 > 0, "ensemble theory needs mu1 > 0")
    base = rf_ridge(
        psi1, psi2, ridge, activation=coef, ridge_convention=ridge_convention, noise=0.0
    )
    psi1_, psi2_ = np.broadcast_arrays(np.asarray(psi1, float), np.asarray(psi2, float))
    lam_j = to_replica_ridge(ridge, psi1_, psi2_, ridge_convention) / psi1_
    kappa = effective_ridge(psi1_, psi2_, lam_j, coef.mu1, coef.mustar)
    ell = (coef.mustar**2 + kappa) / coef.mu1**2
    m, m_prime = _mp_linear(ell, np.broadcast_to(psi2_, ell.shape))
    psi1_term = base.m
    return PsiTerms(
        psi1_term=psi1_term,
        psi2_term=base.q,
        psi3_term=base.noise_sensitivity,
        psi4_term=1 - 2 * ell * m + ell**2 * m_prime,
        psi5_term=m - ell * m_prime,
        psi6_term=psi1_term**2,
        effective_ridge=kappa,
    )


def ensemble_error(
    psi1,
    psi2,
    ridge,
    *,
    k=1,
    activation="relu",
    ridge_convention: str = "mm",
    noise=0.0,
    teacher_linear: float = 1.0,
    teacher_nonlinear: float = 0.0,
) -> dict[str, np.ndarray]:
    """Test error of an ensemble of K estimators sharing the data (K = np.inf allowed) and its split.

    Returns test_error and the decomposition of 2003.01054 (``plotBiasVarRatioEvol``):
    bias = F1^2 (1 - Psi1)^2, var_init = F1^2 (Psi2 - Psi4)/K,
    var_noise = tau^2 [(Psi3 - Psi5)/K + Psi5], var_sampling = F1^2 (Psi4 - Psi1^2);
    their sum plus the F* terms is the test error (noise x init terms counted as noise).
    """
    k = np.asarray(k, float)
    require(bool(np.all(k >= 1)), "the number of estimators K must be >= 1")
    require(
        bool(np.all(np.asarray(noise, float) >= 0)),
        "noise (label-noise variance tau^2) must be non-negative",
    )
    t = psi_terms(psi1, psi2, ridge, activation=activation, ridge_convention=ridge_convention)
    inv_k = 1.0 / k
    f1, fs = teacher_linear**2, teacher_nonlinear**2
    tau2 = np.asarray(noise, float)
    bias = f1 * (1 - t.psi1_term) ** 2
    var_init = f1 * (t.psi2_term - t.psi4_term) * inv_k
    var_sampling = f1 * (t.psi4_term - t.psi6_term)
    var_noise = tau2 * ((t.psi3_term - t.psi5_term) * inv_k + t.psi5_term)
    nonlinear = fs * (t.psi3_term * inv_k + (1 - inv_k) * t.psi5_term) + fs
    test = bias + var_init + var_sampling + var_noise + nonlinear
    return dict(
        test_error=test,
        bias=bias,
        var_init=var_init,
        var_noise=var_noise,
        var_sampling=var_sampling,
        effective_ridge=t.effective_ridge,
    )


def optimal_ridge(
    psi1: float,
    psi2: float,
    *,
    activation="relu",
    noise: float = 0.0,
    k=1,
    ridge_convention: str = "mm",
    bounds=(1e-8, 1e3),
) -> tuple[float, float]:
    """(ridge, test error) minimising the ensemble test error over the ridge by a 1-D search in log ridge.

    When the minimum lies at an end of ``bounds`` (the error still decreases there, e.g. towards zero
    ridge without noise far from the peak, or towards infinite ridge when K = 1 sits on the peak with
    much noise) a :class:`RidgeAtBoundWarning` says which end: the returned ridge is then that bound,
    not an interior optimum.
    """
    from scipy.optimize import minimize_scalar

    require(
        len(bounds) == 2 and 0 < bounds[0] < bounds[1], "bounds must be (low, high), 0 < low < high"
    )

    def objective(log_ridge):
        return float(
            ensemble_error(
                psi1,
                psi2,
                np.exp(log_ridge),
                k=k,
                activation=activation,
                ridge_convention=ridge_convention,
                noise=noise,
            )["test_error"]
        )

    grid = np.linspace(np.log(bounds[0]), np.log(bounds[1]), 45)
    values = ensemble_error(
        psi1,
        psi2,
        np.exp(grid),
        k=k,
        activation=activation,
        ridge_convention=ridge_convention,
        noise=noise,
    )["test_error"]
    best = int(np.argmin(values))
    lo, hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = minimize_scalar(objective, bounds=(lo, hi), method="bounded", options={"xatol": 1e-6})
    ridge, error = float(np.exp(res.x)), float(res.fun)
    for edge, name in ((0, "lower"), (len(grid) - 1, "upper")):
        if best == edge and abs(np.log(ridge) - grid[edge]) < 1e-3:
            warnings.warn(
                f"optimal_ridge: the minimum is at the {name} search bound {bounds[edge // (len(grid) - 1)]:g} "
                f"({ridge_convention} convention); widen bounds to find the optimum",
                RidgeAtBoundWarning,
                stacklevel=2,
            )
            ridge = float(bounds[edge // (len(grid) - 1)])
            error = objective(np.log(ridge))
    return ridge, error

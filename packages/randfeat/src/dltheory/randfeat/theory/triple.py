"""Triple descent (arXiv 2006.03509): sample-wise / parameter-wise curves and the feature spectrum.

The nonlinear peak sits at N = P (psi2 = psi1) and diverges as lam^-1/2; the linear peak sits at
N = D (psi2 = 1), is caused by label noise and is implicitly regularised by mu*: the feature
covariance mu1^2 F F^T / D + mu*^2 I has D large eigenvalues and P - D eigenvalues mu*^2, and the
sample covariance of the features shows a gap between the two bulks (Pennington & Worah 2017).
"""

from __future__ import annotations

import numpy as np

from dltheory.randfeat.errors import require
from dltheory.randfeat.theory.activations import resolve_coefficients
from dltheory.randfeat.theory.ridge import rf_ridge


def sample_wise_curve(psi1: float, psi2_grid, ridge, **kwargs) -> dict[str, np.ndarray]:
    """Test/train error versus N/D at fixed P/D (keyword arguments as :func:`rf_ridge`)."""
    res = rf_ridge(psi1, np.asarray(psi2_grid, float), ridge, **kwargs)
    return dict(
        psi2=np.asarray(psi2_grid, float), test_error=res.test_error, train_error=res.train_error
    )


def parameter_wise_curve(psi2: float, psi1_grid, ridge, **kwargs) -> dict[str, np.ndarray]:
    """Test/train error versus P/D at fixed N/D (keyword arguments as :func:`rf_ridge`)."""
    res = rf_ridge(np.asarray(psi1_grid, float), psi2, ridge, **kwargs)
    return dict(
        psi1=np.asarray(psi1_grid, float), test_error=res.test_error, train_error=res.train_error
    )


def local_maxima(x, y) -> np.ndarray:
    """x positions of the strict interior local maxima of a sampled curve y(x)."""
    y = np.asarray(y, float)
    inner = (y[1:-1] > y[:-2]) & (y[1:-1] > y[2:])
    return np.asarray(x, float)[1:-1][inner]


def _population_spectrum(psi1: float, mu1: float, mustar: float, n_quad: int = 400):
    """Atoms (t_j, w_j) of the feature covariance mu1^2 F F^T/D + mu*^2 I (P x P), F ~ N(0,1)^{P x D}.

    The min(P, D) nonzero eigenvalues of F F^T / D follow Marchenko-Pastur of ratio
    min(psi1, 1/psi1) scaled by max(1, psi1): support [(1 - sqrt psi1)^2, (1 + sqrt psi1)^2].
    """
    ratio = min(psi1, 1.0 / psi1)
    a, b = (1 - np.sqrt(ratio)) ** 2, (1 + np.sqrt(ratio)) ** 2
    x = np.linspace(a, b, 40 * n_quad)
    dens = np.sqrt(np.maximum((b - x) * (x - a), 0)) / (2 * np.pi * ratio * x)
    cdf = np.concatenate([[0], np.cumsum(0.5 * (dens[1:] + dens[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    s = np.interp((np.arange(n_quad) + 0.5) / n_quad, cdf, x) * max(1.0, psi1)
    informative = min(1.0, 1.0 / psi1)  # fraction of the P eigenvalues carrying the mu1 part
    t = np.concatenate([mu1**2 * s + mustar**2, [mustar**2]])
    w = np.concatenate([np.full(n_quad, informative / n_quad), [1.0 - informative]])
    return t, w


def feature_spectrum_density(
    x, psi1: float, psi2: float, activation="relu", eta: float = 1e-3, max_iter: int = 100
) -> np.ndarray:
    """Density of the eigenvalues of Z^T Z (P x P, z = sigma(F x/sqrt D)/sqrt D, N samples), per unit x.

    Solves the Silverstein equation of the sample covariance (1/N) sum z z^T with population
    covariance mu1^2 F F^T/D + mu*^2 I (Gaussian equivalence) at x + i eta; Z^T Z = psi2 S with S the
    sample covariance of sqrt(D) z. Zero eigenvalues (P > N) form an atom that is not returned.
    """
    coef = resolve_coefficients(activation)
    require(psi1 > 0 and psi2 > 0, "psi1 and psi2 must be positive")
    t, w = _population_spectrum(psi1, coef.mu1, coef.mustar)
    c = psi1 / psi2  # P / N
    # Z^T Z = (N/D) S with S the sample covariance of sqrt(D) z, whose population covariance is t.
    z = np.asarray(x, float) / psi2 + 1j * eta / psi2
    m_low = -1.0 / z
    for _ in range(300):  # damped iteration: a start in the right (upper half-plane) branch
        m_low = 0.5 * m_low - 0.5 / (
            z - c * np.sum(w * t / (1 + np.multiply.outer(m_low, t)), axis=-1)
        )
    for _ in range(max_iter):  # Newton on f(m) = m (z - c sum w t/(1 + t m)) + 1
        frac = w * t / (1 + np.multiply.outer(m_low, t))
        inner = z - c * np.sum(frac, axis=-1)
        f = m_low * inner + 1
        df = inner + c * m_low * np.sum(frac * t / (1 + np.multiply.outer(m_low, t)), axis=-1)
        step = f / df
        candidate = m_low - step
        m_low = np.where(np.imag(candidate) > 0, candidate, m_low - 0.5 * step)
        if np.max(np.abs(step)) < 1e-13:
            break
    m = (m_low + (1 - c) / z) / c  # Stieltjes transform of S's eigenvalue law
    m = m + max(0.0, 1.0 - 1.0 / c) / z  # remove the atom of P - N zero eigenvalues (-w0 / z)
    return np.imag(m) / np.pi / psi2

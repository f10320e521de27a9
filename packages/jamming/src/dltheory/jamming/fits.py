"""Power-law fits with confidence intervals for the scaling laws of arXiv:1901.01608.

* ``fit_power_law``: y = A x^b by least squares on (log x, log y), Student-t interval on b;
* ``fit_offset_power_law``: y = c + A x^(-b) (eps_N - eps_inf ~ N^(-1/2)), nonlinear least
  squares, intervals from the covariance of the estimates;
* ``fit_divergence``: y = A (N - N*)^(-alpha) (||f|| near jamming, alpha ~ 1) for a given N*.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dltheory.core.errors import DltheoryError


class FitError(DltheoryError):
    """Too few or invalid points for a fit."""


@dataclass
class PowerLawFit:
    exponent: float
    ci_low: float
    ci_high: float
    prefactor: float
    offset: float = 0.0
    n_points: int = 0
    confidence: float = 0.95

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.exponent:+.3f} [{self.ci_low:+.3f}, {self.ci_high:+.3f}] ({self.n_points} pts)"
        )


#: a fitted exponent whose 95% half-interval exceeds this is reported as meaningless, not a result
MAX_HALF_INTERVAL = 2.0


def _check_interval(half: float, what: str) -> None:
    if not np.isfinite(half) or half > MAX_HALF_INTERVAL:
        raise FitError(
            f"{what}: the exponent's 95% interval is +-{half:.3g}, too wide to mean anything "
            "(too few points, or the law does not hold over this range)"
        )


def _clean(x, y, positive_y=True):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0)
    if positive_y:
        ok &= y > 0
    return x[ok], y[ok]


def fit_power_law(x, y, confidence: float = 0.95) -> PowerLawFit:
    """Fit y = A x^b: OLS of log y on log x; b's interval from the t distribution (n - 2 dof)."""
    from scipy import stats

    x, y = _clean(x, y)
    n = len(x)
    if n < 3:
        raise FitError(f"a power-law fit needs at least 3 positive points, got {n}")
    lx, ly = np.log(x), np.log(y)
    design = np.stack([np.ones(n), lx], axis=1)
    coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
    resid = ly - design @ coef
    sigma2 = resid @ resid / (n - 2)
    cov = sigma2 * np.linalg.inv(design.T @ design)
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * np.sqrt(cov[1, 1])
    _check_interval(half, "power-law fit")
    return PowerLawFit(
        float(coef[1]),
        float(coef[1] - half),
        float(coef[1] + half),
        float(np.exp(coef[0])),
        0.0,
        n,
        confidence,
    )


def fit_offset_power_law(x, y, confidence: float = 0.95) -> PowerLawFit:
    """Fit y = c + A x^(-b) (b > 0 decays to the offset c); reports -b as the exponent."""
    from scipy import optimize, stats

    x, y = _clean(x, y, positive_y=False)
    n = len(x)
    if n < 4:
        raise FitError(f"an offset power-law fit needs at least 4 points, got {n}")
    scale = np.median(x)

    def model(xx, c, log_a, b):
        return c + np.exp(log_a) * (xx / scale) ** (-b)

    start_c = float(y.min()) - 1e-3 * (abs(float(y.min())) + 1e-12)
    try:
        start = fit_power_law(x, np.clip(y - start_c, 1e-300, None))
    except FitError:
        start = PowerLawFit(-0.5, -0.5, -0.5, float(np.ptp(y)) or 1.0)
    p0 = [
        start_c,
        np.log(max(start.prefactor * scale**start.exponent, 1e-300)),
        max(-start.exponent, 1e-3),
    ]
    try:
        popt, pcov = optimize.curve_fit(model, x, y, p0=p0, maxfev=20000)
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"offset power-law fit did not converge: {exc}") from exc
    dof = max(n - 3, 1)
    half = stats.t.ppf(0.5 + confidence / 2, dof) * np.sqrt(max(pcov[2, 2], 0.0))
    _check_interval(half, "offset power-law fit")
    b = popt[2]
    return PowerLawFit(
        float(-b),
        float(-b - half),
        float(-b + half),
        float(np.exp(popt[1]) * scale**b),
        float(popt[0]),
        n,
        confidence,
    )


def fit_divergence(n_params, y, n_star: float, confidence: float = 0.95) -> PowerLawFit:
    """Fit y = A (N - N*)^(-alpha) on the points with N > N*; reports -alpha as the exponent."""
    n_params = np.asarray(n_params, dtype=float)
    return fit_power_law(n_params - n_star, y, confidence)

"""Gaussian-equivalence (GET) coefficients of an activation.

sigma(h) with h ~ N(0, v) is replaced by mu0 + mu1 h + mu_star xi, xi ~ N(0, 1) independent
(Mei & Montanari 2019, eq. 5; Goldt et al. 2020), with
    mu0 = E sigma(h),  mu1 = E[h sigma(h)] / v,  mu_star^2 = E sigma(h)^2 - mu0^2 - v mu1^2.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special

from dltheory.randfeat.errors import RandfeatInputError, require

ACTIVATIONS = ("relu", "tanh", "erf", "sign", "abs", "linear")


@dataclass(frozen=True)
class GETCoefficients:
    """mu0, mu1, mu_star of an activation; ``r`` is its degree of linearity mu1^2/(mu1^2+mu*^2)."""

    mu0: float
    mu1: float
    mustar: float

    @property
    def r(self) -> float:
        total = self.mu1**2 + self.mustar**2
        return self.mu1**2 / total if total > 0 else 0.0


def activation_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The numpy activation called ``name`` (one of :data:`ACTIVATIONS`)."""
    functions = {
        "relu": lambda h: np.maximum(h, 0.0),
        "tanh": np.tanh,
        "erf": special.erf,
        "sign": np.sign,
        "abs": np.abs,
        "linear": lambda h: np.asarray(h, dtype=float),
    }
    require(
        name in functions, f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}"
    )
    return functions[name]


def _gauss_expectation(fn: Callable[[float], float], variance: float) -> float:
    """E fn(h), h ~ N(0, variance), by adaptive quadrature split at 0 (kinks of relu/sign/abs)."""
    scale = math.sqrt(variance)

    def weighted(t: float) -> float:
        return float(fn(scale * t)) * math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)

    left = integrate.quad(weighted, -np.inf, 0.0, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    right = integrate.quad(weighted, 0.0, np.inf, epsabs=1e-13, epsrel=1e-12, limit=200)[0]
    return left + right


def get_coefficients_quadrature(sigma: Callable, variance: float = 1.0) -> GETCoefficients:
    """GET coefficients of any scalar activation ``sigma`` by quadrature at input variance ``variance``."""
    require(variance > 0, f"input variance must be positive, got {variance}")
    mu0 = _gauss_expectation(sigma, variance)
    mu1 = _gauss_expectation(lambda h: h * sigma(h), variance) / variance
    second = _gauss_expectation(lambda h: sigma(h) ** 2, variance)
    mustar_sq = max(second - mu0**2 - variance * mu1**2, 0.0)
    return GETCoefficients(mu0, mu1, math.sqrt(mustar_sq))


def get_coefficients(name: str) -> GETCoefficients:
    """Closed-form GET coefficients at unit input variance (tanh by high-precision quadrature)."""
    if name == "relu":  # E relu = 1/sqrt(2 pi), E g relu(g) = 1/2, E relu^2 = 1/2
        return GETCoefficients(
            1 / math.sqrt(2 * math.pi), 0.5, math.sqrt((math.pi - 2) / (4 * math.pi))
        )
    if name == "erf":  # E erf'(g) = 2/sqrt(3 pi); E erf(g)^2 = (2/pi) arcsin(2/3)
        mu1 = 2 / math.sqrt(3 * math.pi)
        return GETCoefficients(0.0, mu1, math.sqrt(2 / math.pi * math.asin(2 / 3) - mu1**2))
    if name == "sign":
        return GETCoefficients(0.0, math.sqrt(2 / math.pi), math.sqrt(1 - 2 / math.pi))
    if name == "abs":
        return GETCoefficients(math.sqrt(2 / math.pi), 0.0, math.sqrt(1 - 2 / math.pi))
    if name == "linear":
        return GETCoefficients(0.0, 1.0, 0.0)
    return get_coefficients_quadrature(activation_function(name))


def callable_coefficients(sigma: Callable) -> GETCoefficients:
    """GET coefficients of a user callable, evaluated on floats; a one-line error if it fails or is
    not finite."""

    def scalar(h: float) -> float:
        try:
            return float(np.asarray(sigma(np.asarray(h, dtype=float)), dtype=float))
        except TypeError:
            torch = sys.modules.get("torch")  # a torch-only callable (torch.relu): torch is loaded
            if torch is None:
                raise
            return float(sigma(torch.as_tensor(h, dtype=torch.float64)))

    name = getattr(sigma, "__name__", type(sigma).__name__)
    try:
        coef = get_coefficients_quadrature(scalar)
    except (TypeError, ValueError, ArithmeticError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RandfeatInputError(
            f"activation callable {name!r} cannot be evaluated on floats: {msg}"
        ) from None
    require(
        all(math.isfinite(v) for v in (coef.mu0, coef.mu1, coef.mustar)),
        f"activation callable {name!r} has no finite Gaussian moments",
    )
    return coef


def linearity_coefficients(r: float) -> GETCoefficients:
    """Unit-variance activation with degree of linearity r: (mu1, mu*) = (sqrt r, sqrt(1-r)) (2006.03509)."""
    require(0.0 <= r <= 1.0, f"degree of linearity r must lie in [0, 1], got {r}")
    return GETCoefficients(0.0, math.sqrt(r), math.sqrt(1.0 - r))


def leaky_family_linearity(alpha: float) -> float:
    """r(alpha) of sigma_alpha = relu(x) + alpha relu(-x), centred, unit variance (2006.03509, numerics)."""
    require(-1.0 <= alpha <= 1.0, f"alpha must lie in [-1, 1], got {alpha}")
    variance = (1 + alpha**2) / 2 - (1 + alpha) ** 2 / (2 * math.pi)
    return ((1 - alpha) / 2) ** 2 / variance


def leaky_family_alpha(r: float) -> float:
    """Inverse of :func:`leaky_family_linearity`: the alpha in [-1, 1] with degree of linearity r."""
    require(0.0 <= r <= 1.0, f"degree of linearity r must lie in [0, 1], got {r}")
    if r >= 1.0:
        return -1.0
    if r <= 0.0:
        return 1.0
    return float(optimize.brentq(lambda a: leaky_family_linearity(a) - r, -1.0, 1.0, xtol=1e-14))


def resolve_coefficients(
    activation: str | float | GETCoefficients | tuple | Callable,
) -> GETCoefficients:
    """Accept an activation name, a degree of linearity r in [0, 1], a (mu1, mu*) pair, coefficients,
    or a Python callable sigma (its GET coefficients by quadrature at unit input variance)."""
    if isinstance(activation, GETCoefficients):
        return activation
    if callable(activation):
        return callable_coefficients(activation)
    if isinstance(activation, str):
        if activation.startswith("r="):
            return linearity_coefficients(float(activation[2:]))
        return get_coefficients(activation)
    if isinstance(activation, tuple):
        require(len(activation) == 2, "a (mu1, mu_star) pair must have two entries")
        return GETCoefficients(0.0, float(activation[0]), float(activation[1]))
    return linearity_coefficients(float(activation))

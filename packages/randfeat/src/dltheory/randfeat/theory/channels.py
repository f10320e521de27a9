"""Output channels of the replica equations: (m_hat, q_hat, V_hat) as functions of (M, Q, V).

Generic convex-loss formulas (Gerace et al. 2020; Loureiro et al. 2021), with the proximal
h = argmin_x (x - omega)^2/(2V) + loss(y, x) and f_out = (h - omega)/V:

    m_hat = psi2 E_xi sum_y dZ0/domega0(y) f_out,   q_hat = psi2 E_xi sum_y Z0(y) f_out^2,
    V_hat = -psi2 E_xi sum_y Z0(y) df_out/domega,

with omega = sqrt(Q) xi, omega0 = (M/sqrt Q) xi, V0 = rho - M^2/Q and, for a sign teacher with label
flips of probability Delta, Z0(y) = [1 + y (1 - 2 Delta) erf(omega0/sqrt(2 V0))]/2. The flip factor
enters through Z0 in every integral (fixing the omission noted for the 2103.05524 code).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from dltheory.randfeat.errors import require_choice

LOSSES = ("square", "logistic")


def _gaussian_nodes(panels: int = 36, per_panel: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights for E f(xi), xi ~ N(0, 1): Gauss-Legendre on geometric panels of |xi| in [1e-7, 11].

    The label probability erf(M xi / sqrt(2 Q V0)) jumps on a scale sqrt(Q V0)/M that shrinks to zero
    as the student aligns with the teacher; geometric panels resolve it at every scale (a plain
    Gauss-Hermite rule does not, and the fixed point then oscillates).
    """
    edges = np.concatenate([[0.0], np.geomspace(1e-7, 11.0, panels)])
    x, w = np.polynomial.legendre.leggauss(per_panel)
    mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * (edges[1:] - edges[:-1])
    nodes = (mid[:, None] + half[:, None] * x[None, :]).ravel()
    weights = (
        (half[:, None] * w[None, :]).ravel() * np.exp(-0.5 * nodes**2) / math.sqrt(2 * math.pi)
    )
    return np.concatenate([-nodes[::-1], nodes]), np.concatenate([weights[::-1], weights])


_NODES, _WEIGHTS = _gaussian_nodes()


def square_regression(m, q, v, psi2, rho, noise):
    """Linear teacher with label-noise variance ``noise``, square loss (closed form)."""
    energy = rho + noise + q - 2 * m
    return psi2 / (1 + v), psi2 * energy / (1 + v) ** 2, psi2 / (1 + v)


def square_classification(m, q, v, psi2, rho, flip):
    """Sign teacher, labels flipped with probability ``flip``, square loss (closed form)."""
    kappa = math.sqrt(2 / math.pi) * (1 - 2 * flip) / np.sqrt(rho)
    energy = 1 + q - 2 * kappa * m
    return kappa * psi2 / (1 + v), psi2 * energy / (1 + v) ** 2, psi2 / (1 + v)


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def logistic_proximal(a, v, iterations: int = 100):
    """u solving (u - a)/v = sigmoid(-u): the proximal of log(1 + e^-u) (u = y h, a = y omega).

    The residual r(u) = (u - a)/v - sigmoid(-u) increases strictly, is convex for u < 0 and concave
    for u > 0, and its root lies in [a, a + v] (sigmoid is in (0, 1)); the root is positive iff
    r(0) < 0, i.e. a > -v/2. Newton started on the side of the root where the tangent cannot overshoot
    (u = max(a, 0) if the root is positive, u = min(a + v, 0) otherwise) therefore converges
    monotonically. (Plain Newton from u = a cycles between the ends of the bracket once v >~ 20, off
    by O(v).) Steps are kept inside the bracket; stops when every step is below 1e-13 (1 + |u|).
    """
    a, v = np.broadcast_arrays(np.asarray(a, float), np.asarray(v, float))
    lo, hi = a, a + v
    u = np.where(a > -0.5 * v, np.maximum(a, 0.0), np.minimum(hi, 0.0))
    for _ in range(iterations):
        s = _sigmoid(-u)
        new = np.clip(u - ((u - a) / v - s) / (1 / v + s * (1 - s)), lo, hi)
        done = np.abs(new - u) <= 1e-13 * (1 + np.abs(u))
        u = new
        if np.all(done):
            break
    return u


def _channel_integrals(m, q, v, psi2, rho, flip, loss):
    m, q, v, psi2, rho, flip = (np.asarray(a, float)[..., None] for a in (m, q, v, psi2, rho, flip))
    q = np.maximum(q, 1e-300)
    omega = np.sqrt(q) * _NODES
    omega0 = m / np.sqrt(q) * _NODES
    v0 = np.maximum(rho - m**2 / q, 1e-14)
    erf_term = (1 - 2 * flip) * special.erf(omega0 / np.sqrt(2 * v0))
    dz0 = (1 - 2 * flip) * np.exp(-(omega0**2) / (2 * v0)) / np.sqrt(2 * math.pi * v0)
    hat_m = np.zeros(np.broadcast_shapes(omega.shape, v.shape))
    hat_q = np.zeros_like(hat_m)
    hat_v = np.zeros_like(hat_m)
    for y in (1.0, -1.0):
        z0 = 0.5 * (1 + y * erf_term)
        if loss == "logistic":
            u = logistic_proximal(y * omega, v)
            f_out = y * _sigmoid(-u)
            curvature = _sigmoid(u) * _sigmoid(-u)
            df = -curvature / (1 + v * curvature)
        else:
            f_out = (y - omega) / (1 + v)
            df = -np.ones_like(omega) / (1 + v)
        hat_m = hat_m + y * dz0 * f_out
        hat_q = hat_q + z0 * f_out**2
        hat_v = hat_v - z0 * df
    integrate = lambda a: psi2[..., 0] * np.sum(_WEIGHTS * a, axis=-1)  # noqa: E731
    return integrate(hat_m), integrate(hat_q), integrate(hat_v)


def classification_channel(m, q, v, psi2, rho, flip, loss: str):
    """(m_hat, q_hat, V_hat) for a sign teacher with flips, square or logistic loss, by quadrature."""
    require_choice("loss", loss, LOSSES)
    return _channel_integrals(m, q, v, psi2, rho, flip, loss)

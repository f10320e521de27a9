"""Random-features ridge regression in the proportional limit.

Two independent solvers:

* :func:`rf_ridge` -- replica saddle point of Gerace et al. (2020) (the ``update_regression``
  equations of 2006.03509, reference notes section 2), with Gaussian-equivalent features
  mu1 F x / sqrt D + mu* xi and the Marchenko-Pastur resolvent of F^T F / D. ``method="reduced"``
  (default) uses that the variance equations close on V alone: V is found by bisection and the
  overlaps (M, Q) then solve a linear equation, so the interpolation peak at any small ridge is exact.
  ``method="iterate"`` is the plain damped fixed point on all overlaps.
* :func:`mm_ridge` -- the closed form of Mei & Montanari (2019, Thm. 2), K = 1.

Overlaps: M = E[y_teacher yhat], Q = E[yhat^2], V the replica variance; test error (regression)
= rho + Q - 2M (+ F*^2), train error = (rho + Delta + Q - 2M)/(1+V)^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.theory.activations import GETCoefficients, resolve_coefficients
from dltheory.randfeat.theory.conventions import to_replica_ridge
from dltheory.randfeat.theory.numerics import bisect, damped_fixed_point
from dltheory.randfeat.theory.spectra import mp_resolvent

TASKS = ("regression", "classification")


@dataclass
class RidgeTheory:
    """Arrays broadcast over the inputs (psi1, psi2, ridge, noise)."""

    test_error: np.ndarray
    train_error: np.ndarray
    m: np.ndarray
    q: np.ndarray
    v: np.ndarray
    noise_sensitivity: np.ndarray  # dQ/dDelta (Psi_3 of 2003.01054 when rho = 1)
    converged: np.ndarray
    extra: dict = field(default_factory=dict)


def check_ratios(psi1, psi2):
    """psi1 = P/D and psi2 = N/D must be finite and positive (one-line error otherwise)."""
    for name, value in (("psi1 = P/D", psi1), ("psi2 = N/D", psi2)):
        value = np.asarray(value, float)
        require(
            bool(np.all(np.isfinite(value) & (value > 0))),
            f"{name} must be positive, got {value.min() if value.size else value}",
        )


def _channel(task: str, noise, rho):
    """(kappa, y2): hat m carries kappa; E = y2 + Q - 2 kappa M (2006.03509, classification variant)."""
    require_choice("task", task, TASKS)
    if task == "regression":
        return np.ones_like(noise), rho + noise
    require(
        bool(np.all((noise >= 0) & (noise < 0.5))), "label flip probability must lie in [0, 0.5)"
    )
    return math.sqrt(2 / math.pi) * (1 - 2 * noise) / np.sqrt(rho), np.ones_like(noise)


def _spectral_terms(v, psi1, psi2, lam, mu1, mus):
    """Given V: hat variances, z and the resolvent combinations of the update equations."""
    gamma = 1.0 / psi1
    hvx = psi2 * mu1**2 / (1 + v)
    hvw = psi2 * mus**2 / (1 + v)
    zb = lam + hvw
    z = zb / hvx
    g, gp = mp_resolvent(z, gamma)
    vx = (1 - z * g) / hvx
    vw = (1 / gamma - 1 + z * g) / zb
    return dict(hvx=hvx, hvw=hvw, zb=zb, z=z, g=g, gp=gp, vx=vx, vw=vw, gamma=gamma)


def _replica_reduced(psi1, psi2, lam, mu1, mus, rho, kappa, y2):
    # Variance equation V = mu1^2 V_x(V) + mu*^2 V_w(V) with V in [0, (mu1^2+mu*^2) psi1 / lam].
    def residual(t):
        v = np.expm1(t)
        s = _spectral_terms(v, psi1, psi2, lam, mu1, mus)
        return mu1**2 * s["vx"] + mus**2 * s["vw"] - v

    vmax = (mu1**2 + mus**2) * psi1 / lam
    t = bisect(residual, np.zeros_like(vmax), np.log1p(vmax) * (1 + 1e-12) + 1e-12)
    v = np.expm1(t)
    s = _spectral_terms(v, psi1, psi2, lam, mu1, mus)
    hvx, zb, z, g, gp, gamma = s["hvx"], s["zb"], s["z"], s["g"], s["gp"], s["gamma"]
    # q-updates of section 2 are affine in E once V is fixed: Q = B0 + B1 E.
    a1 = (1 - 2 * z * g + z**2 * gp) / hvx**2
    a2 = (z**2 * gp - z * g) / (zb * hvx)
    a3 = (1 / gamma - 1 + z**2 * gp) / zb**2
    hat_m = kappa * psi2 * mu1 / (1 + v)
    c = psi2 / (1 + v) ** 2
    m = mu1 * rho * hat_m * s["vx"]
    b0 = rho * hat_m**2 * (mu1**2 * a1 - mus**2 * a2)
    b1 = c * (mu1**4 * a1 - 2 * mu1**2 * mus**2 * a2 + mus**4 * a3)
    e0 = y2 - 2 * kappa * m
    q = (b0 + b1 * e0) / (1 - b1)
    return m, q, v, b1 / (1 - b1), np.isfinite(q) & (b1 < 1)


def _replica_iterate(psi1, psi2, lam, mu1, mus, rho, kappa, y2, tol, max_iter):
    gamma = 1.0 / psi1

    def update(st):
        mm_ = mu1 * st["mx"]
        qq = mu1**2 * st["qx"] + mus**2 * st["qw"]
        vv = mu1**2 * st["vx"] + mus**2 * st["vw"]
        e = y2 + qq - 2 * kappa * mm_
        hat_m = kappa * psi2 * mu1 / (1 + vv)
        hvx, hqx = psi2 * mu1**2 / (1 + vv), psi2 * mu1**2 * e / (1 + vv) ** 2
        hvw, hqw = psi2 * mus**2 / (1 + vv), psi2 * mus**2 * e / (1 + vv) ** 2
        zb = lam + hvw
        z = zb / hvx
        g, gp = mp_resolvent(z, gamma)
        vx = (1 - z * g) / hvx
        lead = rho * hat_m**2 + hqx
        cross = (z**2 * gp - z * g) / (hvx * zb)
        return dict(
            vx=vx,
            mx=rho * hat_m * vx,
            vw=(1 / gamma - 1 + z * g) / zb,
            qx=lead * (1 - 2 * z * g + z**2 * gp) / hvx**2 - hqw * cross,
            qw=hqw * (1 / gamma - 1 + z**2 * gp) / zb**2 - lead * cross,
        )

    shape = np.broadcast_shapes(*(np.shape(a) for a in (psi1, psi2, lam, rho, kappa, y2)))
    init = {k: np.full(shape, 1e-3) for k in ("mx", "qx", "qw", "vx", "vw")}
    st, ok, _ = damped_fixed_point(
        update,
        init,
        damping=0.5,
        tol=tol,
        max_iter=max_iter,
        what="random-features replica fixed point",
    )
    m = mu1 * st["mx"]
    q = mu1**2 * st["qx"] + mus**2 * st["qw"]
    v = mu1**2 * st["vx"] + mus**2 * st["vw"]
    return m, q, v, np.full(shape, np.nan), ok


def rf_ridge(
    psi1,
    psi2,
    ridge,
    *,
    activation: str | float | tuple | GETCoefficients = "relu",
    ridge_convention: str = "mm",
    noise: float | np.ndarray = 0.0,
    teacher_linear: float = 1.0,
    teacher_nonlinear: float = 0.0,
    task: str = "regression",
    method: str = "reduced",
    tol: float = 1e-12,
    max_iter: int = 200_000,
) -> RidgeTheory:
    """Replica theory of random-features ridge (regression or square-loss classification).

    psi1 = P/D, psi2 = N/D and ridge broadcast together. ``ridge_convention`` is ``"mm"``
    (lam_rep = psi1 psi2 lam_MM, default), ``"replica"`` or ``"jacot"``. For regression ``noise`` is the label
    noise variance tau^2 and the teacher is y = F1 beta.x/sqrt D + F* (nonlinear part) + tau eps with
    F1 = ``teacher_linear``, F* = ``teacher_nonlinear`` (the nonlinear part acts as extra noise, MM 2019);
    test errors exclude the test-label noise. For classification the teacher is sign(beta.x) with
    labels flipped with probability ``noise`` and the test error is the clean 0-1 error.
    """
    require(
        method in ("reduced", "iterate"), f"unknown method {method!r}; use 'reduced' or 'iterate'"
    )
    check_ratios(psi1, psi2)
    coef = resolve_coefficients(activation)
    require(
        coef.mu1 > 0, "mu1 = 0 (e.g. abs or r = 0): the features carry no linear signal; use r > 0"
    )
    mu1, mus = coef.mu1, coef.mustar
    psi1, psi2, noise = np.broadcast_arrays(*(np.asarray(a, float) for a in (psi1, psi2, noise)))
    lam = to_replica_ridge(ridge, psi1, psi2, ridge_convention)
    psi1, psi2, noise, lam = np.broadcast_arrays(psi1, psi2, noise, lam)
    require(bool(np.all(noise >= 0)), "noise must be non-negative")
    if task == "regression":
        rho = np.full(psi1.shape, teacher_linear**2)
        kappa, y2 = _channel(task, noise + teacher_nonlinear**2, rho)
    else:
        rho = np.ones(psi1.shape)
        kappa, y2 = _channel(task, noise, rho)
    if method == "reduced":
        m, q, v, dq, ok = _replica_reduced(psi1, psi2, lam, mu1, mus, rho, kappa, y2)
    else:
        m, q, v, dq, ok = _replica_iterate(psi1, psi2, lam, mu1, mus, rho, kappa, y2, tol, max_iter)
    energy = y2 + q - 2 * kappa * m
    train = energy / (1 + v) ** 2
    if task == "regression":
        test = rho + q - 2 * m + teacher_nonlinear**2
    else:
        test = np.arccos(np.clip(m / np.sqrt(rho * q), -1, 1)) / np.pi
    return RidgeTheory(
        test, train, m, q, v, dq, ok, extra={"ridge_replica": lam, "mu1": mu1, "mustar": mus}
    )


def mm_ridge(
    psi1,
    psi2,
    ridge,
    *,
    activation: str | float | tuple | GETCoefficients = "relu",
    ridge_convention: str = "mm",
    noise: float | np.ndarray = 0.0,
    teacher_linear: float = 1.0,
    teacher_nonlinear: float = 0.0,
    tol: float = 1e-13,
    max_iter: int = 200_000,
) -> dict[str, np.ndarray]:
    """Mei-Montanari closed form of the random-features ridge test error (MM 2019, Thm. 2 / eq. (19)).

    Returns test_error, bias B = E1/E0 and variance V = E2/E0 with
    R = F1^2 B + (tau^2 + F*^2) V + F*^2. Needs mu* > 0 and a positive ridge.
    """
    check_ratios(psi1, psi2)
    coef = resolve_coefficients(activation)
    require(coef.mustar > 0, "the Mei-Montanari closed form needs mu* > 0 (a nonlinear activation)")
    psi1, psi2, noise = np.broadcast_arrays(*(np.asarray(a, float) for a in (psi1, psi2, noise)))
    lam_mm = to_replica_ridge(ridge, psi1, psi2, ridge_convention) / (psi1 * psi2)
    psi1, psi2, noise, lam_mm = np.broadcast_arrays(psi1, psi2, noise, lam_mm)
    zeta = coef.mu1 / coef.mustar
    s = np.sqrt(psi1 * psi2 * lam_mm / coef.mustar**2)

    def update(
        st,
    ):  # (nu1, nu2) fixed point, written for a = i nu1, b = i nu2 on the imaginary axis
        a, b = st["a"], st["b"]
        inner = zeta**2 / (1 + zeta**2 * a * b)
        return dict(a=psi1 / (s + b + inner * b), b=psi2 / (s + a + inner * a))

    init = dict(a=np.sqrt(psi1 + 0 * s), b=np.sqrt(psi2 + 0 * s))
    st, ok, _ = damped_fixed_point(
        update,
        init,
        damping=0.5,
        tol=tol,
        max_iter=max_iter,
        what="Mei-Montanari (nu1, nu2) fixed point",
    )
    chi = -st["a"] * st["b"]
    z2, z4, z6 = zeta**2, zeta**4, zeta**6
    p12 = psi1 * psi2
    e0 = (
        -(chi**5) * z6
        + 3 * chi**4 * z4
        + (p12 - psi1 - psi2 + 1) * chi**3 * z6
        - 2 * chi**3 * z4
        - 3 * chi**3 * z2
        + (psi1 + psi2 - 3 * p12 + 1) * chi**2 * z4
        + 2 * chi**2 * z2
        + chi**2
        + 3 * p12 * chi * z2
        - p12
    )
    e1 = psi2 * chi**3 * z4 - psi2 * chi**2 * z2 + p12 * chi * z2 - p12
    e2 = (
        chi**5 * z6
        - 3 * chi**4 * z4
        + (psi1 - 1) * chi**3 * z6
        + 2 * chi**3 * z4
        + 3 * chi**3 * z2
        - (psi1 + 1) * chi**2 * z4
        - 2 * chi**2 * z2
        - chi**2
    )
    bias, variance = e1 / e0, e2 / e0
    f_star_sq = teacher_nonlinear**2
    test = teacher_linear**2 * bias + (noise + f_star_sq) * variance + f_star_sq
    return dict(test_error=test, bias=bias, variance=variance, converged=ok)

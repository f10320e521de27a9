"""Stieltjes transforms of the random-feature matrices (Marchenko-Pastur and its block version)."""

from __future__ import annotations

import numpy as np


def mp_resolvent(z: np.ndarray, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """g = (1/D) Tr (F^T F / D + z)^-1 and g' = (1/D) Tr (F^T F / D + z)^-2 for z > 0.

    F is P x D with i.i.d. N(0, 1) entries and gamma = D / P. F^T F / D = W / gamma with W the
    unit-variance Marchenko-Pastur matrix of ratio gamma, so g(z) = gamma s(-gamma z) with
    s(w) = [1 - gamma - w - sqrt((w-1-gamma)^2 - 4 gamma)] / (2 gamma w) (Gerace et al. 2020, App. ),
    written here in the cancellation-free form s = 2 / (1 - gamma - w + sqrt(...)).
    """
    z = np.asarray(z, float)
    gamma = np.asarray(gamma, float)
    w = -gamma * z
    root = np.sqrt((w - 1 - gamma) ** 2 - 4 * gamma)
    denom = 1 - gamma - w + root
    s = 2.0 / denom
    ds_dw = -2.0 * (-1.0 + (w - 1 - gamma) / root) / denom**2
    g = gamma * s
    g_prime = gamma**2 * ds_dw  # -dg/dz = gamma^2 s'(w)
    return g, g_prime


def block_resolvent(
    hat_v: np.ndarray, fractions: np.ndarray, zb: np.ndarray, gamma: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Block traces of (C^1/2 F^T F C^1/2 / D + zb)^-1 and its square, C = diag(hat_v[i] on block i).

    Returns G_i = (1/D) Tr_i (.)^-1 and G'_i = (1/D) Tr_i (.)^-2 (arrays (..., n_blocks)), from the
    deterministic equivalent (.)^-1 ~ (zb + u C)^-1, u = 1/(gamma (1 + delta)),
    delta = sum_i d_i hat_v_i / (zb + hat_v_i u)  (2103.05524, block replica equations).
    """
    hat_v = np.asarray(hat_v, float)
    d = np.asarray(fractions, float)
    zb = np.asarray(zb, float)[..., None]
    gamma = np.asarray(gamma, float)[..., None]

    g0 = gamma[..., 0]

    def residual_and_slope(delta):
        u = (1.0 / (g0 * (1.0 + delta)))[..., None]
        denom = zb + hat_v * u
        r = delta - np.sum(d * hat_v / denom, axis=-1)
        slope = 1.0 - np.sum(d * hat_v**2 * u / ((1.0 + delta[..., None]) * denom**2), axis=-1)
        return r, slope

    # safeguarded Newton: r(delta) is increasing from r(0) < 0, with the root below sum d hat_v / zb
    lo = np.zeros(np.broadcast_shapes(hat_v.shape[:-1], zb.shape[:-1], g0.shape))
    hi = np.sum(d * hat_v / zb, axis=-1) + lo
    delta = 0.5 * hi
    for _ in range(100):
        r, slope = residual_and_slope(delta)
        lo = np.where(r < 0, delta, lo)
        hi = np.where(r > 0, delta, hi)
        step = delta - r / np.where(slope > 0, slope, np.inf)
        inside = (step > lo) & (step < hi)
        new = np.where(inside, step, 0.5 * (lo + hi))
        if np.all(np.abs(new - delta) <= 1e-15 * np.maximum(np.abs(delta), 1e-300)):
            delta = new
            break
        delta = new
    u = (1.0 / (gamma[..., 0] * (1.0 + delta)))[..., None]
    denom = zb + hat_v * u
    G = d / denom
    s1 = np.sum(d * hat_v / denom**2, axis=-1, keepdims=True)
    s2 = np.sum(d * hat_v**2 / denom**2, axis=-1, keepdims=True)
    d_delta = -s1 / (1.0 - gamma * u**2 * s2)  # d delta / d zb
    d_u = -gamma * u**2 * d_delta
    G_prime = d * (1.0 + hat_v * d_u) / denom**2  # -dG/dzb
    return G, G_prime

"""Logistic-loss block theory at the paper's small ridge (lam_rep = 1e-3, arXiv 2103.05524).

Regression tests for a proximal solver that silently returned values off by O(V) once V >~ 20 (plain
Newton cycling), which produced a spurious large-norm "converged" branch (isotropic, psi2 = 3: test error
0.3198 at lam = 1e-3 instead of 0.2514) and a non-converging aligned N = P point.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, special

from dltheory.randfeat.errors import ConvergenceWarning
from dltheory.randfeat.simulate import simulate_block_classification
from dltheory.randfeat.theory import block_curve, block_rf
from dltheory.randfeat.theory.channels import classification_channel, logistic_proximal
from dltheory.randfeat.theory.numerics import anderson_fixed_point


def _prox_brent(a, v):
    """Reference proximal: Brent's method on the bracket [a, a + v] of (u - a)/v = sigmoid(-u)."""
    fn = lambda u: (u - a) / v - special.expit(-u)  # noqa: E731
    if fn(a) >= 0:
        return a
    if fn(a + v) <= 0:
        return a + v
    return optimize.brentq(fn, a, a + v, xtol=1e-14, rtol=1e-15)


def _channel_adaptive(m, q, v, psi2):
    """(m_hat, q_hat, V_hat) of the logistic channel (Delta = 0, rho = 1) by adaptive scipy quadrature,
    with breakpoints at the label jump (xi = 0) and at the edges xi = +-V/sqrt(Q) of the proximal."""
    v0 = 1 - m * m / q

    def integrand(xi, which):
        erf = special.erf(m / math.sqrt(q) * xi / math.sqrt(2 * v0))
        dz0 = math.exp(-((m / math.sqrt(q) * xi) ** 2) / (2 * v0)) / math.sqrt(2 * math.pi * v0)
        total = 0.0
        for y in (1.0, -1.0):
            u = _prox_brent(y * math.sqrt(q) * xi, v)
            s = special.expit(-u)
            curvature = special.expit(u) * s
            total += {
                "m": y * dz0 * y * s,
                "q": 0.5 * (1 + y * erf) * s * s,
                "v": 0.5 * (1 + y * erf) * curvature / (1 + v * curvature),
            }[which]
        return total * math.exp(-xi * xi / 2) / math.sqrt(2 * math.pi)

    e = v / math.sqrt(q)
    cuts = [-12.0, -e - 0.05, -e, -e + 0.05, -0.05, 0.0, 0.05, e - 0.05, e, e + 0.05, 12.0]
    cuts = sorted(set(cuts))
    return np.array(
        [
            psi2
            * sum(
                integrate.quad(integrand, lo, hi, args=(w,), epsabs=1e-13, epsrel=1e-10, limit=200)[
                    0
                ]
                for lo, hi in itertools.pairwise(cuts)
            )
            for w in "mqv"
        ]
    )


def test_logistic_proximal_at_large_variance():
    for v in (0.01, 1.0, 30.0, 383.0, 5e3):
        a = np.linspace(-1.5 * v - 10, 20, 301)
        u = logistic_proximal(a, v)
        ref = np.array([_prox_brent(x, v) for x in a])
        np.testing.assert_allclose(u, ref, rtol=1e-12, atol=1e-11)


def test_logistic_channel_against_adaptive_quadrature():
    # the large-norm state where the old solver stopped (M, Q, V) = (425, 6.3e5, 383): its V_hat was 30x off
    for state, rtol in (((4.5, 40.3, 11.4), 1e-7), ((425.0, 627617.0, 383.3), 1e-2)):
        ours = np.array(classification_channel(*state, 1.0, 1.0, 0.0, "logistic"))
        np.testing.assert_allclose(ours, _channel_adaptive(*state, 1.0), rtol=rtol)


def test_isotropic_small_ridge_is_continuous_and_converged():
    lams = np.array([1.6e-3, 1.5e-3, 1.4e-3, 1.2e-3, 1e-3])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        res = block_rf(1.0, 3.0, lams, structure="isotropic", loss="logistic")
    assert res.converged.all()
    err = res.test_error
    assert np.all(np.diff(err) > 0)
    assert np.all(np.diff(err) < 2e-3)
    assert err[-1] == pytest.approx(0.25136, abs=2e-4)
    assert np.all(res.q < 100)  # no large-norm branch (the spurious one had Q ~ 6e5)


def test_aligned_interpolation_point_converges_and_agrees_with_damped_iteration():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fast = block_rf(1.0, 1.0, 1e-3, structure="aligned", loss="logistic")
        plain = block_rf(1.0, 1.0, 1e-3, structure="aligned", loss="logistic", anderson=0)
    assert fast.converged.all()
    assert plain.converged.all()
    assert float(fast.test_error) == pytest.approx(float(plain.test_error), abs=1e-7)
    assert float(fast.test_error) == pytest.approx(0.08514, abs=2e-4)


def test_non_convergence_is_reported():
    with pytest.warns(ConvergenceWarning):
        res = block_rf(1.0, 1.0, 1e-3, structure="aligned", loss="logistic", max_iter=5)
    assert not res.converged.any()
    with pytest.warns(ConvergenceWarning):
        _, ok, _ = anderson_fixed_point(
            lambda s: {"x": 2.0 * s["x"] + 1.0}, {"x": np.array([0.5])}, max_iter=50
        )
    assert not ok.any()  # x = 2x + 1 is repelling: the plain and accelerated steps both leave it
    state, ok, _ = anderson_fixed_point(
        lambda s: {"x": np.cos(s["x"])}, {"x": np.array([0.0, 1.0])}
    )
    assert ok.all()
    np.testing.assert_allclose(state["x"], 0.7390851332151607, atol=1e-9)


def test_sample_wise_curves_at_paper_ridge():
    psi2 = np.logspace(-1, 1.5, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        iso = block_curve(1.0, psi2, 1e-3, structure="isotropic", loss="logistic")
        ali = block_curve(1.0, psi2, 1e-3, structure="aligned", loss="logistic")
    assert iso.converged.all()
    assert ali.converged.all()
    # logistic loss: no peak at N = P (2103.05524 Fig. 2), the error decreases along the whole curve
    assert np.all(np.diff(iso.test_error) < 0)
    assert np.all(np.diff(ali.test_error) < 0)
    assert ali.test_error[-1] < 0.05 < iso.test_error[-1]


@pytest.mark.slow  # about 20 s (sklearn fits at D = 600)
def test_small_ridge_theory_against_simulation():
    theory = float(block_rf(1.0, 3.0, 1e-3, structure="isotropic", loss="logistic").test_error)
    sim = simulate_block_classification(
        600,
        600,
        1800,
        [1e-3],
        structure="isotropic",
        loss="logistic",
        n_seeds=6,
        n_test=3000,
        seed=1,
    )
    mean, sem = float(sim.test_mean[0, 0]), float(sim.test_sem[0, 0])
    assert abs(mean - theory) < 3 * sem
    assert abs(mean - 0.3198) > 10 * sem  # the former spurious branch is excluded

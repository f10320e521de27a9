"""Theory checked against closed forms, identities, an independent solver and the papers' numbers."""

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

from dltheory.randfeat import ConvergenceWarning, RandfeatInputError
from dltheory.randfeat.theory import (
    BlockStructure,
    block_resolvent,
    block_rf,
    convert_ridge,
    ensemble_error,
    feature_spectrum_density,
    get_coefficients,
    get_coefficients_quadrature,
    leaky_family_alpha,
    leaky_family_linearity,
    local_maxima,
    mm_ridge,
    mp_resolvent,
    optimal_ridge,
    psi_terms,
    rf_ridge,
)
from dltheory.randfeat.theory.activations import activation_function
from dltheory.randfeat.theory.channels import (
    classification_channel,
    logistic_proximal,
    square_classification,
)
from dltheory.randfeat.theory.numerics import damped_fixed_point


def test_theory_imports_no_torch():
    code = "import sys, dltheory.randfeat, dltheory.randfeat.theory; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("name", ["relu", "erf", "sign", "abs", "linear"])
def test_get_closed_forms_match_quadrature(name):
    closed = get_coefficients(name)
    quad = get_coefficients_quadrature(activation_function(name))
    assert closed.mu0 == pytest.approx(quad.mu0, abs=1e-8)
    assert closed.mu1 == pytest.approx(quad.mu1, abs=1e-8)
    assert closed.mustar == pytest.approx(quad.mustar, abs=1e-6)


def test_get_reference_values():
    relu, tanh = get_coefficients("relu"), get_coefficients("tanh")
    assert relu.mustar == pytest.approx(0.301405, abs=1e-6)
    assert relu.r == pytest.approx(0.7335, abs=1e-4)
    assert tanh.mu1 == pytest.approx(0.605706, abs=1e-6)
    assert tanh.mustar == pytest.approx(0.165576, abs=1e-6)
    assert get_coefficients("erf").mustar == pytest.approx(0.200364, abs=1e-6)
    # the leaky family: linear at alpha = -1, ReLU at 0, abs at 1; inverse is exact
    assert leaky_family_linearity(-1) == pytest.approx(1.0)
    assert leaky_family_linearity(0) == pytest.approx(relu.r, abs=1e-12)
    assert leaky_family_linearity(1) == pytest.approx(0.0)
    # alpha(r) from the closed form r(alpha) = ((1 - alpha)/2)^2 / var, checked by a float64 Monte Carlo
    alpha = leaky_family_alpha(0.3)
    g = np.random.default_rng(3).standard_normal(2_000_000)
    s = np.maximum(g, 0) + alpha * np.maximum(-g, 0)
    assert np.mean(g * s) ** 2 / np.var(s) == pytest.approx(0.3, abs=3e-3)
    assert leaky_family_linearity(leaky_family_alpha(0.3)) == pytest.approx(0.3, abs=1e-12)


def test_mm_and_replica_agree_reference_point():
    # reference test case 1: ReLU, psi1 = 2, psi2 = 1, lam_MM = 0.01, tau = 0 -> 0.6629
    mm = mm_ridge(2.0, 1.0, 0.01)["test_error"]
    rep = rf_ridge(2.0, 1.0, 0.02, ridge_convention="replica").test_error
    assert float(mm) == pytest.approx(0.6629, abs=5e-5)
    assert float(rep) == pytest.approx(float(mm), rel=1e-8)


@pytest.mark.parametrize("activation", ["relu", "tanh", "erf", 0.5])
def test_mm_and_replica_agree_on_a_grid(activation):
    psi1 = np.logspace(-1, 1, 7)[:, None]
    psi2 = np.array([0.3, 1.0, 4.0])[None, :]
    kw = dict(activation=activation, noise=0.3, teacher_nonlinear=0.4)
    rep = rf_ridge(psi1, psi2, 0.05, **kw).test_error
    mm = mm_ridge(psi1, psi2, 0.05, **kw)["test_error"]
    np.testing.assert_allclose(rep, mm, rtol=1e-7)


def test_reduced_and_iterated_replica_agree():
    a = rf_ridge([0.5, 2.0, 5.0], 1.5, 0.01, activation="tanh", noise=0.2, method="reduced")
    b = rf_ridge([0.5, 2.0, 5.0], 1.5, 0.01, activation="tanh", noise=0.2, method="iterate")
    np.testing.assert_allclose(a.test_error, b.test_error, rtol=1e-7)
    np.testing.assert_allclose(a.train_error, b.train_error, rtol=1e-6)


def test_interpolation_peak_scaling():
    # reference test case 2: P = N = D, tau = 0: 3.53 / 32.2 / 319, i.e. lam^-1/2
    peaks = rf_ridge(1.0, 1.0, np.array([1e-3, 1e-5, 1e-7])).test_error
    np.testing.assert_allclose(peaks, [3.53, 32.2, 319], rtol=2e-3)
    slopes = np.diff(np.log(peaks)) / np.diff(np.log([1e-3, 1e-5, 1e-7]))
    assert slopes[-1] == pytest.approx(-0.5, abs=0.005)  # asymptotic lam^-1/2
    assert slopes[0] == pytest.approx(-0.5, abs=0.03)


def test_ridge_conventions_round_trip_and_agree():
    lam_mm = 0.03
    for target in ("replica", "jacot"):
        value = convert_ridge(lam_mm, 2.0, 3.0, "mm", target)
        assert float(convert_ridge(value, 2.0, 3.0, target, "mm")) == pytest.approx(lam_mm)
        assert float(
            rf_ridge(2.0, 3.0, value, ridge_convention=target).test_error
        ) == pytest.approx(float(rf_ridge(2.0, 3.0, lam_mm).test_error), rel=1e-10)
    assert float(convert_ridge(lam_mm, 2.0, 3.0, "mm", "replica")) == pytest.approx(6 * lam_mm)


def test_optimal_ridge_reference():
    # reference test case 4: min over lam_MM of the MM bias at psi1 = 1.585, psi2 = 1 is 0.6460 near 0.12
    lam, err = optimal_ridge(1.585, 1.0)
    assert err == pytest.approx(0.6460, abs=2e-4)
    assert lam == pytest.approx(0.12, rel=0.1)
    assert float(mm_ridge(1.585, 1.0, lam)["bias"]) == pytest.approx(err, rel=1e-7)


def test_ensemble_terms_against_an_independent_route():
    psi1 = np.logspace(-1, 1, 9)
    t = psi_terms(psi1, 1.0, 1e-3)
    # Psi1 from the effective ridge (Jacot et al.) equals the replica overlap M of the single model
    from dltheory.randfeat.theory.ensemble import _mp_linear

    c = get_coefficients("relu")
    ell = (c.mustar**2 + t.effective_ridge) / c.mu1**2
    np.testing.assert_allclose(1 - ell * _mp_linear(ell, 1.0)[0], t.psi1_term, rtol=1e-8)
    # K = 1 against the Mei-Montanari closed form (an independent solver), with noise
    one = ensemble_error(psi1, 1.0, 1e-3, k=1, noise=0.04)["test_error"]
    np.testing.assert_allclose(one, mm_ridge(psi1, 1.0, 1e-3, noise=0.04)["test_error"], rtol=1e-7)
    # Psi4, Psi5 (estimators sharing the data) are checked against real ensembles by simulation
    # in test_randfeat_ensembles.py


def test_ensemble_reference_values_and_frozen_bias():
    e = ensemble_error(1.0, 1.0, 0.1, k=[1, np.inf], noise=0.01)["test_error"]
    np.testing.assert_allclose(e, [0.791, 0.487], atol=1e-3)
    over = ensemble_error(np.array([2.0, 5.0, 10.0]), 1.0, 1e-5, k=np.inf, noise=0.01)
    # for P > N the K = inf error and the bias freeze (the abstract's phase transition)
    np.testing.assert_allclose(over["bias"], over["bias"][0], rtol=1e-3)
    np.testing.assert_allclose(over["test_error"], over["test_error"][0], rtol=1e-3)


def test_mp_resolvent_matches_a_finite_matrix():
    rng = np.random.default_rng(0)
    d, p, z = 400, 800, 0.7
    f = rng.standard_normal((p, d))
    evals = np.linalg.eigvalsh(f.T @ f / d)
    g, gp = mp_resolvent(z, d / p)
    assert float(g) == pytest.approx(np.mean(1 / (evals + z)), rel=1e-2)
    assert float(gp) == pytest.approx(np.mean(1 / (evals + z) ** 2), rel=2e-2)


def test_block_resolvent_reduces_and_matches_finite_matrix():
    # one block: G = g / hat_v
    g, _ = mp_resolvent(0.5 / 2.0, 0.5)
    G, _ = block_resolvent(np.array([2.0]), np.array([1.0]), 0.5, 0.5)
    assert float(G[0]) == pytest.approx(float(g) / 2.0, rel=1e-10)
    rng = np.random.default_rng(1)
    d, p, zb = 500, 400, 0.3
    hv, frac = np.array([3.0, 0.5]), np.array([0.2, 0.8])
    diag = np.where(np.arange(d) < 0.2 * d, hv[0], hv[1])
    f = rng.standard_normal((p, d))
    m = np.sqrt(diag)[:, None] * (f.T @ f / d) * np.sqrt(diag)[None, :]
    inv = np.linalg.inv(m + zb * np.eye(d))
    G, Gp = block_resolvent(hv, frac, zb, d / p)
    d1 = int(0.2 * d)
    assert G[0] == pytest.approx(np.trace(inv[:d1, :d1]) / d, rel=3e-2)
    assert G[1] == pytest.approx(np.trace(inv[d1:, d1:]) / d, rel=3e-2)
    # G' = -dG/dzb
    eps = 1e-6
    Gh, _ = block_resolvent(hv, frac, zb + eps, d / p)
    Gl, _ = block_resolvent(hv, frac, zb - eps, d / p)
    np.testing.assert_allclose(Gp, -(Gh - Gl) / (2 * eps), rtol=1e-5)


def test_block_model_reduces_to_isotropic_theory():
    psi2 = np.array([0.3, 1.0, 3.0])
    one = BlockStructure(1.0, 1.0, 1.0)
    reg = block_rf(1.5, psi2, 0.1, structure=one, task="regression", activation="relu", noise=0.2)
    ref = rf_ridge(1.5, psi2, 0.1, ridge_convention="replica", noise=0.2)
    np.testing.assert_allclose(reg.test_error, ref.test_error, rtol=1e-6)
    cls = block_rf(
        1.5, psi2, 0.1, structure="isotropic", task="classification", activation="relu", noise=0.1
    )
    ref = rf_ridge(1.5, psi2, 0.1, ridge_convention="replica", task="classification", noise=0.1)
    np.testing.assert_allclose(cls.test_error, ref.test_error, rtol=1e-6)
    # with isotropic inputs the teacher's block alignment cannot matter (reference test case 3)
    tilted = block_rf(
        1.5, psi2, 0.1, structure=BlockStructure(1.0, 50.0, 10.0), activation="relu", noise=0.1
    )
    np.testing.assert_allclose(tilted.test_error, cls.test_error, rtol=1e-6)


def test_channels_quadrature_and_proximal():
    quad = classification_channel(0.3, 0.5, 0.7, 2.0, 1.0, 0.1, "square")
    closed = square_classification(0.3, 0.5, 0.7, 2.0, 1.0, 0.1)
    np.testing.assert_allclose(quad, closed, rtol=1e-8)
    a, v = np.linspace(-4, 4, 9), 1.7
    u = logistic_proximal(a, v)
    np.testing.assert_allclose((u - a) / v, 1 / (1 + np.exp(u)), atol=1e-12)
    # the label-flip factor enters every logistic integral
    clean = classification_channel(0.3, 0.5, 0.7, 2.0, 1.0, 0.0, "logistic")
    flipped = classification_channel(0.3, 0.5, 0.7, 2.0, 1.0, 0.2, "logistic")
    assert all(abs(x - y) > 1e-4 for x, y in zip(clean, flipped))


def test_logistic_removes_the_square_loss_peak():
    psi2 = np.array([0.5, 1.0, 2.0])
    sq = block_rf(1.0, psi2, 1e-2, structure="aligned", loss="square").test_error
    lg = block_rf(1.0, psi2, 1e-2, structure="aligned", loss="logistic").test_error
    assert sq[1] > sq[0]
    assert sq[1] > sq[2]
    assert lg[0] > lg[1] > lg[2]  # logistic: monotone, no peak
    assert lg[1] < sq[1] - 0.1


def test_triple_descent_peaks_located():
    psi2 = np.logspace(-1, 2, 200)
    e = rf_ridge(10.0, psi2, 0.1, activation=0.9, ridge_convention="replica", noise=5.0).test_error
    peaks = local_maxima(psi2, e)
    assert len(peaks) == 2
    assert peaks[0] == pytest.approx(1.0, rel=0.25)
    assert peaks[1] == pytest.approx(10.0, rel=0.25)
    low = rf_ridge(
        10.0, psi2, 0.1, activation=0.5, ridge_convention="replica", noise=5.0
    ).test_error
    assert len(local_maxima(psi2, low)) == 1  # r = 0.5: no linear peak


def test_feature_spectrum_mass():
    x = np.logspace(-3, 1.5, 1500)
    dens = feature_spectrum_density(x, 3.0, 2.0, "tanh", eta=1e-5)
    assert np.trapezoid(dens, x) == pytest.approx(
        2.0 / 3.0, rel=2e-3
    )  # N/P of the eigenvalues are nonzero


def test_convergence_warning_and_input_errors():
    with pytest.warns(ConvergenceWarning):
        damped_fixed_point(lambda s: {"x": np.cos(s["x"])}, {"x": np.array([0.0, 1.0])}, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        state, ok, _ = damped_fixed_point(lambda s: {"x": np.cos(s["x"])}, {"x": np.array([0.0])})
    assert ok.all()
    assert float(state["x"][0]) == pytest.approx(0.7390851332, abs=1e-8)
    with pytest.raises(RandfeatInputError, match="activation"):
        rf_ridge(1.0, 1.0, 0.1, activation="swish")
    with pytest.raises(RandfeatInputError, match="positive"):
        rf_ridge(1.0, 1.0, 0.0)
    with pytest.raises(RandfeatInputError, match="convention"):
        rf_ridge(1.0, 1.0, 0.1, ridge_convention="sklearn")
    with pytest.raises(RandfeatInputError, match="mu1"):
        rf_ridge(1.0, 1.0, 0.1, activation="abs")
    assert math.isfinite(float(rf_ridge(1.0, 1.0, 1e-9).test_error))

"""Simulations: the ridge path against direct solvers, and theory against simulation within 3 SE."""

import numpy as np
import pytest
import torch

from dltheory.randfeat.simulate import (
    RidgePath,
    activation_torch,
    simulate_block_classification,
    simulate_rf_ridge,
)
from dltheory.randfeat.theory import block_rf, ensemble_error, rf_ridge


@pytest.mark.parametrize(("n", "p"), [(40, 90), (90, 40)])
def test_ridge_path_matches_direct_solve_and_sklearn(n, p):
    from sklearn.linear_model import Ridge

    gen = torch.Generator().manual_seed(0)
    z = torch.randn(n, p, generator=gen, dtype=torch.float64)
    y = torch.randn(n, generator=gen, dtype=torch.float64)
    zt = torch.randn(17, p, generator=gen, dtype=torch.float64)
    lams = torch.tensor([1e-3, 0.1, 10.0], dtype=torch.float64)
    path = RidgePath(z, y)
    pred = path.predict(zt, lams)
    for i, lam in enumerate(lams):
        a = torch.linalg.solve(z.T @ z + lam * torch.eye(p, dtype=torch.float64), z.T @ y)
        torch.testing.assert_close(pred[:, i], zt @ a, rtol=1e-8, atol=1e-10)
        torch.testing.assert_close(path.weights(lams)[:, i, 0], a, rtol=1e-8, atol=1e-10)
        sk = Ridge(alpha=float(lam), fit_intercept=False, solver="cholesky").fit(
            z.numpy(), y.numpy()
        )
        np.testing.assert_allclose(pred[:, i].numpy(), zt.numpy() @ sk.coef_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("activation", ["relu", "tanh", "r=0.3"])
def test_torch_activation_matches_get_coefficients(activation):
    from dltheory.randfeat.simulate.features import coefficients_for

    g = torch.randn(400_000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    s = activation_torch(activation)(g)
    coef = coefficients_for(activation)
    assert float(s.mean()) == pytest.approx(0.0, abs=6e-3)  # centred: the theory drops mu0
    assert float((g * s).mean()) == pytest.approx(coef.mu1, abs=6e-3)
    assert float(s.var()) == pytest.approx(coef.mu1**2 + coef.mustar**2, rel=2e-2)


def _within(sim_mean, sim_sem, theory, n_sem=3.0):
    sim_mean, sim_sem, theory = (np.asarray(a, float).ravel() for a in (sim_mean, sim_sem, theory))
    z = np.abs(sim_mean - theory) / sim_sem
    assert np.all(z < n_sem), f"sim {sim_mean} +- {sim_sem} vs theory {theory} (z = {z})"


def test_relu_ridge_theory_vs_simulation():
    # reference test case 1 away from the peak: psi1 = 2, psi2 = 1, lam_MM in {0.01, 0.1}
    res = simulate_rf_ridge(200, 400, 200, [0.01, 0.1], activation="relu", n_seeds=8, n_test=1000)
    theory = rf_ridge(2.0, 1.0, [0.01, 0.1])
    _within(res.test_mean[:, 0], res.test_sem[:, 0], theory.test_error)
    _within(res.train_mean[:, 0], res.train_sem[:, 0], theory.train_error)


def test_ensemble_theory_vs_simulation():
    ks = (1, 2, 10)
    res = simulate_rf_ridge(
        100, 50, 100, [0.05], activation="relu", noise=0.25, ks=ks, n_seeds=6, n_test=500
    )
    theory = [float(ensemble_error(0.5, 1.0, 0.05, k=k, noise=0.25)["test_error"]) for k in ks]
    _within(res.test_mean[0], res.test_sem[0], theory)
    assert res.test_mean[0, 2] < res.test_mean[0, 0]  # ensembling helps


def test_tanh_triple_descent_curve_theory_vs_simulation():
    d, psi1 = 20, 10.0
    psi2 = np.array([0.3, 1.0, 30.0])
    means, sems = [], []
    for p2 in psi2:
        r = simulate_rf_ridge(
            d,
            int(psi1 * d),
            round(p2 * d),
            [0.1],
            ridge_convention="replica",
            activation="tanh",
            noise=1.0,
            n_seeds=6,
            n_test=500,
        )
        means.append(r.test_mean[0, 0])
        sems.append(r.test_sem[0, 0])
    theory = rf_ridge(
        psi1, psi2, 0.1, activation="tanh", ridge_convention="replica", noise=1.0
    ).test_error
    _within(means, sems, theory)


def test_block_classification_theory_vs_simulation():
    res = simulate_block_classification(
        200,
        200,
        400,
        [1e-3, 0.1],
        structure="isotropic",
        activation="tanh",
        flip=0.1,
        n_seeds=6,
        n_test=2000,
    )
    theory = block_rf(
        1.0, 2.0, [1e-3, 0.1], structure="isotropic", activation="tanh", noise=0.1
    ).test_error
    _within(res.test_mean[:, 0], res.test_sem[:, 0], theory)


def test_simulation_input_errors():
    from dltheory.randfeat import RandfeatInputError

    with pytest.raises(RandfeatInputError):
        simulate_rf_ridge(10, 10, 10, [0.0])
    with pytest.raises(RandfeatInputError):
        activation_torch("swish")
    with pytest.raises(RandfeatInputError):
        simulate_block_classification(10, 10, 10, [0.1], loss="hinge")
    from dltheory.randfeat.simulate import simulate_ensemble

    with pytest.raises(RandfeatInputError, match="non-negative"):
        simulate_ensemble(10, 10, 10, [0.1], noise=-1.0, n_seeds=3)
    with pytest.raises(RandfeatInputError, match="n_seeds"):
        simulate_ensemble(10, 10, 10, [0.1], n_seeds=2)


def test_digits_parity_pca_and_real_data_curve():
    from dltheory.randfeat.simulate import parity_pca_data, simulate_real_data

    x, y = parity_pca_data("digits", d=16, whiten_pow=1.0)
    assert x.shape == (1797, 16)
    assert set(torch.unique(y).tolist()) == {-1.0, 1.0}
    assert float((x**2).sum(1).mean()) == pytest.approx(16.0, rel=1e-6)
    cov = x.T @ x / x.shape[0]
    torch.testing.assert_close(
        torch.diag(cov) / torch.diag(cov).mean(),
        torch.ones(16, dtype=torch.float64),
        rtol=0.05,
        atol=0.05,
    )  # whitened: isotropic
    curve = simulate_real_data(
        x, y, p=200, n_train_grid=[50, 800], ridge=0.1, n_seeds=2, n_test=400
    )
    assert curve["test_mean"][1] < 0.25  # far better than chance (0.5) on parity
    assert curve["test_mean"][1] < curve["test_mean"][0]
    # the logistic loss at the same ridge: as good as the square loss far from N = P, both learn
    logistic = simulate_real_data(
        x, y, p=200, n_train_grid=[800], ridge=0.1, loss="logistic", n_seeds=2, n_test=400
    )
    assert abs(logistic["test_mean"][0] - curve["test_mean"][1]) < 0.05


@pytest.mark.slow
def test_logistic_block_theory_vs_simulation():
    res = simulate_block_classification(
        300,
        300,
        900,
        [0.05],
        structure="isotropic",
        activation="tanh",
        loss="logistic",
        n_seeds=6,
        n_test=2000,
    )
    theory = block_rf(
        1.0, 3.0, [0.05], structure="isotropic", activation="tanh", loss="logistic"
    ).test_error
    _within(res.test_mean[:, 0], res.test_sem[:, 0], theory)

"""Two-layer networks trained by gradient descent, and the ridge path's two factorisations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dltheory.core.errors import NonFiniteLossError
from dltheory.randfeat.errors import RandfeatInputError
from dltheory.randfeat.simulate import RidgePath, activation_torch, draw_inputs
from dltheory.randfeat.simulate.features import random_features
from dltheory.randfeat.simulate.networks import (
    NetworkSpec,
    ensemble_errors,
    simulate_network_real_data,
    simulate_network_teacher,
    train_networks,
)


def _teacher_data(n, d, seed=0, noise=0.1, n_test=0):
    """Noisy linear-teacher training data and, if n_test, clean test data from the same teacher."""
    gen = torch.Generator().manual_seed(seed)
    beta = torch.randn(d, generator=gen, dtype=torch.float64)
    x = draw_inputs(n, d, gen)
    y = x @ beta / math.sqrt(d) + math.sqrt(noise) * torch.randn(
        n, generator=gen, dtype=torch.float64
    )
    if not n_test:
        return x, y, gen
    x_test = draw_inputs(n_test, d, gen)
    return x, y, x_test, x_test @ beta / math.sqrt(d)


def test_frozen_first_layer_gradient_descent_converges_to_the_ridge_estimator():
    # Frozen W = F: full-batch GD on (1/N)[sum (f - y)^2 / 2 + lam/2 ||a||^2] has the unique minimiser
    # a = (Z^T Z + lam I)^-1 Z^T y (replica convention), which RidgePath computes in closed form.
    d, p, n, lam = 8, 24, 40, 0.5
    x, y, x_test, _ = _teacher_data(n, d, n_test=50)
    f = torch.randn(p, d, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    z = random_features(x, f, activation_torch("tanh"))
    lr = n / float(
        torch.linalg.eigvalsh(z.T @ z + lam * torch.eye(p, dtype=torch.float64)).max()
    )  # 1 / L
    spec = NetworkSpec(
        width=p,
        activation="tanh",
        train_first_layer=False,
        optimizer="gd",
        lr=lr,
        steps=1500,
        ridge=lam,
    )
    nets = train_networks(x, y, spec, 1, torch.Generator(), init_w=f[None])
    assert torch.equal(nets.model.w[0], f)  # the first layer is F and stays frozen
    closed = RidgePath(z, y).weights(torch.tensor([lam], dtype=torch.float64))[:, 0, 0]
    assert torch.allclose(nets.model.a[0].detach(), closed, rtol=1e-7, atol=1e-9)
    z_test = random_features(x_test, f, activation_torch("tanh"))
    pred = RidgePath(z, y).predict(z_test, torch.tensor([lam], dtype=torch.float64))[:, 0]
    assert torch.allclose(nets.predict(x_test)[0], pred, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_batched_networks_train_exactly_like_single_networks(optimizer):
    d, p, n = 6, 10, 30
    x, y, _ = _teacher_data(n, d)
    init = torch.randn(3, p, d, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    spec = NetworkSpec(
        width=p, activation="relu", optimizer=optimizer, lr=0.05, steps=60, ridge=0.01
    )
    batched = train_networks(x, y, spec, 3, torch.Generator(), init_w=init)
    assert not torch.allclose(batched.model.w, init)  # the first layers moved
    for k in range(3):
        single = train_networks(x, y, spec, 1, torch.Generator(), init_w=init[k : k + 1])
        assert torch.allclose(single.model.w[0], batched.model.w[k], rtol=0, atol=1e-12)
        assert torch.allclose(single.model.a[0], batched.model.a[k], rtol=0, atol=1e-12)


def test_trained_first_layer_moves_and_fits_better_than_frozen_features():
    d, p, n = 10, 40, 200
    x, y, x_test, y_test = _teacher_data(n, d, noise=0.0, n_test=500)
    common = dict(width=p, activation="relu", optimizer="adam", lr=0.02, steps=1500)
    full = train_networks(x, y, NetworkSpec(**common), 2, torch.Generator().manual_seed(0))
    frozen = train_networks(
        x, y, NetworkSpec(**common, train_first_layer=False), 2, torch.Generator().manual_seed(0)
    )
    w_init = torch.randn(2, p, d, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((full.model.w.detach() - w_init).norm() / w_init.norm()) > 0.05
    err_full = ensemble_errors(full.predict(x_test), y_test, [1], "regression")[0]
    err_frozen = ensemble_errors(frozen.predict(x_test), y_test, [1], "regression")[0]
    assert err_full < 0.2 * float((y_test**2).mean())  # learns most of the linear teacher
    assert err_full < err_frozen
    assert full.final_loss.max() < frozen.final_loss.min()


def test_ensemble_of_square_loss_predictors_is_no_worse_than_its_members():
    # Jensen: ||mean_k f_k - y||^2 <= mean_k ||f_k - y||^2, for any outputs
    gen = torch.Generator().manual_seed(0)
    outputs = torch.randn(5, 100, generator=gen, dtype=torch.float64)
    target = torch.randn(100, generator=gen, dtype=torch.float64)
    ens = ensemble_errors(outputs, target, [5], "regression")[0]
    members = [ensemble_errors(outputs[k : k + 1], target, [1], "regression")[0] for k in range(5)]
    assert ens <= np.mean(members) + 1e-15
    assert ens < min(members)  # independent noise: averaging strictly helps here


def test_teacher_curve_shapes_and_ensembling_helps_at_the_interpolation_threshold():
    spec = NetworkSpec(
        width=20,
        activation="relu",
        train_first_layer=False,
        optimizer="gd",
        lr=2.0,
        steps=400,
        ridge=1e-3,
    )
    curve = simulate_network_teacher(
        10, [20, 60], spec, noise=0.25, ks=(1, 4), n_seeds=3, n_test=300
    )
    assert curve.test_mean.shape == (2, 2)
    assert curve.test_sem.shape == (2, 2)
    assert np.all(np.isfinite(curve.test_sem))
    assert curve.test_mean[0, 1] < curve.test_mean[0, 0]  # N = P: ensembling K = 4 lowers the error
    rows = curve.as_rows()
    assert {r["k"] for r in rows} == {1, 4}
    assert len(rows) == 4


def test_real_data_curve_classifies_digits_parity_better_than_chance():
    from dltheory.randfeat.simulate import parity_pca_data

    x, y = parity_pca_data("digits", d=20)
    spec = NetworkSpec(width=50, activation="relu", loss="logistic", lr=0.02, steps=300)
    curve = simulate_network_real_data(x, y, [400], spec, ks=(1, 3), n_seeds=2, n_test=300)
    assert curve.test_mean[0, 0] < 0.25


def test_bad_network_inputs_raise_one_line_errors():
    x, y, gen = _teacher_data(10, 3)
    with pytest.raises(RandfeatInputError, match="unknown loss"):
        train_networks(x, y, NetworkSpec(width=4, loss="hinge"), 1, gen)
    with pytest.raises(RandfeatInputError, match="need x"):
        train_networks(x, y[:5], NetworkSpec(width=4), 1, gen)
    with pytest.raises(NonFiniteLossError, match="step"):
        train_networks(x * 1e3, y, NetworkSpec(width=4, optimizer="gd", lr=1e12, steps=50), 1, gen)


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (40, 40)])
def test_ridge_path_tridiagonal_and_eigh_agree_with_scikit_learn(shape):
    from sklearn.linear_model import Ridge

    n, p = shape
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(n, p, generator=gen, dtype=torch.float64).relu()
    y = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    z_test = torch.randn(20, p, generator=gen, dtype=torch.float64)
    lams = torch.logspace(-3, 1, 5, dtype=torch.float64)
    tri = RidgePath(z, y, method="tridiagonal")
    eig = RidgePath(z, y, method="eigh")
    ref = np.stack(
        [
            Ridge(alpha=float(lam), fit_intercept=False, solver="cholesky")
            .fit(z.numpy(), y.numpy())
            .predict(z_test.numpy())
            for lam in lams
        ],
        1,
    )
    assert np.allclose(tri.predict(z_test, lams).numpy(), ref, rtol=1e-9, atol=1e-10)
    assert np.allclose(eig.predict(z_test, lams).numpy(), ref, rtol=1e-9, atol=1e-10)
    gram = z @ z.T if n <= p else z.T @ z
    assert torch.allclose(tri.evals, torch.linalg.eigvalsh(gram).clamp_min(0), atol=1e-10)
    assert tri.method == "tridiagonal"
    assert RidgePath(z, y).method == "tridiagonal"


def test_ridge_path_rejects_bad_input():
    z = torch.randn(5, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="method"):
        RidgePath(z, torch.randn(5, dtype=torch.float64), method="svd")
    with pytest.raises(ValueError, match="labels"):
        RidgePath(z, torch.randn(6, dtype=torch.float64))
    with pytest.raises(ValueError, match="lam > 0"):
        RidgePath(z, torch.randn(5, dtype=torch.float64)).predict(
            z, torch.tensor([0.0], dtype=torch.float64)
        )


def test_simulated_double_descent_split_agrees_with_theory_within_3_se():
    from dltheory.randfeat.simulate.decomposition import COMPONENTS, simulate_ensemble_decomposition
    from dltheory.randfeat.theory import ensemble_error

    d, lam, tau2 = 200, 0.1, 0.25
    res = simulate_ensemble_decomposition(
        d,
        d,
        d,
        [lam],
        ks=(1, 10),
        activation="tanh",
        noise=tau2,
        n_seeds=8,
        n_features=3,
        n_test=4000,
    )
    for k in (1, 10):
        theory = ensemble_error(1.0, 1.0, lam, k=k, noise=tau2, activation="tanh")
        for name in COMPONENTS:
            sim, se = res[float(k)][name][0], res[float(k)][f"{name}_sem"][0]
            assert (
                0 < se < 0.1 * max(theory[name][()], 0.1)
            )  # informative: the check below is not vacuous
            assert abs(sim - theory[name][()]) < 3 * se, (k, name, sim, se, theory[name])
    psi = res["psi"]
    assert (
        abs(psi["psi6"][0] - psi["psi1"][0] ** 2) < 0.01
    )  # independent data: Psi6 = Psi1^2 (rotation invariance)
    assert res[10.0]["var_init"][0] == pytest.approx(
        res[1.0]["var_init"][0] / 10
    )  # init variance ~ 1/K


def test_mnist_parity_pca_from_the_shared_idx_files(mnist_t10k_dir):
    # the papers' real-data setting: MNIST parity after PCA to D = 100 (skips without ../shared/data)
    from dltheory.randfeat.simulate import parity_pca_data, simulate_real_data

    x, y = parity_pca_data("mnist", d=100, whiten_pow=0.0, root=mnist_t10k_dir)
    assert x.shape == (10_000, 100)
    assert set(torch.unique(y).tolist()) == {-1.0, 1.0}
    assert abs(float((y > 0).double().mean()) - 0.49) < 0.03  # even digits are ~49% of t10k
    var = (x**2).mean(0)
    assert (
        var[0] > 5 * var[-1]
    )  # whiten_pow = 0 keeps the decaying PCA spectrum (the "aligned" case)
    curve = simulate_real_data(x, y, p=300, n_train_grid=[1000], ridge=0.1, n_seeds=2, n_test=1000)
    assert curve["test_mean"][0] < 0.2


@pytest.mark.gpu
def test_ridge_path_and_networks_on_cuda_match_cpu():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(60, 90, generator=gen, dtype=torch.float64).relu()
    y = torch.randn(60, generator=gen, dtype=torch.float64)
    z_test = torch.randn(30, 90, generator=gen, dtype=torch.float64)
    lams = torch.logspace(-3, 0, 4, dtype=torch.float64)
    cpu = RidgePath(z, y).predict(z_test, lams)
    cuda_path = RidgePath(z.cuda(), y.cuda())
    assert cuda_path.method == "eigh"  # auto picks eigh off the CPU
    torch.testing.assert_close(
        cuda_path.predict(z_test.cuda(), lams).cpu(), cpu, rtol=1e-9, atol=1e-10
    )
    x, yy, _ = _teacher_data(40, 6)
    init = torch.randn(2, 12, 6, generator=gen, dtype=torch.float64)
    spec = NetworkSpec(width=12, activation="tanh", optimizer="adam", lr=0.02, steps=50, ridge=0.01)
    on_cpu = train_networks(x, yy, spec, 2, torch.Generator(), init_w=init)
    on_gpu = train_networks(x.cuda(), yy.cuda(), spec, 2, torch.Generator(), init_w=init.cuda())
    torch.testing.assert_close(
        on_gpu.model.a.detach().cpu(), on_cpu.model.a.detach(), rtol=1e-8, atol=1e-10
    )

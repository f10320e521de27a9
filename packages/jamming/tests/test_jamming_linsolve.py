"""The matrix-free damped Gauss-Newton solve (CGLS): against a direct float64 solve of the normal
equations, functional jvp/vjp products against the explicit Jacobian, per-net convergence."""

import numpy as np
import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.linsolve import (
    cg_damped_step,
    explicit_operators,
    functional_operators,
    gauss_newton_diag,
)
from dltheory.jamming.minimiser import StackedAdaptor
from dltheory.jamming.models import NetSpec, StackedFC


def _problem(E, n, n_p, seed, zero_cols=()):
    """Random batched J [E, n, n_p] (columns of very different scales, as in a network), r, the
    Marquardt D = diag(J^T J) clamped at 1e-12 of its max; net 0 gets the zero columns."""
    gen = np.random.default_rng(seed)
    J = gen.standard_normal((E, n, n_p)) * np.exp(gen.uniform(-2, 2, (E, 1, n_p)))
    J[0][:, list(zero_cols)] = 0.0
    r = gen.standard_normal((E, n))
    diag = (J**2).sum(axis=1)
    D = np.maximum(diag, 1e-12 * diag.max(axis=1, keepdims=True))
    return J, r, D


def _direct(J, r, D, lam):
    """numpy float64 solve of the normal equations, built here independently of linsolve."""
    out = []
    for e in range(J.shape[0]):
        A = J[e].T @ J[e] + lam[e] * np.diag(D[e])
        out.append(np.linalg.solve(A, -J[e].T @ r[e]))
    return np.stack(out)


def _t(a):
    return torch.as_tensor(a, dtype=torch.float64)


@pytest.mark.parametrize(("n", "n_p"), [(60, 25), (20, 45)])
@pytest.mark.parametrize("lam", [1e-3, 1.0, 1e2])
def test_cg_equals_direct_solve(n, n_p, lam):
    J, r, D = _problem(3, n, n_p, seed=n + n_p, zero_cols=(2, 7))
    lams = np.array([lam, lam * 3, lam / 7])
    ref = _direct(J, r, D, lams)
    mv, mvt = explicit_operators(_t(J))
    delta, info = cg_damped_step(mv, mvt, _t(r), _t(D), _t(lams), tol=1e-13, max_iter=20 * n_p)
    rel = np.linalg.norm(delta.numpy() - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 1e-8, rel
    assert bool(info.converged.all())
    assert float(info.residual.max()) < 1e-11
    assert np.abs(delta.numpy()[0, [2, 7]]).max() == 0.0  # padding: no step on zero columns


def test_explicit_diag_preconditioner_and_scalar_lambda():
    """The hinge step's J_S is not the J_A of D: pass diag(J_S^T J_S); same solution."""
    J, r, D = _problem(2, 50, 30, seed=5)
    J_S = J * (np.arange(50) % 3 != 0)[None, :, None]  # a third of the rows left the set
    ref = _direct(J_S, r, D, np.array([0.1, 0.1]))
    mv, mvt = explicit_operators(_t(J_S))
    diag = _t((J_S**2).sum(axis=1))
    delta, _ = cg_damped_step(mv, mvt, _t(r), _t(D), 0.1, tol=1e-13, max_iter=600, diag=diag)
    rel = np.linalg.norm(delta.numpy() - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 1e-8


def test_net_at_the_solution_takes_no_iterations():
    J, r, D = _problem(3, 40, 20, seed=1)
    lams = np.array([1e-2, 1.0, 0.3])
    ref = _direct(J, r, D, lams)
    x0 = np.zeros_like(ref)
    x0[1] = ref[1]  # net 1 starts at its solution, nets 0 and 2 at 0
    mv, mvt = explicit_operators(_t(J))
    delta, info = cg_damped_step(mv, mvt, _t(r), _t(D), _t(lams), tol=1e-10, x0=_t(x0))
    assert info.iterations.tolist()[1] == 0
    assert min(info.iterations.tolist()[0], info.iterations.tolist()[2]) > 0
    assert np.array_equal(delta.numpy()[1], ref[1])  # a converged net does not change
    # a net with no residual left (r = 0, e.g. an empty active set) is at delta = 0 at once
    r2 = r.copy()
    r2[2] = 0.0
    delta, info = cg_damped_step(mv, mvt, _t(r2), _t(D), _t(lams), tol=1e-8)
    assert info.iterations.tolist()[2] == 0
    assert float(delta[2].abs().max()) == 0.0


def test_truncated_steps_are_descent_steps_and_bad_warm_starts_are_refused():
    """Every CG iterate lowers the damped model phi(x) = 1/2|r + Jx|^2 + lam/2 x^T D x below phi(0)
    monotonically; an x0 with phi(x0) > phi(0) is ignored (the solve starts at 0)."""
    J, r, D = _problem(2, 80, 60, seed=2)
    lam = 1e-3
    mv, mvt = explicit_operators(_t(J))

    def phi(x):
        res = r + np.einsum("enp,ep->en", J, x)
        return 0.5 * (res**2).sum(1) + 0.5 * lam * (D * x**2).sum(1)

    values = [phi(np.zeros((2, 60)))]
    for k in range(1, 8):
        delta, info = cg_damped_step(mv, mvt, _t(r), _t(D), lam, max_iter=k)
        assert info.iterations.tolist() == [k, k]
        values.append(phi(delta.numpy()))
    values = np.array(values)
    assert (np.diff(values, axis=0) < 0).all()
    bad = -10 * _direct(J, r, D, np.array([lam, lam]))  # far uphill
    delta_bad, _ = cg_damped_step(mv, mvt, _t(r), _t(D), lam, max_iter=3, x0=_t(bad))
    delta_zero, _ = cg_damped_step(mv, mvt, _t(r), _t(D), lam, max_iter=3)
    assert torch.equal(delta_bad, delta_zero)


def test_bad_inputs_are_refused():
    J, r, D = _problem(2, 10, 5, seed=0)
    mv, mvt = explicit_operators(_t(J))
    with pytest.raises(ConfigError, match="lam >= 0"):
        cg_damped_step(mv, mvt, _t(r), _t(D), -1.0)
    with pytest.raises(ConfigError, match="r \\[E, n\\]"):
        cg_damped_step(mv, mvt, _t(r[0]), _t(D), 1.0)
    with pytest.raises(ConfigError, match="J \\[E, n, n_p\\]"):
        explicit_operators(_t(J[0]))


@pytest.mark.parametrize("linearize", [True, False])
@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_functional_products_equal_explicit_jacobian(depth, parametrisation, linearize):
    ds = random_gaussian(30, 4, 2, seed=depth)
    # two widths: the narrower net is padded (its padded entries must get no step)
    net = StackedFC(4, [NetSpec(3.5, 0), NetSpec(6, 1)], depth, parametrisation=parametrisation)
    adaptor = StackedAdaptor(net)
    rows = torch.arange(2)
    theta = adaptor.get()
    gen = torch.Generator().manual_seed(depth)
    theta = theta + 0.1 * torch.randn(theta.shape, generator=gen, dtype=theta.dtype) * adaptor.mask
    y = ds.y_train
    active = (torch.rand(2, 30, generator=gen) < 0.7).to(torch.float64)
    weights = -y * active  # residual Jacobian dr/dtheta = -y df/dtheta on the active set
    jr = weights.unsqueeze(2) * adaptor.jacobian(ds.x_train, theta, rows)
    mv, mvt = functional_operators(adaptor, ds.x_train, theta, rows, weights, linearize=linearize)
    v = torch.randn(theta.shape, generator=gen, dtype=theta.dtype)
    u = torch.randn(2, 30, generator=gen, dtype=theta.dtype)
    ref_jv = torch.einsum("enp,ep->en", jr, v)
    ref_jtu = torch.einsum("enp,en->ep", jr, u)
    torch.testing.assert_close(mv(v), ref_jv, rtol=0, atol=1e-12)
    torch.testing.assert_close(mvt(u), ref_jtu, rtol=0, atol=1e-12)
    assert float(mvt(u)[adaptor.mask[rows] == 0].abs().max()) == 0.0
    # and the functional solve equals a direct solve with the explicit Jacobian
    r = torch.relu(1.0 - y * adaptor.forward(ds.x_train, theta, rows)) * active
    diag = (jr * jr).sum(dim=1)
    D = torch.maximum(diag, 1e-12 * diag.amax(dim=1, keepdim=True))
    lams = np.array([1e-2, 1.0])
    ref = _direct(jr.numpy(), r.numpy(), D.numpy(), lams)
    delta, info = cg_damped_step(mv, mvt, r, D, _t(lams), tol=1e-13, max_iter=2000)
    rel = np.linalg.norm(delta.numpy() - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < 1e-8, (rel, info)


@pytest.mark.parametrize("depth", [2, 3])
@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_gauss_newton_diag_equals_column_norms_of_the_jacobian(depth, parametrisation):
    ds = random_gaussian(25, 3, 2, seed=depth)
    net = StackedFC(3, [NetSpec(2.5, 0), NetSpec(5, 1)], depth, parametrisation=parametrisation)
    adaptor = StackedAdaptor(net)
    rows = torch.arange(2)
    theta = adaptor.get()
    gen = torch.Generator().manual_seed(7)
    weights = -ds.y_train * (torch.rand(2, 25, generator=gen) < 0.6).to(torch.float64)
    jr = weights.unsqueeze(2) * adaptor.jacobian(ds.x_train, theta, rows)
    ref = jr.pow(2).sum(dim=1)  # diag(J^T J) from the explicit Jacobian
    got = gauss_newton_diag(adaptor, ds.x_train, theta, rows, weights)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=1e-14)

"""ReLU kinks in the minimiser: a one-sided Gauss-Newton model that is exact on its side, and the
side constraints that keep a step there (StackedAdaptor.jacobian_and_kinks)."""

import pytest
import torch

from dltheory.jamming.data import random_gaussian
from dltheory.jamming.minimiser import (
    MinimiserConfig,
    StackedAdaptor,
    levenberg_marquardt,
    minimise_ensemble,
)
from dltheory.jamming.models import NetSpec, StackedFC
from dltheory.jamming.train import EnsembleTrainer, OptimConfig


def _with_random_biases(net):
    """Zero biases put exact kinks (z = b = 0) wherever a layer's input is all zero; avoid them."""
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for b, m in zip(net.biases, net.bias_masks):
            b.copy_(0.3 * torch.randn(b.shape, generator=gen, dtype=b.dtype) * m)
    return net


def _net_with_kinks(depth=3, seed=0, parametrisation="standard"):
    """A net and data with units put exactly on their kink (z = 0) at some training points."""
    ds = random_gaussian(24, 5, 2, seed=seed)
    net = StackedFC(5, [NetSpec(6, seed)], depth=depth, parametrisation=parametrisation)
    net = _with_random_biases(net)
    with torch.no_grad():
        s0, s1 = float(net.scales[0][0]), float(net.scales[1][0])
        w0, b0 = net.weights[0][0] * s0, net.biases[0][0]
        for unit, point in ((0, 3), (2, 7), (4, 11)):  # first layer: z = w . x + b = 0
            b0[unit] = -(w0[unit] @ ds.x_train[point])
        # second layer, unit 1 at point 5 (its input is fixed by the layer below)
        a1 = torch.relu(ds.x_train[5] @ w0.T + b0)
        net.biases[1][0][1] = -(s1 * net.weights[1][0][1] @ a1)
    return net, ds


def _residuals(adaptor, ds, theta):
    f = adaptor.forward(ds.x_train, theta, torch.arange(1))
    return 1.0 - ds.y_train * f


def test_zero_biases_put_units_exactly_on_their_kinks():
    """At the authors' initialisation (zero biases) a point whose layer-1 units are all off has
    z = b = 0 exactly at every unit of layer 2: real kinks, found by jacobian_and_kinks."""
    ds = random_gaussian(200, 3, 2, seed=1)
    net = StackedFC(3, [NetSpec(3, 0)], depth=2)
    adaptor = StackedAdaptor(net)
    theta, rows = adaptor.get(), torch.arange(1)
    z1 = torch.relu(ds.x_train @ net.weights[0][0].T)
    all_off = int((z1.amax(dim=1) == 0).sum())
    assert all_off > 0
    resid = 1.0 - ds.y_train * adaptor.forward(ds.x_train, theta, rows)
    _, c_rows, _ = adaptor.jacobian_and_kinks(ds.x_train, theta, rows, ds.y_train, resid, 1e-12)
    assert c_rows.shape[1] == 3 * all_off  # every unit of layer 2 at every such point


def test_without_kinks_the_one_sided_jacobian_is_the_jacobian():
    ds = random_gaussian(20, 4, 2, seed=1)
    net = _with_random_biases(StackedFC(4, [NetSpec(5, 0), NetSpec(7.5, 1)], depth=2))
    adaptor = StackedAdaptor(net)
    theta, rows = adaptor.get(), torch.arange(2)
    resid = 1.0 - ds.y_train * adaptor.forward(ds.x_train, theta, rows)
    jac, c_rows, _c_vals = adaptor.jacobian_and_kinks(
        ds.x_train, theta, rows, ds.y_train, resid, kink_tol=1e-12
    )
    assert c_rows.shape[1] == 0
    torch.testing.assert_close(jac, adaptor.jacobian(ds.x_train, theta, rows), rtol=0, atol=0)


@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_constraint_rows_are_the_gradients_of_the_kinked_preactivations(parametrisation):
    net, ds = _net_with_kinks(parametrisation=parametrisation)
    adaptor = StackedAdaptor(net)
    theta, rows = adaptor.get(), torch.arange(1)
    resid = _residuals(adaptor, ds, theta)
    _, c_rows, c_vals = adaptor.jacobian_and_kinks(
        ds.x_train, theta, rows, ds.y_train, resid, kink_tol=1e-9
    )
    assert c_rows.shape[1] == 4  # the four kinks built above
    assert float(c_vals.abs().max()) < 1e-9

    def pre(th, layer, point, unit):  # reference: autograd through a plain forward
        params = adaptor.unflatten(th.unsqueeze(0))
        a = ds.x_train[point]
        for k in range(layer + 1):
            z = net.scales[k][0, 0, 0] * params[k][0] @ a + params[net.depth + 1 + k][0]
            a = torch.relu(z)
        return z[unit]

    refs = []
    for layer, point, unit in ((0, 3, 0), (0, 7, 2), (0, 11, 4), (1, 5, 1)):
        g = torch.func.grad(pre)(theta[0], layer, point, unit) * adaptor.mask[0]
        refs.append(g / g.norm())
    ref = torch.stack(refs)
    # each row is +-(unit-norm gradient of its pre-activation); match up to order and sign
    cos = (c_rows[0] @ ref.T).abs()
    torch.testing.assert_close(cos.amax(dim=1), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(cos.amax(dim=0), torch.ones(4, dtype=torch.float64))


def test_the_one_sided_model_is_exact_along_steps_that_respect_the_sides():
    """Finite differences of the real network along a direction that keeps every kinked unit on
    its chosen side agree with J v; the plain (relu'(0) = 0) Jacobian does not, for a side "on"."""
    net, ds = _net_with_kinks()
    adaptor = StackedAdaptor(net)
    theta, rows = adaptor.get(), torch.arange(1)
    resid = _residuals(adaptor, ds, theta)
    jac, c_rows, _c_vals = adaptor.jacobian_and_kinks(
        ds.x_train, theta, rows, ds.y_train, resid + 10.0, kink_tol=1e-9
    )  # every point unsatisfied: some kinks choose "on"
    gen = torch.Generator().manual_seed(0)
    checked_on = False
    for _ in range(20):
        v = torch.randn(theta.shape, generator=gen, dtype=torch.float64) * adaptor.mask
        # keep every side constraint strictly satisfied: C v <= -0.1 |v| (project, then push)
        C = c_rows[0]
        coef = torch.linalg.lstsq(C @ C.T, (C @ v[0]).clamp_min(0) + 0.1).solution
        v = v - (C.T @ coef).unsqueeze(0)
        assert bool(((C @ v[0]) < 0).all())
        eps = 1e-7
        fd = (
            adaptor.forward(ds.x_train, theta + eps * v, rows)
            - adaptor.forward(ds.x_train, theta, rows)
        ) / eps
        jv = torch.bmm(jac, v.unsqueeze(2)).squeeze(2)
        torch.testing.assert_close(fd, jv, rtol=1e-5, atol=1e-5)
        plain = torch.bmm(adaptor.jacobian(ds.x_train, theta, rows), v.unsqueeze(2)).squeeze(2)
        checked_on |= bool(((plain - fd).abs() > 1e-3).any())
    assert checked_on  # some kink chose "on", where relu'(0) = 0 mis-models the step


def test_a_deep_net_stalled_on_kinks_is_fitted_with_the_one_sided_model():
    """L = 5, P = 500 random data, N = 361 after 5,000 Adam steps (N_Delta 39): Levenberg-Marquardt
    with the relu'(0) = 0 Jacobian stalls on kinks with N_Delta > 0 (every step along its model is
    refused); with the one-sided model it reaches N_Delta = 0, checked with a plain torch module."""
    torch.manual_seed(0)
    ds = random_gaussian(500, 8, 10, seed=0)
    net = StackedFC(8, [NetSpec(8.5, 0)], depth=5)
    EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=1e-3, max_steps=5000)).run()
    state = [p.clone() for p in net.parameters()]
    plain = levenberg_marquardt(
        StackedAdaptor(net), ds.x_train, ds.y_train, MinimiserConfig(max_iter=300, kink_tol=0.0)
    )
    assert plain.outcome[0] != "sat"
    assert plain.n_delta[0] > 0
    with torch.no_grad():
        for p, q in zip(net.parameters(), state):
            p.copy_(q)
    res = levenberg_marquardt(
        StackedAdaptor(net), ds.x_train, ds.y_train, MinimiserConfig(max_iter=300, slow_rtol=0.0)
    )
    assert res.outcome == ["sat"]
    module = net.to_module(0)
    with torch.no_grad():
        margins = ds.y_train * module(ds.x_train).squeeze(1)
    assert float(margins.min()) >= 1.0


def test_cg_solver_gives_the_cholesky_hinge_step():
    """The semismooth-Newton hinge step with CGLS solves equals the one with Cholesky solves."""
    from dltheory.jamming.minimiser import _hinge_step

    gen = torch.Generator().manual_seed(3)
    for n, n_p in ((40, 12), (8, 30)):
        jr = torch.randn(2, n, n_p, generator=gen, dtype=torch.float64)
        rc = torch.randn(2, n, generator=gen, dtype=torch.float64)
        D = (jr * (rc > 0).unsqueeze(2)).pow(2).sum(dim=1).clamp_min(1e-3)
        for lam in (1e-3, 1.0):
            lam_t = torch.full((2,), lam, dtype=torch.float64)
            ref = _hinge_step(jr, rc, D, lam_t, 8, "cholesky")
            cg = _hinge_step(jr, rc, D, lam_t, 8, "cg", cg_tol=1e-13, cg_max_iter=2000)
            torch.testing.assert_close(cg, ref, rtol=1e-7, atol=1e-9)


def test_cg_solver_fits_what_the_cholesky_solver_fits():
    ds = random_gaussian(120, 6, 10, seed=2)
    net = StackedFC(6, [NetSpec(9, 0)], depth=2)  # N = 144, P = 120; N_Delta 28 after Adam
    EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=1e-2, max_steps=300)).run()
    state = [p.clone() for p in net.parameters()]
    outcomes = {}
    for solver in ("cholesky", "cg"):
        with torch.no_grad():
            for p, q in zip(net.parameters(), state):
                p.copy_(q)
        cfg = MinimiserConfig(max_iter=500, solver=solver, cg_max_iter=400)
        res = levenberg_marquardt(StackedAdaptor(net), ds.x_train, ds.y_train, cfg)
        outcomes[solver] = res.outcome
        if solver == "cg":
            margins = ds.y_train * net.forward(ds.x_train)
            fitted = (margins >= 1.0).all(dim=1).tolist()
            assert fitted == [o == "sat" for o in res.outcome]
    assert outcomes["cholesky"] == ["sat"]
    assert outcomes["cg"] == ["sat"]


class _HiddenLever:
    """Two points, two parameters: f_A = t1 + t2 (unsatisfied), f_B = 10 + 1000 t2 (satisfied by
    a wide margin, outside the step's hinge model). Moving t2 fits A and moves B a thousand times
    more: the output trust region must see B too."""

    def __init__(self):
        self.theta = torch.zeros(1, 2, dtype=torch.float64)
        self.mask = torch.ones_like(self.theta)
        self.offset = None

    @property
    def n_nets(self):
        return 1

    def get(self):
        return self.theta.clone()

    def set(self, theta, rows):
        self.theta[rows] = theta

    def forward(self, x, theta, rows):
        is_b = x[:, 0] > 0.5
        f_a = theta[:, :1] + theta[:, 1:]
        f_b = 10.0 + 1000.0 * theta[:, 1:]
        return torch.where(is_b.unsqueeze(0), f_b, f_a)

    def jacobian(self, x, theta, rows):
        is_b = (x[:, 0] > 0.5).unsqueeze(1)
        row_a = torch.tensor([1.0, 1.0], dtype=torch.float64)
        row_b = torch.tensor([0.0, 1000.0], dtype=torch.float64)
        return torch.where(is_b, row_b, row_a).unsqueeze(0)


def test_no_accepted_step_moves_any_training_output_beyond_the_trust_region():
    x = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    y = torch.ones(2, dtype=torch.float64)
    model = _HiddenLever()
    k, step = 40, 0.5
    cfg = MinimiserConfig(max_iter=k, max_output_step=step, escape_rounds=0)
    levenberg_marquardt(model, x, y, cfg)
    f = model.forward(x, model.theta, torch.arange(1))[0]
    assert float(f[1] - 10.0) <= k * step  # B moved by at most the trust region per iteration
    assert float(f[0]) > 0.0  # while A did move towards its margin


def test_a_creeping_net_is_handed_to_adam_and_still_fitted():
    """The slow rule (default slow_rtol = 0.01): the same net, when LM creeps, ends `stuck` early
    instead of running to its cap; minimise_ensemble's Adam excursions then bring it to SAT."""
    ds = random_gaussian(500, 8, 10, seed=0)
    net = StackedFC(8, [NetSpec(8.5, 0)], depth=5)
    EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=1e-3, max_steps=5000)).run()
    state = [p.clone() for p in net.parameters()]
    lm = levenberg_marquardt(
        StackedAdaptor(net), ds.x_train, ds.y_train, MinimiserConfig(max_iter=300)
    )
    assert lm.outcome == ["stuck"]
    assert lm.iterations[0] < 300
    with torch.no_grad():
        for p, q in zip(net.parameters(), state):
            p.copy_(q)
    res = minimise_ensemble(net, ds.x_train, ds.y_train, MinimiserConfig(max_iter=300))
    assert res.outcome == ["sat"]
    with torch.no_grad():
        margins = ds.y_train * net.to_module(0)(ds.x_train).squeeze(1)
    assert float(margins.min()) >= 1.0

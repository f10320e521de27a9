"""Two-layer fully connected networks trained by full-batch gradient descent: the papers' "realistic
network" counterpart of the random-features model (2003.01054 ensembles, 2006.03509 sample-wise curves).

The network uses the random-features parametrisation, f(x) = a . sigma(W x / sqrt D) / sqrt D, with
W initialised N(0, 1) (so W = F at step 0) and a = 0 (outputs start at zero). With the first layer
frozen it *is* the random-features model: full-batch gradient descent on

    (1/N) [ sum_mu loss(y_mu, f(x_mu)) + lam/2 ||a||^2 ]        (lam in the replica convention)

converges to the ridge estimator of :class:`RidgePath` (a test checks it). With the first layer trained,
it is a two-layer network; the ridge acts on the readout only.

Many networks train at once: ``n_members`` independent initialisations (an ensemble sharing the data)
are stacked along a batch axis and trained by one batched computation; nets never interact (a test
checks batched = one by one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.simulate.experiments import mean_sem
from dltheory.randfeat.simulate.features import activation_torch, draw_inputs, unit_teacher

LOSSES = ("square", "logistic")
OPTIMIZERS = ("gd", "adam")


@dataclass
class NetworkSpec:
    """How to build and train the networks (full batch, fixed number of steps)."""

    width: int  # P hidden units
    activation: str | float = "relu"  # as in activation_torch (centred)
    loss: str = "square"  # square (regression / +-1 labels) | logistic (+-1 labels)
    train_first_layer: bool = True  # False: the random-features model
    optimizer: str = "adam"  # gd (plain full-batch gradient descent) | adam (full batch)
    lr: float = 1e-2
    steps: int = 2000
    ridge: float = 0.0  # lam_rep on the readout a

    def validate(self) -> None:
        require(self.width >= 1, "network width P must be >= 1")
        require_choice("loss", self.loss, LOSSES)
        require(
            self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; choose gd or adam"
        )
        require(self.lr > 0 and math.isfinite(self.lr), "learning rate must be positive")
        require(self.steps >= 1, "steps must be >= 1")
        require(self.ridge >= 0, "ridge must be >= 0")


def pointwise_loss(f: torch.Tensor, y: torch.Tensor, loss: str) -> torch.Tensor:
    """Square loss (f - y)^2 / 2 or logistic loss log(1 + exp(-y f))."""
    if loss == "square":
        return 0.5 * (f - y) ** 2
    return torch.nn.functional.softplus(-y * f)


class StackedTwoLayer(torch.nn.Module):
    """``n_nets`` independent two-layer networks f_k(x) = a_k . sigma(W_k x / sqrt D) / sqrt D."""

    def __init__(
        self,
        n_nets: int,
        d: int,
        width: int,
        activation: str | float,
        generator: torch.Generator,
        train_first_layer: bool = True,
        dtype=torch.float64,
        device="cpu",
        init_w: torch.Tensor | None = None,
    ):
        super().__init__()
        self.d = d
        self.sigma = activation_torch(activation)
        if init_w is None:
            w = torch.randn(n_nets, width, d, generator=generator, dtype=dtype).to(device)
        else:
            require(
                tuple(init_w.shape) == (n_nets, width, d),
                f"init_w must have shape {(n_nets, width, d)}, got {tuple(init_w.shape)}",
            )
            w = init_w.detach().to(dtype=dtype, device=device).clone()
        self.w = torch.nn.Parameter(w, requires_grad=train_first_layer)
        self.a = torch.nn.Parameter(torch.zeros(n_nets, width, dtype=dtype, device=device))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(n_nets, N, P) hidden features sigma(W x / sqrt D) / sqrt D for shared inputs x (N, D)."""
        return self.sigma(torch.matmul(x, self.w.transpose(1, 2)) / math.sqrt(self.d)) / math.sqrt(
            self.d
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n_nets, N) outputs."""
        return torch.einsum("knp,kp->kn", self.features(x), self.a)


@dataclass
class TrainedNetworks:
    """Networks after training, with their per-net training loss history."""

    model: StackedTwoLayer
    spec: NetworkSpec
    final_loss: np.ndarray  # (n_nets,) objective at the end
    history: list[tuple[int, float]] = field(
        default_factory=list
    )  # (step, mean objective over nets)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(x)


def _objective(model: StackedTwoLayer, x, y, spec: NetworkSpec) -> torch.Tensor:
    """Per-net objective (1/N)[sum loss + lam/2 ||a||^2], shape (n_nets,)."""
    per_net = pointwise_loss(model(x), y[None, :], spec.loss).sum(1)
    if spec.ridge:
        per_net = per_net + 0.5 * spec.ridge * (model.a**2).sum(1)
    return per_net / x.shape[0]


def train_networks(
    x: torch.Tensor,
    y: torch.Tensor,
    spec: NetworkSpec,
    n_nets: int,
    generator: torch.Generator,
    log_every: int = 0,
    init_w: torch.Tensor | None = None,
) -> TrainedNetworks:
    """Train ``n_nets`` independent networks on the same data (x: (N, D), y: (N,)) by full-batch descent.

    The first layers start at ``init_w`` (n_nets, P, D) when given (e.g. the features F of a
    random-features model), else are drawn N(0, 1) from ``generator``; readouts start at zero.
    The objectives of different nets are summed, so each net receives exactly its own gradient.
    Stops with :class:`~dltheory.core.errors.NonFiniteLossError` if the objective becomes NaN or infinite.
    """
    from dltheory.core.runs import check_finite

    spec.validate()
    require(
        x.dim() == 2 and y.dim() == 1 and x.shape[0] == y.shape[0],
        f"need x (N, D) and y (N,), got {tuple(x.shape)} and {tuple(y.shape)}",
    )
    require(n_nets >= 1, "n_nets must be >= 1")
    model = StackedTwoLayer(
        n_nets,
        x.shape[1],
        spec.width,
        spec.activation,
        generator,
        spec.train_first_layer,
        dtype=x.dtype,
        device=x.device,
        init_w=init_w,
    )
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (
        torch.optim.SGD(params, lr=spec.lr)
        if spec.optimizer == "gd"
        else torch.optim.Adam(params, lr=spec.lr)
    )
    history = []
    for step in range(spec.steps):
        opt.zero_grad(set_to_none=True)
        per_net = _objective(model, x, y, spec)
        total = per_net.sum()
        check_finite(total, step)
        total.backward()
        opt.step()
        if log_every and step % log_every == 0:
            history.append((step, float(per_net.mean())))
    with torch.no_grad():
        final = _objective(model, x, y, spec)
    history.append((spec.steps, float(final.mean())))
    return TrainedNetworks(model, spec, final.cpu().numpy(), history)


def ensemble_errors(outputs: torch.Tensor, y_test: torch.Tensor, ks, task: str) -> np.ndarray:
    """Test error of the ensembles made of the first K nets (outputs averaged), for each K in ``ks``.

    Regression: mean squared error; classification: 0-1 error of the sign of the averaged output.
    """
    errors = []
    for k in ks:
        mean = outputs[:k].mean(0)
        if task == "regression":
            errors.append(float(((mean - y_test) ** 2).mean()))
        else:
            errors.append(float((torch.sign(mean) != y_test).double().mean()))
    return np.array(errors)


@dataclass
class NetworkCurve:
    """Sample-wise curve of trained networks: arrays indexed [n, k] (mean and standard error over seeds)."""

    n_train: np.ndarray
    ks: tuple
    test_mean: np.ndarray
    test_sem: np.ndarray
    train_mean: (
        np.ndarray
    )  # training error of single nets (MSE or 0-1 error on the training labels), [n]
    train_sem: np.ndarray
    n_seeds: int
    info: dict = field(default_factory=dict)

    def as_rows(self) -> list[dict]:
        rows = []
        for i, n in enumerate(self.n_train):
            for j, k in enumerate(self.ks):
                rows.append(
                    dict(
                        n=int(n),
                        k=int(k),
                        test_error=float(self.test_mean[i, j]),
                        test_sem=float(self.test_sem[i, j]),
                        train_error=float(self.train_mean[i]),
                        train_sem=float(self.train_sem[i]),
                        n_seeds=self.n_seeds,
                    )
                )
        return rows


def _curve(
    draw,
    spec: NetworkSpec,
    n_grid,
    ks,
    n_seeds: int,
    seed: int,
    task: str,
    description: str,
    info: dict,
) -> NetworkCurve:
    from dltheory.core.progress import ProgressLog

    n_grid = [int(n) for n in n_grid]
    ks = tuple(sorted({int(k) for k in np.atleast_1d(ks)}))
    require(min(n_grid) >= 1 and min(ks) >= 1 and n_seeds >= 1, "N, K and n_seeds must be >= 1")
    tests = np.zeros((n_seeds, len(n_grid), len(ks)))
    trains = np.zeros((n_seeds, len(n_grid)))
    with ProgressLog(len(n_grid) * n_seeds, description) as log:
        for s in range(n_seeds):
            for i, n in enumerate(n_grid):
                gen = torch.Generator().manual_seed(seed * 100_003 + 1_009 * s + i)
                x, y, x_test, y_test = draw(n, s, gen)
                nets = train_networks(x, y, spec, max(ks), gen)
                tests[s, i] = ensemble_errors(nets.predict(x_test), y_test, ks, task)
                train_out = nets.predict(x)
                trains[s, i] = np.mean(
                    [ensemble_errors(train_out[m : m + 1], y, [1], task)[0] for m in range(max(ks))]
                )
                log.update(1, N=n)
    test_mean, test_sem = mean_sem(tests)
    train_mean, train_sem = mean_sem(trains)
    return NetworkCurve(
        np.array(n_grid),
        ks,
        test_mean,
        test_sem,
        train_mean,
        train_sem,
        n_seeds,
        info=dict(
            info,
            width=spec.width,
            steps=spec.steps,
            optimizer=spec.optimizer,
            lr=spec.lr,
            ridge=spec.ridge,
            train_first_layer=spec.train_first_layer,
            task=task,
        ),
    )


def simulate_network_teacher(
    d: int,
    n_grid,
    spec: NetworkSpec,
    *,
    noise: float = 0.0,
    ks=(1,),
    n_seeds: int = 3,
    n_test: int = 2000,
    inputs: str = "gaussian",
    seed: int = 0,
    dtype=torch.float64,
    device: str | torch.device = "cpu",
) -> NetworkCurve:
    """Networks on the linear teacher of the theory, y = beta.x / sqrt D + tau eps (tau^2 = ``noise``).

    Test error is measured against the clean teacher, as in :func:`simulate_rf_ridge`. For each seed a
    new teacher and data set; the ensemble of K averages the first K of ``max(ks)`` networks.
    """
    require(d >= 1 and noise >= 0, "D must be >= 1 and noise >= 0")

    def draw(n, s, gen):
        beta = unit_teacher(d, gen, dtype, device)
        x = draw_inputs(n, d, gen, inputs, dtype=dtype, device=device)
        x_test = draw_inputs(n_test, d, gen, inputs, dtype=dtype, device=device)
        eps = torch.randn(n, generator=gen, dtype=dtype).to(device)
        return (
            x,
            x @ beta / math.sqrt(d) + math.sqrt(noise) * eps,
            x_test,
            x_test @ beta / math.sqrt(d),
        )

    return _curve(
        draw,
        spec,
        n_grid,
        ks,
        n_seeds,
        seed,
        "regression",
        f"networks P = {spec.width}, D = {d}",
        dict(d=d, noise=noise, inputs=inputs),
    )


def simulate_network_real_data(
    x: torch.Tensor,
    y: torch.Tensor,
    n_grid,
    spec: NetworkSpec,
    *,
    ks=(1,),
    n_seeds: int = 3,
    n_test: int = 500,
    seed: int = 0,
) -> NetworkCurve:
    """Networks on real data with +-1 labels (e.g. :func:`parity_pca_data`): 0-1 test error versus N.

    Each seed shuffles the data and keeps the last ``n_test`` points for testing, as
    :func:`simulate_real_data` does for random features.
    """
    require(
        max(int(n) for n in n_grid) + n_test <= x.shape[0],
        f"need max N + n_test <= {x.shape[0]} samples, got {max(n_grid)} + {n_test}",
    )

    def draw(n, s, gen):
        order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed * 7919 + s))
        xs, ys = x[order], y[order]
        return xs[:n], ys[:n], xs[-n_test:], ys[-n_test:]

    return _curve(
        draw,
        spec,
        n_grid,
        ks,
        n_seeds,
        seed,
        "classification",
        f"networks P = {spec.width} (real data)",
        dict(d=x.shape[1], n_test=n_test),
    )

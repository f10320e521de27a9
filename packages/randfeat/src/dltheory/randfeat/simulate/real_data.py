"""Real data with parity labels after PCA (2103.05524, 2006.03509): digits offline, MNIST, CIFAR-10."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.simulate.experiments import mean_sem
from dltheory.randfeat.simulate.features import activation_torch, draw_features, random_features
from dltheory.randfeat.simulate.ridge_path import RidgePath

DATASETS = ("digits", "mnist", "cifar10")


def _load_images(
    name: str, root: str | Path | None, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    from dltheory.core import data

    if name == "digits":
        return data.load_digits()
    if name == "mnist":
        require(
            root is not None,
            "MNIST needs --root: a folder with t10k-images-idx3-ubyte(.gz) and labels",
        )
        assert root is not None
        return data.load_mnist_idx(root)
    require(root is not None, "CIFAR-10 needs --root (add --download to fetch it there)")
    assert root is not None
    ds = data.load_torchvision_dataset("cifar10", root, train=False, download=download)
    images = torch.tensor(np.asarray(ds.data), dtype=torch.float32).permute(0, 3, 1, 2) / 255.0
    return images, torch.tensor(ds.targets, dtype=torch.int64)


def parity_pca_data(
    name: str = "digits", d: int = 32, whiten_pow: float = 1.0, root=None, download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs projected on the top-d principal components, scaled by eigenvalue^(-whiten_pow/2)
    (1: isotropic, 0: raw spectrum, >1: salient directions shrunk), normalised to E||x||^2 = d;
    labels +1 for even digits / classes, -1 for odd (float64)."""
    require_choice("dataset", name, DATASETS)
    images, labels = _load_images(name, root, download)
    x = images.reshape(images.shape[0], -1).double()
    require(0 < d <= x.shape[1], f"PCA dimension d must lie in [1, {x.shape[1]}]")
    x = x - x.mean(0)
    _, svals, vh = torch.linalg.svd(x, full_matrices=False)
    variances = svals[:d] ** 2 / x.shape[0]
    proj = (x @ vh[:d].T) * variances.clamp_min(1e-12) ** (-whiten_pow / 2)
    proj = proj * math.sqrt(d / (proj**2).sum(1).mean())
    y = torch.where(labels % 2 == 0, 1.0, -1.0).double()
    return proj, y


def simulate_real_data(
    x: torch.Tensor,
    y: torch.Tensor,
    p: int,
    n_train_grid,
    ridge: float,
    *,
    activation: str | float = "tanh",
    loss: str = "square",
    n_seeds: int = 3,
    n_test: int = 500,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Random-features classification on (x, y) versus the number of training samples.

    Each seed shuffles the data, keeps the last ``n_test`` points for testing, draws F and fits on
    the first N points for every N in ``n_train_grid``: ``loss="square"`` a ridge (replica
    convention, one factorisation per N), ``"logistic"`` scikit-learn's ``LogisticRegression(C =
    1/ridge)`` without intercept (sum of losses + ridge/2 ||a||^2, as in the theory).
    """
    require(loss in ("square", "logistic"), f"unknown loss {loss!r}; use 'square' or 'logistic'")
    require(ridge > 0, "the ridge must be positive")
    n_train_grid = [int(n) for n in n_train_grid]
    require(
        max(n_train_grid) + n_test <= x.shape[0],
        f"need max N + n_test <= {x.shape[0]} samples, got {max(n_train_grid)} + {n_test}",
    )
    sigma = activation_torch(activation)
    errors = np.zeros((n_seeds, len(n_train_grid)))
    lam = torch.tensor([ridge], dtype=torch.float64)
    for s in range(n_seeds):
        gen = torch.Generator().manual_seed(seed * 7919 + s)
        order = torch.randperm(x.shape[0], generator=gen)
        xs, ys = x[order], y[order]
        f = draw_features(p, x.shape[1], gen)
        z_all = random_features(xs, f, sigma)
        z_test, y_test = z_all[-n_test:], ys[-n_test:]
        for i, n in enumerate(n_train_grid):
            if loss == "square":
                pred = RidgePath(z_all[:n], ys[:n]).predict(z_test, lam)[:, 0]
            else:
                pred = torch.as_tensor(_logistic_fit(z_all[:n], ys[:n], ridge) @ z_test.numpy().T)
            errors[s, i] = float((torch.sign(pred) != y_test).double().mean())
    test_mean, test_sem = mean_sem(errors)
    return dict(n_train=np.array(n_train_grid), test_mean=test_mean, test_sem=test_sem)


def _logistic_fit(z: torch.Tensor, y: torch.Tensor, ridge: float) -> np.ndarray:
    """Readout of logistic regression with penalty ridge/2 ||a||^2 (sklearn C = 1/ridge)."""
    from sklearn.linear_model import LogisticRegression

    labels = y.numpy()
    if len(np.unique(labels)) < 2:  # one class seen: the minimiser is a = 0 direction-free
        return np.zeros(z.shape[1])
    clf = LogisticRegression(C=1.0 / ridge, fit_intercept=False, tol=1e-6, max_iter=2000)
    clf.fit(z.numpy(), labels)
    return clf.coef_[0]

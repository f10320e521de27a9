"""Seeded finite-size experiments that mirror the theory's conventions (means with standard errors)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from dltheory.core.claims import jackknife_se
from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.simulate.features import (
    activation_torch,
    block_scale,
    draw_features,
    draw_inputs,
    random_features,
    replica_lams,
    unit_teacher,
)
from dltheory.randfeat.simulate.ridge_path import RidgePath
from dltheory.randfeat.theory.block import CASES, BlockStructure


@dataclass
class SimulationResult:
    """Arrays indexed [ridge, k]: mean over seeds and standard error of the mean."""

    ridges: np.ndarray
    ks: tuple
    test_mean: np.ndarray
    test_sem: np.ndarray
    train_mean: np.ndarray
    train_sem: np.ndarray
    n_seeds: int
    info: dict = field(default_factory=dict)


def mean_sem(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over the first axis (seeds) and the standard error of that mean (NaN for one seed)."""
    mean = samples.mean(axis=0)
    sem = (
        samples.std(axis=0, ddof=1) / math.sqrt(samples.shape[0])
        if samples.shape[0] > 1
        else np.full_like(mean, np.nan)
    )
    return mean, sem


def held_out_block_keeps(n_test: int, n_blocks: int = 10) -> list[np.ndarray]:
    """For a delete-one jackknife over the test set: the indices kept when each of
    min(n_blocks, n_test) contiguous blocks is left out in turn."""
    everything = np.arange(n_test)
    blocks = np.array_split(everything, min(n_blocks, n_test))
    return [np.setdiff1d(everything, block) for block in blocks]


def two_way_jackknife(full: dict, by_seed: list[dict], by_block: list[dict], names) -> dict:
    """``{name: full[name], name_sem: SE}`` for each name, the SE combining in quadrature the
    delete-one jackknifes over seeds (data sets) and over blocks of the test set."""
    entry = {}
    for name in names:
        entry[name] = full[name]
        entry[f"{name}_sem"] = np.hypot(
            jackknife_se([e[name] for e in by_seed]), jackknife_se([e[name] for e in by_block])
        )
    return entry


def simulate_rf_ridge(
    d: int,
    p: int,
    n: int,
    ridges,
    *,
    ridge_convention: str = "mm",
    activation: str | float = "relu",
    noise: float = 0.0,
    ks=(1,),
    n_seeds: int = 5,
    n_test: int = 2000,
    inputs: str = "gaussian",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> SimulationResult:
    """Random-features ridge regression on a linear teacher y = beta.x/sqrt D + tau eps (tau^2 = noise).

    For each seed: one data set, max(ks) feature matrices; the ensemble of K averages the first K
    estimators' predictions. Test error is measured against the clean teacher (no test noise), train
    error on the noisy labels of the first estimator. All ridges come from one eigendecomposition.
    """
    require(d > 0 and p > 0 and n > 0, "D, P and N must be positive integers")
    require(n_seeds >= 1, "n_seeds must be >= 1")
    ks = tuple(int(k) for k in np.atleast_1d(ks))
    require(min(ks) >= 1, "ensemble sizes must be >= 1")
    ridges, lams = replica_lams(ridges, d, p, n, ridge_convention, device)
    dtype = torch.float64
    sigma = activation_torch(activation)
    tests = np.zeros((n_seeds, len(ridges), len(ks)))
    trains = np.zeros((n_seeds, len(ridges)))
    for s in range(n_seeds):
        gen = torch.Generator().manual_seed(seed * 100_003 + s)
        beta = unit_teacher(d, gen, dtype, device)
        x = draw_inputs(n, d, gen, inputs, dtype=dtype, device=device)
        x_test = draw_inputs(n_test, d, gen, inputs, dtype=dtype, device=device)
        eps = torch.randn(n, generator=gen, dtype=dtype).to(device)
        y = x @ beta / math.sqrt(d) + math.sqrt(noise) * eps
        y_test = x_test @ beta / math.sqrt(d)
        running = None
        for j in range(1, max(ks) + 1):
            f = draw_features(p, d, gen, dtype, device)
            path = RidgePath(random_features(x, f, sigma), y)
            pred = path.predict(random_features(x_test, f, sigma), lams)
            if j == 1:
                trains[s] = ((path.predict_train(lams) - y[:, None]) ** 2).mean(0).cpu().numpy()
            running = pred if running is None else running + pred
            if j in ks:
                err = ((running / j - y_test[:, None]) ** 2).mean(0).cpu().numpy()
                tests[s, :, ks.index(j)] = err
    test_mean, test_sem = mean_sem(tests)
    train_mean, train_sem = mean_sem(trains)
    return SimulationResult(
        ridges,
        ks,
        test_mean,
        test_sem,
        train_mean[:, None],
        train_sem[:, None],
        n_seeds,
        info=dict(d=d, p=p, n=n, activation=str(activation), noise=noise),
    )


def simulate_block_classification(
    d: int,
    p: int,
    n: int,
    ridges,
    *,
    structure: BlockStructure | str = "isotropic",
    activation: str | float = "tanh",
    loss: str = "square",
    flip: float = 0.0,
    n_seeds: int = 5,
    n_test: int = 2000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> SimulationResult:
    """Classification of y = sign(beta.x) (labels flipped with probability ``flip``) on two-block inputs.

    Ridges use the replica convention (a = argmin sum loss + lam/2 ||a||^2). Square loss: ridge path on
    +-1 labels; logistic: scikit-learn ``LogisticRegression(C=1/lam)`` without intercept. The test
    error is the 0-1 error on clean labels.
    """
    require(loss in ("square", "logistic"), f"unknown loss {loss!r}; use 'square' or 'logistic'")
    require(0 <= flip < 0.5, "flip probability must lie in [0, 0.5)")
    if isinstance(structure, str):
        require_choice("structure", structure, CASES)
        structure = CASES[structure]
    ridges = np.atleast_1d(np.asarray(ridges, float))
    require(bool(np.all(ridges > 0)), "ridges must be positive")
    dtype = torch.float64
    sigma = activation_torch(activation)
    errors = np.zeros((n_seeds, len(ridges)))
    trains = np.zeros((n_seeds, len(ridges)))
    teacher_std = block_scale(d, structure.teacher_variances, structure, dtype, device)
    for s in range(n_seeds):
        gen = torch.Generator().manual_seed(seed * 100_003 + s)
        beta = torch.randn(d, generator=gen, dtype=dtype).to(device) * teacher_std
        x = draw_inputs(n, d, gen, structure=structure, dtype=dtype, device=device)
        x_test = draw_inputs(n_test, d, gen, structure=structure, dtype=dtype, device=device)
        y = torch.sign(x @ beta)
        flips = torch.rand(n, generator=gen, dtype=dtype).to(device) < flip
        y = torch.where(flips, -y, y)
        y_test = torch.sign(x_test @ beta)
        f = draw_features(p, d, gen, dtype, device)
        z, z_test = random_features(x, f, sigma), random_features(x_test, f, sigma)
        if loss == "square":
            path = RidgePath(z, y)
            pred = path.predict(z_test, torch.as_tensor(ridges, dtype=dtype, device=device))
            errors[s] = (torch.sign(pred) != y_test[:, None]).double().mean(0).cpu().numpy()
            trains[s] = (
                (
                    (
                        path.predict_train(torch.as_tensor(ridges, dtype=dtype, device=device))
                        - y[:, None]
                    )
                    ** 2
                )
                .mean(0)
                .cpu()
                .numpy()
            )
        else:
            from sklearn.linear_model import LogisticRegression

            zn, zt, yn = z.cpu().numpy(), z_test.cpu().numpy(), y.cpu().numpy()
            for i, lam in enumerate(ridges):
                clf = LogisticRegression(C=1.0 / lam, fit_intercept=False, tol=1e-8, max_iter=5000)
                clf.fit(zn, yn)
                errors[s, i] = float(np.mean(np.sign(zt @ clf.coef_[0]) != y_test.cpu().numpy()))
                trains[s, i] = float(np.mean(np.sign(zn @ clf.coef_[0]) != yn))
    test_mean, test_sem = mean_sem(errors)
    train_mean, train_sem = mean_sem(trains)
    return SimulationResult(
        ridges,
        (1,),
        test_mean[:, None],
        test_sem[:, None],
        train_mean[:, None],
        train_sem[:, None],
        n_seeds,
        info=dict(d=d, p=p, n=n, loss=loss, flip=flip),
    )

"""The double-descent decomposition of 2003.01054 measured by simulation: bias, initialisation variance,
noise variance and sampling variance of an ensemble of K random-features ridge estimators.

The ridge estimator is linear in the labels y = y* + tau eps, so each fit gives two predictors on the
test inputs from one factorisation: yhat = c + tau e, with c fitted on the clean teacher y* and e on the
noise eps. With the teacher and the test inputs fixed, data sets X_s (seeds) and feature matrices F_sj
drawn independently, the terms of the theory are measured as test-set averages <u, v> = mean_x u(x) v(x):

* Psi1 = <y*, c>,  Psi2 = <c, c>,  Psi3 = <e, e>                       (one estimator)
* Psi4 = <c_sj, c_sj'>,  Psi5 = <e_sj, e_sj'>  (j != j')               (two estimators sharing the data)
* Psi6 = <c_sj, c_s'j'>  (s != s')                                      (independent data and features)

and combined as in the theory (:func:`dltheory.randfeat.theory.ensemble_error`, F1 = 1, F* = 0):
bias = <y*, y*> - 2 Psi1 + Psi6, var_init = (Psi2 - Psi4)/K, var_sampling = Psi4 - Psi6,
var_noise = tau^2 [(Psi3 - Psi5)/K + Psi5]; test_error is their sum. Standard errors combine two
delete-one jackknifes: over the seeds (data sets) and over 10 blocks of the fixed test set (whose own
fluctuation is otherwise not seen: it is ~ bias * sqrt(2 / n_test)).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dltheory.randfeat.errors import require
from dltheory.randfeat.simulate.experiments import held_out_block_keeps, mean_sem, two_way_jackknife
from dltheory.randfeat.simulate.features import (
    activation_torch,
    draw_features,
    draw_inputs,
    random_features,
    replica_lams,
    unit_teacher,
)
from dltheory.randfeat.simulate.ridge_path import RidgePath

COMPONENTS = ("test_error", "bias", "var_init", "var_noise", "var_sampling")


def _psi_estimates(
    clean: np.ndarray, noise: np.ndarray, target: np.ndarray
) -> dict[str, np.ndarray]:
    """Psi1..Psi6 from predictions clean/noise of shape (seeds, features, n_test, ridges)."""
    n_seeds, n_feat, n_test = clean.shape[:3]

    def pair_mean(a):  # mean over j != j' of <a_sj, a_sj'>, averaged over seeds
        total = np.einsum("sjtl,sktl->sl", a, a) / n_test
        diag = np.einsum("sjtl,sjtl->sl", a, a) / n_test
        return ((total - diag) / (n_feat * (n_feat - 1))).mean(0)

    per_seed = clean.mean(1)  # (seeds, n_test, ridges)
    all_pairs = np.einsum("stl,rtl->l", per_seed, per_seed) / n_test
    same_seed = np.einsum("stl,stl->l", per_seed, per_seed) / n_test
    return {
        "psi1": np.einsum("t,sjtl->l", target, clean) / (n_test * n_seeds * n_feat),
        "psi2": np.einsum("sjtl,sjtl->l", clean, clean) / (n_test * n_seeds * n_feat),
        "psi3": np.einsum("sjtl,sjtl->l", noise, noise) / (n_test * n_seeds * n_feat),
        "psi4": pair_mean(clean),
        "psi5": pair_mean(noise),
        "psi6": (all_pairs - same_seed) / (n_seeds * (n_seeds - 1)),
        "target": np.full(clean.shape[-1], float(target @ target) / n_test),
    }


def _components(psi: dict[str, np.ndarray], k: float, tau2: float) -> dict[str, np.ndarray]:
    """The split of 2003.01054 (``plotBiasVarRatioEvol``) from the Psi terms, for K estimators."""
    inv_k = 1.0 / k
    out = {
        "bias": psi["target"] - 2 * psi["psi1"] + psi["psi6"],
        "var_init": (psi["psi2"] - psi["psi4"]) * inv_k,
        "var_noise": tau2 * ((psi["psi3"] - psi["psi5"]) * inv_k + psi["psi5"]),
        "var_sampling": psi["psi4"] - psi["psi6"],
    }
    out["test_error"] = out["bias"] + out["var_init"] + out["var_noise"] + out["var_sampling"]
    return out


def simulate_ensemble_decomposition(
    d: int,
    p: int,
    n: int,
    ridges,
    *,
    ks=(1,),
    ridge_convention: str = "mm",
    activation: str | float = "relu",
    noise: float = 0.0,
    n_seeds: int = 8,
    n_features: int = 3,
    n_test: int = 2000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Bias / variance split of K-estimator ensembles from simulated Psi terms, on the linear teacher with
    noise tau^2. The Psi terms are measured; the K-dependence is the theory's 1/K combination (exact for
    K = 1). For ensembles actually built and measured at each K use :func:`simulate_ensemble`.

    Returns ``{"ridges", "ks", "psi": {...}, "train_error", "train_error_sem", K: {component: mean,
    component_sem: jackknife SE}}`` with arrays over ``ridges``; every component for every K comes from
    the same fits. ``train_error`` is that of single estimators on their noisy training labels.
    """
    require(n_seeds >= 3, "the decomposition needs n_seeds >= 3 (independent data sets, jackknife)")
    require(
        n_features >= 2, "the decomposition needs n_features >= 2 (estimators sharing the data)"
    )
    require(d > 0 and p > 0 and n > 0 and noise >= 0, "D, P, N must be positive and noise >= 0")
    ks = [float(k) for k in np.atleast_1d(ks)]
    require(min(ks) >= 1, "ensemble sizes must be >= 1")
    ridges, lams = replica_lams(ridges, d, p, n, ridge_convention, device)
    dtype = torch.float64
    sigma = activation_torch(activation)
    gen = torch.Generator().manual_seed(seed * 100_003 + 17)
    beta = unit_teacher(d, gen, dtype, device)  # fixed for every seed
    x_test = draw_inputs(n_test, d, gen, dtype=dtype, device=device)
    target = (x_test @ beta / math.sqrt(d)).cpu().numpy()
    clean = np.zeros((n_seeds, n_features, n_test, len(ridges)))
    noisy = np.zeros_like(clean)
    train = np.zeros((n_seeds, n_features, len(ridges)))
    for s in range(n_seeds):
        gen = torch.Generator().manual_seed(seed * 100_003 + 1 + s)
        x = draw_inputs(n, d, gen, dtype=dtype, device=device)
        labels = torch.stack(
            [x @ beta / math.sqrt(d), torch.randn(n, generator=gen, dtype=dtype).to(device)], 1
        )
        y = labels[:, 0] + math.sqrt(noise) * labels[:, 1]
        for j in range(n_features):
            f = draw_features(p, d, gen, dtype, device)
            path = RidgePath(random_features(x, f, sigma), labels)
            pred = path.predict(random_features(x_test, f, sigma), lams).reshape(
                n_test, len(ridges), 2
            )
            clean[s, j], noisy[s, j] = pred[..., 0].cpu().numpy(), pred[..., 1].cpu().numpy()
            fit = path.predict_train(lams).reshape(n, len(ridges), 2)
            fit = fit[..., 0] + math.sqrt(noise) * fit[..., 1]
            train[s, j] = ((fit - y[:, None]) ** 2).mean(0).cpu().numpy()
    psi = _psi_estimates(clean, noisy, target)
    drop_seed = [
        _psi_estimates(np.delete(clean, s, 0), np.delete(noisy, s, 0), target)
        for s in range(n_seeds)
    ]
    drop_block = [
        _psi_estimates(clean[:, :, keep], noisy[:, :, keep], target[keep])
        for keep in held_out_block_keeps(n_test)
    ]
    train_mean, train_sem = mean_sem(train.mean(1))
    result = {
        "ridges": ridges,
        "ks": ks,
        "psi": psi,
        "train_error": train_mean,
        "train_error_sem": train_sem,
    }
    for k in ks:
        full = _components(psi, k, noise)
        by_seed = [_components(t, k, noise) for t in drop_seed]
        by_block = [_components(t, k, noise) for t in drop_block]
        result[k] = two_way_jackknife(full, by_seed, by_block, COMPONENTS)
    return result

"""Real ensembles of random-features estimators (2003.01054): K independently drawn feature maps
trained on the same data, their outputs averaged.

Nothing about the K-dependence is assumed: each K-member ensemble is built and evaluated. Per data
set (seed) two independent K-member ensembles A and B are trained (2 K feature draws), on a fixed
teacher and a fixed test set. The ridge estimator is linear in the labels y = y* + tau eps, so each
fit gives the clean-teacher predictor c and the noise predictor e from one factorisation; the
ensemble's predictor is yhat_K = c_K + tau e_K with c_K, e_K the member averages. Measured directly
from the ensembles' outputs (test-set averages <u, v> = mean_x u(x) v(x)):

* test_error   = < yhat_K - y*, yhat_K - y* >                 (the realised error, no split used)
* bias         = <y*, y*> - 2 <y*, c_K> + <c_K^(s), c_K^(s')>     (s != s': independent data sets)
* var_init     = <c_K, c_K> - <c_K^A, c_K^B>                  (A, B: two ensembles on the same data)
* var_sampling = <c_K^A, c_K^B> - <c_K^(s), c_K^(s')>
* var_noise    = tau^2 <e_K, e_K>

These are the definitions behind the theory's split (:func:`dltheory.randfeat.theory.ensemble_error`,
F1 = 1, F* = 0): in the theory var_init = (Psi2 - Psi4)/K and var_noise = tau^2 [(Psi3 - Psi5)/K +
Psi5]; here no 1/K is used. Standard errors: delete-one jackknife over seeds combined with one over
10 blocks of the fixed test set.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from dltheory.randfeat.errors import require
from dltheory.randfeat.simulate.experiments import held_out_block_keeps, two_way_jackknife
from dltheory.randfeat.simulate.features import (
    activation_torch,
    draw_features,
    draw_inputs,
    random_features,
    replica_lams,
    unit_teacher,
)
from dltheory.randfeat.simulate.ridge_path import RidgePath

SPLIT = ("test_error", "bias", "var_init", "var_noise", "var_sampling")


def _estimates(clean, noise, target, tau2) -> dict[str, np.ndarray]:
    """Split of the ensembles' error from clean/noise predictions of shape (seeds, 2, n_test, ridges)."""
    n_seeds, _, n_test = clean.shape[:3]
    yy = float(target @ target) / n_test
    cy = np.einsum("t,satl->l", target, clean) / (n_test * n_seeds * 2)
    cc = np.einsum("satl,satl->l", clean, clean) / (n_test * n_seeds * 2)
    ee = np.einsum("satl,satl->l", noise, noise) / (n_test * n_seeds * 2)
    ab = np.einsum("stl,stl->l", clean[:, 0], clean[:, 1]) / (n_test * n_seeds)
    per_seed = clean.mean(1)
    total = np.einsum("stl,rtl->l", per_seed, per_seed) / n_test
    same = np.einsum("stl,stl->l", per_seed, per_seed) / n_test
    cross = (total - same) / (n_seeds * (n_seeds - 1))
    resid = clean + math.sqrt(tau2) * noise - target[None, None, :, None]
    return {
        "test_error": np.einsum("satl,satl->l", resid, resid) / (n_test * n_seeds * 2),
        "bias": yy - 2 * cy + cross,
        "var_init": cc - ab,
        "var_noise": tau2 * ee,
        "var_sampling": ab - cross,
    }


def simulate_ensemble(
    d: int,
    p: int,
    n: int,
    ridges,
    *,
    ks=(1, 2, 10),
    ridge_convention: str = "mm",
    activation="relu",
    noise: float = 0.0,
    inputs: str = "gaussian",
    n_seeds: int = 8,
    n_test: int = 2000,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """Test error and bias / variance split of real K-member ensembles, by simulation.

    Linear teacher y = beta.x/sqrt D + tau eps (tau^2 = ``noise``, ||beta||^2 = D), P features per
    member, N shared training samples; the test error is against the clean teacher (add ``noise`` for
    noisy test labels). Returns ``{"ridges", "ks", "members": 2 max(K) fits per seed, K: {name: mean,
    name_sem: SE}}`` for the names in :data:`SPLIT`, arrays over ``ridges``.
    """
    require(n_seeds >= 3, "real-ensemble simulation needs n_seeds >= 3 (independent data sets)")
    require(d > 0 and p > 0 and n > 0, "D, P and N must be positive integers")
    require(noise >= 0, f"noise (label-noise variance) must be non-negative, got {noise}")
    ks = sorted({int(k) for k in np.atleast_1d(ks)})
    require(ks[0] >= 1, "ensemble sizes must be >= 1")
    ridges, lams = replica_lams(ridges, d, p, n, ridge_convention, device)
    dtype = torch.float64
    sigma = activation_torch(activation)
    k_max, n_l = ks[-1], len(ridges)
    gen = torch.Generator().manual_seed(seed * 100_003 + 29)
    beta = unit_teacher(d, gen, dtype, device)  # one teacher and test set for every seed
    x_test = draw_inputs(n_test, d, gen, inputs, dtype=dtype, device=device)
    target = (x_test @ beta / math.sqrt(d)).cpu().numpy()
    clean = {k: np.zeros((n_seeds, 2, n_test, n_l)) for k in ks}
    noisy = {k: np.zeros((n_seeds, 2, n_test, n_l)) for k in ks}
    for s in range(n_seeds):
        gen = torch.Generator().manual_seed(seed * 100_003 + 1 + s)
        x = draw_inputs(n, d, gen, inputs, dtype=dtype, device=device)
        labels = torch.stack(
            [x @ beta / math.sqrt(d), torch.randn(n, generator=gen, dtype=dtype).to(device)], 1
        )
        for a in range(2):  # two independent ensembles on this data set
            run_c = np.zeros((n_test, n_l))
            run_e = np.zeros((n_test, n_l))
            for j in range(1, k_max + 1):
                f = draw_features(p, d, gen, dtype, device)
                path = RidgePath(random_features(x, f, sigma), labels)
                out = path.predict(random_features(x_test, f, sigma), lams)
                pred = out.reshape(n_test, n_l, 2).cpu().numpy()
                run_c += pred[..., 0]
                run_e += pred[..., 1]
                if j in clean:
                    clean[j][s, a], noisy[j][s, a] = run_c / j, run_e / j
    keeps = held_out_block_keeps(n_test)
    result: dict = {"ridges": ridges, "ks": ks, "members": 2 * k_max, "n_seeds": n_seeds}
    for k in ks:
        c, e = clean[k], noisy[k]
        full = _estimates(c, e, target, noise)
        by_seed = [
            _estimates(np.delete(c, s, 0), np.delete(e, s, 0), target, noise)
            for s in range(n_seeds)
        ]
        by_block = [_estimates(c[:, :, keep], e[:, :, keep], target[keep], noise) for keep in keeps]
        result[k] = two_way_jackknife(full, by_seed, by_block, SPLIT)
    return result

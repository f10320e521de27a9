"""Benchmark (b): a ridge path of 30 lambdas at D = N = P (default 2000) by simulation.

Ours: one factorisation of the Gram matrix (RidgePath), then O(k) or O(k^2) work per lambda: the
tridiagonal reduction (default on CPU) and the full eigendecomposition, both timed.
Anchor: scikit-learn ``Ridge(alpha=lam, fit_intercept=False)`` fitted once per lambda. Both in float64
on the same features; accuracy is the largest relative difference of the 30 test errors.
Run: .venv/bin/python packages/randfeat/benchmarks/bench_randfeat_ridge_path.py [--size 2000] [--out FILE] [--threads N]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from randfeat_bench_env import add_environment, default_out

from dltheory.core.bench import time_callable, write_bench
from dltheory.randfeat.simulate import RidgePath, activation_torch, draw_features, draw_inputs
from dltheory.randfeat.simulate.features import random_features


def main(size: int, out: Path, repeats: int = 1) -> str:
    from sklearn.linear_model import Ridge

    d = n = p = size
    gen = torch.Generator().manual_seed(0)
    beta = torch.randn(d, generator=gen, dtype=torch.float64)
    x, x_test = draw_inputs(n, d, gen), draw_inputs(1000, d, gen)
    y, y_test = x @ beta / math.sqrt(d), x_test @ beta / math.sqrt(d)
    f = draw_features(p, d, gen)
    sigma = activation_torch("relu")
    z, z_test = random_features(x, f, sigma), random_features(x_test, f, sigma)
    lams = np.logspace(-4, 1, 30)

    def ours(method):
        path = RidgePath(z, y, method=method)
        pred = path.predict(z_test, torch.as_tensor(lams))
        return ((pred - y_test[:, None]) ** 2).mean(0).numpy()

    zn, yn, ztn, ytn = z.numpy(), y.numpy(), z_test.numpy(), y_test.numpy()

    def sklearn_path():
        errs = []
        for lam in lams:
            coef = Ridge(alpha=lam, fit_intercept=False).fit(zn, yn).coef_
            errs.append(np.mean((ztn @ coef - ytn) ** 2))
        return np.array(errs)

    e_sk = sklearn_path()
    t_sk = time_callable(sklearn_path, repeats=repeats, warmup=0)["median_s"]
    rows = [
        {
            "method": "scikit-learn Ridge per lambda (anchor)",
            "size": size,
            "lambdas": 30,
            "seconds": t_sk,
            "speedup": 1.0,
        }
    ]
    for method, label in (
        ("tridiagonal", "RidgePath, tridiagonal reduction (CPU default)"),
        ("eigh", "RidgePath, eigendecomposition"),
    ):
        diff = float(np.max(np.abs(ours(method) - e_sk) / e_sk))
        t_ours = time_callable(lambda m=method: ours(m), repeats=3 * repeats, warmup=1)["median_s"]
        rows.append(
            {
                "method": label,
                "size": size,
                "lambdas": 30,
                "seconds": t_ours,
                "speedup": t_sk / t_ours,
                "max_rel_diff_test_error": diff,
            }
        )
    return write_bench(rows, out, title=f"ridge path, D = N = P = {size}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out("ridge_path"),
        help="JSON file to write (default: benchmarks/results/local-ridge_path.json, untracked)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: policy)")
    parser.add_argument(
        "--repeats", type=int, default=1, help="timed runs of the anchor (ours: 3x as many)"
    )
    args = parser.parse_args()
    from dltheory.core.threads import configure_threads

    threads = configure_threads(args.threads)
    print(main(args.size, args.out, args.repeats))
    add_environment(args.out, threads)
    print(f"wrote {args.out} ({threads} thread(s))")

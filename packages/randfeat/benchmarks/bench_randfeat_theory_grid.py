"""Benchmark (a): a 40 x 40 (psi1, psi2) grid of the replica theory, vectorised vs a per-point loop.

Run: .venv/bin/python packages/randfeat/benchmarks/bench_randfeat_theory_grid.py [--out FILE] [--threads N]
Prints a markdown table of seconds and the speed-up over the anchor (the same solver called point by
point) and writes the JSON to --out
(default benchmarks/results/local-theory_grid.json, untracked, with machine, threads and commit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from randfeat_bench_env import add_environment, default_out

from dltheory.core.bench import time_callable, write_bench
from dltheory.randfeat.theory import rf_ridge


def main(out: Path) -> str:
    axis = np.logspace(-1, 1, 40)
    psi1, psi2 = np.meshgrid(axis, axis)
    kw = dict(activation="tanh", ridge_convention="mm", noise=0.5)

    def vectorised():
        return rf_ridge(psi1, psi2, 1e-3, **kw).test_error

    def loop():
        return np.array(
            [
                float(rf_ridge(a, b, 1e-3, **kw).test_error)
                for a, b in zip(psi1.ravel(), psi2.ravel())
            ]
        )

    diff = float(np.max(np.abs(vectorised().ravel() - loop()) / loop()))
    t_vec = time_callable(vectorised, repeats=3, warmup=1)["median_s"]
    t_loop = time_callable(loop, repeats=1, warmup=0)["median_s"]
    rows = [
        {"method": "per-point loop (anchor)", "points": 1600, "seconds": t_loop, "speedup": 1.0},
        {
            "method": "vectorised grid",
            "points": 1600,
            "seconds": t_vec,
            "speedup": t_loop / t_vec,
            "max_rel_diff": diff,
        },
    ]
    return write_bench(
        rows,
        out,
        title="40 x 40 theory grid (tanh, lam_MM = 1e-3)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--out",
        type=Path,
        default=default_out("theory_grid"),
        help="JSON file to write (default: benchmarks/results/local-theory_grid.json, untracked)",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: policy)")
    args = parser.parse_args()
    from dltheory.core.threads import configure_threads

    threads = configure_threads(args.threads)
    print(main(args.out))
    add_environment(args.out, threads)
    print(f"wrote {args.out} ({threads} thread(s))")

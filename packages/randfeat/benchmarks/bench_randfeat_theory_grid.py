"""Benchmark (a): a 40 x 40 (psi1, psi2) grid of the replica theory, vectorised vs a per-point loop.

Run: .venv/bin/python packages/randfeat/benchmarks/bench_randfeat_theory_grid.py [--out DIR]
Prints a markdown table of seconds and the speed-up over the anchor (the same solver called point by
point) and writes bench_randfeat_theory_grid.json.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

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
        out / "bench_randfeat_theory_grid.json",
        title="40 x 40 theory grid (tanh, lam_MM = 1e-3)",
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    print(main(parser.parse_args().out))

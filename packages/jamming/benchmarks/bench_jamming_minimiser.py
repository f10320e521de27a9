"""The minimiser against the Adam protocol, and batched against a loop (issue 14, point 4).

Rows, in one process on the same data (random, d = 10, L = 2, float64, one thread by default):
* ``decide``: time to decide SAT/UNSAT for the widths of one N* search at P (N/P on a grid,
  ``--seeds`` nets each), with the Adam protocol of the README (lr 1e-2, /10 every 15,000 steps,
  cap ``--adam-steps``; the authors' N_Delta <= 0.1 N rule, as that protocol cannot certify
  UNSAT) against ``optimizer=lm`` (1,500 Adam steps, then Levenberg-Marquardt: N_Delta = 0 or a
  converged minimum). The anchor is the Adam protocol; the answers per width are listed.
* ``lm batched vs loop``: a fixed number of LM iterations on E nets of one width, stacked against
  one after another; next to it the achieved GFLOP/s of the dominant products (the Gauss-Newton
  normal equations) and the float64 matmul rate of this core on the same shapes (the ceiling).

    python packages/jamming/benchmarks/bench_jamming_minimiser.py [--P 2000] [--adam-steps 40000]
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

import torch

from dltheory.core.bench import write_bench
from dltheory.jamming.config import NStarConfig
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.ensembles import load_data, train_widths
from dltheory.jamming.minimiser import MinimiserConfig, StackedAdaptor, levenberg_marquardt
from dltheory.jamming.models import NetSpec, StackedFC, count_weights, distinct_widths
from dltheory.jamming.nstar import decide_width


def decide_rows(
    P: int,
    ratios,
    seeds: int,
    adam_steps: int,
    device: str,
    lm_warm_steps: int = 1500,
    lm_max_iter: int = 2000,
    lm_escape_rounds: int = 4,
) -> list[dict]:
    base = dict(dataset="random", n_train=P, d=10, depth=2, n_seeds=seeds, device=device)
    adam = NStarConfig(
        **base, lr=1e-2, lr_decay_every=15000, max_steps=adam_steps, sat_criterion="authors"
    )
    lm = NStarConfig(
        **base,
        optimizer="lm",
        lr=1e-2,
        max_steps=lm_warm_steps,
        lm_max_iter=lm_max_iter,
        lm_escape_rounds=lm_escape_rounds,
    )
    data = load_data(adam)
    widths = distinct_widths([r * P for r in ratios], 10, 2)
    rows = []
    for name, cfg in (("Adam protocol (authors' rule)", adam), ("minimiser (exact)", lm)):
        t0 = time.perf_counter()
        _, _, records = train_widths(cfg, data, widths, device)
        seconds = time.perf_counter() - t0
        answers = {}
        for h in widths:
            rec = [r for r in records if r["h"] == h]
            answers[rec[0]["n_params"]] = decide_width(
                rec, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction
            )
        rows.append(
            {
                "scenario": f"decide P={P}, {len(widths)} widths x {seeds} seeds",
                "method": name,
                "seconds": round(seconds, 2),
                "answers": answers,
            }
        )
    rows[1]["speed_up"] = round(rows[0]["seconds"] / rows[1]["seconds"], 2)
    rows[0]["speed_up"] = 1.0
    return rows


def lm_rows(P: int, width: float, n_nets: int, iters: int) -> list[dict]:
    d = 10
    data = random_gaussian(P, d, 10, seed=0)
    cfg = MinimiserConfig(max_iter=iters, escape_rounds=0, stall_window=10**9)
    specs = [NetSpec(width, s) for s in range(n_nets)]

    def run(nets):
        net = StackedFC(d, nets, 2)
        return levenberg_marquardt(StackedAdaptor(net), data.x_train, data.y_train, cfg)

    t0 = time.perf_counter()
    res = run(specs)
    batched = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in specs:
        run([s])
    loop = time.perf_counter() - t0
    n_p = count_weights(d, width, 2) + int(width) * 2 + 1
    total_iters = sum(res.iterations)
    # dominant work per iteration: J^T J on <= P points, ~2 P n_p^2 flops per inner solve
    flops = 2.0 * P * n_p**2 * total_iters
    a = torch.randn(P, n_p, dtype=torch.float64)
    t0 = time.perf_counter()
    for _ in range(5):
        a.T @ a
    ceiling = 5 * 2.0 * P * n_p**2 / (time.perf_counter() - t0) / 1e9
    scenario = f"LM {iters} it, {n_nets} nets, h={width:g}, N={count_weights(d, width, 2)}, P={P}"
    return [
        {"scenario": scenario, "method": "loop of E=1", "seconds": round(loop, 3), "speed_up": 1.0},
        {
            "scenario": scenario,
            "method": f"batched E={n_nets}",
            "seconds": round(batched, 3),
            "speed_up": round(loop / batched, 2),
            "achieved_gflops": round(flops / batched / 1e9, 2),
            "matmul_ceiling_gflops": round(ceiling, 2),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--P", type=int, default=2000)
    parser.add_argument("--ratios", default="0.2,0.4,0.8", help="N/P of the widths decided")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--adam-steps", type=int, default=40000)
    parser.add_argument("--lm-warm-steps", type=int, default=1500, help="Adam before LM")
    parser.add_argument("--lm-max-iter", type=int, default=2000)
    parser.add_argument("--lm-escape-rounds", type=int, default=4)
    parser.add_argument("--lm-P", type=int, default=500)
    parser.add_argument("--lm-width", type=float, default=10.0)
    parser.add_argument("--lm-nets", type=int, default=8)
    parser.add_argument("--lm-iters", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "local-bench_jamming_minimiser.json",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ratios = [float(r) for r in args.ratios.split(",")]
    rows = decide_rows(
        args.P,
        ratios,
        args.seeds,
        args.adam_steps,
        args.device,
        args.lm_warm_steps,
        args.lm_max_iter,
        args.lm_escape_rounds,
    )
    if args.lm_iters > 0:  # --lm-iters 0 skips the batched-vs-loop rows
        rows += lm_rows(args.lm_P, args.lm_width, args.lm_nets, args.lm_iters)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    for r in rows:
        r["threads"], r["commit"] = args.threads, commit
    print(write_bench(rows, args.out, title="jamming minimiser vs Adam protocol; batched vs loop"))


if __name__ == "__main__":
    main()

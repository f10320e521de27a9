"""Batched ensemble training vs one network after another (issue 8, point 7).

Rows, all in one process on the same data (random, P points, d = h, L = 3, float64):
* ``authors loop``: the anchor. nn.Module + torch.optim.Adam on the full batch (all points every
  step), the 32 nets trained one after another (the ``nn_jamming`` style);
* ``trainer, loop of E=1``: this package's trainer, one network at a time;
* ``trainer, batched E=32``: the 32 networks as one stacked ensemble.
Every run does the same fixed number of Adam steps (nd_stop = -1: no network stops).
Three scenarios: the issue's (32 nets, L=3, h=32, P=2000; compute-bound in float64), small nets
(h=8, P=200; per-step overhead dominates) and one net late in training, when only 10% of the
points are unsatisfied (what the unsatisfied-points-only gradient buys against Adam on all points).

    python packages/jamming/benchmarks/bench_jamming_ensemble.py [--steps 10] [--threads 1]
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import torch

from dltheory.core.bench import time_callable, write_bench
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.models import NetSpec, StackedFC, count_weights
from dltheory.jamming.train import EnsembleTrainer, OptimConfig


def authors_loop(specs, d, depth, data, steps, dev):
    """The anchor: nn.Module + torch.optim.Adam on all points, one network after another."""
    for spec in specs:
        module = StackedFC(d, [spec], depth, device=dev).to_module(0)
        opt = torch.optim.Adam(module.parameters(), lr=1e-3)
        for _ in range(steps):
            f = module(data.x_train).squeeze(-1)
            loss = (0.5 * torch.relu(1 - data.y_train * f) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()


def ensemble_rows(n_nets, width, depth, n_train, steps, repeats, dev) -> list[dict]:
    d = int(width)
    data = random_gaussian(n_train, d, 10, seed=0).to(dev)
    specs = [NetSpec(width, s) for s in range(n_nets)]
    cfg = OptimConfig(lr=1e-3, max_steps=steps, nd_stop=-1)

    def trainer_loop():
        for spec in specs:
            EnsembleTrainer(
                StackedFC(d, [spec], depth, device=dev), data.x_train, data.y_train, cfg
            ).run()

    def batched():
        EnsembleTrainer(
            StackedFC(d, specs, depth, device=dev), data.x_train, data.y_train, cfg
        ).run()

    scenario = f"{n_nets} nets, L={depth}, h={width:g}, N={count_weights(d, width, depth)}, P={n_train}, {steps} steps"
    anchor = time_callable(
        lambda: authors_loop(specs, d, depth, data, steps, dev),
        repeats=repeats,
        warmup=1,
        device=dev,
    )["median_s"]
    rows = []
    for name, fn in [
        ("authors loop (nn.Module + Adam, all points)", None),
        ("trainer, loop of E=1", trainer_loop),
        (f"trainer, batched E={n_nets}", batched),
    ]:
        t = (
            anchor
            if fn is None
            else time_callable(fn, repeats=repeats, warmup=1, device=dev)["median_s"]
        )
        rows.append(
            {
                "scenario": scenario,
                "method": name,
                "seconds": round(t, 4),
                "net-steps/s": round(n_nets * steps / t, 1),
                "speed-up": round(anchor / t, 2),
            }
        )
    return rows


def late_training_rows(width, depth, n_train, steps, repeats, dev, unsat=0.1) -> list[dict]:
    """One net whose outputs already satisfy 90% of the margins (labels set from its outputs)."""
    d = int(width)
    data = random_gaussian(n_train, d, 10, seed=0).to(dev)
    net = StackedFC(d, [NetSpec(width, 0)], depth, device=dev)
    with torch.no_grad():
        net.weights[-1].mul_(50.0)  # large outputs: |f| > 1 almost everywhere
        f = net.forward(data.x_train)[0]
    y = torch.sign(f)
    flip = torch.randperm(n_train, generator=torch.Generator().manual_seed(0))[
        : int(unsat * n_train)
    ]
    y[flip.to(dev)] *= -1
    state = net.state_dict()
    cfg = OptimConfig(lr=1e-6, max_steps=steps, nd_stop=-1)

    def ours():
        EnsembleTrainer(StackedFC.from_state_dict(state, dev), data.x_train, y, cfg).run()

    def authors():
        module = StackedFC.from_state_dict(state, dev).to_module(0)
        opt = torch.optim.Adam(module.parameters(), lr=1e-6)
        for _ in range(steps):
            loss = (0.5 * torch.relu(1 - y * module(data.x_train).squeeze(-1)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    scenario = f"1 net late in training ({unsat:.0%} unsatisfied), L={depth}, h={width:g}, P={n_train}, {steps} steps"
    anchor = time_callable(authors, repeats=repeats, warmup=1, device=dev)["median_s"]
    t = time_callable(ours, repeats=repeats, warmup=1, device=dev)["median_s"]
    return [
        {
            "scenario": scenario,
            "method": "authors loop (Adam on all points)",
            "seconds": round(anchor, 4),
            "net-steps/s": round(steps / anchor, 1),
            "speed-up": 1.0,
        },
        {
            "scenario": scenario,
            "method": "trainer (gradient on unsatisfied points)",
            "seconds": round(t, 4),
            "net-steps/s": round(steps / t, 1),
            "speed-up": round(anchor / t, 2),
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).with_name("results") / "local-bench_jamming_ensemble.json",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    rows = ensemble_rows(32, 32.0, 3, 2000, args.steps, args.repeats, dev)
    rows += ensemble_rows(32, 8.0, 3, 200, 10 * args.steps, args.repeats, dev)
    rows += late_training_rows(32.0, 3, 2000, 10 * args.steps, args.repeats, dev)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    for r in rows:
        r["threads"], r["commit"] = args.threads, commit
    title = f"batched ensemble vs loops: float64, {args.device}, {args.threads} thread(s)"
    print(write_bench(rows, args.out, title=title))


if __name__ == "__main__":
    main()

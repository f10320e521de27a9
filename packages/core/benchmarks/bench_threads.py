"""Training-step time under torch's default thread count vs the dltheory thread policy.

For a small MLP and a small conv net, one SGD training step is timed with

- torch's default intra-op thread count (what a script gets when it sets nothing), and
- ``dltheory.core.threads.configure_threads()`` (``DLTHEORY_THREADS`` unset: the cores not
  already busy, from the one-minute load average),

each on the machine as it is and with a concurrent CPU load: one busy-loop process per usable
core, started before the measurement (``--settle`` seconds, so the load average sees it, as it
does for a load that was already running), stopped afterwards, and bounded in time whatever
happens. Each measurement runs in a fresh interpreter with ``OMP_NUM_THREADS``,
``MKL_NUM_THREADS`` and ``DLTHEORY_THREADS`` removed, so both policies start from torch's own
default. The table reports ms per step and the ratio default / policy (> 1: the policy is faster).

    python packages/core/benchmarks/bench_threads.py                 # print the table only
    python packages/core/benchmarks/bench_threads.py --out results/bench_threads.json

The JSON records the machine, the load average at each measurement, the thread counts and the
git commit. An existing ``--out`` file is never overwritten unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
MODELS = ("mlp", "conv")
POLICIES = ("torch-default", "dltheory")
CLEAN_ENV_KEYS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "DLTHEORY_THREADS")
BUSY_LOOP = "import time, sys\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _load1() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------- child: one timing


def _build(model: str) -> tuple[Any, Any, Any]:
    import torch
    from torch import nn

    torch.manual_seed(0)
    if model == "mlp":
        net = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
            nn.Linear(1024, 10),
        )  # fmt: skip
        x = torch.randn(256, 1, 28, 28)
    else:
        net = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 12 * 12, 10),
        )  # fmt: skip
        x = torch.randn(64, 1, 28, 28)
    y = torch.randint(0, 10, (x.shape[0],))
    return net, x, y


def child(model: str, policy: str, steps: int, max_seconds: float) -> dict[str, Any]:
    import torch

    default_threads = torch.get_num_threads()
    if policy == "dltheory":
        from dltheory.core.threads import configure_threads

        configure_threads()
    threads = torch.get_num_threads()
    net, x, y = _build(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(2):  # warm-up: allocator, thread pool
        step()
    samples: list[float] = []
    deadline = time.perf_counter() + max_seconds
    while len(samples) < steps and (len(samples) < 3 or time.perf_counter() < deadline):
        start = time.perf_counter()
        step()
        samples.append(time.perf_counter() - start)
    return {
        "model": model,
        "policy": policy,
        "threads": threads,
        "torch_default_threads": default_threads,
        "ms_per_step": round(1e3 * statistics.median(samples), 2),
        "ms_min": round(1e3 * min(samples), 2),
        "steps_timed": len(samples),
        "load1": _load1(),
    }


# --------------------------------------------------------------------------- parent


def _measure(model: str, policy: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_KEYS}
    cmd = [sys.executable, __file__, "--child", model, policy]
    cmd += ["--steps", str(args.steps), "--max-seconds", str(args.max_seconds)]
    result = subprocess.run(
        cmd, env=env, capture_output=True, text=True, timeout=120 + 10 * args.max_seconds
    )
    if result.returncode != 0:
        raise SystemExit(f"error: measurement {model}/{policy} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class BusyLoad:
    """``n`` busy-loop processes, each ending by itself after ``limit`` seconds at the latest."""

    def __init__(self, n: int, limit: float) -> None:
        self.n, self.limit = n, limit
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> BusyLoad:
        for _ in range(self.n):
            cmd = [sys.executable, "-c", BUSY_LOOP, str(self.limit)]
            self.procs.append(subprocess.Popen(cmd))
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _git_commit() -> dict[str, Any]:
    def git(*argv: str) -> str:
        out = subprocess.run(["git", *argv], cwd=REPO, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain", "--", "."))}


def _machine(load_procs: int) -> dict[str, Any]:
    import torch

    return {
        "node": platform.node(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": _usable_cpus(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "parallel_backend": next(
            (
                line.split(":", 1)[1].strip()
                for line in torch.__config__.parallel_info().splitlines()
                if line.startswith("ATen parallel backend")
            ),
            None,
        ),
        "load1_at_start": _load1(),
        "added_load_processes": load_procs,
    }


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| model | load | default threads | default ms/step | policy threads | policy ms/step"
        " | default / policy |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['load']} | {row['default_threads']} | "
            f"{row['default_ms']:.1f} | {row['policy_threads']} | {row['policy_ms']:.1f} | "
            f"{row['ratio']:.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write JSON here (default: print)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--max-seconds", type=float, default=8.0, help="cap per measurement")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds of load before timing")
    parser.add_argument("--load-procs", type=int, default=None, help="default: usable cores")
    parser.add_argument("--child", nargs=2, metavar=("MODEL", "POLICY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child, args.steps, args.max_seconds)))
        return
    if args.out is not None and args.out.exists() and not args.force:
        raise SystemExit(f"error: {args.out} exists; pass --force to overwrite it")

    load_procs = args.load_procs or _usable_cpus()
    machine = _machine(load_procs)
    started = time.perf_counter()
    measurements: list[dict[str, Any]] = []
    for load in ("as is", f"+{load_procs} busy"):
        if load == "as is":
            for model in MODELS:
                for policy in POLICIES:
                    measurements.append({"load": load, **_measure(model, policy, args)})
            continue
        per_child = 120 + 10 * args.max_seconds
        limit = args.settle + len(MODELS) * len(POLICIES) * per_child
        with BusyLoad(load_procs, limit):
            time.sleep(args.settle)
            for model in MODELS:
                for policy in POLICIES:
                    measurements.append({"load": load, **_measure(model, policy, args)})

    rows = []
    for load in dict.fromkeys(m["load"] for m in measurements):
        for model in MODELS:
            pick = {
                m["policy"]: m for m in measurements if m["load"] == load and m["model"] == model
            }
            default, policy = pick["torch-default"], pick["dltheory"]
            rows.append(
                {
                    "model": model,
                    "load": load,
                    "default_threads": default["threads"],
                    "default_ms": default["ms_per_step"],
                    "policy_threads": policy["threads"],
                    "policy_ms": policy["ms_per_step"],
                    "ratio": round(default["ms_per_step"] / policy["ms_per_step"], 3),
                }
            )
    result = {
        "title": "training step: torch default threads vs dltheory.core.threads policy",
        "machine": machine,
        "git": _git_commit(),
        "seconds": round(time.perf_counter() - started, 1),
        "note": "load1 is the one-minute load average, including every other process on the "
        "machine; 'as is' is not idle on a shared machine",
        "rows": rows,
        "measurements": measurements,
    }
    print(_table(rows))
    print(
        f"\nmachine: {machine['node']}, {machine['usable_cpus']} usable cores, load1 at start "
        f"{machine['load1_at_start']}; torch {machine['torch']} "
        f"({machine['parallel_backend']}); commit {str(result['git']['commit'])[:10]}"
        f"{' (dirty tree)' if result['git']['dirty'] else ''}; {result['seconds']} s"
    )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

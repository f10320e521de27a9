"""Images/s of our ConViT beside timm's ConViT and timm's DeiT of the same size, in one process.

Rows: ours (fast GPSA: SDPA + cached positional attention + subnormal flush), ours without the
subnormal flush, ours through the explicit reference path, timm convit_*, timm deit_*. Inference
(eval, no grad) and one training step (forward, backward, AdamW step). Calls are interleaved
round-robin so that machine-load drift hits every row alike; the median per row is reported.

    python packages/convit/benchmarks/bench_convit_throughput.py --sizes tiny --batch 8 --repeats 5
    # CUDA, bf16 autocast, batch 256, eager and torch.compile rows:
    python packages/convit/benchmarks/bench_convit_throughput.py --device cuda --precision bf16 \
        --compile both --rows main --sizes tiny --batch 256 --repeats 5 --number 5 --out gpu.json

The JSON (``--out``; default ``benchmarks/results/local-<time>.json``, git-ignored, so tracked
results are never overwritten) records the machine, threads, torch version and git commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path

import torch

from dltheory.convit import create_convit
from dltheory.core.bench import environment, time_callable
from dltheory.core.plotting import markdown_table

DEIT = {
    "tiny": "deit_tiny_patch16_224",
    "small": "deit_small_patch16_224",
    "base": "deit_base_patch16_224",
}


def build_rows(size: str, device: torch.device):
    import timm

    torch.manual_seed(0)
    ref = timm.create_model(f"convit_{size}", pretrained=False)
    ours = create_convit(f"convit_{size}")
    ours.load_state_dict(ref.state_dict())
    no_flush = create_convit(f"convit_{size}")
    no_flush.load_state_dict(ref.state_dict())
    no_flush.set_fast(True, flush_subnormals=False)
    explicit = create_convit(f"convit_{size}")
    explicit.load_state_dict(ref.state_dict())
    explicit.set_fast(False)
    models = {
        f"ours convit_{size}": ours,
        f"ours convit_{size} (no subnormal flush)": no_flush,
        f"ours convit_{size} (reference path)": explicit,
        f"timm convit_{size}": ref,
        f"timm {DEIT[size]}": timm.create_model(DEIT[size], pretrained=False),
    }
    return {name: m.to(device) for name, m in models.items()}


def make_steps(models, batch: int, device, precision: str, compiled: bool = False):
    """Inference and train-step closures per model; ``compiled`` wraps each in torch.compile."""
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    steps = {}
    for name, module in models.items():
        opt = torch.optim.AdamW(module.parameters(), lr=1e-4)
        model = torch.compile(module) if compiled else module

        def infer(model=model):
            model.eval()
            with (
                torch.no_grad(),
                torch.autocast(device.type, dtype=dtype, enabled=dtype is not None),
            ):
                model(x)

        def train_step(model=model, opt=opt):
            model.train()
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        steps[name] = {"infer": infer, "train": train_step}
    return steps


def run(
    size: str,
    device: torch.device,
    batch: int,
    repeats: int,
    precision: str,
    number: int = 1,
    compiled: bool = False,
    main_only: bool = False,
) -> list[dict]:
    models = build_rows(size, device)
    if main_only:  # ours, timm ConViT, timm DeiT (the CPU-specific variants left out)
        models = {k: v for k, v in models.items() if "(" not in k}
    if compiled:  # the reference path is the explicit official computation: not compiled
        models = {k: v for k, v in models.items() if "reference path" not in k}
    steps = make_steps(models, batch, device, precision, compiled)
    rows = []
    for mode in ("infer", "train"):
        for fns in steps.values():  # warm-up (and the positional-attention cache in eval)
            fns[mode]()
        samples = {name: [] for name in steps}
        for _ in range(repeats):
            for name, fns in steps.items():
                # number > 1: one untimed call (the other models evicted this one's weights from the
                # caches), then `number` timed calls: the steady state of a loop over one model
                samples[name].append(
                    time_callable(
                        fns[mode], repeats=1, warmup=int(number > 1), number=number, device=device
                    )["median_s"]
                )
        anchor_convit = statistics.median(samples[f"timm convit_{size}"])
        anchor_deit = statistics.median(samples[f"timm {DEIT[size]}"])
        for name, s in samples.items():
            t = statistics.median(s)
            rows.append(
                {
                    "size": size,
                    "mode": mode,
                    "device": device.type,
                    "precision": precision,
                    "compile": compiled,
                    "batch": batch,
                    "model": name,
                    "img_per_s": round(batch / t, 2),
                    "speedup_vs_timm_convit": round(anchor_convit / t, 3),
                    "time_vs_timm_deit": round(t / anchor_deit, 3),
                }
            )
    return rows


def machine() -> dict:
    """Machine, threads, torch version and git commit for the JSON record."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        **environment(),
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git_commit": commit or None,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="tiny,small")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"))
    p.add_argument(
        "--compile",
        default="off",
        choices=("off", "on", "both"),
        help="torch.compile every model (on), or measure eager and compiled rows (both)",
    )
    p.add_argument(
        "--rows",
        default="all",
        choices=("all", "main"),
        help="all: also ours without the subnormal flush and through the reference path; "
        "main: ours, timm ConViT and timm DeiT only (fewer compilations on a GPU)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument(
        "--number",
        type=int,
        default=1,
        help="timed calls per round after one untimed call (1: one cold call per round)",
    )
    p.add_argument(
        "--out",
        default=str(
            Path(__file__).parent / "results" / f"local-{time.strftime('%Y%m%d-%H%M%S')}.json"
        ),
        help="JSON output (default: a git-ignored results/local-*.json)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda requested but CUDA is not available")
    if args.precision == "fp16" and device.type != "cuda":
        raise SystemExit("error: fp16 needs CUDA; use bf16 or fp32 on the CPU")
    modes = {"off": (False,), "on": (True,), "both": (False, True)}[args.compile]
    rows: list[dict] = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for size in args.sizes.split(","):
        for compiled in modes:
            start = len(rows)
            rows += run(
                size,
                device,
                args.batch,
                args.repeats,
                args.precision,
                args.number,
                compiled,
                main_only=args.rows == "main",
            )
            # after every size/mode, so that a long run leaves partial results
            record = {
                "title": "ConViT throughput: ours vs timm ConViT vs timm DeiT",
                "argv": vars(args),
                "environment": machine(),
                "rows": rows,
            }
            out.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
            print(markdown_table(rows[start:]), flush=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

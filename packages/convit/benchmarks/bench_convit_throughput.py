"""Images/s of our ConViT beside timm's ConViT and timm's DeiT of the same size, in one process.

Rows: ours (fast GPSA: SDPA + cached positional attention + subnormal flush), ours without the
subnormal flush, ours through the explicit reference path, timm convit_*, timm deit_*. Inference
(eval, no grad) and one training step (forward, backward, AdamW step). Calls are interleaved
round-robin so that machine-load drift hits every row alike; the median per row is reported.

    python packages/convit/benchmarks/bench_convit_throughput.py --sizes tiny --batch 8 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from dltheory.convit import create_convit
from dltheory.core.bench import time_callable, write_bench

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


def make_steps(models, batch: int, device, precision: str):
    x = torch.randn(batch, 3, 224, 224, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    steps = {}
    for name, model in models.items():
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

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
    size: str, device: torch.device, batch: int, repeats: int, precision: str, number: int = 1
) -> list[dict]:
    models = build_rows(size, device)
    steps = make_steps(models, batch, device, precision)
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
                    "batch": batch,
                    "model": name,
                    "img_per_s": round(batch / t, 2),
                    "speedup_vs_timm_convit": round(anchor_convit / t, 3),
                    "time_vs_timm_deit": round(t / anchor_deit, 3),
                }
            )
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="tiny,small")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument(
        "--number",
        type=int,
        default=1,
        help="timed calls per round after one untimed call (1: one cold call per round)",
    )
    p.add_argument(
        "--out", default=str(Path(__file__).parent / "results" / "bench_convit_throughput.json")
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes.split(","):
        rows += run(size, torch.device("cpu"), args.batch, args.repeats, "fp32", args.number)
        if torch.cuda.is_available():
            rows += run(
                size,
                torch.device("cuda"),
                max(args.batch, 128),
                max(args.repeats, 10),
                "bf16",
                args.number,
            )
        table = write_bench(
            rows, args.out, title="ConViT throughput: ours vs timm ConViT vs timm DeiT"
        )
        print(table, flush=True)  # after every size, so a long run leaves partial results


if __name__ == "__main__":
    main()

"""Time per training step of one MLP with BP, our DFA, a TinyDFA-style hook DFA and BioTorch DFA.

All timings in one process, same model shape (784 -> 4 x 1024 -> 10, batch 256 by default),
SGD step included. Ratios are against our BP step; FLOPs from torch's FlopCounterMode. Memory: CUDA peak allocation on a GPU,
and everywhere the MiB of activations autograd saves for backward in one forward pass. Variants
are timed round-robin so that load changes on a shared machine affect all of them alike.

    python packages/dfa/benchmarks/bench_dfa_step.py [--device cpu] [--threads 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.bench import peak_memory_mb, time_callable, write_bench
from dltheory.core.threads import configure_threads
from dltheory.dfa import mlp

WIDTH, DEPTH, IN, OUT = 1024, 4, 784, 10


# -- TinyDFA design (hook-based): detached inputs that still require grad, nested backward --------
class _TinyDFAOutput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, output, feedback, points):
        ctx.feedback, ctx.points = feedback, points
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad_output):
        projection = grad_output @ ctx.feedback  # one GEMM with a shared C x max_width matrix
        for point in ctx.points:  # prefix slice per layer, one backward call each
            point.backward(projection[:, : point.shape[1]])
        return grad_output, None, None


class TinyDFAStyleMLP(nn.Module):
    def __init__(self):
        super().__init__()
        dims = [IN] + [WIDTH] * DEPTH
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(dims)
        )
        self.head = nn.Linear(WIDTH, OUT, bias=False)
        self.register_buffer("feedback", (2 * torch.rand(OUT, WIDTH) - 1) / WIDTH**0.5)

    def forward(self, x):
        points = []
        for layer in self.layers:
            a = torch.relu(layer(x))
            points.append(a)
            x = a.detach().requires_grad_(True)  # TinyDFA's DFALayer: still requires grad
        out = self.head(x)
        return _TinyDFAOutput.apply(out, self.feedback, points) if self.training else out


def plain_mlp():
    dims = [IN] + [WIDTH] * DEPTH
    layers = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b, bias=False), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(WIDTH, OUT, bias=False))


def make_variant(name: str, device, return_model: bool = False):
    """Returns a zero-argument training step for the named variant."""
    torch.manual_seed(0)
    if name == "bp (ours)":
        model = mlp(IN, [WIDTH] * DEPTH, OUT, mode="bp")
    elif name == "dfa (ours)":
        model = mlp(IN, [WIDTH] * DEPTH, OUT, mode="dfa", feedback_scale=WIDTH**-0.5)
    elif name == "dfa (TinyDFA-style hooks)":
        model = TinyDFAStyleMLP()
    elif name == "bp (plain nn.Sequential)":
        model = plain_mlp()
    elif name == "dfa (biotorch)":
        from biotorch.module.biomodule import BioModule

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = BioModule(plain_mlp(), mode="dfa", output_dim=OUT)
    else:
        raise ValueError(name)
    model = model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3)
    gen = torch.Generator(device="cpu").manual_seed(1)
    x = torch.randn(BATCH, IN, generator=gen).to(device)
    y = torch.randint(0, OUT, (BATCH,), generator=gen).to(device)
    bio = name == "dfa (biotorch)"
    if return_model:
        return model, x, y, bio

    def step():
        opt.zero_grad(set_to_none=True)
        out = model(x, y, F.cross_entropy) if bio else model(x)
        F.cross_entropy(out, y).backward()
        opt.step()

    return step


VARIANTS = [
    "bp (ours)",
    "dfa (ours)",
    "dfa (TinyDFA-style hooks)",
    "bp (plain nn.Sequential)",
    "dfa (biotorch)",
]
BATCH = 256


def saved_activation_mb(name: str, device) -> float:
    """MiB of activations autograd saves for backward in one forward (deduplicated by storage).

    CPU memory has no torch peak counter; this counts what the backward pass keeps alive.
    """
    step_model = make_variant(name, device, return_model=True)
    model, x, y, bio = step_model
    owned = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    seen: dict[int, int] = {}

    def pack(t):  # activations only: weights saved for backward exist anyway
        if t.untyped_storage().data_ptr() not in owned:
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x, y, F.cross_entropy) if bio else model(x)
        F.cross_entropy(out, y)
    return sum(seen.values()) / 2**20


def gflop_per_step(step) -> float:
    """Floating-point operations of one training step, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def interleaved_times(steps: dict, repeats: int, number: int, device) -> dict[str, list[float]]:
    """Round-robin timing so that load drifts on a shared machine hit every variant alike.

    Each round gives every variant one untimed step (its weights were evicted from the caches by
    the other variants) and then times ``number`` consecutive steps: the steady state of a training
    loop, which runs one model at a time.
    """
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            times[name].append(
                time_callable(step, repeats=1, warmup=1, number=number, device=device)["median_s"]
            )
    return times


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def main() -> None:
    global BATCH
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="default: DLTHEORY_THREADS or load-aware"
    )
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--out",
        default=str(Path(__file__).parent / "results" / "local-bench_dfa_step.json"),
        help="JSON output (default: an untracked local-*.json; tracked results are never "
        "overwritten unless named here)",
    )
    args = parser.parse_args()
    BATCH = args.batch
    args.threads = configure_threads(args.threads)
    device = torch.device(args.device)
    steps, rows = {}, []
    for name in VARIANTS:
        try:
            steps[name] = make_variant(name, device)
            for _ in range(2):  # warm-up
                steps[name]()
        except Exception as exc:  # biotorch missing or incompatible: report, do not hide
            steps.pop(name, None)
            rows.append(
                {
                    "variant": name,
                    "ms_per_step": None,
                    "ratio_vs_our_bp": None,
                    "gflop_per_step": None,
                    "saved_for_backward_mb": None,
                    "peak_cuda_mb": None,
                    "note": f"unavailable: {exc}".splitlines()[0],
                }
            )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        times = interleaved_times(steps, args.repeats, 5, device)
        anchor = statistics.median(times["bp (ours)"])
        for name in steps:
            med = statistics.median(times[name])
            rows.append(
                {
                    "variant": name,
                    "ms_per_step": round(1e3 * med, 1),
                    "ratio_vs_our_bp": round(med / anchor, 3),
                    "gflop_per_step": round(gflop_per_step(steps[name]), 2),
                    "saved_for_backward_mb": round(saved_activation_mb(name, device), 1),
                    "peak_cuda_mb": (
                        round(peak_memory_mb(steps[name], device), 1)
                        if device.type == "cuda"
                        else None
                    ),
                    "note": "",
                }
            )
    title = (
        f"MLP {IN}-{'x'.join([str(WIDTH)] * DEPTH)}-{OUT}, batch {BATCH}, "
        f"{device.type}, {args.threads} threads"
    )
    table = write_bench(rows, args.out, title=title)
    record = json.loads(Path(args.out).read_text(encoding="utf-8"))
    record["environment"].update(threads=args.threads, git_commit=_git_commit())
    Path(args.out).write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    print(table)
    print(f"\n{args.threads} threads, commit {record['environment']['git_commit']}, -> {args.out}")
    by = {r["variant"]: r["ms_per_step"] for r in rows}
    if by.get("dfa (ours)") and by.get("dfa (biotorch)"):
        print(
            f"\nour DFA / our BP = {by['dfa (ours)'] / by['bp (ours)']:.3f}; "
            f"biotorch DFA / our DFA = {by['dfa (biotorch)'] / by['dfa (ours)']:.2f}"
        )


if __name__ == "__main__":
    main()

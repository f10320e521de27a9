"""``reproduce(out, *, scale, device)``: the paper's claims at three scales.

- ``quick`` (about 2.5 min of one CPU core): ConViT vs DeiT of the same size on scikit-learn's
  8x8 digits (paper Table 2 in miniature), data fractions 0.1 and 1 x three seeds, 300 steps per
  run, the locality analysis (Figs. 4-6) from the same runs, and the parameter counts of Table 1.
- ``full`` (about 7 min of one core): the same protocol on the MNIST test set at 28x28
  (``<shared data>/mnist-t10k``, 8,000 training / 2,000 held-out images) with patch 7 (a 4x4
  grid), fractions 0.05, 0.2 and 1 x three seeds, 600 steps per run.
- ``paper``: ImageNet-1k on 8 GPUs; prints what it needs and refuses when anything is missing.

Every fraction gets the same number of optimisation steps (the paper multiplies the epochs by 1/f).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from dltheory.convit.claims import CLAIMS, PAPER_PARAMS_M, PAPER_TOP1
from dltheory.convit.config import TrainConfig
from dltheory.core.claims import SCALES, weakest
from dltheory.core.errors import require_choice

# Paper Table 2 (ConViT-S vs DeiT-S, ImageNet top-1, %): fraction -> (DeiT, ConViT)
PAPER_TABLE2 = {
    0.05: (34.8, 47.8),
    0.1: (48.0, 59.6),
    0.3: (66.1, 73.7),
    0.5: (74.6, 78.2),
    1.0: (79.9, 81.4),
}
PAPER_TABLE1 = {
    "convit_tiny": 73.1,
    "convit_tiny_plus": 76.7,
    "convit_small": 81.3,
    "convit_small_plus": 82.2,
    "convit_base": 82.4,
    "convit_base_plus": 82.5,
}
IMAGENET_ENV = "DLTHEORY_IMAGENET"  # folder with train/ and val/ (ImageFolder layout)
PAPER_GPUS = 8


@dataclass(frozen=True)
class SampleEfficiencySetting:
    """One scale of the sample-efficiency protocol: data, model, steps, fractions and seeds."""

    dataset: str
    n_train: int  # training images before subsampling (the held-out 20% excluded)
    patch_size: int
    depth: int
    num_gpsa_layers: int
    num_heads: int
    embed_dim_per_head: int
    batch_size: int
    steps: int
    lr: float  # the AdamW learning rate actually used (the config's is per 512 images)
    fractions: tuple[float, ...]
    seeds: tuple[int, ...]
    evaluations: int = 6


SETTINGS = {
    "quick": SampleEfficiencySetting(
        dataset="digits",
        n_train=1437,
        patch_size=2,
        depth=4,
        num_gpsa_layers=2,
        num_heads=4,
        embed_dim_per_head=16,
        batch_size=64,
        steps=300,
        lr=3e-3,
        fractions=(0.1, 1.0),
        seeds=(0, 1, 2),
    ),
    "full": SampleEfficiencySetting(
        dataset="mnist-t10k",
        n_train=8000,
        patch_size=7,
        depth=4,
        num_gpsa_layers=2,
        num_heads=4,
        embed_dim_per_head=16,
        batch_size=64,
        steps=600,
        lr=3e-3,
        fractions=(0.05, 0.2, 1.0),
        seeds=(0, 1, 2),
    ),
}


def sample_efficiency_config(
    setting: SampleEfficiencySetting,
    out: Path,
    gpsa_layers: int,
    fraction: float,
    seed: int,
    device: str = "cpu",
    threads: int | None = None,
) -> TrainConfig:
    """ConViT (``gpsa_layers`` > 0) or the DeiT of the same size (0) on the first floor(f n_c)
    training images of each class, with ``setting.steps`` AdamW steps whatever the fraction.

    Mixup, cutmix, crops and erasing are off at this scale (a few hundred steps); label
    smoothing, the warm-up + cosine schedule and the weight-decay groups stay.
    """
    n = max(10, int(setting.n_train * fraction))
    batch = setting.batch_size
    # the trainer drops the last partial batch once an epoch holds two full ones
    steps_per_epoch = n // batch if n >= 2 * batch else max(1, math.ceil(n / batch))
    epochs = max(2, round(setting.steps / steps_per_epoch))
    return TrainConfig(
        model="convit_tiny",
        depth=setting.depth,
        num_heads=setting.num_heads,
        embed_dim_per_head=setting.embed_dim_per_head,
        num_gpsa_layers=gpsa_layers,
        patch_size=setting.patch_size,
        drop_path=0.0,
        dataset=setting.dataset,
        sampling_ratio=fraction,
        epochs=epochs,
        batch_size=batch,
        lr=setting.lr * 512 / batch,
        warmup_epochs=max(1, epochs // 10),
        min_lr=1e-5,
        weight_decay=0.05,
        label_smoothing=0.1,
        mixup=0.0,
        cutmix=0.0,
        repeated_aug=1,
        randaugment=False,
        random_erasing=0.0,
        hflip=False,
        crop=False,
        device=device,
        threads=threads,
        seed=seed,
        eval_every=max(1, epochs // setting.evaluations),
        analysis_images=128,
        checkpoint_every_seconds=0.0,
        out=Path(out),
    )


def run_sample_efficiency(
    setting: SampleEfficiencySetting, out: Path, device: str = "cpu", config_fn=None, run_fn=None
) -> list[dict]:
    """Train every (seed, fraction, model); one record per run with its final top-1, its
    metrics history (nonlocality from step 0) and its final gates.

    ``config_fn(setting, run_dir, gpsa_layers, fraction, seed, device)`` builds each run's
    config (default: :func:`sample_efficiency_config`); ``run_fn(cfg)`` trains it (default: in
    this process; the paper scale launches torchrun).
    """
    from dltheory.convit.train import train

    config_fn = config_fn or sample_efficiency_config
    run_fn = run_fn or (lambda cfg: train(cfg, overwrite=True))
    records = []
    for seed in setting.seeds:
        for fraction in setting.fractions:
            for name, gpsa in (("deit", 0), ("convit", setting.num_gpsa_layers)):
                run = Path(out) / "runs" / f"{name}_f{fraction}_s{seed}"
                final = run_fn(config_fn(setting, run, gpsa, fraction, seed, device))
                records.append(
                    {
                        "model": name,
                        "fraction": fraction,
                        "seed": seed,
                        "top1": final["top1"],
                        "gates": final["gates"],
                        "history": _history(run),
                    }
                )
    return records


def _history(run_dir: Path) -> list[dict]:
    lines = Path(run_dir, "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _top1(records: list[dict], model: str, fraction: float) -> dict[int, float]:
    return {
        r["seed"]: r["top1"] for r in records if r["model"] == model and r["fraction"] == fraction
    }


def sample_efficiency_table(records: list[dict]) -> list[dict]:
    """Per fraction: DeiT and ConViT top-1 and the relative gap 100 (ConViT - DeiT) / DeiT, as
    mean and standard error over seeds (the gap is paired by seed)."""
    from dltheory.core.claims import mean_and_se

    rows = []
    for fraction in sorted({r["fraction"] for r in records}):
        deit, convit = _top1(records, "deit", fraction), _top1(records, "convit", fraction)
        gaps = [100 * (convit[s] - deit[s]) / max(deit[s], 1e-9) for s in sorted(deit)]
        row = {"fraction": fraction, "seeds": len(gaps)}
        for key, values in (
            ("deit_top1", list(deit.values())),
            ("convit_top1", list(convit.values())),
            ("gap_pct", gaps),
        ):
            mean, se = mean_and_se(values)
            row[key], row[f"{key}_se"] = round(mean, 3), round(se, 3)
        paper = PAPER_TABLE2.get(fraction)
        row["paper_gap_pct"] = round(100 * (paper[1] - paper[0]) / paper[0], 1) if paper else None
        rows.append(row)
    return rows


def sample_efficiency_conditions(records: list[dict]) -> list[dict]:
    """The conditions of the claim, each a mean and SE over seeds: the relative gap at every
    fraction, and the growth (gap at the smallest fraction minus at the largest)."""
    from dltheory.core.claims import mean_and_se

    fractions = sorted({r["fraction"] for r in records})
    gaps: dict[float, dict[int, float]] = {}
    for f in fractions:
        deit, convit = _top1(records, "deit", f), _top1(records, "convit", f)
        gaps[f] = {s: 100 * (convit[s] - deit[s]) / max(deit[s], 1e-9) for s in deit}
    conditions = []
    for f in fractions:
        mean, se = mean_and_se(gaps[f].values())
        conditions.append({"condition": f"gap at f={f}", "value": mean, "se": se})
    lo, hi = fractions[0], fractions[-1]
    growth = [gaps[lo][s] - gaps[hi][s] for s in sorted(gaps[lo])]
    mean, se = mean_and_se(growth)
    conditions.append({"condition": f"gap(f={lo}) - gap(f={hi})", "value": mean, "se": se})
    return conditions


def per_seed_mean(values: dict[int, list[float]]) -> list[float]:
    return [sum(v) / len(v) for _, v in sorted(values.items())]


def localisation_changes(records: list[dict]) -> dict[int, list[float]]:
    """Per seed, for each DeiT run: layer-mean nonlocality (eq. 8) at the first evaluation minus
    at initialisation (step 0), in patches."""
    out: dict[int, list[float]] = {}
    for r in records:
        if r["model"] != "deit":
            continue
        init, first = r["history"][0], r["history"][1]
        change = _mean(first["nonlocality"]) - _mean(init["nonlocality"])
        out.setdefault(r["seed"], []).append(change)
    return out


def gate_drops(records: list[dict], fraction: float) -> dict[int, list[float]]:
    """Per seed: mean gate sigma(lambda) of the first GPSA layer minus that of the last, after
    training on ``fraction`` of the data."""
    out: dict[int, list[float]] = {}
    for r in records:
        if r["model"] == "convit" and r["fraction"] == fraction:
            out.setdefault(r["seed"], []).append(_mean(r["gates"][0]) - _mean(r["gates"][-1]))
    return out


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


def parameter_counts() -> dict[str, int]:
    """Parameters of ConViT-Ti/S/B built from our code (1000 classes, 224 px)."""
    import torch

    from dltheory.convit.models import create_convit

    counts = {}
    for name in PAPER_PARAMS_M:
        with torch.no_grad():
            model = create_convit(name)
        counts[name] = sum(p.numel() for p in model.parameters())
        del model
    return counts


def paper_requirements() -> list[str]:
    """What the paper scale needs that this machine lacks (empty when everything is there)."""
    import torch

    missing = []
    root = os.environ.get(IMAGENET_ENV)
    if not root or not (Path(root) / "train").is_dir() or not (Path(root) / "val").is_dir():
        missing.append(f"ImageNet-1k: set {IMAGENET_ENV} to a folder with train/ and val/")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus < PAPER_GPUS:
        missing.append(f"{PAPER_GPUS} CUDA GPUs (found {gpus})")
    return missing


def full_scale_commands(imagenet: str = "/path/to/imagenet") -> str:
    """The multi-GPU commands for the paper's ImageNet results, with the paper's numbers."""
    base = (
        f"torchrun --nproc_per_node={PAPER_GPUS} -m dltheory.convit train --dataset imagefolder "
        f"--data-root {imagenet} --precision bf16 --workers 10"
    )
    lines = ["# Paper Table 1 (ImageNet-1k, 300 epochs, total batch 1024, lr 5e-4 x 1024/512):"]
    for model, top1 in PAPER_TABLE1.items():
        # total batch 1024 (8 x 128); the "+" models: 512 (8 x 64) with lr 4e-4
        extra = " --batch-size 64 --lr 4e-4" if model.endswith("_plus") else " --batch-size 128"
        lines.append(
            f"{base} --epochs 300 --model {model}{extra} --out runs/{model}   # expected top-1 {top1}"
        )
    lines.append("# DeiT baseline of the same size: add --num-gpsa-layers 0")
    lines.append("# Paper Table 2 (convit_small vs DeiT-S, epochs scaled by 1/f):")
    for f, (deit, convit) in PAPER_TABLE2.items():
        epochs = int(300 / f)
        lines.append(
            f"{base} --batch-size 128 --model convit_small --sampling-ratio {f} --epochs {epochs} --out runs/small_f{f}"
            f"   # expected top-1 ConViT {convit} vs DeiT {deit}"
        )
    return "\n".join(lines)


PAPER_SETTING = SampleEfficiencySetting(
    dataset="imagefolder",
    n_train=1_281_167,
    patch_size=16,
    depth=12,
    num_gpsa_layers=10,
    num_heads=9,  # ConViT-S; its DeiT baseline keeps the width with 0 GPSA layers
    embed_dim_per_head=48,
    batch_size=128,
    steps=0,  # the paper's epochs: 300 / f
    lr=5e-4,
    fractions=tuple(PAPER_TABLE2),
    seeds=(0, 1),
)


def paper_config(
    setting: SampleEfficiencySetting,
    out: Path,
    gpsa_layers: int,
    fraction: float,
    seed: int,
    device: str = "cuda",
    model: str = "convit_small",
) -> TrainConfig:
    """The paper's recipe (DeiT defaults) on ImageNet, 300/f epochs, total batch 8 x 128, bf16."""
    return TrainConfig(
        model=model,
        num_gpsa_layers=gpsa_layers,
        dataset="imagefolder",
        data_root=os.environ[IMAGENET_ENV],
        sampling_ratio=fraction,
        epochs=int(300 / fraction),
        batch_size=setting.batch_size,
        precision="bf16",
        workers=10,
        seed=seed,
        device="cuda",
        out=Path(out),
    )


def torchrun_train(cfg: TrainConfig, gpus: int = PAPER_GPUS) -> dict:
    """Train ``cfg`` under torchrun on ``gpus`` processes; the last logged evaluation."""
    import subprocess
    import sys

    from dltheory.core.config import save_config
    from dltheory.core.errors import DltheoryError

    out = Path(cfg.out)
    config_file = save_config(cfg, out.with_suffix(".json"))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += [f"--nproc_per_node={gpus}", "-m", "dltheory.convit", "train"]
    cmd += ["--config", str(config_file), "--overwrite"]
    if subprocess.run(cmd, check=False).returncode != 0:
        raise DltheoryError(f"torchrun training failed for {out}; see its log above")
    rows = [r for r in _history(out) if "top1" in r]
    return rows[-1]


def _paper_scale(out: Path, board, report) -> list[dict]:
    """Print what the paper scale needs; refuse (one line) when something is missing, else train
    ConViT-Ti (Table 1) and ConViT-S vs its DeiT at every fraction of Table 2, two seeds."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "commands.sh").write_text(full_scale_commands(os.environ[IMAGENET_ENV]) + "\n")
    tiny = paper_config(
        PAPER_SETTING, out / "runs" / "convit_tiny", 10, 1.0, 0, model="convit_tiny"
    )
    top1 = torchrun_train(tiny)["top1"]
    se = 100 * math.sqrt(top1 / 100 * (1 - top1 / 100) / 50_000)  # binomial SE on 50k images
    board.measure("convit.imagenet_top1", top1, se, seeds=1)
    report.add_metric("convit_tiny_top1", top1)
    return run_sample_efficiency(
        PAPER_SETTING, out, "cuda", config_fn=paper_config, run_fn=torchrun_train
    )


def check_paper_scale() -> None:
    """Print what the paper scale needs; a one-line DltheoryError naming what is missing."""
    from dltheory.core.errors import DltheoryError

    print(
        "convit --scale paper needs: ImageNet-1k (train/ and val/ folders, ~150 GB) in "
        f"${IMAGENET_ENV}; {PAPER_GPUS} CUDA GPUs with >= 16 GB each; about 2 days per 300-epoch "
        "ConViT-Ti run and several GPU-months for Table 2 (300/f epochs per fraction, two seeds).",
        flush=True,
    )
    missing = paper_requirements()
    if missing:
        raise DltheoryError("convit --scale paper cannot run here: missing " + "; ".join(missing))


def reproduce(out: str | Path, *, scale: str = "quick", device: str = "auto") -> dict:
    """Run the reproduction at ``scale``; write figures, tables, manifest.json and claims.json."""
    from dltheory.core.claims import ClaimBoard, mean_and_se
    from dltheory.core.report import ReproduceReport

    require_choice("scale", scale, SCALES)
    out = Path(out)
    started = time.perf_counter()
    board = ClaimBoard(CLAIMS, scale)
    t0 = time.perf_counter()
    if scale == "paper":
        check_paper_scale()  # before anything is written
        report = ReproduceReport(out, title="ConViT: soft convolutional inductive biases (paper)")
        setting = PAPER_SETTING
        records = _paper_scale(out, board, report)
    else:
        setting = SETTINGS[scale]
        out.mkdir(parents=True, exist_ok=True)
        report = ReproduceReport(
            out, title=f"ConViT: soft convolutional inductive biases ({scale})"
        )
        records = run_sample_efficiency(setting, out, "cpu" if device == "auto" else device)
    seconds = time.perf_counter() - t0

    counts = parameter_counts()
    deviations = {n: abs(counts[n] / (PAPER_PARAMS_M[n] * 1e6) - 1) for n in counts}
    board.measure(
        "convit.param_counts",
        max(deviations.values()),
        0.0,
        counts={n: counts[n] for n in counts},
    )

    n_seeds = len(setting.seeds)
    rows = sample_efficiency_table(records)
    conditions = sample_efficiency_conditions(records)
    worst = weakest(conditions)
    board.measure(
        "convit.sample_efficiency",
        worst["value"],
        worst["se"],
        seeds=n_seeds,
        seconds=seconds,
        condition=worst["condition"],
    )
    changes = per_seed_mean(localisation_changes(records))
    mean, se = mean_and_se(changes)
    board.measure("convit.vanilla_sa_localises", mean, se, seeds=n_seeds)
    drops = per_seed_mean(gate_drops(records, max(setting.fractions)))
    mean_drop, se_drop = mean_and_se(drops)
    board.measure("convit.gpsa_escapes_locality", mean_drop, se_drop, seeds=n_seeds)
    board.write(out)

    _write_figures_and_tables(out, report, setting, records, rows, conditions, counts)
    report.add_metric("seconds", round(time.perf_counter() - started, 1))
    report.add_metric("nonlocality_change_deit", {"mean": mean, "se": se})
    report.add_metric("gate_first_minus_last", {"mean": mean_drop, "se": se_drop})
    report.add_note(
        f"{scale} scale: {setting.dataset}, patch {setting.patch_size}, depth {setting.depth} "
        f"(ConViT: {setting.num_gpsa_layers} GPSA + {setting.depth - setting.num_gpsa_layers} "
        f"MHSA; DeiT: {setting.depth} MHSA), {setting.num_heads} heads x "
        f"{setting.embed_dim_per_head} dims, {setting.steps} AdamW steps per run whatever the "
        f"fraction, fractions {list(setting.fractions)}, seeds {list(setting.seeds)}. Gates are "
        "measured on our trained models: the official ConViT weights are not available here."
    )
    report.write()
    return {"rows": rows, "conditions": conditions, "claims": board.records}


def _write_figures_and_tables(out, report, setting, records, rows, conditions, counts) -> None:
    import torch

    from dltheory.convit.figures import plot_gates, plot_nonlocality_history, plot_sample_efficiency
    from dltheory.core.plotting import save_table

    save_table(rows, out / "sample_efficiency", title="Top-1 (%) vs fraction: mean and SE")
    report.add_table(
        out / "sample_efficiency.md",
        "Top-1 (%) per fraction, mean and SE over seeds; gap = relative gain of ConViT (paired).",
    )
    save_table(conditions, out / "sample_efficiency_conditions", title="Claim conditions")
    report.add_table(out / "sample_efficiency_conditions.md", "The sample-efficiency conditions.")
    plot_sample_efficiency(rows, out / "sample_efficiency", gpsa_layers=setting.num_gpsa_layers)
    report.add_figure(out / "sample_efficiency.png", "Top-1 vs fraction (mean ± SE over seeds).")
    f_max, seed0 = max(setting.fractions), setting.seeds[0]
    for name, fig in (("convit", "Fig. 5"), ("deit", "Fig. 4")):
        (run,) = [
            r
            for r in records
            if r["model"] == name and r["fraction"] == f_max and r["seed"] == seed0
        ]
        plot_nonlocality_history(
            run["history"], out / f"nonlocality_{name}", title=f"{name} nonlocality (eq. 8)"
        )
        report.add_figure(out / f"nonlocality_{name}.png", f"Nonlocality per layer (cf. {fig}).")
    gates = torch.tensor(
        [r["gates"] for r in records if r["model"] == "convit" and r["fraction"] == f_max]
    ).mean(0)
    plot_gates(gates, out / "gates", title="ConViT gates after training (cf. Fig. 6)")
    report.add_figure(out / "gates.png", "sigma(lambda_h) per GPSA layer (mean over seeds).")
    save_table(
        [
            {"model": n, "params": c, "paper_M": PAPER_PARAMS_M[n], "paper_top1": PAPER_TOP1[n]}
            for n, c in counts.items()
        ],
        out / "param_counts",
        title="Parameters of ConViT-Ti/S/B (ours) vs paper Table 1",
    )
    report.add_table(out / "param_counts.md", "Parameter counts (paper Table 1).")

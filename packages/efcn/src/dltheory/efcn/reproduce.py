"""``reproduce``: the paper's switch-time figures, the landscape and the claims at three scales.

* ``quick``: scikit-learn digits (8x8, offline), a 3x3 member of the vanilla family, 3 seeds,
  under a minute of one core.
* ``full``: MNIST-t10k at 28x28 (``../shared/data/mnist-t10k``) with the authors' vanilla CNN
  (64 channels; eFCN of 21.5M parameters), 1000 train / 1000 test images, 2 seeds.
* ``paper``: CIFAR-10 with the vanilla CNN, 100 epochs, 20 switch times (the authors' setting);
  needs a CUDA device and the CIFAR-10 folder (``data_root``), refused otherwise.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from dltheory.core.claims import ClaimBoard, mean_and_se
from dltheory.core.errors import ConfigError, DatasetNotFoundError, DltheoryError, require_choice
from dltheory.core.plotting import save_table
from dltheory.core.report import ReproduceReport

from .claims import CLAIMS
from .config import SCALES, SweepConfig
from .figures import aggregate_rows, landscape_figure, summary_rows, switch_time_figure
from .protocol import barrier_rows, parameter_counts, size_rows, sweep

QUICK = SweepConfig(
    dataset="digits",
    model="vanilla-small",
    channels=16,
    epochs=15,
    batch_size=50,
    lr=0.1,
    n_saves=4,  # switch times 0, 1, 2, 6, 15
    local_times=[2],
    landscape_points=11,
    landscape_examples=0,
)
FULL = SweepConfig(
    dataset="mnist-t10k",
    model="vanilla",
    channels=64,
    data_size=1000,
    epochs=8,
    batch_size=50,
    lr=0.1,
    n_saves=4,  # switch times 0, 1, 2, 4, 7 (int(10**log10(8)) = 7, as in the authors' code)
    local_times=[2],
    landscape_points=7,
    landscape_examples=300,
)
# the authors' setting: vanilla CNN, CIFAR-10, plain SGD lr 0.1, bs 250, 100 epochs, 20 saves
PAPER = SweepConfig(
    dataset="cifar10", model="vanilla", channels=64, epochs=100, n_saves=20, local_all=True
)
SETTINGS = {"quick": QUICK, "full": FULL, "paper": PAPER}
SEEDS = {"quick": (0, 1, 2), "full": (0, 1), "paper": (0, 1)}  # full: ~5 CPU-min per seed


def per_seed_rows(sweep_dirs: list[Path]) -> list[list[dict]]:
    return [summary_rows(folder) for folder in sweep_dirs]


def claim_values(cfg: SweepConfig, seeds_rows: list[list[dict]], seeds_barriers: list[list[dict]]):
    """Per-seed values of each claim's measure (see claims.py), from summary and barrier rows."""
    values: dict[str, list[float]] = {c.id: [] for c in CLAIMS}
    extra: dict[str, list[float]] = {"elcn_minus_cnn": [], "switch_loss_barrier": []}
    for rows, barriers in zip(seeds_rows, seeds_barriers):
        cnn = next(r for r in rows if r["branch"] == "cnn")
        fcn = next(r for r in rows if r["branch"] == "fcn")
        efcn = [r for r in rows if r["branch"] == "efcn" and r["t_w"] < cfg.epochs]
        middle = [r for r in efcn if r["t_w"] > 0]
        acc = [r["final_test_acc"] for r in efcn]
        values["efcn.efcn_beats_fcn"].append(sum(acc) / len(acc) - fcn["final_test_acc"])
        mid = [r["final_test_acc"] for r in middle]
        values["efcn.intermediate_switch_beats_cnn"].append(
            sum(mid) / len(mid) - cnn["final_test_acc"]
        )
        worst = max(r["final_deviation"] for r in efcn)
        values["efcn.small_deviation"].append(worst / fcn["final_deviation"])
        to_fcn = [
            b["train_loss_barrier"]
            for b in barriers
            if (b["path"], b["mode"]) == ("to_fcn", "linear")
        ]
        values["efcn.efcn_fcn_barrier"].append(sum(to_fcn) / len(to_fcn))
        local = [
            r["final_test_acc"] for r in rows if r["branch"] == "elcn" and r["t_w"] < cfg.epochs
        ]
        if local:
            extra["elcn_minus_cnn"].append(sum(local) / len(local) - cnn["final_test_acc"])
        switch = [
            b["train_loss_barrier"]
            for b in barriers
            if (b["path"], b["mode"]) == ("switch", "linear")
        ]
        extra["switch_loss_barrier"].append(sum(switch) / len(switch))
    return values, extra


def gpu_needs(epochs: int = 100, n_switch: int = 18) -> list[str]:
    """What the paper-scale CIFAR-10 runs need, from the sizes (no allocation)."""
    notes = []
    for label, model in (("vanilla", "vanilla"), ("AlexNet", "alexnet")):
        row = size_rows([(label, model, (3, 32, 32), 10, 64)])[0]
        live, dense = row["live_params"], row["dense_params"]
        train_gib = live * 4 * 3 / 2**30  # fp32 weights, gradients, one transient copy
        flop_epoch = 6 * live * 50_000  # ~2 FLOP per weight per image forward, x3 with backward
        branches = epochs * (n_switch / 2 + 1)  # eFCN epochs summed over log-spaced t_w, + FCN
        notes.append(
            f"CIFAR-10 {label}: eFCN {dense:,} parameters in the authors' padded layout "
            f"({live:,} live), ~{train_gib:.2f} GiB of fp32 weights+gradients+one copy to train "
            f"(plus activations: batch 250 is small); ~{flop_epoch / 1e12:.0f} TFLOP per epoch, "
            f"~{branches * flop_epoch / 1e15:.1f} PFLOP for a {epochs}-epoch sweep of {n_switch} "
            "switch times: minutes to an hour on one modern GPU at TF32 rates, days on this CPU."
        )
    return notes


def _check_paper_requirements(device: str, data_root: str) -> None:
    import torch

    print(
        "paper scale: CIFAR-10 (50k/10k, --data-root), vanilla CNN, 100 epochs, 18 switch times "
        "+ eLCN branches; needs a CUDA GPU with >= 2 GiB free and about one GPU-hour.",
        file=sys.stderr,
    )
    if not (device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())):
        raise DltheoryError(
            "--scale paper needs a CUDA GPU (CIFAR-10 eFCNs of 74M live parameters, 100 epochs); "
            "none is available here"
        )
    if not data_root or not Path(data_root).is_dir():
        raise DatasetNotFoundError(
            "--scale paper needs CIFAR-10: pass --data-root DIR (torchvision layout, "
            "cifar-10-batches-py inside)"
        )


def reproduce(
    out: Path,
    *,
    scale: str = "quick",
    device: str = "auto",
    seeds: tuple[int, ...] | None = None,
    data_root: str = "",
    executor: str = "serial",
    workers: int = 2,
) -> Path:
    """Run the switch-time sweeps (one per seed), draw the figures, measure the claims."""
    require_choice("scale", scale, SCALES)
    seeds = SEEDS.get(scale, (0, 1)) if not seeds else tuple(seeds)
    if len(seeds) < 2:
        raise ConfigError("reproduce needs at least 2 seeds (the claims use the spread over seeds)")
    started = time.time()
    out = Path(out)
    if scale == "paper":
        _check_paper_requirements(device, data_root)
    cfg = replace(SETTINGS[scale], device=device, executor=executor, workers=workers)
    if data_root:
        cfg = replace(cfg, data_root=data_root)
    if cfg.dataset == "mnist-t10k":
        from dltheory.core.data import mnist_t10k_dir

        mnist_t10k_dir(cfg.data_root)  # a clear error now, not after the first branch
    rep = ReproduceReport(
        out, title="eFCN: switching from a CNN to its FCN embedding (arXiv:1906.06766)"
    )
    figures = out / "figures"
    sweep_dirs = []
    for seed in seeds:
        folder = out / "runs" / f"seed{seed}"
        sweep(
            replace(cfg, seed=seed),
            folder,
            figures_dir=figures / f"seed{seed}",
            resume=(folder / "cnn" / "last.pt").exists(),
        )
        sweep_dirs.append(folder)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    switch_time_figure(sweep_dirs, figures / "switch_time")
    rows = aggregate_rows(sweep_dirs)
    save_table(rows, figures / "summary", title="switch-time sweep, mean and std over seeds")
    import json

    seeds_barriers = [
        barrier_rows(json.loads((d / "landscape.json").read_text())) for d in sweep_dirs
    ]
    flat = [{"seed": s, **b} for s, bs in zip(seeds, seeds_barriers) for b in bs]
    save_table(flat, figures / "barriers", title="loss and accuracy barriers along the paths")
    landscape_figure(
        json.loads((sweep_dirs[0] / "landscape.json").read_text()), figures / "landscape"
    )
    from .data import load_data

    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size)
    sizes = parameter_counts(figures / "parameter_counts", cfg, data.input_shape, data.num_classes)
    save_table(sizes, figures / "parameter_counts_table", title="CNN vs eFCN parameter counts")

    board = ClaimBoard(CLAIMS, scale)
    values, extra = claim_values(cfg, per_seed_rows(sweep_dirs), seeds_barriers)
    seconds = time.time() - started
    for claim_id, vals in values.items():
        mean, se = mean_and_se(vals)
        board.measure(claim_id, mean, se, seeds=len(vals), seconds=seconds)
        rep.add_metric(claim_id, {"mean": mean, "se": se, "per_seed": vals})
    for key, vals in extra.items():
        if vals:
            mean, se = mean_and_se(vals)
            rep.add_metric(key, {"mean": mean, "se": se, "per_seed": vals})
    board.write(out)

    rep.add_figure(
        figures / "switch_time.png",
        "Final test accuracy vs switch time t_w (CNN, FCN, eFCN, eLCN), mean ± std over seeds.",
    )
    first = figures / f"seed{seeds[0]}"
    rep.add_figure(
        first / "deviation.png",
        f"Deviation from the CNN subspace during training, per t_w (seed {seeds[0]}).",
    )
    rep.add_figure(
        first / "accuracy_curves.png",
        f"Test accuracy over epochs of every branch (seed {seeds[0]}).",
    )
    rep.add_figure(
        figures / "landscape.png",
        f"Interpolation paths: CNN at t_w -> final eFCN, final eFCN -> FCN twin (seed {seeds[0]}).",
    )
    rep.add_figure(figures / "parameter_counts.png", "Parameter counts: CNN vs eLCN vs eFCN.")
    rep.add_table(figures / "summary.md", "Per-branch summary over seeds.")
    rep.add_table(figures / "barriers.md", "Barriers per seed, switch time, path and mode.")
    rep.add_table(figures / "parameter_counts_table.md", "Parameter counts.")
    rep.add_note(
        f"Setting ({scale}): {cfg.dataset} ({data.x_train.shape[0]} train / {data.x_test.shape[0]} "
        f"test), model {cfg.model} (channels {cfg.channels}), SGD lr {cfg.lr}, batch "
        f"{cfg.batch_size}, {cfg.epochs} epochs, seeds {list(seeds)}."
    )
    rep.add_metric("peak_rss_mib", round(peak_rss, 1))
    rep.add_note(f"Peak resident memory of the whole reproduction: {peak_rss:.0f} MiB.")
    for note in gpu_needs():
        rep.add_note(note)
    rep.add_metric("seconds", round(time.time() - started, 1))
    return rep.write()

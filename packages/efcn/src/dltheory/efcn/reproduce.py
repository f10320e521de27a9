"""``reproduce``: the paper's switch-time figures on a small offline task (quick) or CIFAR-10."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dltheory.core.plotting import save_table
from dltheory.core.report import ReproduceReport

from .data import load_data
from .figures import aggregate_rows, switch_time_figure
from .protocol import parameter_counts, sweep
from .training import TrainConfig

# Quick: sklearn digits (offline), a 3-layer 3x3 version of the vanilla CNN, 20 epochs, 2 seeds.
QUICK = TrainConfig(
    dataset="digits",
    model="vanilla-small",
    channels=32,
    epochs=20,
    batch_size=50,
    lr=0.1,
    n_saves=5,
    threads=1,
)
# Full: the authors' setting (vanilla CNN, CIFAR-10, plain SGD lr 0.1, bs 250, 100 epochs).
FULL = TrainConfig(dataset="cifar10", model="vanilla", channels=64, epochs=100, n_saves=20)


def findings(rows: list[dict]) -> tuple[list[str], dict]:
    """What the run found: does an intermediate t_w beat the CNN, does the eFCN beat the FCN?

    ``rows`` are :func:`~dltheory.efcn.figures.aggregate_rows` (means and stds over seeds).
    """
    by = {r["branch"]: r for r in rows if r["branch"] in ("cnn", "fcn")}
    efcn = sorted((r for r in rows if r["branch"] == "efcn"), key=lambda r: r["t_w"])
    if not efcn or "cnn" not in by or "fcn" not in by:
        return ["incomplete sweep: no comparison"], {}
    acc = "final_test_acc_mean"
    cnn, fcn = by["cnn"][acc], by["fcn"][acc]
    intermediate = [r for r in efcn if 0 < r["t_w"] < efcn[-1]["t_w"]] or efcn
    best = max(intermediate, key=lambda r: r[acc])
    n_beat_cnn = sum(r[acc] > cnn for r in intermediate)
    n_beat_fcn = sum(r[acc] > fcn for r in efcn)
    seeds = by["cnn"]["seeds"]
    metrics = {
        "seeds": seeds,
        "cnn_final_test_acc": cnn,
        "cnn_final_test_acc_std": by["cnn"]["final_test_acc_std"],
        "fcn_final_test_acc": fcn,
        "fcn_final_test_acc_std": by["fcn"]["final_test_acc_std"],
        "best_intermediate_t_w": best["t_w"],
        "best_intermediate_efcn_test_acc": best[acc],
        "best_intermediate_efcn_test_acc_std": best["final_test_acc_std"],
        "intermediate_t_w_beating_cnn": n_beat_cnn,
        "intermediate_t_w_count": len(intermediate),
        "efcn_branches_beating_fcn": n_beat_fcn,
        "efcn_branch_count": len(efcn),
        "max_final_deviation": max(r.get("final_deviation_mean", 0.0) for r in efcn),
    }
    notes = [
        f"Means over {seeds} seed(s) (± standard deviation across seeds).",
        f"CNN (full budget): test accuracy {cnn:.4f} ± {metrics['cnn_final_test_acc_std']:.4f}; "
        f"FCN twin (dense init): {fcn:.4f} ± {metrics['fcn_final_test_acc_std']:.4f}.",
        f"Best intermediate switch time t_w={best['t_w']}: eFCN test accuracy {best[acc]:.4f} ± "
        f"{best['final_test_acc_std']:.4f} ({best[acc] - cnn:+.4f} vs the CNN); "
        f"{n_beat_cnn} of {len(intermediate)} intermediate t_w beat the CNN on average.",
        f"{n_beat_fcn} of {len(efcn)} eFCN branches beat the FCN twin on average.",
        f"The largest mean final relative deviation from the CNN subspace is {metrics['max_final_deviation']:.3g}.",
    ]
    return notes, metrics


def reproduce(
    quick: bool,
    out: Path,
    device: str = "auto",
    data_root: str = "",
    download: bool = False,
    executor: str = "local",
    max_workers: int = 2,
    seeds: tuple[int, ...] = (0, 1),
) -> Path:
    out = Path(out)
    rep = ReproduceReport(
        out, title="eFCN: switching from a CNN to its FCN embedding (arXiv:1906.06766)"
    )
    cfg = replace(QUICK if quick else FULL, device=device, data_root=data_root, download=download)
    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size, cfg.download)
    figures = out / "figures"
    sweep_dirs = []
    for seed in seeds:
        folder = out / "runs" / f"seed{seed}"
        sweep(
            replace(cfg, seed=seed),
            folder,
            executor=executor,
            max_workers=max_workers,
            figures_dir=figures / f"seed{seed}",
            resume=(folder / "cnn" / "last.pt").exists(),
        )
        sweep_dirs.append(folder)
    switch_time_figure(sweep_dirs, figures / "switch_time")
    rows = aggregate_rows(sweep_dirs)
    save_table(rows, figures / "summary", title="switch-time sweep, mean and std over seeds")
    sizes = parameter_counts(figures / "parameter_counts", cfg, data.input_shape, data.num_classes)
    save_table(sizes, figures / "parameter_counts_table", title="CNN vs eFCN parameter counts")
    notes, metrics = findings(rows)
    first = figures / f"seed{seeds[0]}"
    rep.add_figure(
        figures / "switch_time.png",
        "Final test accuracy vs switch time t_w (CNN, FCN, eFCN), mean ± std over seeds.",
    )
    rep.add_figure(
        first / "deviation.png",
        f"Relative deviation from the CNN subspace during training, per t_w (seed {seeds[0]}).",
    )
    rep.add_figure(
        first / "accuracy_curves.png",
        f"Test accuracy over epochs of every branch (seed {seeds[0]}).",
    )
    rep.add_figure(figures / "parameter_counts.png", "Parameter counts: CNN vs eLCN vs eFCN.")
    rep.add_table(figures / "summary.md", "Per-branch summary over seeds.")
    rep.add_table(figures / "parameter_counts_table.md", "Parameter counts.")
    setting = (
        f"{cfg.dataset} ({data.x_train.shape[0]} train / {data.x_test.shape[0]} test), "
        f"model {cfg.model} (channels {cfg.channels}), SGD lr {cfg.lr}, batch {cfg.batch_size}, "
        f"{cfg.epochs} epochs, seeds {list(seeds)}"
    )
    rep.add_note("Setting: " + setting + ".")
    for note in notes:
        rep.add_note(note)
    for key, value in metrics.items():
        rep.add_metric(key, value)
    return rep.write()

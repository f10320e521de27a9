"""Figures of the switch-time protocol, drawn from the branches' ``metrics.jsonl`` files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dltheory.core.plotting import new_figure, save_figure, save_table


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def efcn_runs(sweep_dir: Path, kind: str = "efcn") -> dict[int, Path]:
    """``{t_w: run folder}`` of the eFCN (or ``kind="elcn"``) branches of a sweep, by t_w."""
    runs = {}
    for folder in sorted(Path(sweep_dir).glob(f"{kind}_tw*")):
        config = json.loads((folder / "config.json").read_text())
        runs[int(config.get("at", config.get("t_w")))] = folder  # t_w: older runs
    return dict(sorted(runs.items()))


def summary_rows(sweep_dir: Path) -> list[dict]:
    """One row per branch: final and best test accuracy, final deviation."""
    sweep_dir = Path(sweep_dir)
    cnn = read_metrics(sweep_dir / "cnn")
    cnn_at = {row["epoch"]: row["test_acc"] for row in cnn}
    rows = []
    for label, t_w, metrics in [
        ("cnn", None, cnn),
        ("fcn", None, read_metrics(sweep_dir / "fcn")),
        *[("efcn", t, read_metrics(f)) for t, f in efcn_runs(sweep_dir).items()],
        *[("elcn", t, read_metrics(f)) for t, f in efcn_runs(sweep_dir, "elcn").items()],
    ]:
        if not metrics:
            continue
        last = metrics[-1]
        rows.append(
            {
                "branch": label,
                "t_w": "" if t_w is None else t_w,
                "epochs": last["epoch"],
                "cnn_test_acc_at_t_w": "" if t_w is None else cnn_at.get(t_w, ""),
                "final_test_acc": last["test_acc"],
                "best_test_acc": max(r["test_acc"] for r in metrics),
                "final_train_acc": last["train_acc"],
                "final_deviation": last.get("dev_total", ""),
            }
        )
    return rows


def _mean_std(values: list[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return mean, std


def aggregate_rows(sweep_dirs: list[Path]) -> list[dict]:
    """Mean and standard deviation over seeds (one sweep folder per seed) of every branch."""
    groups: dict[tuple, list[dict]] = {}
    for folder in sweep_dirs:
        for row in summary_rows(folder):
            groups.setdefault((row["branch"], row["t_w"]), []).append(row)
    rows = []
    for (branch, t_w), members in groups.items():
        row = {"branch": branch, "t_w": t_w, "seeds": len(members)}
        for key in ("final_test_acc", "cnn_test_acc_at_t_w", "final_deviation"):
            values = [m[key] for m in members if m[key] != ""]
            if values:
                row[f"{key}_mean"], row[f"{key}_std"] = _mean_std(values)
        rows.append(row)
    return rows


def switch_time_figure(sweep_dirs: Path | list[Path], out_stem: Path) -> Path:
    """Final test accuracy of the eFCN against the switch time, with the CNN and FCN baselines.

    With several sweep folders (seeds) the points are means and the bars standard deviations.
    """
    dirs = [sweep_dirs] if isinstance(sweep_dirs, (str, Path)) else list(sweep_dirs)
    rows = aggregate_rows(dirs)
    efcn = sorted((r for r in rows if r["branch"] == "efcn"), key=lambda r: r["t_w"])
    base = {r["branch"]: r for r in rows if r["branch"] in ("cnn", "fcn")}
    t_w = [r["t_w"] for r in efcn]
    acc = [r["final_test_acc_mean"] for r in efcn]
    err = [r["final_test_acc_std"] for r in efcn]
    start = [r["cnn_test_acc_at_t_w_mean"] for r in efcn]
    fig, ax = new_figure(size=(5.5, 4))
    ax.errorbar(
        t_w, acc, yerr=err, fmt="o-", color="C2", capsize=3, label="eFCN after switching at $t_w$"
    )
    ax.plot(t_w, start, ":", color="C0", alpha=0.7, label="CNN at $t_w$ (before switching)")
    local = sorted((r for r in rows if r["branch"] == "elcn"), key=lambda r: r["t_w"])
    if local:
        ax.errorbar(
            [r["t_w"] for r in local],
            [r["final_test_acc_mean"] for r in local],
            yerr=[r["final_test_acc_std"] for r in local],
            fmt="s--",
            color="C4",
            capsize=3,
            label="eLCN after switching at $t_w$",
        )
    styles = {"cnn": ("C0", "-", "CNN, full budget"), "fcn": ("C3", "--", "FCN, dense init")}
    for name, (color, ls, label) in styles.items():
        if name in base:
            mean, std = base[name]["final_test_acc_mean"], base[name]["final_test_acc_std"]
            ax.axhline(mean, color=color, ls=ls, label=f"{label} ({mean:.3f} ± {std:.3f})")
            ax.axhspan(mean - std, mean + std, color=color, alpha=0.1)
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlim(-0.3, max(t_w) * 1.3 if t_w else 1)
    ax.set_xlabel("switch time $t_w$ (epochs of CNN training)")
    ax.set_ylabel("final test accuracy")
    levels = acc + [b["final_test_acc_mean"] for b in base.values()]
    levels += [r["final_test_acc_mean"] for r in local]
    ax.set_ylim(min(levels) - 0.02, min(1.0, max(levels)) + 0.01)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"Switch time: CNN -> eFCN ({len(dirs)} seed{'s' if len(dirs) > 1 else ''})")
    data: dict[str, Sequence[Any]] = {
        "t_w": t_w,
        "efcn_final_test_acc_mean": acc,
        "efcn_final_test_acc_std": err,
        "cnn_test_acc_at_t_w_mean": start,
    }
    if local:
        data["elcn_t_w"] = [r["t_w"] for r in local]
        data["elcn_final_test_acc_mean"] = [r["final_test_acc_mean"] for r in local]
        data["elcn_final_test_acc_std"] = [r["final_test_acc_std"] for r in local]
    for name in base:
        data[f"{name}_final_test_acc_mean"] = [base[name]["final_test_acc_mean"]]
        data[f"{name}_final_test_acc_std"] = [base[name]["final_test_acc_std"]]
    return save_figure(fig, out_stem, data=data)


def deviation_figure(sweep_dir: Path, out_stem: Path) -> Path:
    """Relative distance from the CNN subspace over training, one curve per switch time."""
    fig, ax = new_figure(ncols=2, size=(5, 4))
    data: dict[str, Sequence[Any]] = {}
    for i, (t_w, folder) in enumerate(efcn_runs(sweep_dir).items()):
        rows = [r for r in read_metrics(folder) if r["epoch"] > t_w]
        if not rows:
            continue
        epochs = [r["epoch"] for r in rows]
        color = f"C{i % 10}"
        ax[0].plot(epochs, [r["dev_total"] for r in rows], color=color, label=f"$t_w$={t_w}")
        ax[1].plot(epochs, [r["dev_off_local"] for r in rows], color=color)
        ax[1].plot(epochs, [r["dev_unshared"] for r in rows], color=color, ls=":")
        data[f"epoch_tw{t_w}"] = epochs
        for key in ("dev_total", "dev_off_local", "dev_unshared"):
            data[f"{key}_tw{t_w}"] = [r[key] for r in rows]
    ax[0].set_ylabel(r"$\|\theta - P\theta\| / \|\theta\|$")
    ax[1].set_ylabel("off-local (solid) / local-unshared (dotted)")
    positive = any(v > 0 for k, vals in data.items() if k.startswith("dev_") for v in vals)
    for a in ax:
        a.set_xlabel("total epoch")
        if positive:  # log scale needs data above zero (a tiny sweep may not move)
            a.set_yscale("log")
    ax[0].legend(fontsize=7)
    ax[0].set_title("Deviation from the CNN subspace")
    ax[1].set_title("Its two orthogonal parts")
    return save_figure(fig, out_stem, data=data)


def accuracy_curves_figure(sweep_dir: Path, out_stem: Path) -> Path:
    """Test accuracy over epochs of every branch."""
    sweep_dir = Path(sweep_dir)
    fig, ax = new_figure(size=(5.5, 4))
    data: dict[str, Sequence[Any]] = {}
    for name, folder, style in [
        ("cnn", sweep_dir / "cnn", "k-"),
        ("fcn", sweep_dir / "fcn", "r--"),
    ]:
        rows = read_metrics(folder)
        if rows:
            ax.plot(
                [r["epoch"] for r in rows], [r["test_acc"] for r in rows], style, label=name.upper()
            )
            data[f"epoch_{name}"] = [r["epoch"] for r in rows]
            data[f"test_acc_{name}"] = [r["test_acc"] for r in rows]
    for i, (t_w, folder) in enumerate(efcn_runs(sweep_dir).items()):
        rows = read_metrics(folder)
        ax.plot(
            [r["epoch"] for r in rows],
            [r["test_acc"] for r in rows],
            color=f"C{i % 10}",
            alpha=0.8,
            lw=1,
            label=f"eFCN $t_w$={t_w}",
        )
        data[f"epoch_tw{t_w}"] = [r["epoch"] for r in rows]
        data[f"test_acc_tw{t_w}"] = [r["test_acc"] for r in rows]
    for i, (t_w, folder) in enumerate(efcn_runs(sweep_dir, "elcn").items()):
        rows = read_metrics(folder)
        ax.plot(
            [r["epoch"] for r in rows],
            [r["test_acc"] for r in rows],
            color=f"C{i % 10}",
            ls="--",
            lw=1,
            label=f"eLCN $t_w$={t_w}",
        )
        data[f"epoch_elcn_tw{t_w}"] = [r["epoch"] for r in rows]
        data[f"test_acc_elcn_tw{t_w}"] = [r["test_acc"] for r in rows]
    ax.set_xlabel("total epoch")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, out_stem, data=data)


def landscape_figure(rows: list[dict], out_stem: Path) -> Path:
    """Train loss and test accuracy along the interpolation paths of one sweep.

    Top: from the CNN at the switch to the final eFCN (and eLCN); bottom: from the final eFCN to
    the final FCN twin. Solid: linear path in weights; dashed: output averaging.
    """
    fig, ax = new_figure(ncols=2, nrows=2, size=(4.5, 3.4))
    data: dict[str, Sequence[Any]] = {}
    panels = {"switch": 0, "elcn_switch": 0, "to_fcn": 1}
    times = sorted({r["t_w"] for r in rows})
    colors = {t: f"C{i % 10}" for i, t in enumerate(times)}
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["path"], r["mode"], r["t_w"]), []).append(r)
    for (path, mode, t_w), members in sorted(groups.items(), key=lambda kv: str(kv[0])):
        members.sort(key=lambda r: r["alpha"])
        alpha = [r["alpha"] for r in members]
        ls = "-" if mode == "linear" else "--"
        if path == "elcn_switch":
            ls = ":"
        row = panels[path]
        label = f"$t_w$={t_w}" if mode == "linear" and path != "elcn_switch" else None
        ax[row][0].plot(
            alpha, [r["train_loss"] for r in members], ls, color=colors[t_w], label=label
        )
        ax[row][1].plot(alpha, [r["test_acc"] for r in members], ls, color=colors[t_w])
        key = f"{path}_{mode}_tw{t_w}"
        data[f"alpha_{key}"] = alpha
        data[f"train_loss_{key}"] = [r["train_loss"] for r in members]
        data[f"test_acc_{key}"] = [r["test_acc"] for r in members]
    titles = ("CNN at $t_w$ (a=0) -> final eFCN (a=1)", "final eFCN (a=0) -> final FCN twin (a=1)")
    for i in range(2):
        ax[i][0].set_ylabel("train loss")
        ax[i][1].set_ylabel("test accuracy")
        for j in range(2):
            ax[i][j].set_xlabel("interpolation a")
            ax[i][j].set_title(titles[i], fontsize=8)
    ax[0][0].legend(
        fontsize=6, title="solid: linear, dashed: outputs, dotted: eLCN", title_fontsize=6
    )
    return save_figure(fig, out_stem, data=data)


def parameter_count_figure(rows: list[dict], out_stem: Path) -> Path:
    """Bar chart (log scale) of CNN vs eLCN vs eFCN sizes; ``rows`` from ``size_rows``."""
    fig, ax = new_figure(size=(6, 4))
    keys = [
        ("cnn_params", "CNN"),
        ("local_params", "eLCN"),
        ("live_params", "eFCN (live)"),
        ("dense_params", "eFCN (authors', with padding columns)"),
    ]
    width = 0.8 / len(keys)
    for k, (key, label) in enumerate(keys):
        ax.bar(
            [i + k * width for i in range(len(rows))], [r[key] for r in rows], width, label=label
        )
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(rows))])
    ax.set_xticklabels([r["model"] for r in rows], fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("parameters")
    ax.legend(fontsize=7)
    data: dict[str, Sequence[Any]] = {key: [r[key] for r in rows] for key, _ in keys}
    data["model"] = [r["model"] for r in rows]
    return save_figure(fig, out_stem, data=data)


def draw_all(sweep_dir: Path, figures_dir: Path) -> dict[str, Path]:
    """Summary table and figures of one sweep folder."""
    figures_dir.mkdir(parents=True, exist_ok=True)
    save_table(summary_rows(sweep_dir), figures_dir / "summary", title="switch-time sweep")
    return {
        "switch_time": switch_time_figure(sweep_dir, figures_dir / "switch_time"),
        "deviation": deviation_figure(sweep_dir, figures_dir / "deviation"),
        "accuracy_curves": accuracy_curves_figure(sweep_dir, figures_dir / "accuracy_curves"),
        "summary": figures_dir / "summary.md",
    }

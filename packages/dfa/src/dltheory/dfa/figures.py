"""Plots of the DFA reproduction. Each function draws measured data and saves the PNG with its
numbers beside it (CSV), returning the PNG path; nothing here measures anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dltheory.core.plotting import new_figure, save_figure


def align_then_memorise(out: Path, curves: dict[str, dict[str, Any]], n_inputs: int) -> Path:
    """eps_g(t) and cos(v, b), ODE lines and simulation dots, per method (``curves[method]``
    holds ode_t, ode_eg, ode_cos_vb, sim_t, sim_eg, sim_cos_vb)."""
    fig, (ax1, ax2) = new_figure(ncols=2, size=(5, 4))
    data: dict[str, Any] = {}
    for (method, c), colour in zip(curves.items(), ("C0", "C1", "C2")):
        label = method.upper()
        ax1.loglog(c["ode_t"][1:], c["ode_eg"][1:], colour, label=f"{label} ODE")
        ax1.loglog(
            c["sim_t"][1:], c["sim_eg"][1:], "o", color=colour, ms=3, label=f"{label} N={n_inputs}"
        )
        ax2.semilogx(c["ode_t"][1:], c["ode_cos_vb"][1:], colour, label=f"{label} ODE")
        ax2.semilogx(c["sim_t"][1:], c["sim_cos_vb"][1:], "o", color=colour, ms=3)
        data.update({f"{method}_{k}": v for k, v in c.items()})
    ax1.set(xlabel="t = steps / N", ylabel=r"$\epsilon_g$", title="generalisation error")
    ax2.set(xlabel="t = steps / N", ylabel="cos(v, b)", title="align, then memorise")
    ax1.legend(fontsize=7)
    ax2.legend(fontsize=7)
    return save_figure(fig, out / "align_then_memorise", data=data)


def layerwise(out: Path, rows: list[dict[str, Any]], title: str) -> Path:
    """Train loss, WA and GA per layer against the step (log scale)."""
    steps = [max(r["step"], 1) for r in rows]
    fig, (ax1, ax2, ax3) = new_figure(ncols=3, size=(4.6, 3.8))
    data: dict[str, Any] = {
        "step": [r["step"] for r in rows],
        "train_loss": [r["train_loss"] for r in rows],
    }
    ax1.semilogx(steps, data["train_loss"], "k")
    ax1.set(xlabel="step", ylabel="train loss", title=title)
    keys = sorted({k for r in rows for k in r if k.startswith(("wa_layer", "ga_layer"))})
    for key in keys:
        values = [r.get(key, np.nan) for r in rows]
        data[key] = values
        (ax2 if key.startswith("wa") else ax3).semilogx(steps, values, label=key.replace("_", " "))
    ax2.set(xlabel="step", ylabel="weight alignment", title="WA per layer")
    ax3.set(xlabel="step", ylabel="gradient alignment", title="GA per layer")
    ax2.legend(fontsize=7)
    ax3.legend(fontsize=7)
    return save_figure(fig, out / "layerwise_alignment", data=data)


def bottom_to_top(
    out: Path,
    rows: list[dict[str, Any]],
    layers: Sequence[int],
    times: np.ndarray,
    title: str,
) -> Path:
    """Left: WA_l(t) of one run, normalised by its maximum. Right: the time each layer reaches
    half its maximal WA, mean and SE over seeds (``times``: seeds x layers)."""
    fig, (ax1, ax2) = new_figure(ncols=2, size=(5, 4))
    steps = [max(r["step"], 1) for r in rows]
    data: dict[str, Any] = {"step": [r["step"] for r in rows]}
    for layer in layers:
        wa = np.array([r.get(f"wa_layer{layer}", np.nan) for r in rows], dtype=float)
        peak = np.nanmax(wa) if np.isfinite(wa).any() else np.nan
        data[f"wa_layer{layer}"] = wa
        ax1.semilogx(steps, wa / peak, label=f"layer {layer}")
    ax1.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax1.set(xlabel="step", ylabel="WA / max WA", title=title)
    ax1.legend(fontsize=7)
    log_t = np.log10(times)
    mean = np.nanmean(log_t, axis=0)
    se = np.nanstd(log_t, axis=0, ddof=1) / np.sqrt(np.sum(np.isfinite(log_t), axis=0))
    ax2.errorbar(list(layers), mean, yerr=se, fmt="o-", capsize=3)
    for seed_times in log_t:
        ax2.plot(list(layers), seed_times, color="grey", alpha=0.3, lw=0.8)
    ax2.set(
        xlabel="layer l",
        ylabel=r"log$_{10}$ step where WA$_l$ reaches half its max",
        title="alignment time per layer (seeds)",
        xticks=list(layers),
    )
    data.update({"layer": list(layers), "log10_time_mean": mean, "log10_time_se": se})
    return save_figure(fig, out / "bottom_to_top", data=data)


def alignment_vs_width(out: Path, rows: list[dict[str, Any]]) -> Path:
    """Final WA and GA (total) against the hidden width, mean and SE over seeds."""
    fig, ax = new_figure(size=(5, 4))
    widths = [r["width"] for r in rows]
    for key, label in (("ga_total", "GA (total)"), ("wa_total", "WA (total)")):
        ax.errorbar(
            widths,
            [r[f"{key}_mean"] for r in rows],
            yerr=[r[f"{key}_se"] for r in rows],
            fmt="o-",
            capsize=3,
            label=label,
        )
    ax.set_xscale("log", base=2)
    ax.set(
        xlabel="hidden width", ylabel="alignment after training", title="DFA: alignment vs width"
    )
    ax.legend()
    data: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]}
    return save_figure(fig, out / "alignment_vs_width", data=data)


def degeneracy(out: Path, keys: list[str], columns: dict[str, list[float]]) -> Path:
    fig, ax = new_figure(size=(6, 4))
    width = 0.38
    pos = np.arange(len(keys))
    for i, (method, values) in enumerate(columns.items()):
        ax.bar(pos + (i - 0.5) * width, values, width, label=method.upper())
    ax.set_xticks(pos, [k.replace("cos_", "") for k in keys])
    ax.set(ylabel="mean cosine between seeds", title="degeneracy breaking: same B, new seeds")
    ax.legend()
    data: dict[str, Any] = {"layer": keys, **columns}
    return save_figure(fig, out / "degeneracy_breaking", data=data)


def conditioning(
    out: Path,
    grid: Sequence[float],
    wa: np.ndarray,
    rows: list[dict[str, Any]],
    noises: Sequence[float],
    noise_rows: list[dict[str, Any]],
) -> Path:
    fig, (ax1, ax2, ax3) = new_figure(ncols=3, size=(4.6, 3.8))
    im = ax1.imshow(wa, origin="lower", cmap="viridis", vmin=min(0.6, float(wa.min())), vmax=1)
    ax1.set_xticks(range(len(grid)), grid)
    ax1.set_yticks(range(len(grid)), grid)
    ax1.set(xlabel=r"$\beta$", ylabel=r"$\alpha$", title="WA (total), deep linear DFA")
    fig.colorbar(im, ax=ax1)
    ax2.loglog([r["cond_A2"] for r in rows], [1 - r["wa_total"] for r in rows], "o")
    ax2.set(xlabel=r"cond($A_2$)", ylabel="1 - WA", title="misalignment vs conditioning")
    ax3.plot(noises, [r["wa_total"] for r in noise_rows], "o-", label="WA total")
    ax3.set(xlabel="label noise", ylabel="weight alignment", title="label noise (one-hot, C=10)")
    data: dict[str, Any] = {
        "alpha": [r["alpha"] for r in rows],
        "beta": [r["beta"] for r in rows],
        "wa_total": [r["wa_total"] for r in rows],
        "cond_A2": [r["cond_A2"] for r in rows],
        "label_noise": list(noises),
        "wa_noise": [r["wa_total"] for r in noise_rows],
    }
    return save_figure(fig, out / "alignment_vs_conditioning", data=data)


def cnn(out: Path, rows: list[dict[str, Any]], dataset: str) -> Path:
    fig, ax = new_figure(size=(7, 4))
    pos = np.arange(len(rows))
    ax.bar(pos - 0.2, [r["ga_total"] for r in rows], 0.4, label="GA (total)")
    ax.bar(pos + 0.2, [r["test_acc"] for r in rows], 0.4, label="test accuracy")
    ax.set_xticks(pos, [r["model"] for r in rows], rotation=20, fontsize=7)
    ax.set(title=f"DFA on CNNs fails to align ({dataset})")
    ax.legend()
    data: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]}
    return save_figure(fig, out / "cnn_alignment", data=data)


def mnist(out: Path, rows: list[dict[str, Any]]) -> Path:
    fig, ax = new_figure(size=(5, 4))
    methods = [r["method"] for r in rows]
    ax.bar(
        methods,
        [r["test_acc_mean"] for r in rows],
        yerr=[r["test_acc_se"] for r in rows],
        capsize=4,
    )
    low = min(r["test_acc_mean"] for r in rows)
    ax.set_ylim(max(0.0, low - 0.05), 1.0)
    ax.set(ylabel="test accuracy", title="MNIST-t10k, MLP 784-256-256-10")
    data: dict[str, Any] = {k: [r[k] for r in rows] for k in rows[0]}
    return save_figure(fig, out / "mnist_accuracy", data=data)

"""Figures of the paper's locality analysis and sample-efficiency comparison (core.plotting: PNG
plus the plotted data as CSV)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def plot_nonlocality_history(history: list[dict], path, title: str = "Nonlocality per layer"):
    """Nonlocality of each layer against epoch (paper Fig. 4/5); ``history`` rows hold
    ``epoch`` and ``nonlocality`` (list over layers). Writes PNG + CSV through core.plotting."""
    from dltheory.core.plotting import new_figure, save_figure

    epochs = [row["epoch"] for row in history]
    per_layer = list(zip(*[row["nonlocality"] for row in history]))
    fig, ax = new_figure(size=(5, 3.6))
    data: dict[str, Sequence[Any]] = {"epoch": epochs}
    cmap = _cmap(len(per_layer))
    for i, values in enumerate(per_layer):
        ax.plot(epochs, values, color=cmap[i], label=f"layer {i + 1}")
        data[f"layer{i + 1}"] = list(values)
    ax.set_xlabel("epoch")
    ax.set_ylabel("nonlocality (patches)")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2)
    return save_figure(fig, path, data=data)


def plot_gates(gates: torch.Tensor, path, title: str = "Gate sigma(lambda) per GPSA layer"):
    """Gate values per layer, one dot per head and the head mean (paper Fig. 6)."""
    from dltheory.core.plotting import new_figure, save_figure

    fig, ax = new_figure(size=(5, 3.6))
    layers = list(range(1, gates.shape[0] + 1))
    data: dict[str, Sequence[Any]] = {"layer": layers}
    for h in range(gates.shape[1]):
        ax.scatter(layers, gates[:, h].tolist(), s=12, alpha=0.6)
        data[f"head{h}"] = gates[:, h].tolist()
    ax.plot(layers, gates.mean(1).tolist(), color="k", label="mean over heads")
    data["mean"] = gates.mean(1).tolist()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("GPSA layer")
    ax.set_ylabel("sigma(lambda_h)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return save_figure(fig, path, data=data)


def _cmap(n: int):
    import matplotlib

    cm = matplotlib.colormaps["viridis"]
    return [cm(i / max(1, n - 1)) for i in range(n)]


def plot_sample_efficiency(rows: Sequence[dict], path, gpsa_layers: int):
    """Top-1 of DeiT and ConViT against the data fraction, mean ± SE over seeds (cf. Table 2)."""
    from dltheory.core.plotting import new_figure, save_figure

    fr = [r["fraction"] for r in rows]
    fig, ax = new_figure(size=(5, 3.6))
    for key, label, marker in (
        ("deit_top1", "DeiT (0 GPSA layers)", "o-"),
        ("convit_top1", f"ConViT ({gpsa_layers} GPSA layers)", "s-"),
    ):
        ax.errorbar(
            fr,
            [r[key] for r in rows],
            yerr=[r[f"{key}_se"] for r in rows],
            fmt=marker,
            capsize=3,
            label=label,
        )
    ax.set_xscale("log")
    ax.set_xlabel("fraction of training images per class")
    ax.set_ylabel("validation top-1 (%)")
    ax.set_title("Sample efficiency (cf. paper Table 2)")
    ax.legend()
    data: dict[str, Sequence[Any]] = {"fraction": fr}
    for key in (
        "deit_top1",
        "deit_top1_se",
        "convit_top1",
        "convit_top1_se",
        "gap_pct",
        "gap_pct_se",
    ):
        data[key] = [r[key] for r in rows]
    return save_figure(fig, path, data=data)

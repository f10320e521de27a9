"""Figures of the reproduction: the three methods, the alpha sweep, diversity vs candidate count."""

from __future__ import annotations

from pathlib import Path

BAR_METRICS = ("intent_accuracy", "originality", "novelty", "bleu_diversity", "bleu_quality")


def bar_figure(rows: list[dict], out: Path, reference: dict[str, dict[str, float]] | None):
    """One panel per metric: ours (mean ± SE over folds and seeds) beside the authors' value."""
    import numpy as np

    from dltheory.core.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=len(BAR_METRICS), size=(2.4, 3.0))
    labels = [r["label"] for r in rows]
    x = np.arange(len(rows))
    data: dict = {"method": labels}
    w = 0.4 if reference else 0.7
    for ax, m in zip(axes, BAR_METRICS):
        ours = [r[m] for r in rows]
        err = [r[m + "_se"] for r in rows]
        ax.bar(
            x - (w / 2 if reference else 0), ours, w, yerr=err, label="this code", color="tab:blue"
        )
        data[m], data[m + "_se"] = ours, err
        if reference:
            ref = [reference.get(r["label"], {}).get(m, np.nan) for r in rows]
            ax.bar(x + w / 2, ref, w, label="authors", color="tab:gray")
            data[m + "_authors"] = ref
        ax.set_xticks(x, [lab.replace(" ", "\n") for lab in labels], fontsize=7)
        ax.set_title(m.replace("_", " "), fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, data=data)


def alpha_figure(rows: list[dict], out: Path, reference: dict[float, dict[str, float]] | None):
    from dltheory.core.plotting import new_figure, save_figure

    metrics = ("intent_accuracy", "originality", "novelty", "bleu_quality")
    fig, ax = new_figure(size=(5, 3.6))
    alphas = [r["alpha"] for r in rows]
    data: dict = {"alpha": alphas}
    for i, m in enumerate(metrics):
        ax.errorbar(
            alphas,
            [r[m] for r in rows],
            yerr=[r[m + "_se"] for r in rows],
            marker="o",
            color=f"C{i}",
            label=m.replace("_", " "),
        )
        data[m] = [r[m] for r in rows]
        if reference and m != "novelty":
            ra = sorted(reference)
            ax.plot(ra, [reference[a][m] for a in ra], ls="--", color=f"C{i}", alpha=0.6)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("alpha (classifier-loss weight of transferred queries)")
    ax.set_title(
        "query transfer: effect of alpha" + (" (dashed: authors)" if reference else ""), fontsize=9
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, data=data)


def diversity_figure(rows: list[dict], out: Path, authors_count: int):
    """1 - self-BLEU against the number of candidates per intent, one line per method."""
    from dltheory.core.plotting import new_figure, save_figure

    fig, ax = new_figure(size=(4.6, 3.4))
    data: dict = {}
    for i, r in enumerate(rows):
        counts = [int(c) for c in r["diversity_by_count"]]
        vals = list(r["diversity_by_count"].values())
        ax.plot(counts, vals, marker="o", color=f"C{i}", label=r["label"])
        data["count"] = counts
        data[r["label"]] = vals
    ax.axvline(authors_count, color="gray", ls=":", label=f"authors' count ({authors_count})")
    ax.set_xscale("log")
    ax.set_xlabel("candidates per intent")
    ax.set_ylabel("BLEU diversity (1 - self-BLEU)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, data=data)

"""``reproduce``: the three-method comparison and the alpha sweep, as bar figures and tables.

Reference values (authors' notebook behind the paper's bar figure, SNIPS, 200 training queries,
snips-dump reservoir, mean of seeds 1-5) are drawn beside ours when the data are SNIPS.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .config import TrainConfig
from .experiment import run_comparison

REFERENCE_METHODS = {  # method -> (BLEU quality, BLEU diversity, intent accuracy, originality)
    "none": (0.646, 0.097, 0.982, 0.087),
    "pseudo_label": (0.560, 0.153, 0.896, 0.219),
    "query_transfer": (0.639, 0.122, 0.971, 0.351),
}
REFERENCE_ALPHA = {  # alpha -> (BLEU quality, BLEU diversity, intent accuracy, originality, transfer)
    0.0: (0.573, 0.184, 0.890, 0.430, 0.202),
    0.1: (0.643, 0.152, 0.957, 0.357, 0.094),
    0.2: (0.639, 0.122, 0.971, 0.351, 0.091),
    0.5: (0.643, 0.134, 0.976, 0.307, 0.055),
    1.0: (0.650, 0.125, 0.984, 0.307, 0.062),
    2.0: (0.654, 0.120, 0.988, 0.284, 0.033),
    5.0: (0.647, 0.133, 0.978, 0.245, 0.041),
}
BAR_METRICS = ("intent_accuracy", "bleu_quality", "bleu_diversity", "originality")
REF_INDEX = {
    "bleu_quality": 0,
    "bleu_diversity": 1,
    "intent_accuracy": 2,
    "originality": 3,
    "transfer": 4,
}


def reproduce_config(data: str, quick: bool, device: str) -> tuple[TrainConfig, dict]:
    """Base config and sweep sizes. SNIPS keeps the paper's setting; chatterbot (5 categories of
    40+ first turns) uses 100 training queries and a 0.6 threshold (TF-IDF/LSA cosines between
    topics are lower than InferSent's)."""
    snips = data != "chatterbot"
    base = TrainConfig(
        data=data,
        device=device,
        checkpoint_every=1000,
        train_size=200 if snips else 100,
        none_size=200 if snips else 100,
        cosine_threshold=0.9 if snips else 0.6,
    )
    if quick:
        base = replace(base, epochs=30 if snips else 25)
        sweep = {"seeds": (0,), "alphas": (0.0, 1.0), "n_per_intent": 50}
    else:
        sweep = {
            "seeds": (0, 1, 2, 3, 4),
            "alphas": (0.0, 0.1, 0.5, 1.0, 2.0, 5.0),
            "n_per_intent": 100,
        }
    return base, sweep


def bar_figure(rows: list[dict], out: Path, with_reference: bool):
    import numpy as np

    from dltheory.core.plotting import new_figure, save_figure

    fig, axes = new_figure(ncols=len(BAR_METRICS), size=(2.6, 3.0))
    methods = [r["method"] for r in rows]
    x = np.arange(len(methods))
    data = {"method": methods}
    for ax, m in zip(axes, BAR_METRICS):
        ours = [r[m] for r in rows]
        err = [r[m + "_std"] for r in rows]
        w = 0.4 if with_reference else 0.7
        ax.bar(
            x - (w / 2 if with_reference else 0),
            ours,
            w,
            yerr=err,
            label="this code",
            color="tab:blue",
        )
        data[m] = ours
        data[m + "_std"] = err
        if with_reference:
            ref = [REFERENCE_METHODS[k][REF_INDEX[m]] for k in methods]
            ax.bar(x + w / 2, ref, w, label="authors (ref.)", color="tab:gray")
            data[m + "_reference"] = ref
        ax.set_xticks(x, [k.replace("_", "\n") for k in methods], fontsize=8)
        ax.set_title(m.replace("_", " "), fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, data=data)


def alpha_figure(rows: list[dict], out: Path, with_reference: bool):
    from dltheory.core.plotting import new_figure, save_figure

    metrics = ("intent_accuracy", "bleu_quality", "originality", "transfer")
    fig, ax = new_figure(size=(5, 3.6))
    alphas = [r["alpha"] for r in rows]
    data = {"alpha": alphas}
    for i, m in enumerate(metrics):
        ax.errorbar(
            alphas,
            [r[m] for r in rows],
            yerr=[r[m + "_std"] for r in rows],
            marker="o",
            color=f"C{i}",
            label=m.replace("_", " "),
        )
        data[m] = [r[m] for r in rows]
        if with_reference:
            ra = sorted(REFERENCE_ALPHA)
            ax.plot(
                ra,
                [REFERENCE_ALPHA[a][REF_INDEX[m]] for a in ra],
                ls="--",
                color=f"C{i}",
                alpha=0.6,
            )
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xlabel("alpha (classifier-loss weight of transferred queries)")
    ax.set_title(
        "query transfer: effect of alpha" + (" (dashed: authors)" if with_reference else ""),
        fontsize=9,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, data=data)


def compact_rows(rows: list[dict], key: str, with_reference: bool) -> list[dict]:
    """``mean ± std`` per metric, with the authors' value in brackets when known."""
    out = []
    for r in rows:
        ref = REFERENCE_METHODS.get(r[key]) if key == "method" else REFERENCE_ALPHA.get(r[key])
        row = {key: r[key], "seeds": r["seeds"]}
        for m in (
            "intent_accuracy",
            "bleu_quality",
            "bleu_diversity",
            "originality",
            "transfer",
            "distinct_1",
            "augmentation.gain",
        ):
            cell = f"{r[m]:.3f} ± {r[m + '_std']:.3f}"
            if with_reference and ref is not None and m in REF_INDEX and REF_INDEX[m] < len(ref):
                cell += f" ({ref[REF_INDEX[m]]:.3f})"
            row[m] = cell
        out.append(row)
    return out


def reproduce(
    out: Path,
    quick: bool,
    device: str,
    data: str = "chatterbot",
    seeds: tuple | None = None,
    alphas: tuple | None = None,
    log=print,
) -> Path:
    from dltheory.core.plotting import save_table
    from dltheory.core.report import ReproduceReport

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    base, sweep = reproduce_config(data, quick, device)
    seeds = seeds or sweep["seeds"]
    alphas = sweep["alphas"] if alphas is None else alphas
    snips = data != "chatterbot"
    res = run_comparison(
        base, out, seeds=seeds, alphas=alphas, n_per_intent=sweep["n_per_intent"], log=log
    )
    rep = ReproduceReport(out, title="querygen: CVAE query generation with query transfer")
    methods = res["methods"]
    alpha_rows = sorted(
        res["alphas"]
        + [dict(r, alpha=base.alpha) for r in methods if r["method"] == "query_transfer"],
        key=lambda r: r["alpha"],
    )
    rep.add_figure(
        bar_figure(methods, out / "methods", snips),
        "No transfer / query transfer / pseudo-labelling",
    )
    if len(alpha_rows) > 1:
        rep.add_figure(
            alpha_figure(alpha_rows, out / "alpha", snips), "Query transfer: effect of alpha"
        )
    save_table(methods, out / "methods_table", title="Methods (mean over seeds)")
    save_table(
        compact_rows(methods, "method", snips),
        out / "summary",
        title="Methods: mean ± std over seeds" + (" (authors' value)" if snips else ""),
    )
    if len(alpha_rows) > 1:
        save_table(
            compact_rows(alpha_rows, "alpha", snips),
            out / "alpha_summary",
            title="Alpha sweep: mean ± std over seeds" + (" (authors' value)" if snips else ""),
        )
    save_table(alpha_rows, out / "alpha_table", title="Alpha sweep (query transfer)")
    rep.add_table(out / "summary.md", "Methods (compact)")
    rep.add_table(out / "methods_table.md", "Methods")
    rep.add_table(out / "alpha_table.md", "Alpha sweep")
    for r in methods:
        for m in BAR_METRICS:
            rep.add_metric(f"{r['method']}.{m}", r[m])
    rep.add_note(
        f"data={data}, train_size={base.train_size}, none_size={base.none_size}, epochs={base.epochs}, "
        f"cosine_threshold={base.cosine_threshold}, seeds={list(seeds)}; reservoir = held-out training-pool "
        f"queries grouped by intent + chatterbot-corpus categories (the paper's Snips Console dump is not public)."
    )
    return rep.write()

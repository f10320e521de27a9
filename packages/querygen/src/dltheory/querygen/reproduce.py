"""``reproduce``: no transfer / query transfer / pseudo-labelling, the alpha trade-off and the
language-model augmentation over SNIPS leave-intents-out folds and seeds.

Scales (SNIPS 2017-06; 200 few-shot queries of the fold's target intents, 200 transferred):

* ``quick``: 2 folds x 1 seed, no transfer and query transfer only, 15 epochs, 62 queries per
  intent (under a minute of CPU time; an under-trained model: a check of the pipeline, not of the
  paper); the pseudo-labelling and alpha claims need ``full``;
* ``full``: 2 folds x 2 seeds (0, 1), all five settings (no transfer, query transfer alpha = 0 /
  0.2 / 1, pseudo-labelling), 50 epochs, 100 queries per intent: 20 runs, measured 1844 s of wall
  time on this shared 2-core machine (92 s per run, 44-202 s; 469 s of CPU time in all);
* ``paper``: the paper's setting: 200 few-shot + 200 transferred queries, 50 epochs, 5 seeds
  (1-5 as the authors), over the same 2 folds and five settings: 50 runs, about 77 min of wall time
  here at the measured 92 s per run (about 20 min of CPU time); runs already finished in ``out``
  (e.g. seed 1 of a ``full`` run in the same folder) are reused. It needs the SNIPS data (refused
  with one line when absent), no GPU; the estimate is printed before the first run.

Without the SNIPS data the quick scale runs the same pipeline on chatterbot-corpus categories
(code check only) and the claims are ``not-run`` (data absent).

Reference values: the authors' notebook behind the paper's bar figures (SNIPS, 200 queries,
snips-dump reservoir, mean of seeds 1-5; reference notes, Sec. 1.7).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from dltheory.core.errors import require_choice

from .claims import CLAIMS
from .config import TrainConfig
from .metrics import AUTHORS_CANDIDATES

REFERENCE_METHODS = {  # authors: method -> metrics (no novelty: they did not measure it)
    "no transfer": {
        "bleu_quality": 0.646,
        "bleu_diversity": 0.097,
        "intent_accuracy": 0.982,
        "originality": 0.087,
    },
    "query transfer": {
        "bleu_quality": 0.639,
        "bleu_diversity": 0.122,
        "intent_accuracy": 0.971,
        "originality": 0.351,
    },
    "pseudo-labelling": {
        "bleu_quality": 0.560,
        "bleu_diversity": 0.153,
        "intent_accuracy": 0.896,
        "originality": 0.219,
    },
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
ALPHA_KEYS = ("bleu_quality", "bleu_diversity", "intent_accuracy", "originality", "transfer")

# (label, method, alpha)
SETTINGS = {
    "none": ("no transfer", "none", 0.2),
    "qt": ("query transfer", "query_transfer", 0.2),
    "pseudo": ("pseudo-labelling", "pseudo_label", 0.2),
    "qt_a0": ("query transfer alpha=0", "query_transfer", 0.0),
    "qt_a1": ("query transfer alpha=1", "query_transfer", 1.0),
}
SCALE_PLANS = {
    "quick": {
        "folds": 2,
        "seeds": (0,),
        "settings": ("none", "qt"),
        "epochs": 15,
        "n_per_intent": AUTHORS_CANDIDATES,
    },
    "full": {
        "folds": 2,
        "seeds": (0, 1),
        "settings": ("none", "qt", "pseudo", "qt_a0", "qt_a1"),
        "epochs": 50,
        "n_per_intent": 100,
    },
    "paper": {
        "folds": 2,
        "seeds": (1, 2, 3, 4, 5),
        "settings": ("none", "qt", "pseudo", "qt_a0", "qt_a1"),
        "epochs": 50,
        "n_per_intent": 100,
    },
}
METRICS = (
    "intent_accuracy",
    "bleu_quality",
    "bleu_diversity",
    "originality",
    "novelty",
    "copied_transferred",
    "transfer",
    "distinct_1",
    "transferred",
)
# Measured by the full scale (commit ae7a4ec): 20 runs of 50 epochs + scoring took 1844 s of wall
# time (44-202 s each) on the shared 2-core machine (load 7-14) and 469 s of CPU time in all.
SECONDS_PER_RUN = 1844 / 20  # wall time of one 50-epoch run + scoring, shared machine
CPU_SECONDS_PER_RUN = 469 / 20  # CPU time of one such run (about its wall time on an idle core)


def _snips_default() -> str | None:
    from dltheory.core.data import shared_data_dir

    root = shared_data_dir()
    path = root / "snips-nlu-benchmark-2017-06" if root is not None else None
    return str(path) if path is not None and path.is_dir() else None


def plan_for(scale: str, data: str | None, seeds: tuple[int, ...] | None = None) -> dict:
    from dltheory.core.errors import DatasetNotFoundError

    require_choice("scale", scale, SCALE_PLANS)
    plan: dict[str, Any] = dict(SCALE_PLANS[scale])
    data = data or _snips_default()
    if data is None:
        if scale != "quick":
            raise DatasetNotFoundError(
                f"--scale {scale} needs the SNIPS 2017-06 benchmark (pass --data or set "
                f"DLTHEORY_SHARED_DATA to a folder holding snips-nlu-benchmark-2017-06)"
            )
        data = "chatterbot"
    plan["data"] = data
    plan["snips"] = data != "chatterbot"
    if seeds:
        plan["seeds"] = tuple(seeds)
    plan["runs"] = plan["folds"] * len(plan["seeds"]) * len(plan["settings"])
    return plan


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def plan_queries(plan: dict) -> str:
    if not plan["snips"]:
        return "chatterbot-corpus: 60 few-shot + 60 transferred queries"
    return "SNIPS: 200 few-shot queries of the fold's target intents + 200 transferred"


def time_estimate(plan: dict, out: str | Path | None = None) -> dict:
    """Runs still to do (finished runs in ``out`` are reused) and their expected time, scaled from
    the measured 50-epoch runs."""
    done = 0
    if out is not None:
        for seed in plan["seeds"]:
            for fold in range(plan["folds"]):
                for key in plan["settings"]:
                    run = Path(out) / "runs" / f"fold{fold}_seed{seed}_{key}"
                    done += (run / "result.json").is_file()
    todo = plan["runs"] - done
    per_epoch = plan["epochs"] / 50
    return {
        "runs": plan["runs"],
        "done": done,
        "todo": todo,
        "wall_seconds": todo * SECONDS_PER_RUN * per_epoch,
        "cpu_seconds": todo * CPU_SECONDS_PER_RUN * per_epoch,
    }


def _get(d: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def mean_se(values) -> tuple[float, float]:
    from dltheory.core.claims import mean_and_se

    vals = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return mean_and_se(vals)


def paired(results: dict, a: str, b: str, key: str) -> list[float]:
    """key(a) - key(b) for every (fold, seed) both settings ran."""
    out = []
    for by_setting in results.values():
        if a in by_setting and b in by_setting:
            va, vb = _get(by_setting[a], key), _get(by_setting[b], key)
            if va is not None and vb is not None:
                out.append(float(va) - float(vb))
    return out


def summary_rows(results: dict, settings) -> list[dict]:
    rows = []
    for key in settings:
        label = SETTINGS[key][0]
        runs = [r[key] for r in results.values() if key in r]
        row: dict = {"label": label, "alpha": SETTINGS[key][2], "runs": len(runs)}
        for m in (*METRICS, "augmentation.gain"):
            row[m], row[m + "_se"] = mean_se(_get(r, m) for r in runs)
        counts = sorted({c for r in runs for c in r.get("diversity_by_count", {})}, key=int)
        row["diversity_by_count"] = {
            c: mean_se(r["diversity_by_count"].get(c) for r in runs)[0] for c in counts
        }
        for lm in ("kneser_ney", "gru"):
            for part in ("perplexity_real", "perplexity_augmented", "log_ratio"):
                k = f"language_model.{lm}.{part}"
                row[k], row[k + "_se"] = mean_se(_get(r, k) for r in runs)
        for part in ("accuracy_real", "accuracy_augmented"):
            k = f"augmentation.{part}"
            row[k], row[k + "_se"] = mean_se(_get(r, k) for r in runs)
        rows.append(row)
    return rows


def _cell(row: dict, m: str, digits: int = 3) -> str:
    v, se = row[m], row.get(m + "_se", math.nan)
    if math.isnan(v):
        return "n/a"
    return f"{v:.{digits}f} ± {se:.{digits}f}" if not math.isnan(se) else f"{v:.{digits}f}"


def method_table(rows: list[dict], snips: bool) -> list[dict]:
    out = []
    for r in rows:
        ref = REFERENCE_METHODS.get(r["label"], {}) if snips else {}
        if snips and r["label"].startswith("query transfer alpha="):
            a = float(r["label"].split("=")[1])
            ref = dict(zip(ALPHA_KEYS, REFERENCE_ALPHA[a]))
        line = {"method": r["label"], "runs": r["runs"]}
        for m in (
            "intent_accuracy",
            "originality",
            "novelty",
            "copied_transferred",
            "bleu_diversity",
            "bleu_quality",
        ):
            cell = _cell(r, m)
            if m in ref:
                cell += f" ({ref[m]:.3f})"
            line[m] = cell
        line["transferred"] = f"{r['transferred']:.0f}"
        out.append(line)
    return out


def augmentation_table(rows: list[dict]) -> list[dict]:
    out = []
    for r in rows:
        if math.isnan(r["language_model.kneser_ney.log_ratio"]):
            continue
        out.append(
            {
                "generated by": r["label"],
                "KN ppl real": _cell(r, "language_model.kneser_ney.perplexity_real", 1),
                "KN ppl +gen": _cell(r, "language_model.kneser_ney.perplexity_augmented", 1),
                "KN log ratio": _cell(r, "language_model.kneser_ney.log_ratio"),
                "GRU ppl real": _cell(r, "language_model.gru.perplexity_real", 1),
                "GRU ppl +gen": _cell(r, "language_model.gru.perplexity_augmented", 1),
                "GRU log ratio": _cell(r, "language_model.gru.log_ratio"),
                "clf acc real": _cell(r, "augmentation.accuracy_real"),
                "clf acc +gen": _cell(r, "augmentation.accuracy_augmented"),
                "clf gain": _cell(r, "augmentation.gain"),
            }
        )
    return out


def diversity_table(rows: list[dict]) -> list[dict]:
    return [
        {"method": r["label"], **{f"n={c}": f"{v:.3f}" for c, v in r["diversity_by_count"].items()}}
        for r in rows
    ]


def measure_claims(board, results: dict, snips: bool, seconds: float) -> None:
    """Paired differences over (fold, seed) -> the claims (their rules decide the verdicts)."""
    from dltheory.core.claims import mean_and_se

    if not snips:
        for c in CLAIMS:
            if board.wants(c.id):
                board.not_run(c.id, "the SNIPS 2017-06 data are absent here (ran on chatterbot)")
        return
    n_units = len(results)

    def put(claim_id: str, values: list[float], **details) -> None:
        if not board.wants(claim_id):
            return
        m, se = mean_and_se(values)
        board.measure(claim_id, m, se, seeds=len(values), seconds=seconds, units=n_units, **details)

    put(
        "querygen.transfer_originality",
        paired(results, "qt", "none", "novelty"),
        originality_difference=mean_and_se(paired(results, "qt", "none", "originality"))[0],
    )
    put("querygen.transfer_keeps_accuracy", paired(results, "qt", "none", "intent_accuracy"))
    if any("pseudo" in r for r in results.values()):
        put(
            "querygen.pseudo_label_costs_accuracy",
            [r["pseudo"]["intent_accuracy"] for r in results.values() if "pseudo" in r],
            difference_vs_no_transfer=mean_and_se(
                paired(results, "pseudo", "none", "intent_accuracy")
            )[0],
        )
    if any("qt_a0" in r and "qt_a1" in r for r in results.values()):
        put(
            "querygen.alpha_tradeoff",
            paired(results, "qt_a1", "qt_a0", "intent_accuracy"),
            novelty_difference=mean_and_se(paired(results, "qt_a1", "qt_a0", "novelty"))[0],
        )
    qt = [r["qt"] for r in results.values() if "qt" in r]
    put("querygen.lm_augmentation", [_get(r, "language_model.gru.log_ratio") for r in qt])
    put(
        "querygen.lm_augmentation_kneser_ney",
        [_get(r, "language_model.kneser_ney.log_ratio") for r in qt],
    )


def run_reproduction(
    out: str | Path,
    *,
    scale: str = "quick",
    device: str = "auto",
    data: str | None = None,
    seeds: tuple[int, ...] | None = None,
    log=print,
) -> Path:
    from dltheory.core.claims import ClaimBoard
    from dltheory.core.plotting import save_table
    from dltheory.core.report import ReproduceReport

    from .experiment import run_one
    from .figures import alpha_figure, bar_figure, diversity_figure

    out = Path(out)
    plan = plan_for(scale, data, seeds)
    est = time_estimate(plan, out)
    log(
        f"querygen reproduce --scale {scale}: data {plan['data']}; {plan['folds']} leave-intents-out "
        f"folds x seeds {list(plan['seeds'])} x {len(plan['settings'])} settings = {plan['runs']} "
        f"runs of {plan['epochs']} epochs ({plan_queries(plan)}); {est['done']} already in {out}, "
        f"{est['todo']} to train. Needs: no GPU (a CPU core is enough), < 1 GB of memory. "
        f"Estimate: about {_duration(est['wall_seconds'])} on the shared 2-core machine "
        f"({SECONDS_PER_RUN:.0f} s per 50-epoch run measured), about "
        f"{_duration(est['cpu_seconds'])} of CPU time on one idle core."
    )
    out.mkdir(parents=True, exist_ok=True)
    base = TrainConfig(
        data=plan["data"],
        device=device,
        epochs=plan["epochs"],
        checkpoint_every=1000,
        folds=plan["folds"],
        train_size=200 if plan["snips"] else 60,
        none_size=200 if plan["snips"] else 60,
    )
    start = time.perf_counter()
    evaluators: dict = {}
    results: dict = {}
    for seed in plan["seeds"]:
        for fold in range(plan["folds"]):
            unit = f"fold{fold}_seed{seed}"
            for key in plan["settings"]:
                _, method, alpha = SETTINGS[key]
                cfg = replace(base, method=method, alpha=alpha, seed=seed, fold=fold)
                r = run_one(
                    cfg,
                    out / "runs" / f"{unit}_{key}",
                    plan["n_per_intent"],
                    evaluators=evaluators,
                    extrinsic=key in ("none", "qt", "pseudo"),
                )
                results.setdefault(unit, {})[key] = r
                log(
                    f"{unit} {SETTINGS[key][0]:24s} acc {r['intent_accuracy']:.3f} "
                    f"orig {r['originality']:.3f} novel {r['novelty']:.3f} "
                    f"div {r['bleu_diversity']:.3f} transferred {r['transferred']}"
                )
    # CPU-side wall time of every run (runs cached by an earlier invocation count their own time)
    timed = [r.get("seconds") for u in results.values() for r in u.values()]
    seconds = sum(timed) if all(t is not None for t in timed) else time.perf_counter() - start

    rows = summary_rows(results, plan["settings"])
    rep = ReproduceReport(out, title="querygen: CVAE query generation with query transfer")
    snips = plan["snips"]
    main = [r for r in rows if not r["label"].startswith("query transfer alpha=")]
    rep.add_figure(
        bar_figure(main, out / "methods", REFERENCE_METHODS if snips else None),
        "No transfer / query transfer / pseudo-labelling (mean ± SE over folds and seeds)",
    )
    alpha_rows = sorted(
        [r for r in rows if r["label"].startswith("query transfer")], key=lambda r: r["alpha"]
    )
    if len(alpha_rows) > 1:
        ref = (
            {a: dict(zip(ALPHA_KEYS, v)) for a, v in REFERENCE_ALPHA.items() if a <= 1}
            if snips
            else None
        )
        rep.add_figure(alpha_figure(alpha_rows, out / "alpha", ref), "Query transfer: alpha")
    rep.add_figure(
        diversity_figure(main, out / "diversity_count", AUTHORS_CANDIDATES),
        "BLEU diversity against the number of candidates per intent",
    )
    tables = {
        "methods": (method_table(rows, snips), "Methods: mean ± SE over folds and seeds (authors)"),
        "augmentation": (augmentation_table(rows), "LM and classifier augmentation (2011.02143)"),
        "diversity_count": (diversity_table(main), "BLEU diversity vs candidates per intent"),
    }
    for name, (table, title) in tables.items():
        save_table(table, out / name, title=title)
        rep.add_table(out / f"{name}.md", title)
    for r in rows:
        for m in ("intent_accuracy", "originality", "novelty", "bleu_diversity"):
            rep.add_metric(f"{r['label']}.{m}", r[m])
    rep.add_note(
        f"scale={scale}, data={plan['data']}, folds={plan['folds']} (leave-intents-out), "
        f"seeds={list(plan['seeds'])}, epochs={plan['epochs']}, train_size={base.train_size}, "
        f"none_size={base.none_size}, cosine_threshold={base.cosine_threshold}, "
        f"n_per_intent={plan['n_per_intent']}, {seconds:.0f} s. Reservoir = other intents' "
        f"queries + chatterbot-corpus first turns, no target-intent sentence."
    )
    board = ClaimBoard(CLAIMS, scale)
    measure_claims(board, results, snips, seconds)
    board.write(out)
    return rep.write()


def reproduce(out: str | Path, *, scale: str = "quick", device: str = "auto") -> Path:
    """The package contract's entry point (see the module docstring for the scales)."""
    return run_reproduction(out, scale=scale, device=device)

"""The paper's comparison: no transfer / query transfer / pseudo-labelling over seeds, and the alpha
sweep; one ``result.json`` per run so that an interrupted sweep keeps what it finished."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from .config import TrainConfig
from .evaluation import Evaluator
from .pipeline import prepare_data
from .train import train

METRICS = (
    "intent_accuracy",
    "bleu_quality",
    "bleu_diversity",
    "originality",
    "transfer",
    "distinct_1",
    "distinct_2",
)


def run_one(
    cfg: TrainConfig,
    out: Path,
    n_per_intent: int = 100,
    quiet: bool = True,
    evaluators: dict | None = None,
) -> dict:
    """Train, generate ``n_per_intent`` queries per intent, score; cached in ``out/result.json``."""
    done = out / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    prepared = prepare_data(cfg)
    key = (cfg.data, cfg.input_type, cfg.min_per_intent, cfg.valid_per_intent)
    evaluators = {} if evaluators is None else evaluators
    if key not in evaluators:
        evaluators[key] = Evaluator(prepared)
    evaluator = evaluators[key]
    evaluator.prepared = prepared
    result = train(cfg, out, overwrite=True, prepared=prepared, quiet=quiet)
    generated = result.bundle.generate(
        {i: n_per_intent for i in result.bundle.intents}, seed=cfg.seed
    )
    scores = evaluator.score(generated)
    scores.update(
        method=cfg.method,
        alpha=cfg.alpha,
        seed=cfg.seed,
        train_size=cfg.train_size,
        transferred=len(prepared.selection.added),
        selection=prepared.selection.summary(),
        final_epoch=result.history[-1] if result.history else None,
        examples=[
            {"intent": g.intent, "text": g.words, "realised": g.realised.normalised}
            for g in generated[:: max(len(generated) // 20, 1)]
        ],
    )
    done.write_text(json.dumps(scores, indent=1, default=float) + "\n")
    return scores


def summarise(results: list[dict], by: str) -> list[dict]:
    """Mean and standard deviation of each metric, grouped by ``by`` (method or alpha)."""
    rows = []
    for value in dict.fromkeys(r[by] for r in results):
        group = [r for r in results if r[by] == value]
        row = {by: value, "seeds": len(group)}
        for m in (*METRICS, "augmentation.gain"):
            vals = [_get(r, m) for r in group]
            vals = [v for v in vals if v is not None and not math.isnan(v)]
            row[m] = float(np.mean(vals)) if vals else float("nan")
            row[m + "_std"] = float(np.std(vals)) if len(vals) > 1 else 0.0
        rows.append(row)
    return rows


def _get(d: dict, dotted: str):
    for part in dotted.split("."):
        d = d.get(part) if isinstance(d, dict) else None
    return d


def run_comparison(
    base: TrainConfig,
    out: Path,
    seeds=(0, 1, 2),
    methods=("none", "query_transfer", "pseudo_label"),
    alphas=(),
    n_per_intent: int = 100,
    log=print,
) -> dict:
    out = Path(out)
    evaluators: dict = {}
    method_results, alpha_results = [], []
    for seed in seeds:
        for method in methods:
            cfg = replace(base, method=method, seed=seed)
            r = run_one(
                cfg,
                out / "runs" / f"{method}_alpha{cfg.alpha:g}_seed{seed}",
                n_per_intent,
                evaluators=evaluators,
            )
            log(
                f"{method:15s} seed {seed}: acc {r['intent_accuracy']:.3f} bleu {r['bleu_quality']:.3f} "
                f"div {r['bleu_diversity']:.3f} orig {r['originality']:.3f}"
            )
            method_results.append(r)
    for seed in seeds:
        for alpha in alphas:
            cfg = replace(base, method="query_transfer", alpha=alpha, seed=seed)
            r = run_one(
                cfg,
                out / "runs" / f"query_transfer_alpha{alpha:g}_seed{seed}",
                n_per_intent,
                evaluators=evaluators,
            )
            log(
                f"alpha {alpha:g} seed {seed}: acc {r['intent_accuracy']:.3f} orig {r['originality']:.3f}"
            )
            alpha_results.append(r)
    return {
        "methods": summarise(method_results, "method") if method_results else [],
        "alphas": summarise(alpha_results, "alpha") if alpha_results else [],
    }

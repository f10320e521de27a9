"""One run of the paper's comparison: train, generate, score; one ``result.json`` per run so that
an interrupted reproduction keeps what it finished (see :mod:`dltheory.querygen.reproduce`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from dltheory.core.files import atomic_write_text

from .config import TrainConfig
from .evaluation import Evaluator
from .pipeline import prepare_data
from .train import train


def run_one(
    cfg: TrainConfig,
    out: Path,
    n_per_intent: int = 100,
    quiet: bool = True,
    evaluators: dict | None = None,
    extrinsic: bool = True,
) -> dict:
    """Train, generate ``n_per_intent`` queries per intent, score; cached in ``out/result.json``."""
    done = out / "result.json"
    if done.exists():
        cached = json.loads(done.read_text())
        if "seconds" not in cached and (out / "config.json").exists():  # older result files
            cached["seconds"] = done.stat().st_mtime - (out / "config.json").stat().st_mtime
        return cached
    start = time.perf_counter()
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
    scores = evaluator.score(generated, extrinsic=extrinsic)
    scores.update(
        method=cfg.method,
        alpha=cfg.alpha,
        seed=cfg.seed,
        train_size=cfg.train_size,
        fold=cfg.fold,
        seconds=time.perf_counter() - start,
        target_intents=prepared.intents,
        transferred=len(prepared.selection.added),
        selection=prepared.selection.summary(),
        final_epoch=result.history[-1] if result.history else None,
        examples=[
            {"intent": g.intent, "text": g.words, "realised": g.realised.normalised}
            for g in generated[:: max(len(generated) // 20, 1)]
        ],
    )
    # atomic: an interrupted reproduction never leaves a torn result.json that would be "cached"
    atomic_write_text(done, json.dumps(scores, indent=1, default=float) + "\n")
    return scores

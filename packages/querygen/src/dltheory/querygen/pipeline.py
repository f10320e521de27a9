"""From a :class:`TrainConfig` to the data the CVAE trains on and the sets the metrics use.

Sources: ``chatterbot`` (offline default: categories with at least ``min_per_intent`` first turns
are the intents), a SNIPS 2017-06 folder (train_full / validate), or a CSV/JSONL file.

Reservoir: the paper's Snips Console dump is not public. Unless ``reservoir`` names a file, the
reservoir is (a) the training-pool queries left out of the few-shot subset, grouped by their
source intent and relabelled "None" (an in-domain stand-in for the console dump), plus (b) the
chatterbot-corpus categories that are not target intents (out-of-domain groups the selection
should reject).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from dltheory.core.errors import ConfigError

from .config import TrainConfig
from .data import (
    NONE_INTENT,
    Utterance,
    by_intent,
    heldout_reservoir,
    load_chatterbot,
    load_labelled_file,
    load_reservoir,
    load_snips,
    stratified_subset,
)
from .slots import SurfaceRealiser, delexicalise
from .transfer import LocalEncoderEmbedder, Selection, transfer_queries


@dataclass
class PreparedData:
    intents: list[str]
    full_train: list[Utterance]  # every real training query (for the evaluation classifier)
    subset: list[Utterance]  # the few-shot training set
    validation: list[Utterance]
    reservoir: list[Utterance]
    selection: Selection
    input_type: str = "delexicalised"
    realiser: SurfaceRealiser = field(default_factory=SurfaceRealiser)

    def model_text(self, u: Utterance) -> str:
        return delexicalise(u).normalised if self.input_type == "delexicalised" else u.normalised

    @property
    def training(self) -> list[Utterance]:
        """Few-shot subset plus the transferred reservoir queries."""
        return list(self.subset) + list(self.selection.added)

    def pairs(self, rows, realised: bool = False) -> list[tuple[str, str]]:
        return [(u.normalised if realised else self.model_text(u), u.intent) for u in rows]


def _split_validation(rows: list[Utterance], per_intent: int, seed: int = 0) -> tuple[list, list]:
    rng = random.Random(seed)
    train, valid = [], []
    for _, group in by_intent(rows).items():
        group = rng.sample(group, len(group))
        k = min(per_intent, max(len(group) // 5, 1))
        valid += group[:k]
        train += group[k:]
    return train, valid


def load_source(cfg: TrainConfig) -> tuple[list[Utterance], list[Utterance], list[Utterance]]:
    """(full training pool, validation set, out-of-domain reservoir groups)."""
    if cfg.data == "chatterbot":
        rows = load_chatterbot()
        counts = {k: len(v) for k, v in by_intent(rows).items()}
        targets = {k for k, c in counts.items() if c >= cfg.min_per_intent}
        if len(targets) < 2:
            raise ConfigError(
                f"min_per_intent={cfg.min_per_intent} leaves fewer than two chatterbot categories"
            )
        ood = [Utterance(u.chunks, NONE_INTENT, u.intent) for u in rows if u.intent not in targets]
        # a fixed split (seed 0) so that every run is scored against the same validation queries
        full, valid = _split_validation(
            [u for u in rows if u.intent in targets], cfg.valid_per_intent, seed=0
        )
        return full, valid, ood
    path = Path(cfg.data)
    ood = [Utterance(u.chunks, NONE_INTENT, u.intent) for u in load_chatterbot()]
    if path.is_dir():
        return load_snips(path, "train_full"), load_snips(path, "validate"), ood
    full, valid = _split_validation(load_labelled_file(path), cfg.valid_per_intent, seed=0)
    return full, valid, ood


def prepare_data(cfg: TrainConfig) -> PreparedData:
    if cfg.input_type not in ("delexicalised", "utterance"):
        raise ConfigError(f"input_type must be delexicalised or utterance, not {cfg.input_type!r}")
    full, valid, ood = load_source(cfg)
    subset = stratified_subset(full, min(cfg.train_size, len(full)), cfg.seed)
    if cfg.reservoir:
        reservoir = load_reservoir(cfg.reservoir)
    else:
        reservoir = heldout_reservoir(full, subset, cfg.reservoir_per_group, cfg.seed) + ood
    prepared = PreparedData(
        sorted({u.intent for u in full}),
        full,
        subset,
        valid,
        reservoir,
        Selection({}, {}, cfg.cosine_threshold),
        cfg.input_type,
    )
    prepared.selection = transfer_queries(
        subset,
        reservoir,
        cfg.method,
        none_size=cfg.none_size,
        threshold=cfg.cosine_threshold,
        seed=cfg.seed,
        text_of=prepared.model_text,
        embedder=LocalEncoderEmbedder(cfg.sentence_encoder) if cfg.sentence_encoder else None,
    )
    # slot values for surface realisation come from everything the model was trained on
    prepared.realiser = SurfaceRealiser(prepared.training)
    return prepared

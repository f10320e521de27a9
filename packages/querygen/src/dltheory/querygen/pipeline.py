"""From a :class:`TrainConfig` (or :class:`TransferConfig`) to the data the CVAE trains on and the sets the metrics use.

Sources: ``chatterbot`` (offline default: categories with at least ``min_per_intent`` first turns
are the intents), a SNIPS 2017-06 folder (train_full / validate) or one SNIPS / snips-nlu JSON
file, or a CSV/JSONL file.

Reservoir without leakage (leave-intents-out): the paper's Snips Console dump of *other*
assistants' intents is not public. Fold k of ``folds`` takes the intents with index % folds == k
as the target task; the reservoir is (a) the training queries of the *other* intents, grouped by
their intent and relabelled "None", (b) the chatterbot-corpus first turns (out-of-domain groups),
(c) any user reservoir (``--reservoir``). Any reservoir query whose text (raw or delexicalised)
equals a target-intent query is dropped, so the target task never shares a sentence with it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from dltheory.core.errors import ConfigError

from .config import TrainConfig, TransferConfig
from .data import (
    NONE_INTENT,
    Utterance,
    by_intent,
    drop_leaks,
    fold_intents,
    load_chatterbot,
    load_labelled_file,
    load_reservoir,
    load_snips,
    stratified_subset,
    warn,
)
from .slots import SurfaceRealiser, delexicalise, load_slot_values
from .transfer import LocalEncoderEmbedder, Selection, transfer_queries


@dataclass
class PreparedData:
    intents: list[str]
    full_train: list[Utterance]  # every real training query of every intent (evaluation classifier)
    subset: list[Utterance]  # the few-shot training set (target intents)
    validation: list[Utterance]  # held-out queries of the target intents
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
    for intent, group in by_intent(rows).items():
        group = rng.sample(group, len(group))
        if len(group) == 1:
            warn(
                f"intent {intent!r} has a single example: it is used for training and has no "
                f"validation query (add examples for a meaningful evaluation)"
            )
            train += group
            continue
        k = min(per_intent, max(len(group) // 5, 1))
        valid += group[:k]
        train += group[k:]
    return train, valid


def load_source(
    cfg: TrainConfig | TransferConfig,
) -> tuple[list[Utterance], list[Utterance], list[Utterance]]:
    """(full training pool, validation set, out-of-domain reservoir groups), every intent."""
    ood = (
        [Utterance(u.chunks, NONE_INTENT, f"chatterbot/{u.intent}") for u in load_chatterbot()]
        if cfg.chatterbot_reservoir
        else []
    )
    if cfg.data == "chatterbot":
        rows = load_chatterbot()
        counts = {k: len(v) for k, v in by_intent(rows).items()}
        targets = {k for k, c in counts.items() if c >= cfg.min_per_intent}
        if len(targets) < 2:
            raise ConfigError(
                f"min_per_intent={cfg.min_per_intent} leaves fewer than two chatterbot categories"
            )
        ood = [u for u in ood if str(u.group).split("/", 1)[1] not in targets]
        # a fixed split (seed 0) so that every run is scored against the same validation queries
        full, valid = _split_validation(
            [u for u in rows if u.intent in targets], cfg.valid_per_intent, seed=0
        )
        return full, valid, ood
    path = Path(cfg.data)
    if path.is_dir():
        return load_snips(path, "train_full"), load_snips(path, "validate"), ood
    full, valid = _split_validation(load_labelled_file(path), cfg.valid_per_intent, seed=0)
    return full, valid, ood


def prepare_data(cfg: TrainConfig | TransferConfig) -> PreparedData:
    cfg.validate()
    full, valid, ood = load_source(cfg)
    targets = set(fold_intents([u.intent for u in full], cfg.folds, cfg.fold))
    target_full = [u for u in full if u.intent in targets]
    subset = stratified_subset(target_full, min(cfg.train_size, len(target_full)), cfg.seed)
    rng = random.Random(cfg.seed)
    reservoir = []
    for intent, rows in by_intent([u for u in full if u.intent not in targets]).items():
        rows = rng.sample(rows, min(cfg.reservoir_per_group, len(rows)))
        reservoir += [Utterance(u.chunks, NONE_INTENT, intent) for u in rows]
    reservoir += ood
    if cfg.reservoir:
        reservoir += load_reservoir(cfg.reservoir)
    text_of = (
        (lambda u: delexicalise(u).normalised)
        if cfg.input_type == "delexicalised"
        else (lambda u: u.normalised)
    )
    reservoir = drop_leaks(
        reservoir, target_full + [u for u in valid if u.intent in targets], keys=(text_of,)
    )
    prepared = PreparedData(
        sorted(targets),
        full,
        subset,
        [u for u in valid if u.intent in targets],
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
    # slot values for surface realisation: per intent, from everything the model was trained on
    prepared.realiser = SurfaceRealiser(prepared.training)
    if isinstance(cfg, TrainConfig) and cfg.slot_values:
        load_slot_values(cfg.slot_values, prepared.realiser)
    return prepared

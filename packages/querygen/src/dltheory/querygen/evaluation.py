"""Score a trained generator on its data: intrinsic metrics (delexicalised, as the paper's plots)
and extrinsic ones (realised text: classifier augmentation, bigram-LM perplexity)."""

from __future__ import annotations

from .generation import GeneratedQuery
from .metrics import augmentation_accuracy, evaluate_generations, intent_classifier
from .pipeline import PreparedData


class Evaluator:
    """Holds the independent intent classifier, trained once on the full real training data of
    *every* intent (the authors' full SNIPS train set), so it can say "that is another intent"."""

    def __init__(self, prepared: PreparedData, seed: int = 0):
        self.prepared = prepared
        self.seed = seed
        full = prepared.pairs(prepared.full_train)
        self.classifier = intent_classifier([t for t, _ in full], [y for _, y in full], seed)

    def score(self, generated: list[GeneratedQuery], extrinsic: bool = True) -> dict:
        p = self.prepared
        result = evaluate_generations(
            [(g.words, g.intent) for g in generated],
            p.pairs(p.subset),
            p.pairs(p.validation),
            self.classifier,
            self.seed,
            transferred=[p.model_text(u) for u in p.selection.added],
        )
        if extrinsic:
            real = p.pairs(p.subset, realised=True)
            gen = [(g.realised.normalised, g.intent) for g in generated]
            valid = p.pairs(p.validation, realised=True)
            result["augmentation"] = augmentation_accuracy(real, gen, valid, self.seed)
            from .lm import lm_augmentation

            result["language_model"] = lm_augmentation(
                [t for t, _ in real], [t for t, _ in gen], [t for t, _ in valid], self.seed
            )
        return result

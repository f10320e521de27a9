"""dltheory.querygen: conditional VAE query generation with query transfer.

d'Ascoli, Coucke et al., "Conditioned Query Generation for Task-Oriented Dialogue Systems"
(arXiv:1911.03698) and "Conditioned Text Generation with Transfer for Closed-Domain Dialogue
Systems" (arXiv:2011.02143).

Names are imported lazily (PEP 562), so ``import dltheory.querygen.cli`` stays torch-free.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CVAEConfig": "model",
    "DatasetFormatError": "data",
    "Evaluator": "evaluation",
    "GenerateConfig": "config",
    "GeneratedQuery": "generation",
    "GeneratorBundle": "generation",
    "KneserNeyBigramLM": "metrics",
    "LsaEmbedder": "transfer",
    "PreparedData": "pipeline",
    "QueryCVAE": "model",
    "QueryTokenizer": "tokenization",
    "SurfaceRealiser": "slots",
    "TrainConfig": "config",
    "Utterance": "data",
    "augmentation_accuracy": "metrics",
    "bleu_quality": "metrics",
    "cvae_loss": "losses",
    "cyclical_kl_weight": "losses",
    "delexicalise": "slots",
    "distinct_n": "metrics",
    "evaluate_generations": "metrics",
    "heldout_reservoir": "data",
    "intent_classifier": "metrics",
    "kl_per_dimension": "losses",
    "lm_perplexity_gain": "metrics",
    "load_chatterbot": "data",
    "load_labelled_file": "data",
    "load_reservoir": "data",
    "load_snips": "data",
    "logistic_kl_weight": "losses",
    "originality": "metrics",
    "placeholder": "slots",
    "prepare_data": "pipeline",
    "select_groups": "transfer",
    "self_bleu_diversity": "metrics",
    "stratified_subset": "data",
    "train": "trainer",
    "transfer_queries": "transfer",
    "transfer_rate": "metrics",
    "word_tokenize": "data",
    "write_jsonl": "data",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return __all__

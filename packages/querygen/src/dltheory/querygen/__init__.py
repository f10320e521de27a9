"""dltheory.querygen: conditional VAE query generation with query transfer.

d'Ascoli, Coucke et al., "Conditioned Query Generation for Task-Oriented Dialogue Systems"
(arXiv:1911.03698) and "Conditioned Text Generation with Transfer for Closed-Domain Dialogue
Systems" (arXiv:2011.02143).

Names are imported lazily (PEP 562), so ``import dltheory.querygen.cli`` stays torch-free. The
trainer is ``train_cvae`` (``dltheory.querygen.train`` is the module).
"""

from dltheory.core.lazy import lazy_exports

_EXPORTS = {
    "CVAEConfig": ".models",
    "DatasetFormatError": ".data",
    "DataConfig": ".config",
    "EvalConfig": ".config",
    "Evaluator": ".evaluation",
    "GenerateConfig": ".config",
    "GeneratedQuery": ".generation",
    "GeneratorBundle": ".generation",
    "GruLM": ".lm",
    "KneserNeyBigramLM": ".metrics",
    "LsaEmbedder": ".transfer",
    "PreparedData": ".pipeline",
    "QueryCVAE": ".models",
    "QueryTokenizer": ".tokenization",
    "SurfaceRealiser": ".slots",
    "TrainConfig": ".config",
    "TransferConfig": ".config",
    "Utterance": ".data",
    "augmentation_accuracy": ".metrics",
    "bleu_quality": ".metrics",
    "cvae_loss": ".losses",
    "cyclical_kl_weight": ".losses",
    "delexicalise": ".slots",
    "distinct_n": ".metrics",
    "drop_leaks": ".data",
    "evaluate_generations": ".metrics",
    "export_queries": ".export",
    "fold_intents": ".data",
    "intent_classifier": ".metrics",
    "kl_per_dimension": ".losses",
    "lm_augmentation": ".lm",
    "load_chatterbot": ".data",
    "load_labelled_file": ".data",
    "load_reservoir": ".data",
    "load_slot_values": ".slots",
    "load_snips": ".data",
    "logistic_kl_weight": ".losses",
    "novelty": ".metrics",
    "originality": ".metrics",
    "placeholder": ".slots",
    "prepare_data": ".pipeline",
    "select_groups": ".transfer",
    "self_bleu_diversity": ".metrics",
    "stratified_subset": ".data",
    "train_cvae": ".train",
    "transfer_queries": ".transfer",
    "transfer_rate": ".metrics",
    "word_tokenize": ".data",
    "write_jsonl": ".data",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

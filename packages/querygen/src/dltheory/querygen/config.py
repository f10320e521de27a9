"""One dataclass per command; defaults follow the authors' CLI (see the package README). Torch-free.

Each field is declared once with its help (``dltheory.core.config.option``); ``mutable=True``
marks the keys that may change on ``--resume`` (total epochs, device, threads, out).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltheory.core.config import TrainerFields, option
from dltheory.core.errors import ConfigError

KL_SCHEDULES = ("logistic", "cyclical", "constant")
INPUT_TYPES = ("delexicalised", "utterance")
DECODERS = ("gru", "transformer")
METHODS = ("none", "query_transfer", "pseudo_label")
PRECISIONS = ("fp32", "bf16", "fp16")
EXPORT_FORMATS = ("jsonl", "csv", "rasa", "snips")


@dataclass
class DataConfig:
    """Data, leave-intents-out fold and query-transfer selection: what ``train`` and ``transfer``
    share (``prepare_data`` reads these fields and ``seed``)."""

    data: str = option(
        "chatterbot",
        "chatterbot (offline default), a SNIPS 2017-06 folder or one SNIPS / snips-nlu JSON file, "
        "or a .csv/.jsonl of text,intent[,slots].",
    )
    train_size: int = option(200, "Few-shot training queries (balanced over the target intents).")
    input_type: str = option("delexicalised", "delexicalised | utterance.")
    min_per_intent: int = option(
        40, "chatterbot: categories with fewer first turns join the reservoir."
    )
    valid_per_intent: int = option(
        10, "chatterbot / file data: held-out validation queries per intent."
    )
    folds: int = option(
        2,
        "Leave-intents-out folds: fold k targets the intents with index % folds == k, the other "
        "intents go to the reservoir; 1 = every intent is a target (out-of-domain reservoir only).",
    )
    fold: int = option(0, "Which leave-intents-out fold to train (0..folds-1).")
    # query transfer
    method: str = option("query_transfer", "none | query_transfer | pseudo_label.")
    reservoir: str = option(
        "",
        "Extra reservoir: JSONL {text, group} or a folder of <group>.txt (added to the default).",
    )
    chatterbot_reservoir: bool = option(
        True, "Add the chatterbot-corpus first turns as out-of-domain reservoir groups."
    )
    reservoir_per_group: int = option(300, "Reservoir queries kept per held-out intent.")
    none_size: int = option(200, "Transferred reservoir queries.")
    cosine_threshold: float = option(
        0.15,
        "Keep reservoir groups whose mean embedding has a cosine above this with a target intent "
        "(paper: 0.9 with InferSent; TF-IDF/LSA cosines between different intents are lower).",
    )
    sentence_encoder: str = option(
        "", "'' = TF-IDF + LSA; else a local Hugging Face model folder (nothing is downloaded)."
    )

    def check_data(self) -> None:
        """Refuse data / selection settings that cannot run, with one line naming the key."""
        for key in ("train_size", "folds"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1 (got {getattr(self, key)})")
        if not 0 <= self.fold < self.folds:
            raise ConfigError(f"fold must be in 0..{self.folds - 1} (got {self.fold})")
        if self.none_size < 0:
            raise ConfigError(f"none_size must be non-negative (got {self.none_size})")
        for key, allowed in (("input_type", INPUT_TYPES), ("method", METHODS)):
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"{key} must be one of {', '.join(allowed)} (got {getattr(self, key)!r})"
                )


@dataclass
class TransferConfig(DataConfig):
    """``transfer``: which reservoir groups the selection keeps (no training)."""

    seed: int = option(0, "Random seed (few-shot subset, reservoir sample, transferred queries).")
    out: Path = option(
        Path("runs/querygen-transfer"), "Folder for selection.json and transferred.jsonl."
    )

    def validate(self) -> TransferConfig:
        self.check_data()
        return self


@dataclass
class TrainConfig(TrainerFields, DataConfig):
    """``train``: the standard trainer fields, the data / fold / selection fields and the CVAE's."""

    alpha: float = option(0.2, "Classifier-loss weight of transferred (None) queries.")
    slot_values: str = option(
        "", "JSON {slot: [values]} or {intent: {slot: [values]}}, or CSV intent,slot,value."
    )
    # tokenizer
    tokenizer: str = option("word", "word | bpe (trained offline) | a local tokenizer.json.")
    vocab_size: int = option(10_000, "Tokenizer vocabulary size (word / bpe).")
    # model
    embedding_dim: int = option(100, "Word embedding size.")
    hidden_size: int = option(256, "GRU hidden size.")
    latent_size: int = option(8, "Latent z dimension.")
    embedding_dropout: float = option(
        0.5, "Dropout on the decoder's input embeddings (the authors' code; not the encoder's)."
    )
    word_dropout: float = option(0.0, "Decoder word dropout (<unk> replacement).")
    gumbel_tau: float = option(1.0, "Gumbel-softmax temperature of the q(y|x) sample.")
    decoder: str = option("gru", "gru (paper) | transformer.")
    max_len: int = option(20, "Maximum decoded tokens, <eos> included.")
    # optimisation
    epochs: int = option(50, "Training epochs.", mutable=True)
    batch_size: int = option(32, "Batch size.")
    lr: float = option(0.01, "Adam learning rate.")
    clip_grad_norm: float = option(5.0, "Gradient-norm clip (0 = off).")
    kl_schedule: str = option("logistic", "logistic | cyclical | constant.")
    kl_k: float = option(0.01, "Logistic KL annealing slope.")
    kl_x0: float = option(300.0, "Logistic KL annealing midpoint (steps).")
    kl_cycles: int = option(4, "Cyclical KL schedule: cycles.")
    kl_ratio: float = option(0.5, "Cyclical KL schedule: ramp share of a cycle.")
    free_bits: float = option(0.0, "Per-dimension KL floor (0 = off).")
    label_weight: float = option(0.5, "Weight of the classifier loss.")
    checkpoint_every: int = option(10, "Checkpoint every N epochs (and every 5 min).", mutable=True)
    out: Path = option(Path("runs/querygen"), "Run folder.", mutable=True)

    def validate(self) -> TrainConfig:
        """Refuse values that cannot train, with one line naming the key."""
        self.check_data()
        positive = ("epochs", "batch_size", "hidden_size", "embedding_dim", "latent_size")
        for key in (*positive, "max_len", "vocab_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be at least 1 (got {getattr(self, key)})")
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive (got {self.lr:g})")
        for key in ("embedding_dropout", "word_dropout"):
            if not 0 <= getattr(self, key) < 1:
                raise ConfigError(f"{key} must be in [0, 1) (got {getattr(self, key)})")
        for key in ("alpha", "clip_grad_norm", "free_bits", "label_weight"):
            if getattr(self, key) < 0:
                raise ConfigError(f"{key} must be non-negative (got {getattr(self, key)})")
        if self.gumbel_tau <= 0:
            raise ConfigError(f"gumbel_tau must be positive (got {self.gumbel_tau})")
        for key, allowed in (
            ("kl_schedule", KL_SCHEDULES),
            ("decoder", DECODERS),
            ("precision", PRECISIONS),
        ):
            if getattr(self, key) not in allowed:
                raise ConfigError(
                    f"{key} must be one of {', '.join(allowed)} (got {getattr(self, key)!r})"
                )
        return self


@dataclass
class ModelFields:
    """What ``generate`` and ``eval`` share: the trained run, how many queries, where to run."""

    model: Path = option(Path("runs/querygen"), "Run folder written by `train` (or its model.pt).")
    n_per_intent: int = option(100, "Queries generated per intent.")
    seed: int = option(0, "Random seed (z samples, slot values).")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = option(
        None, "CPU threads (default: DLTHEORY_THREADS, else the cores not already busy)."
    )

    def check_model(self) -> None:
        if self.n_per_intent < 1:
            raise ConfigError(f"n_per_intent must be at least 1 (got {self.n_per_intent})")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be at least 1 (got {self.threads})")


@dataclass
class GenerateConfig(ModelFields):
    """``generate``: sample queries, refill their slots, write them for an NLU tool."""

    intents: str = option("", "Comma-separated intents; '' = every intent of the model.")
    strategy: str = option("greedy", "greedy (paper) | sample.")
    temperature: float = option(1.0, "Sampling temperature (--strategy sample).")
    top_p: float = option(1.0, "Nucleus mass (--strategy sample).")
    batch_size: int = option(1024, "Queries decoded per batch.")
    format: str = option(
        "",
        "jsonl | csv | rasa (Rasa NLU YAML) | snips (snips-nlu dataset JSON); '' = from the "
        "suffix of --out (.yml/.yaml rasa, .json snips, .csv csv, else jsonl).",
    )
    slot_values: str = option(
        "",
        "Your slot values: JSON {slot: [values]} / {intent: {slot: [values]}} or CSV "
        "[intent,]slot,value.",
    )
    out: Path = option(
        Path("generated.jsonl"),
        "File to write (the model's delexicalised output goes beside it as .delex.jsonl).",
    )

    def validate(self) -> GenerateConfig:
        self.check_model()
        if self.strategy not in ("greedy", "sample"):
            raise ConfigError(f"strategy must be greedy or sample (got {self.strategy!r})")
        if not 0 < self.top_p <= 1:
            raise ConfigError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive (got {self.temperature})")
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1 (got {self.batch_size})")
        if self.format not in ("", *EXPORT_FORMATS):
            raise ConfigError(
                f"format must be one of {', '.join(EXPORT_FORMATS)} (got {self.format!r})"
            )
        return self


@dataclass
class EvalConfig(ModelFields):
    """``eval``: score generated queries against the run's data (its config.json)."""

    generated: Path | None = option(
        None, "JSONL written by `generate` (.delex.jsonl preferred); default: generate now."
    )
    out: Path = option(Path("evaluation.json"), "JSON file for the scores.")

    def validate(self) -> EvalConfig:
        self.check_model()
        return self

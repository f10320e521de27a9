"""One dataclass per command; defaults follow the authors' CLI (see the package README)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TrainConfig:
    # data
    data: str = "chatterbot"  # chatterbot | SNIPS 2017-06 folder | .csv/.jsonl file
    train_size: int = 200  # few-shot subset, balanced over intents
    input_type: str = "delexicalised"  # delexicalised | utterance
    min_per_intent: int = 40  # chatterbot: categories with fewer first turns join the reservoir
    valid_per_intent: int = 10  # chatterbot / file data: held-out validation queries per intent
    # query transfer
    method: str = "query_transfer"  # none | query_transfer | pseudo_label
    reservoir: str = ""  # JSONL or folder of .txt; "" = held-out queries + chatterbot
    reservoir_per_group: int = 300
    none_size: int = 200
    cosine_threshold: float = 0.9
    alpha: float = 0.2
    sentence_encoder: str = ""  # "" = TF-IDF + LSA; else a local Hugging Face model folder
    # tokenizer
    tokenizer: str = "word"  # word | bpe | path to a local tokenizer.json
    vocab_size: int = 10_000
    # model
    embedding_dim: int = 100
    hidden_size: int = 256
    latent_size: int = 8
    embedding_dropout: float = 0.5
    word_dropout: float = 0.0
    gumbel_tau: float = 1.0
    decoder: str = "gru"  # gru | transformer
    max_len: int = 20
    # optimisation
    epochs: int = 50
    batch_size: int = 32
    lr: float = 0.01
    clip_grad_norm: float = 5.0
    kl_schedule: str = "logistic"  # logistic | cyclical | constant
    kl_k: float = 0.01
    kl_x0: float = 300.0
    kl_cycles: int = 4
    kl_ratio: float = 0.5
    free_bits: float = 0.0
    label_weight: float = 0.5
    checkpoint_every: int = 10  # epochs
    # runtime
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"


@dataclass
class GenerateConfig:
    n_per_intent: int = 100
    intents: str = ""  # comma-separated; "" = every intent
    strategy: str = "greedy"  # greedy | sample
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 1024
    seed: int = 0
    device: str = "auto"

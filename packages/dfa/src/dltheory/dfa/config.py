"""The settings of `dltheory dfa train` / `eval`, declared once (torch-free).

Every field carries its command-line help (``option(default, help)``); ``mutable=True`` marks the
keys that may change when a run is resumed (the schedule length, logging and checkpoint cadence).
The choice lists live here too, so that the CLI and the validation need no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltheory.core.config import TrainerFields, option
from dltheory.core.config import mutable_keys as _mutable_keys
from dltheory.core.errors import ConfigError, choice_error

MODES = ("dfa", "fa", "bp")
MODELS = ("mlp", "cnn")
DATASETS = ("digits", "mnist-t10k", "mnist", "fashion-mnist", "cifar10", "random")
ACTIVATION_NAMES = ("relu", "tanh", "linear")
RANDOM_FEEDBACK_INITS = ("gaussian", "uniform", "orthogonal")  # drawn without the model
STRUCTURED_INITS = ("aligned", "nmf", "svd")  # computed from the model (structured.py)
FEEDBACK_INITS_ALL = RANDOM_FEEDBACK_INITS + STRUCTURED_INITS
CONV_FEEDBACK = ("dense", "channel")
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class TrainConfig(TrainerFields):
    """One training run of an MLP or CNN with DFA, FA or BP."""

    dataset: str = option(
        "digits", "digits | mnist-t10k | mnist | fashion-mnist | cifar10 | random"
    )
    data_root: str = option("", "Dataset folder (torchvision root or the mnist-t10k folder).")
    download: bool = option(False, "Allow torchvision to download the dataset.")
    model: str = option("mlp", "mlp | cnn")
    method: str = option("dfa", "dfa | fa | bp")
    activation: str = option("relu", "relu | tanh | linear")
    width: int = option(256, "Hidden width (MLP) or channels (CNN).")
    n_hidden: int = option(2, "Hidden layers (MLP) or conv layers (CNN).")
    kernel_size: int = option(3, "CNN kernel size.")
    conv_feedback: str = option("dense", "dense | channel (CNN feedback layout).")
    feedback_init: str = option(
        "gaussian", "gaussian | uniform | orthogonal | aligned | nmf (CNN) | svd (CNN)"
    )
    feedback_seed: int = option(0, "Seed of B (shared across --seed).")
    unit_norm: bool = option(False, "Unit-norm feedback rows.")
    feedback_scale: float = option(0.0, "MLP: multiplies B; 0 = 1/sqrt(width).")
    bias: bool = option(False, "Biases in the weight layers (the paper has none).")
    label_noise: float = option(0.0, "Fraction of relabelled training samples.")
    input_size: int = option(0, "Resize images to SxS (0: keep).")
    test_fraction: float = option(0.2, "Held-out fraction (digits, mnist-t10k).")
    optimizer: str = option("sgd", "sgd | adam")
    lr: float = option(0.01, "Learning rate.")
    momentum: float = option(0.9, "SGD momentum.")
    batch_size: int = option(64, "Batch size (global, split over torchrun processes).")
    epochs: float = option(5.0, "Epochs (fractions allowed).", mutable=True)
    log_points: int = option(20, "Log-spaced evaluation points.", mutable=True)
    eval_samples: int = option(2000, "Training samples for the logged train loss/accuracy.")
    n_samples: int = option(1000, "Samples of the random regression task.")
    input_dim: int = option(16, "Input dimension of the random regression task.")
    n_outputs: int = option(2, "Outputs of the random regression task.")
    checkpoint_every: int = option(
        200, "Save last.pt every N steps (0: off; also at every log point).", mutable=True
    )
    checkpoint_seconds: float = option(
        120.0, "Also save last.pt after this many seconds (0: off).", mutable=True
    )
    out: Path = option(Path("runs/dfa-train"), "Run folder.", mutable=True)

    def validate(self) -> None:
        for what, value, choices in (
            ("method", self.method, MODES),
            ("model", self.model, MODELS),
            ("dataset", self.dataset, DATASETS),
            ("activation", self.activation, ACTIVATION_NAMES),
            ("feedback init", self.feedback_init, FEEDBACK_INITS_ALL),
            ("conv feedback", self.conv_feedback, CONV_FEEDBACK),
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in choices:
                raise choice_error(what, value, choices)
        if self.lr <= 0 or self.batch_size < 1 or self.epochs <= 0 or self.width < 1:
            raise ConfigError("lr, batch_size, epochs and width must be positive")
        if self.n_hidden < 1:
            raise ConfigError(f"n_hidden must be at least 1, got {self.n_hidden}")
        if self.kernel_size < 1 or self.log_points < 2 or self.eval_samples < 1:
            raise ConfigError("kernel_size and eval_samples must be >= 1, log_points >= 2")
        if not 0.0 <= self.label_noise <= 1.0:
            raise ConfigError(f"label_noise must be in [0, 1], got {self.label_noise}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.checkpoint_every < 0 or self.checkpoint_seconds < 0:
            raise ConfigError("checkpoint_every and checkpoint_seconds must be >= 0")
        if self.feedback_init in ("nmf", "svd") and self.model != "cnn":
            raise ConfigError(f"feedback_init {self.feedback_init} is for CNNs (--model cnn)")
        if self.input_size < 0:
            raise ConfigError(f"input_size must be >= 0, got {self.input_size}")


@dataclass
class EvalConfig:
    """Evaluate a trained run folder: accuracy, loss, and WA/GA per layer."""

    run: Path = option(Path("runs/dfa-train"), "Run folder written by `dfa train`.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = option(None, "CPU threads (default: DLTHEORY_THREADS or load-aware).")
    batches: int = option(0, "Limit the test set to this many batches of 1000 (0: all).")


def train_mutable_keys() -> tuple[str, ...]:
    return _mutable_keys(TrainConfig)

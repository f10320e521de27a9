"""The settings of every ``dltheory efcn`` verb, declared once (torch-free).

Defaults follow the authors' ``main.py`` where known (reference notes A.4): cross-entropy, plain
SGD lr 0.1, momentum 0, weight decay 0, batch 250, eval batch 1000, unshuffled batches, 20
log-spaced CNN checkpoints (the candidate switch times). The command line is generated from these
dataclasses (one ``option`` per field: default and help together).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltheory.core.config import TrainerFields, mutable_keys, option
from dltheory.core.errors import ConfigError, require_choice

DATASETS = ("digits", "mnist-t10k", "mnist", "cifar10", "cifar100")
MODELS = ("vanilla", "vanilla-small", "alexnet")
NETS = ("cnn", "fcn")  # what `train` trains: the CNN (with switch checkpoints) or the FCN twin
TARGETS = ("efcn", "elcn")  # what `switch` embeds into: dense (eFCN) or locally connected (eLCN)
EXECUTORS = ("serial", "local", "submitit")
SCALES = ("quick", "full", "paper")


@dataclass
class TrainConfig(TrainerFields):
    """One training branch (CNN, FCN twin); the base of the other verbs' configs."""

    out: Path = option(Path("runs/efcn/cnn"), "Run folder of this branch.", mutable=True)
    net: str = option("cnn", "cnn (saves the switch checkpoints) or fcn (dense-init FCN twin).")
    dataset: str = option("digits", "digits | mnist-t10k | mnist | cifar10 | cifar100.")
    data_root: str = option("", "Dataset folder (torchvision root or MNIST IDX folder).")
    data_size: int = option(0, "Keep the first n train and n test examples (0: all).")
    download: bool = option(False, "Allow torchvision to download the dataset.")
    model: str = option("vanilla-small", "vanilla | vanilla-small | alexnet.")
    channels: int = option(64, "Channels of the vanilla CNN.")
    epochs: int = option(100, "Training budget in epochs (may grow on --resume).", mutable=True)
    lr: float = option(0.1, "SGD learning rate.")
    momentum: float = option(0.0, "SGD momentum.")
    weight_decay: float = option(0.0, "SGD weight decay.")
    batch_size: int = option(250, "Training batch size (split over processes under torchrun).")
    eval_batch_size: int = option(1000, "Evaluation batch size.", mutable=True)
    shuffle: bool = option(False, "Shuffle the batches each epoch (the authors' loaders do not).")
    n_saves: int = option(20, "Log-spaced CNN checkpoints = candidate switch times.")
    fold_padding: bool = option(
        True, "Dense layers act on unpadded inputs (false: the authors' padded columns)."
    )
    max_params: int = option(0, "Refuse a dense net with more parameters (0: memory check only).")
    double: bool = option(False, "Train in float64.")
    checkpoint_every: int = option(
        0, "Save last.pt every N steps as well as every epoch (0: every epoch only).", mutable=True
    )
    checkpoint_seconds: float = option(
        300.0, "Save last.pt at least this often, in seconds of wall time.", mutable=True
    )

    def validate(self) -> None:
        if self.net not in NETS:
            raise ConfigError(f"net must be one of {', '.join(NETS)}, got {self.net!r}")
        require_choice("dataset", self.dataset, DATASETS)
        require_choice("model", self.model, MODELS)
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.channels < 1:
            raise ConfigError("channels must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.momentum < 0 or self.weight_decay < 0:
            raise ConfigError("momentum and weight_decay must be >= 0")
        if self.data_size < 0 or self.max_params < 0 or self.checkpoint_every < 0:
            raise ConfigError("data_size, max_params and checkpoint_every must be >= 0")
        if self.double and self.precision != "fp32":
            raise ConfigError(
                f"double (float64) training cannot use --precision {self.precision}: use fp32"
            )


@dataclass
class SwitchConfig(TrainConfig):
    """An eFCN (or eLCN) branch: embed the CNN checkpoint of epoch ``at`` and keep training."""

    out: Path = option(Path("runs/efcn/switch"), "Run folder of this branch.", mutable=True)
    cnn_run: str = option("", "Run folder of `efcn train` (the CNN).", flag="--from")
    at: int = option(0, "Switch time t_w: the CNN checkpoint epoch to embed.")
    to: str = option("efcn", "efcn (dense, the paper's eFCN) or elcn (local, no sharing).")
    relax_epochs: int = option(
        -1, "Epochs after the switch (-1: the rest of the budget, epochs - at).", mutable=True
    )

    def validate(self) -> None:
        super().validate()
        if not self.cnn_run:
            raise ConfigError("--from is required: the run folder of `efcn train`")
        if self.to not in TARGETS:
            raise ConfigError(f"--to must be one of {', '.join(TARGETS)}, got {self.to!r}")
        if self.at < 0 or self.relax_epochs < -1:
            raise ConfigError("--at must be >= 0 and --relax-epochs >= -1")
        if self.relax_epochs == -1 and self.at > self.epochs:
            raise ConfigError(f"t_w={self.at} must lie in [0, epochs={self.epochs}]")


@dataclass
class SweepConfig(TrainConfig):
    """CNN, FCN twin and one eFCN (and eLCN) branch per switch time, then the landscape."""

    out: Path = option(Path("runs/efcn/sweep"), "Sweep folder (one run folder per branch).")
    switch_times: list[int] = option([], "Switch times t_w (empty: every CNN checkpoint epoch).")
    local_times: list[int] = option(
        [], "Switch times of the eLCN branches (empty: none; see --local-all)."
    )
    local_all: bool = option(False, "Train an eLCN branch at every eFCN switch time.")
    relax_epochs: int = option(-1, "Epochs after each switch (-1: the rest of the budget).")
    landscape: bool = option(True, "Measure the interpolation paths and barriers at the end.")
    landscape_points: int = option(11, "Points on each interpolation path (incl. both ends).")
    landscape_examples: int = option(1000, "Train and test examples used on the paths (0: all).")
    executor: str = option("serial", "serial | local (processes) | submitit (SLURM).")
    workers: int = option(2, "Parallel branches for the local executor.")

    def validate(self) -> None:
        super().validate()
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor must be one of {', '.join(EXECUTORS)}")
        if self.landscape_points < 3:
            raise ConfigError("landscape_points must be >= 3")
        if self.workers < 1 or self.landscape_examples < 0:
            raise ConfigError("workers must be >= 1 and landscape_examples >= 0")


@dataclass
class EvalConfig:
    """Evaluate a finished (or interrupted) run folder's last.pt on its test set."""

    run: Path = option(Path("runs/efcn/cnn"), "Run folder written by train or switch.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = option(None, "CPU threads (default: DLTHEORY_THREADS, else free cores).")
    split: str = option("test", "test | train.")


TRAIN_MUTABLE = mutable_keys(TrainConfig)
SWITCH_MUTABLE = mutable_keys(SwitchConfig)

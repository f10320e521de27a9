"""Datasets for the DFA trainer, as in-memory tensors (standardised, optionally resized/noised)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dltheory.core.data import load_images
from dltheory.core.errors import ConfigError, choice_error

from .config import DATASETS


@dataclass
class SplitData:
    """Standardised train/test tensors and the task (classes, or regression outputs)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_outputs: int
    classification: bool

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def relabel(y: torch.Tensor, fraction: float, n_classes: int, seed: int) -> torch.Tensor:
    """Replace the labels of a random ``fraction`` of samples by uniform random classes."""
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"label_noise must be in [0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed + 7919)
    flip = torch.rand(y.shape[0], generator=gen) < fraction
    y = y.clone()
    y[flip] = torch.randint(0, n_classes, (int(flip.sum()),), generator=gen)
    return y


def load_data(
    dataset: str,
    data_root: str = "",
    download: bool = False,
    input_size: int = 0,
    label_noise: float = 0.0,
    test_fraction: float = 0.2,
    seed: int = 0,
    n_samples: int = 1000,
    input_dim: int = 16,
    n_outputs: int = 2,
) -> SplitData:
    """Load ``dataset`` as standardised tensors (mean/std of the training split).

    ``digits`` (scikit-learn, offline) and ``mnist-t10k`` (the shared MNIST test file) are split
    into train/test with ``test_fraction``; torchvision datasets use their own split and never
    download unless ``download``; ``random`` is Gaussian regression (memorisation).
    """
    if dataset not in DATASETS:
        raise choice_error("dataset", dataset, DATASETS)
    if dataset == "random":
        if input_size:
            raise ConfigError("--input-size resizes images; the random dataset has none")
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(2 * n_samples, input_dim, generator=gen)
        y = torch.randn(2 * n_samples, n_outputs, generator=gen)
        return SplitData(
            x[:n_samples],
            y[:n_samples],
            x[n_samples:],
            y[n_samples:],
            n_outputs,
            classification=False,
        )
    root = data_root or None
    if dataset in ("digits", "mnist-t10k"):
        train, test = load_images(dataset, root).split(test_fraction, seed=0)
    else:
        train = load_images(dataset, root or "data", train=True, download=download)
        test = load_images(dataset, root or "data", train=False, download=download)
    x_tr, y_tr, x_te, y_te = train.x, train.y, test.x, test.y
    if input_size:
        x_tr = F.interpolate(x_tr, size=(input_size, input_size), mode="area")
        x_te = F.interpolate(x_te, size=(input_size, input_size), mode="area")
    mean, std = x_tr.mean(), x_tr.std()
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    n_classes = int(max(y_tr.max(), y_te.max())) + 1
    if label_noise:
        y_tr = relabel(y_tr, label_noise, n_classes, seed)
    return SplitData(x_tr, y_tr, x_te, y_te, n_classes, classification=True)

"""Datasets for the switch-time protocol, held as tensors (the authors' loaders are unshuffled).

``digits`` (scikit-learn, offline), ``mnist-t10k`` (the IDX test set, e.g. ../shared/data),
``mnist`` / ``cifar10`` / ``cifar100`` through torchvision (``--download`` to fetch). Inputs are
normalised per channel; CIFAR uses the authors' mean/std (reference notes A.4). ``data_size`` keeps
the first n training and first n test examples, as the authors' ``--data_size``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dltheory.core.data import (
    load_digits,
    load_mnist_idx,
    load_torchvision_tensors,
    mnist_t10k_dir,
    train_test_split_tensors,
)
from dltheory.core.errors import ConfigError, require_choice

from .config import DATASETS

# authors' utils.py normalisation for CIFAR (reference notes A.4)
CIFAR_MEAN, CIFAR_STD = (0.491, 0.482, 0.447), (0.247, 0.243, 0.262)
SPLIT_SEED = 0  # fixed so that every branch of a sweep sees the same split


@dataclass
class TensorData:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.x_train.shape[1:]
        return int(c), int(h), int(w)

    def to(self, device, dtype) -> TensorData:
        return TensorData(
            self.x_train.to(device, dtype),
            self.y_train.to(device),
            self.x_test.to(device, dtype),
            self.y_test.to(device),
            self.num_classes,
        )


def _normalise(x_train, x_test, mean=None, std=None):
    if mean is None:
        mean = x_train.mean(dim=(0, 2, 3))
        std = x_train.std(dim=(0, 2, 3)).clamp(min=1e-6)
    mean = torch.as_tensor(mean, dtype=x_train.dtype).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x_train.dtype).view(1, -1, 1, 1)
    return (x_train - mean) / std, (x_test - mean) / std


def load_data(
    dataset: str, data_root: str = "", data_size: int = 0, download: bool = False
) -> TensorData:
    """Train/test tensors for ``dataset`` (see module docstring); CPU, float32."""
    require_choice("dataset", dataset, DATASETS)
    if data_size < 0:
        raise ConfigError("data_size must be >= 0 (0 keeps every example)")
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    if dataset == "digits":
        x, y = load_digits()
        xtr, ytr, xte, yte = train_test_split_tensors(x, y, 0.25, seed=SPLIT_SEED)
        mean = std = None
    elif dataset == "mnist-t10k":
        x, y = load_mnist_idx(mnist_t10k_dir(data_root))
        xtr, ytr, xte, yte = train_test_split_tensors(x, y, 0.2, seed=SPLIT_SEED)
        mean, std = (0.1307,), (0.3081,)
    else:
        if not data_root:
            raise ConfigError(f"--data-root is required for {dataset} (add --download to fetch it)")
        root = Path(data_root)
        xtr, ytr = load_torchvision_tensors(dataset, root, True, download, data_size)
        xte, yte = load_torchvision_tensors(dataset, root, False, download, data_size)
        mean, std = ((0.1307,), (0.3081,)) if dataset == "mnist" else (CIFAR_MEAN, CIFAR_STD)
    if data_size:
        xtr, ytr, xte, yte = xtr[:data_size], ytr[:data_size], xte[:data_size], yte[:data_size]
    xtr, xte = _normalise(xtr, xte, mean, std)
    num_classes = 100 if dataset == "cifar100" else 10
    return TensorData(xtr, ytr, xte, yte, num_classes)

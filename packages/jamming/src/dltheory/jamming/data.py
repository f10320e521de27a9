"""Datasets of the jamming papers (arXiv:1809.09349 section II, 1810.09665, 1901.01608).

Every dataset is binary with labels y = +-1, float64, and every input is centred and rescaled to
norm sqrt(d) (the authors' ``functions.py``). Train and test come from one pooled set whose two
classes are shuffled separately and interleaved, so the first P points (the training set) are
balanced and the rest is the test set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from dltheory.core.errors import ConfigError

DATASETS = ("random", "mnist", "cifar2")
MNIST_SOURCES = ("digits", "idx", "torchvision")


@dataclass
class BinaryDataset:
    """Train and test split of a +-1 labelled dataset (inputs of shape [n, d])."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    name: str

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def dim(self) -> int:
        return self.x_train.shape[1]

    def to(self, device) -> BinaryDataset:
        return BinaryDataset(
            self.x_train.to(device),
            self.y_train.to(device),
            self.x_test.to(device),
            self.y_test.to(device),
            self.name,
        )


def normalise_inputs(x: torch.Tensor) -> torch.Tensor:
    """Centre over samples, then rescale every input to norm sqrt(d)."""
    x = x - x.mean(dim=0, keepdim=True)
    norms = x.norm(dim=1, keepdim=True).clamp_min(1e-300)
    return x * (math.sqrt(x.shape[1]) / norms)


def pca_whiten(x: torch.Tensor, d: int) -> torch.Tensor:
    """Project centred data on its first d principal components, each scaled to unit variance."""
    if d > min(x.shape):
        raise ConfigError(f"PCA dimension d={d} exceeds min(n_samples, n_features)={min(x.shape)}")
    xc = x - x.mean(dim=0, keepdim=True)
    _, s, vh = torch.linalg.svd(xc, full_matrices=False)
    std = s[:d] / math.sqrt(x.shape[0] - 1)
    if (std <= 1e-12 * std[0]).any():
        raise ConfigError(f"PCA dimension d={d} includes a zero-variance direction")
    return (xc @ vh[:d].T) / std


def interleaved_split(
    x: torch.Tensor, y: torch.Tensor, n_train: int, n_test: int | None, seed: int
) -> BinaryDataset:
    """Shuffle each class, interleave them (-1, +1, -1, ...), take the first n_train as train."""
    gen = torch.Generator().manual_seed(seed)
    groups = [torch.nonzero(y == label).flatten() for label in (-1.0, 1.0)]
    groups = [g[torch.randperm(len(g), generator=gen)] for g in groups]
    k = min(len(g) for g in groups)
    order = torch.stack([groups[0][:k], groups[1][:k]], dim=1).flatten()
    rest = torch.cat([groups[0][k:], groups[1][k:]])
    order = torch.cat([order, rest])
    available = len(order) - n_train
    if n_train < 2 or available < 1:
        raise ConfigError(
            f"asked for P={n_train} training points but the dataset has {len(order)} "
            "points (at least one must remain for the test set)"
        )
    n_test = available if n_test is None else min(n_test, available)
    train, test = order[:n_train], order[n_train : n_train + n_test]
    return BinaryDataset(x[train], y[train], x[test], y[test], "")


def random_gaussian(n_train: int, d: int, n_test: int = 1000, seed: int = 0) -> BinaryDataset:
    """x ~ N(0, I_d) normalised to sqrt(d); labels alternate +-1 by index, i.e. random w.r.t. x."""
    if d < 1:
        raise ConfigError(f"input dimension d must be >= 1, got {d}")
    gen = torch.Generator().manual_seed(seed)
    n = n_train + n_test
    x = normalise_inputs(torch.randn(n, d, generator=gen, dtype=torch.float64))
    y = torch.ones(n, dtype=torch.float64)
    y[::2] = -1.0
    ds = BinaryDataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], f"random-d{d}")
    return ds


def _mnist_pixels(
    source: str, root: Path | None, download: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    from dltheory.core import data as core_data

    if source == "digits":
        images, labels = core_data.load_digits()
    elif source == "idx":
        root = root or ((core_data.shared_data_dir() or Path("missing")) / "mnist-t10k")
        images, labels = core_data.load_mnist_idx(root)
    elif source == "torchvision":
        if root is None:
            raise ConfigError("--data-root is required for the torchvision MNIST source")
        parts = [
            core_data.load_torchvision_dataset("mnist", root, train=t, download=download)
            for t in (True, False)
        ]
        images = torch.cat([p.data.float().div(255.0) for p in parts])
        labels = torch.cat([torch.as_tensor(p.targets) for p in parts])
    else:
        raise ConfigError(
            f"unknown MNIST source {source!r}; choose one of {', '.join(MNIST_SOURCES)}"
        )
    return images.reshape(len(images), -1).to(torch.float64), torch.as_tensor(labels)


def mnist_parity(
    n_train: int,
    d: int = 10,
    n_test: int | None = None,
    seed: int = 0,
    source: str = "digits",
    root: Path | None = None,
    download: bool = False,
) -> BinaryDataset:
    """MNIST parity (even -> -1, odd -> +1) on PCA-whitened d-dim inputs normalised to sqrt(d).

    ``source``: ``digits`` (scikit-learn 8x8 digits, offline), ``idx`` (the MNIST t10k IDX files),
    ``torchvision`` (the 70k MNIST images pooled from train and test).
    """
    pixels, digits = _mnist_pixels(source, root, download)
    x = normalise_inputs(pca_whiten(pixels, d))
    y = torch.where(digits % 2 == 0, -1.0, 1.0).to(torch.float64)
    ds = interleaved_split(x, y, n_train, n_test, seed)
    ds.name = f"mnist-{source}-pca{d}"
    return ds


def cifar2(
    n_train: int,
    d: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    root: Path | None = None,
    download: bool = False,
) -> BinaryDataset:
    """CIFAR-10 two classes (0-4 -> -1, 5-9 -> +1), raw pixels or PCA-whitened to d dims."""
    from dltheory.core import data as core_data

    if root is None:
        raise ConfigError("--data-root is required for CIFAR-10")
    parts = [
        core_data.load_torchvision_dataset("cifar10", root, train=t, download=download)
        for t in (True, False)
    ]
    pixels = torch.cat([torch.as_tensor(p.data).reshape(len(p.data), -1) for p in parts])
    pixels = pixels.to(torch.float64) / 255.0
    classes = torch.cat([torch.as_tensor(p.targets) for p in parts])
    x = pca_whiten(pixels, d) if d else pixels
    y = torch.where(classes < 5, -1.0, 1.0).to(torch.float64)
    ds = interleaved_split(normalise_inputs(x), y, n_train, n_test, seed)
    ds.name = f"cifar2-pca{d}" if d else "cifar2"
    return ds


def make_dataset(
    name: str,
    n_train: int,
    d: int,
    n_test: int | None = None,
    seed: int = 0,
    source: str = "digits",
    root: Path | None = None,
    download: bool = False,
) -> BinaryDataset:
    """Dispatch on the dataset name: ``random``, ``mnist`` (parity) or ``cifar2``."""
    if name == "random":
        return random_gaussian(n_train, d, 1000 if n_test is None else n_test, seed)
    if name == "mnist":
        return mnist_parity(n_train, d, n_test, seed, source, root, download)
    if name == "cifar2":
        return cifar2(n_train, d, n_test, seed, root, download)
    raise ConfigError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")

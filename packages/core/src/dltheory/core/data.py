"""Datasets: torchvision loaders with an explicit download flag, offline defaults, IDX files.

Nothing here downloads unless ``download=True`` is passed. A missing dataset raises
``DatasetNotFoundError`` naming the path and how to get the data.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from dltheory.core.errors import DatasetNotFoundError


class CorruptDatasetError(DatasetNotFoundError):
    """A dataset file exists but is truncated, corrupt or not in the expected format."""


TORCHVISION_DATASETS = {
    "mnist": "MNIST",
    "fashion-mnist": "FashionMNIST",
    "cifar10": "CIFAR10",
    "cifar100": "CIFAR100",
}
# Mean/std per channel, for the transforms users expect.
NORMALIZATION = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"}


def shared_data_dir() -> Path | None:
    """``$DLTHEORY_SHARED_DATA``, else a ``shared/data`` folder beside the repo, else None."""
    env = os.environ.get("DLTHEORY_SHARED_DATA")
    if env:
        path = Path(env)
        return path if path.is_dir() else None
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    for start in starts:
        for folder in [start, *start.parents]:
            candidate = folder / "shared" / "data"
            if candidate.is_dir():
                return candidate
    return None


def mnist_t10k_dir(root: str | Path | None = None) -> Path:
    """The MNIST-t10k IDX folder: ``root`` when given (not empty), else the shared data folder's
    ``mnist-t10k``; a one-line DatasetNotFoundError naming the folder when it is missing."""
    folder = Path(root) if root else (shared_data_dir() or Path("shared/data")) / "mnist-t10k"
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"MNIST-t10k folder not found: {folder}; pass --data-root DIR holding "
            "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz] "
            "(or set DLTHEORY_SHARED_DATA to a folder with mnist-t10k/)"
        )
    return folder


def load_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits (1,797 images, offline): float32 (n, 1, 8, 8) in [0, 1], int64 labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return images, labels


def _open_maybe_gz(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def _find_idx(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetNotFoundError(f"missing IDX file {folder / stem}[.gz]")


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped): the MNIST format's magic, dims, then raw bytes."""
    path = Path(path)
    try:
        with _open_maybe_gz(path) as handle:
            header = handle.read(4)
            if len(header) != 4 or header[0] != 0 or header[1] != 0 or header[2] != 0x08:
                raise CorruptDatasetError(
                    f"{path} is not an unsigned-byte IDX file (bad magic number)"
                )
            ndim = header[3]
            raw_dims = handle.read(4 * ndim)
            if len(raw_dims) != 4 * ndim:
                raise CorruptDatasetError(f"{path} is truncated inside its header")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            data = np.frombuffer(handle.read(), dtype=np.uint8)
    # A truncated or garbled .gz raises EOFError (which click would turn into "Aborted."),
    # BadGzipFile or zlib.error: all are one-line errors naming the file.
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CorruptDatasetError(
            f"{path} is a corrupt or truncated gzip file ({reason})"
        ) from None
    expected = int(np.prod(dims))
    if data.size != expected:
        raise CorruptDatasetError(
            f"{path} is truncated: {data.size} bytes of data, expected {expected}"
        )
    return data.reshape(dims)


def load_mnist_idx(folder: str | Path, split: str = "t10k") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST from IDX files ``<split>-images-idx3-ubyte[.gz]`` and ``<split>-labels-idx1-ubyte[.gz]``.

    Returns float32 images (n, 1, 28, 28) in [0, 1] and int64 labels.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"MNIST folder not found: {folder}")
    images = read_idx(_find_idx(folder, f"{split}-images-idx3-ubyte"))
    labels = read_idx(_find_idx(folder, f"{split}-labels-idx1-ubyte"))
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DatasetNotFoundError(
            f"MNIST IDX files in {folder} disagree: images {images.shape}, labels {labels.shape}"
        )
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def load_torchvision_dataset(
    name: str, root: str | Path, train: bool = True, download: bool = False, transform: Any = None
) -> Any:
    """MNIST, Fashion-MNIST, CIFAR-10/100 through torchvision; never downloads unless asked."""
    import torchvision

    key = name.lower().replace("_", "-")
    if key not in TORCHVISION_DATASETS:
        raise DatasetNotFoundError(
            f"unknown dataset '{name}': expected one of {', '.join(TORCHVISION_DATASETS)}"
        )
    cls = getattr(torchvision.datasets, TORCHVISION_DATASETS[key])
    root = Path(root)
    try:
        return cls(root=str(root), train=train, download=download, transform=transform)
    except RuntimeError as exc:
        if download:
            raise DatasetNotFoundError(f"could not download {name} into {root}: {exc}") from None
        raise DatasetNotFoundError(
            f"{name} not found under {root}; pass --download to fetch it, or --data-root to point at it"
        ) from None


def load_torchvision_tensors(
    name: str,
    root: str | Path,
    train: bool = True,
    download: bool = False,
    limit: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision dataset as tensors: float32 (n, C, H, W) in [0, 1] and int64 labels.

    ``limit`` keeps the first ``limit`` examples. MNIST-like sets are stored (n, H, W), CIFAR (n, H, W, C).
    """
    ds = load_torchvision_dataset(name, root, train=train, download=download)
    data, targets = ds.data, ds.targets
    if limit:
        data, targets = data[:limit], targets[:limit]
    x = torch.as_tensor(data.numpy() if hasattr(data, "numpy") else data).float() / 255.0
    x = x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)
    return x.contiguous(), torch.as_tensor(targets, dtype=torch.int64)


def image_folder(root: str | Path, split: str | None = "train", transform: Any = None) -> Any:
    """An ImageFolder (``root/<split>/<class>/<image>``, the ImageNet layout), checked first."""
    import torchvision

    folder = Path(root) / split if split else Path(root)
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"image folder not found: {folder} (expected <root>/{split}/<class>/<image>)"
        )
    classes = [d for d in sorted(folder.iterdir()) if d.is_dir()]
    if not classes:
        raise DatasetNotFoundError(
            f"{folder} has no class sub-folders (expected {folder}/<class>/<image>)"
        )
    for class_dir in classes:
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in class_dir.iterdir()):
            raise DatasetNotFoundError(f"class folder {class_dir} holds no images")
    return torchvision.datasets.ImageFolder(str(folder), transform=transform)


def train_test_split_tensors(
    x: torch.Tensor, y: torch.Tensor, test_fraction: float = 0.2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded random split of paired tensors: (x_train, y_train, x_test, y_test)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be in (0, 1)")
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(x.shape[0], generator=generator)
    n_test = max(1, round(test_fraction * x.shape[0]))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def to_tensor_dataset(x: torch.Tensor, y: torch.Tensor) -> torch.utils.data.TensorDataset:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs and labels differ in length: {x.shape[0]} vs {y.shape[0]}")
    return torch.utils.data.TensorDataset(x, y)


IMAGE_DATASETS = ("digits", "mnist-t10k", *TORCHVISION_DATASETS)


@dataclass
class TensorData:
    """An image classification set held as tensors: float32 (n, C, H, W) in [0, 1], int64 labels."""

    x: torch.Tensor
    y: torch.Tensor
    name: str

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise CorruptDatasetError(
                f"{self.name}: {self.x.shape[0]} images but {self.y.shape[0]} labels"
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_classes(self) -> int:
        return int(self.y.max().item()) + 1 if len(self) else 0

    @property
    def image_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])

    def split(self, test_fraction: float = 0.2, seed: int = 0) -> tuple[TensorData, TensorData]:
        x_tr, y_tr, x_te, y_te = train_test_split_tensors(self.x, self.y, test_fraction, seed)
        return TensorData(x_tr, y_tr, f"{self.name}[train]"), TensorData(
            x_te, y_te, f"{self.name}[test]"
        )

    def dataset(self) -> torch.utils.data.TensorDataset:
        return to_tensor_dataset(self.x, self.y)


def load_images(
    name: str,
    root: str | Path | None = None,
    *,
    train: bool = True,
    download: bool = False,
    limit: int | None = None,
) -> TensorData:
    """The one dataset dispatch: ``digits`` (scikit-learn, offline), ``mnist-t10k`` (the MNIST test
    IDX files: ``root`` or the shared data folder's ``mnist-t10k``), or a torchvision set under
    ``root`` (never downloaded unless ``download=True``). ``train`` selects the torchvision split;
    digits and mnist-t10k are single sets to be split with :meth:`TensorData.split`.
    """
    key = name.lower().replace("_", "-")
    if key == "digits":
        x, y = load_digits()
    elif key == "mnist-t10k":
        x, y = load_mnist_idx(mnist_t10k_dir(root), "t10k")
    elif key in TORCHVISION_DATASETS:
        if root is None:
            raise DatasetNotFoundError(f"{name} needs --data-root (the torchvision root folder)")
        x, y = load_torchvision_tensors(key, root, train=train, download=download)
    else:
        raise DatasetNotFoundError(
            f"unknown dataset '{name}': expected one of {', '.join(IMAGE_DATASETS)}"
        )
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return TensorData(x, y, key)

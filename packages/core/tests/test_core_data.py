from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch

from dltheory.core.data import (
    image_folder,
    load_digits,
    load_mnist_idx,
    load_torchvision_dataset,
    read_idx,
    train_test_split_tensors,
)
from dltheory.core.errors import DatasetNotFoundError


def _write_idx(path, array, gz):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    suffix = ".gz" if gz else ""
    _write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images, gz)
    _write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels, gz)
    x, y = load_mnist_idx(tmp_path)
    assert x.shape == (7, 1, 28, 28)
    assert x.dtype == torch.float32
    assert torch.allclose(x[:, 0] * 255, torch.tensor(images, dtype=torch.float32))
    assert torch.equal(y, torch.tensor(labels))


def test_idx_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x09\x01\x00\x00\x00\x01\x00")
    with pytest.raises(DatasetNotFoundError, match="bad magic"):
        read_idx(tmp_path / "bad")
    _write_idx(tmp_path / "t", np.zeros((4, 2)), gz=False)
    (tmp_path / "trunc").write_bytes((tmp_path / "t").read_bytes()[:-3])
    with pytest.raises(DatasetNotFoundError, match="truncated"):
        read_idx(tmp_path / "trunc")
    with pytest.raises(DatasetNotFoundError, match="missing IDX"):
        load_mnist_idx(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="not found"):
        load_mnist_idx(tmp_path / "absent")


def test_shared_mnist_test_set(mnist_t10k_dir):
    x, y = load_mnist_idx(mnist_t10k_dir)
    assert x.shape == (10000, 1, 28, 28)
    assert torch.equal(torch.bincount(y, minlength=10).sum(), torch.tensor(10000))
    assert 0.12 < float(x.mean()) < 0.14  # MNIST's known mean intensity (~0.13)


def test_digits_offline():
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8)
    assert float(x.max()) == 1.0
    assert set(y.tolist()) == set(range(10))


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "cifar10", "cifar100"])
def test_missing_torchvision_dataset_is_clear_and_never_downloads(tmp_path, name):
    with pytest.raises(DatasetNotFoundError, match="--download"):
        load_torchvision_dataset(name, tmp_path)
    with pytest.raises(DatasetNotFoundError, match="unknown dataset"):
        load_torchvision_dataset("imagenet", tmp_path)


def test_image_folder_checks_layout(tmp_path):
    from PIL import Image

    with pytest.raises(DatasetNotFoundError, match="not found"):
        image_folder(tmp_path)
    (tmp_path / "train").mkdir()
    with pytest.raises(DatasetNotFoundError, match="no class sub-folders"):
        image_folder(tmp_path)
    (tmp_path / "train" / "cat").mkdir()
    with pytest.raises(DatasetNotFoundError, match="holds no images"):
        image_folder(tmp_path)
    Image.new("RGB", (4, 4)).save(tmp_path / "train" / "cat" / "a.png")
    ds = image_folder(tmp_path)
    assert len(ds) == 1
    assert ds.classes == ["cat"]


def test_split_is_seeded_and_disjoint():
    x = torch.arange(100).float().unsqueeze(1)
    y = torch.arange(100)
    a = train_test_split_tensors(x, y, 0.2, seed=3)
    b = train_test_split_tensors(x, y, 0.2, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert len(a[3]) == 20
    assert set(a[1].tolist()).isdisjoint(a[3].tolist())


def test_torchvision_tensors_layout(tmp_path, monkeypatch):
    """MNIST-like (n, H, W) and CIFAR-like (n, H, W, C) storage both come back as (n, C, H, W)."""
    import numpy as np
    import torch

    from dltheory.core import data as data_module

    class Stored:
        def __init__(self, array, targets):
            self.data, self.targets = array, targets

    cases = {
        "mnist": (torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8), (5, 1, 28, 28)),
        "cifar10": (np.random.randint(0, 256, (5, 32, 32, 3), dtype=np.uint8), (5, 3, 32, 32)),
    }
    for name, (array, shape) in cases.items():
        monkeypatch.setattr(
            data_module,
            "load_torchvision_dataset",
            lambda *a, array=array, **k: Stored(array, list(range(5))),
        )
        x, y = data_module.load_torchvision_tensors(name, tmp_path, limit=3)
        assert x.shape == (3, *shape[1:])
        assert x.dtype == torch.float32
        assert float(x.max()) <= 1.0
        assert y.tolist() == [0, 1, 2]
        if name == "cifar10":
            assert torch.allclose(x[1, 2], torch.as_tensor(array[1, :, :, 2]).float() / 255)


def _write_idx_gz(folder, n=5):
    folder.mkdir(parents=True, exist_ok=True)
    images = struct.pack(">4B3I", 0, 0, 8, 3, n, 28, 28) + bytes(n * 28 * 28)
    labels = struct.pack(">4BI", 0, 0, 8, 1, n) + bytes(range(n))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return folder


def test_load_images_dispatch(tmp_path):
    from dltheory.core.data import load_images

    digits = load_images("digits")
    assert digits.image_shape == (1, 8, 8)
    assert len(digits) == 1797
    assert digits.num_classes == 10
    train, test = digits.split(0.25, seed=1)
    assert len(train) + len(test) == 1797
    mnist = load_images("mnist-t10k", _write_idx_gz(tmp_path / "m"))
    assert mnist.y.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(DatasetNotFoundError, match="expected one of digits, mnist-t10k"):
        load_images("imagenet-21k")
    with pytest.raises(DatasetNotFoundError, match="--data-root"):
        load_images("cifar10")


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_corrupt_gzip_is_a_one_line_error_naming_the_file(tmp_path, damage):
    from dltheory.core.data import CorruptDatasetError, load_images

    folder = _write_idx_gz(tmp_path / "m")
    target = folder / "t10k-images-idx3-ubyte.gz"
    data = target.read_bytes()
    target.write_bytes(
        data[: len(data) // 2] if damage == "truncate" else b"\x1f\x8b" + b"garbage" * 20
    )
    with pytest.raises(CorruptDatasetError, match=r"t10k-images-idx3-ubyte\.gz") as info:
        load_images("mnist-t10k", folder)
    assert "\n" not in str(info.value)


def test_mnist_t10k_dir_from_root_or_shared_folder_or_one_line_error(tmp_path, monkeypatch):
    from dltheory.core.data import load_images, mnist_t10k_dir

    assert mnist_t10k_dir(tmp_path) == tmp_path
    shared = tmp_path / "shared"
    (shared / "mnist-t10k").mkdir(parents=True)
    monkeypatch.setenv("DLTHEORY_SHARED_DATA", str(shared))
    assert mnist_t10k_dir() == shared / "mnist-t10k"
    assert mnist_t10k_dir("") == shared / "mnist-t10k"  # an empty --data-root means "not given"
    missing = tmp_path / "absent"
    with pytest.raises(DatasetNotFoundError, match="--data-root") as info:
        mnist_t10k_dir(missing)
    assert str(missing) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(DatasetNotFoundError, match="MNIST-t10k folder not found"):
        load_images("mnist-t10k", missing)

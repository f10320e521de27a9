"""Datasets, the paper's sample-efficiency subsampling, DeiT augmentations, repeated augmentation.

Datasets: scikit-learn digits (offline default, 8x8 grey), the MNIST test set (28x28, offline IDX
files split 80/20), CIFAR-10/100 (torchvision, download only
with ``download=True``) and ImageFolder (the ImageNet layout ``root/{train,val}/<class>/*``).
"""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset, Sampler, Subset

from dltheory.convit.config import DATASET_DEFAULTS, AugmentConfig

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def per_class_prefix(targets, fraction: float) -> list[int]:
    """Indices of the first floor(fraction * n_c) samples of each class, in dataset order.

    The paper's sample-efficiency protocol (official ``make_subsampled_dataset``): ImageFolder
    lists files in sorted order, so this keeps the first files of each class, deterministically.
    At least one sample per class is kept.
    """
    if not 0.0 < fraction <= 1.0:
        from dltheory.core.errors import ConfigError

        raise ConfigError(f"sampling ratio must be in (0, 1], got {fraction}")
    targets = [int(t) for t in targets]
    by_class: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        by_class.setdefault(t, []).append(i)
    keep = []
    for idx in by_class.values():
        keep.extend(idx[: max(1, int(len(idx) * fraction))])
    return sorted(keep)


class TensorImageDataset(Dataset):
    """In-memory images (N, C, H, W) in [0, 1] with an optional tensor transform."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform=None):
        self.x, self.y, self.transform = x, y, transform
        self.targets = y.tolist()

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        img = self.x[i]
        if self.transform is not None:
            img = self.transform(img)
        return img, self.y[i]


def _targets(ds) -> list[int]:
    if isinstance(ds, Subset):
        base = _targets(ds.dataset)
        return [base[i] for i in ds.indices]
    return list(ds.targets)


def train_transform(img_size: int, mean, std, aug: AugmentConfig, from_pil: bool = True):
    """DeiT training pipeline: random-resized crop (RandomCrop+pad 4 at <= 32 px, as the official
    CIFAR code), flip, RandAugment, normalise, random erasing."""
    from torchvision.transforms import InterpolationMode, v2

    ops = [v2.ToImage()] if from_pil else []
    if not aug.crop:
        ops.append(
            v2.Resize((img_size, img_size), interpolation=InterpolationMode.BICUBIC, antialias=True)
        )
    elif img_size <= 32:
        ops.append(v2.RandomCrop(img_size, padding=max(1, img_size // 8)))
    else:
        ops.append(
            v2.RandomResizedCrop(img_size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        )
    if aug.hflip:
        ops.append(v2.RandomHorizontalFlip())
    if aug.randaugment:
        ops += [
            v2.ToDtype(torch.uint8, scale=True),
            v2.RandAugment(num_ops=2, magnitude=aug.randaugment_magnitude),
        ]
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    if aug.random_erasing > 0:
        ops.append(v2.RandomErasing(p=aug.random_erasing, value="random"))
    return v2.Compose(ops)


def eval_transform(img_size: int, mean, std, from_pil: bool = True):
    """Resize to img_size/0.875 (bicubic) then centre crop (DeiT eval); identity size at <= 32 px."""
    from torchvision.transforms import InterpolationMode, v2

    ops = [v2.ToImage()] if from_pil else []
    if img_size > 32:
        ops += [
            v2.Resize(
                int(img_size / 0.875), interpolation=InterpolationMode.BICUBIC, antialias=True
            ),
            v2.CenterCrop(img_size),
        ]
    ops += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(mean, std)]
    return v2.Compose(ops)


def _load_grey_tensors(dataset: str, data_root: str) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits, or the 10,000 MNIST test images (28x28) from IDX files in
    ``data_root`` (default: ``<shared data>/mnist-t10k``); both held out 20% for validation."""
    from dltheory.core.data import load_images

    images = load_images(dataset, data_root or None)
    return images.x, images.y


def build_datasets(
    dataset: str,
    data_root: str = "",
    img_size: int = 0,
    sampling_ratio: float = 1.0,
    download: bool = False,
    augment: AugmentConfig | None = None,
    seed: int = 0,
):
    """(train_set, val_set, num_classes, in_chans). ``sampling_ratio`` subsamples training only."""
    from dltheory.core.data import train_test_split_tensors
    from dltheory.core.errors import ConfigError

    if dataset not in DATASET_DEFAULTS:
        raise ConfigError(f"unknown dataset {dataset!r}; choose from {', '.join(DATASET_DEFAULTS)}")
    defaults = DATASET_DEFAULTS[dataset]
    img_size = img_size or defaults["img_size"]
    augment = augment or AugmentConfig()
    if dataset in ("digits", "mnist-t10k"):
        x, y = _load_grey_tensors(dataset, data_root)
        if img_size != x.shape[-1]:
            x = torch.nn.functional.interpolate(
                x, size=(img_size, img_size), mode="bilinear", align_corners=False
            )
        x_tr, y_tr, x_te, y_te = train_test_split_tensors(x, y, test_fraction=0.2, seed=0)
        mean, std = (float(x_tr.mean()),), (float(x_tr.std()),)
        # grey digits: RandAugment and flips do not apply (a flipped 2 is no 2); crop + erasing stay
        aug = AugmentConfig(
            randaugment=False, hflip=False, random_erasing=augment.random_erasing, crop=augment.crop
        )
        train = TensorImageDataset(
            x_tr, y_tr, train_transform(img_size, mean, std, aug, from_pil=False)
        )
        val = TensorImageDataset(x_te, y_te, eval_transform(img_size, mean, std, from_pil=False))
        num_classes, in_chans = 10, 1
    elif dataset in ("cifar10", "cifar100"):
        from dltheory.core.data import load_torchvision_dataset, shared_data_dir

        shared = shared_data_dir()
        root = data_root or str(shared / "cifar" if shared else "data/cifar")
        train = load_torchvision_dataset(
            dataset,
            root,
            train=True,
            download=download,
            transform=train_transform(img_size, CIFAR_MEAN, CIFAR_STD, augment),
        )
        val = load_torchvision_dataset(
            dataset,
            root,
            train=False,
            download=download,
            transform=eval_transform(img_size, CIFAR_MEAN, CIFAR_STD),
        )
        num_classes, in_chans = defaults["num_classes"], 3
    else:
        from dltheory.core.data import image_folder

        if not data_root:
            raise ConfigError(
                "--data-root is required for the imagefolder dataset (root/train, root/val)"
            )
        train = image_folder(
            data_root,
            "train",
            transform=train_transform(img_size, IMAGENET_MEAN, IMAGENET_STD, augment),
        )
        val = image_folder(
            data_root, "val", transform=eval_transform(img_size, IMAGENET_MEAN, IMAGENET_STD)
        )
        num_classes, in_chans = len(train.classes), 3
    if sampling_ratio < 1.0:
        return (
            Subset(train, per_class_prefix(_targets(train), sampling_ratio)),
            val,
            num_classes,
            in_chans,
        )
    return train, val, num_classes, in_chans


class RepeatedAugSampler(Sampler[int]):
    """Repeated augmentation (Hoffer et al.; DeiT's RASampler): each epoch every index appears
    ``repeats`` times, consecutive copies going to different processes, and each process draws
    ceil(n / world) samples, so the epoch length matches plain sampling. ``repeats=1`` is plain
    seeded shuffling. Deterministic in (seed, epoch), which makes resume exact."""

    def __init__(
        self,
        n: int,
        num_replicas: int = 1,
        rank: int = 0,
        repeats: int = 3,
        seed: int = 0,
        shuffle=True,
    ):
        if repeats < 1:
            raise ValueError("repeats must be >= 1")
        self.n, self.num_replicas, self.rank = n, num_replicas, rank
        self.repeats, self.seed, self.shuffle, self.epoch = repeats, seed, shuffle, 0
        self.num_samples = math.ceil(n / num_replicas)
        self.skip = 0

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Select the epoch's order; ``skip`` drops this process's first samples (a resume
        in the middle of an epoch)."""
        self.epoch, self.skip = epoch, max(0, skip)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        indices = order.repeat_interleave(self.repeats).tolist()
        total = math.ceil(len(indices) / self.num_replicas) * self.num_replicas
        indices += indices[: total - len(indices)]
        mine = indices[self.rank : total : self.num_replicas]
        return iter(mine[self.skip : self.num_samples])

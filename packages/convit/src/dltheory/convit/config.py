"""The settings of ``dltheory convit train``: one dataclass, the single declaration of every option.

Torch-free (the command line builds its options from these fields without importing torch).
Defaults are the DeiT recipe of the official code (``main.py``, paper Sec. 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltheory.core.config import TrainerFields, option
from dltheory.core.errors import ConfigError

# Paper Table 1 widths: heads x dims per head (Ti/S/B: 48 per head; "+": 64).
VARIANTS: dict[str, dict[str, int]] = {
    "convit_tiny": {"num_heads": 4, "embed_dim_per_head": 48},
    "convit_small": {"num_heads": 9, "embed_dim_per_head": 48},
    "convit_base": {"num_heads": 16, "embed_dim_per_head": 48},
    "convit_tiny_plus": {"num_heads": 4, "embed_dim_per_head": 64},
    "convit_small_plus": {"num_heads": 9, "embed_dim_per_head": 64},
    "convit_base_plus": {"num_heads": 16, "embed_dim_per_head": 64},
}

# Per-dataset defaults: image size, patch size, channels, classes (0: read from the folder).
DATASET_DEFAULTS: dict[str, dict[str, int]] = {
    "digits": {"img_size": 8, "patch_size": 1, "in_chans": 1, "num_classes": 10},
    "mnist-t10k": {"img_size": 28, "patch_size": 4, "in_chans": 1, "num_classes": 10},
    "cifar10": {"img_size": 32, "patch_size": 4, "in_chans": 3, "num_classes": 10},
    "cifar100": {"img_size": 32, "patch_size": 4, "in_chans": 3, "num_classes": 100},
    "imagefolder": {"img_size": 224, "patch_size": 16, "in_chans": 3, "num_classes": 0},
}

PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass
class AugmentConfig:
    """The DeiT training augmentations; each can be switched off."""

    randaugment: bool = True  # rand-m9-n2 (DeiT: rand-m9-mstd0.5-inc1)
    randaugment_magnitude: int = 9
    random_erasing: float = 0.25
    hflip: bool = True
    crop: bool = True  # random-resized crop (RandomCrop with padding at <= 32 px)


@dataclass
class TrainConfig(TrainerFields):
    """ConViT (or DeiT with ``num_gpsa_layers=0``) trained with the DeiT recipe."""

    # model (0 = the variant's or the dataset's default)
    model: str = option("convit_tiny", "Variant: convit_tiny|small|base[_plus].")
    depth: int = option(12, "Number of blocks.")
    num_heads: int = option(0, "Heads (0: the variant's).")
    embed_dim_per_head: int = option(0, "Width per head (0: the variant's).")
    num_gpsa_layers: int = option(10, "GPSA blocks before the class token (0 = DeiT).")
    locality_strength: float = option(1.0, "alpha of the convolutional init (eq. 5).")
    convolutional_init: bool = option(True, "Convolutional (local) init of GPSA.")
    gate_init: float = option(1.0, "Initial lambda_h (sigma(1) = 0.73 to position).")
    freeze_gates: bool = option(False, "Keep the gates at their initial value.")
    img_size: int = option(0, "Image size (0: the dataset's).")
    patch_size: int = option(0, "Patch size (0: the dataset's).")
    drop_path: float = option(0.1, "Stochastic depth rate.")
    pretrained: str = option("", "Initialise from this checkpoint (official/timm/ours).")
    # data
    dataset: str = option("digits", "digits | mnist-t10k | cifar10 | cifar100 | imagefolder.")
    data_root: str = option("", "Dataset folder (ImageNet layout for imagefolder).")
    download: bool = option(False, "Allow torchvision to download CIFAR.")
    sampling_ratio: float = option(1.0, "Keep the first floor(f n_c) training images per class.")
    workers: int = option(0, "DataLoader workers.", mutable=True)
    # recipe (DeiT defaults)
    epochs: int = option(300, "Total epochs (may grow on --resume).", mutable=True)
    batch_size: int = option(64, "Batch size per process.")
    lr: float = option(5e-4, "Learning rate for a total batch of 512 (scaled linearly).")
    min_lr: float = option(1e-5, "Final cosine learning rate.")
    warmup_lr: float = option(1e-6, "Learning rate at the start of the warm-up.")
    warmup_epochs: int = option(5, "Linear warm-up epochs.")
    weight_decay: float = option(0.05, "AdamW weight decay.")
    label_smoothing: float = option(0.1, "Label smoothing.")
    mixup: float = option(0.8, "Mixup alpha (0: off).")
    cutmix: float = option(1.0, "CutMix alpha (0: off).")
    randaugment: bool = option(True, "RandAugment m9 n2.")
    randaugment_magnitude: int = option(9, "RandAugment magnitude.")
    random_erasing: float = option(0.25, "Random erasing probability.")
    hflip: bool = option(True, "Random horizontal flips.")
    crop: bool = option(True, "Random(-resized) crops.")
    repeated_aug: int = option(3, "Repeated augmentation count (1: off).")
    ema: bool = option(False, "Keep an EMA of the weights.")
    ema_decay: float = option(0.99996, "EMA decay.")
    clip_grad: float = option(0.0, "Gradient-norm clipping (0: off).")
    # runtime
    compile: bool = option(False, "torch.compile the model.")
    channels_last: bool = option(False, "Channels-last inputs.")
    max_steps_per_epoch: int = option(0, "Cap steps per epoch (0: full epochs).")
    eval_every: int = option(1, "Evaluate, log and save every k epochs.", mutable=True)
    analysis_images: int = option(64, "Validation images for the nonlocality per evaluation.")
    checkpoint_every_steps: int = option(0, "Also checkpoint every k steps (0: off).", mutable=True)
    checkpoint_every_seconds: float = option(
        600.0, "Also checkpoint after this much wall time (0: off).", mutable=True
    )
    out: Path = option(Path("runs/convit"), "Run folder.", mutable=True)

    @property
    def augment(self) -> AugmentConfig:
        return AugmentConfig(
            randaugment=self.randaugment,
            randaugment_magnitude=self.randaugment_magnitude,
            random_erasing=self.random_erasing,
            hflip=self.hflip,
            crop=self.crop,
        )

    def validate(self) -> None:
        if self.model not in VARIANTS:
            raise ConfigError(f"unknown model {self.model!r}; choose from {', '.join(VARIANTS)}")
        if self.dataset not in DATASET_DEFAULTS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASET_DEFAULTS)}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}")
        if not 0 < self.sampling_ratio <= 1:
            raise ConfigError(f"sampling_ratio must be in (0, 1], got {self.sampling_ratio}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be positive")
        if self.depth < 1 or not 0 <= self.num_gpsa_layers < self.depth:
            raise ConfigError(f"num_gpsa_layers must be in [0, depth={self.depth})")
        if self.lr <= 0 or self.min_lr < 0 or self.warmup_lr < 0 or self.weight_decay < 0:
            raise ConfigError("lr must be positive; min_lr, warmup_lr, weight_decay non-negative")
        if self.warmup_epochs < 0 or self.eval_every < 1 or self.repeated_aug < 1:
            raise ConfigError("warmup_epochs >= 0, eval_every >= 1 and repeated_aug >= 1")
        if self.num_heads < 0 or self.embed_dim_per_head < 0 or self.img_size < 0:
            raise ConfigError("num_heads, embed_dim_per_head and img_size must be >= 0")
        if self.patch_size < 0 or self.workers < 0 or self.max_steps_per_epoch < 0:
            raise ConfigError("patch_size, workers and max_steps_per_epoch must be >= 0")
        if not 0 <= self.drop_path < 1 or not 0 <= self.label_smoothing < 1:
            raise ConfigError("drop_path and label_smoothing must be in [0, 1)")
        if self.mixup < 0 or self.cutmix < 0 or not 0 <= self.random_erasing <= 1:
            raise ConfigError("mixup, cutmix >= 0 and random_erasing in [0, 1]")
        if self.checkpoint_every_steps < 0 or self.checkpoint_every_seconds < 0:
            raise ConfigError("checkpoint cadences must be >= 0")

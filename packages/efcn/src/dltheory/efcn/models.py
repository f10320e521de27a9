"""The paper's networks (authors' ``models.py``, reference notes A.2) as plain ``nn.Sequential``s.

Padding is written as an explicit ``ZeroPad2d`` before each ``Conv2d(padding=0)`` ("Prime" form).
The FCN twin of a model (same layer sizes, dense init) is :func:`dltheory.efcn.fcn_twin`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def _spatial_out(size: int, kernel: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - kernel) // stride + 1


def vanilla_cnn(
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: int = 32,
    channels: int = 64,
    kernels: Sequence[int] = (4, 5, 3),
    strides: Sequence[int] = (2, 1, 1),
    paddings: Sequence[int] = (2, 2, 1),
    pool: tuple[int, int] | None = (3, 2),
) -> nn.Sequential:
    """The authors' ``SkinnyCNNPrime`` (their "rather small convnet"; the default arguments).

    ``[ZeroPad(p) -> Conv(k, s) -> ReLU -> MaxPool(3, 2)] x 3 -> Flatten -> Linear``; all biases on.
    The sizes are arguments so small inputs (8x8 digits, 28x28 MNIST) can use the same family.
    """
    if not (len(kernels) == len(strides) == len(paddings)):
        raise ValueError("kernels, strides and paddings must have the same length")
    layers: list[nn.Module] = []
    size, c_in = input_size, in_channels
    for k, s, p in zip(kernels, strides, paddings):
        layers += [nn.ZeroPad2d(p), nn.Conv2d(c_in, channels, k, stride=s), nn.ReLU()]
        size = _spatial_out(size, k, s, p)
        if pool is not None:
            layers.append(nn.MaxPool2d(pool[0], stride=pool[1]))
            size = _spatial_out(size, pool[0], pool[1], 0)
        if size < 1:
            raise ValueError(f"input size {input_size} is too small for this architecture")
        c_in = channels
    layers += [nn.Flatten(), nn.Linear(channels * size * size, num_classes)]
    return nn.Sequential(*layers)


def alexnet_cifar(
    in_channels: int = 3, num_classes: int = 10, input_size: int = 32
) -> nn.Sequential:
    """The authors' ``AlexNetPrime``: 5 convs (64, 192, 384, 256, 256) and a 512-512 classifier."""
    spec = [  # (out, kernel, stride, pad, pool after)
        (64, 4, 2, 2, True),
        (192, 5, 1, 2, True),
        (384, 3, 1, 1, False),
        (256, 3, 1, 1, False),
        (256, 3, 1, 1, True),
    ]
    layers: list[nn.Module] = []
    size, c_in = input_size, in_channels
    for c_out, k, s, p, pool in spec:
        layers += [nn.ZeroPad2d(p), nn.Conv2d(c_in, c_out, k, stride=s), nn.ReLU()]
        size = _spatial_out(size, k, s, p)
        if pool:
            layers.append(nn.MaxPool2d(3, stride=2))
            size = _spatial_out(size, 3, 2, 0)
        if size < 1:
            raise ValueError(f"input size {input_size} is too small for AlexNet")
        c_in = c_out
    layers += [
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(256 * size * size, 512),
        nn.ReLU(),
        nn.Dropout(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, num_classes),
    ]
    return nn.Sequential(*layers)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_cnn(name: str, in_channels: int, num_classes: int, input_size: int, channels: int = 64):
    """``vanilla`` | ``vanilla-small`` (3x3 convs, 2x2 pools: fits 8x8 digits) | ``alexnet``."""
    if name == "vanilla":
        return vanilla_cnn(in_channels, num_classes, input_size, channels)
    if name == "vanilla-small":
        return vanilla_cnn(
            in_channels,
            num_classes,
            input_size,
            channels,
            kernels=(3, 3, 3),
            strides=(1, 1, 1),
            paddings=(1, 1, 1),
            pool=(2, 2),
        )
    if name == "alexnet":
        return alexnet_cifar(in_channels, num_classes, input_size)
    raise ValueError(f"unknown model {name!r}; choose vanilla, vanilla-small or alexnet")


__all__ = ["alexnet_cifar", "build_cnn", "count_params", "vanilla_cnn"]

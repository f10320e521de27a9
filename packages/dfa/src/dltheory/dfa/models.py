"""Ready-made networks with their blocks marked for DFA: an MLP and the paper's small CNN."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dltheory.core.errors import ConfigError, DltheoryError, require_choice

from .engine import DirectFeedback, FeedbackPoint, attach_feedback, build_feedback

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}


class InputShapeError(DltheoryError, ValueError):
    """The input does not have the shape the network was built for."""


WEIGHT_INITS = ("default", "zero", "gaussian")


def make_activation(name: str) -> nn.Module:
    return ACTIVATIONS[require_choice("activation", name, sorted(ACTIVATIONS))]()


def init_weights(layers: Sequence[Any], kind: str) -> None:
    """``default`` keeps PyTorch's init; ``zero`` (deep-linear theory); ``gaussian`` sd 1/sqrt(fan_in)."""
    require_choice("weight init", kind, WEIGHT_INITS)
    with torch.no_grad():
        for layer in layers:
            if kind == "zero":
                layer.weight.zero_()
            elif kind == "gaussian":
                fan_in = layer.weight[0].numel()
                layer.weight.normal_(0.0, fan_in**-0.5)
            if kind != "default" and layer.bias is not None:
                layer.bias.zero_()


class MarkedNetwork(nn.Module):
    """Blocks ``(weight layer, activation)`` each followed by a FeedbackPoint, then a head."""

    def __init__(
        self,
        blocks: Sequence[nn.Module],
        head: nn.Module,
        feedback: DirectFeedback,
        flatten_input: bool,
        input_shape: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape) if input_shape else None
        self.blocks = nn.ModuleList(blocks)
        self.points = nn.ModuleList(FeedbackPoint() for _ in blocks)
        self.head = head
        self.feedback = feedback
        self.flatten_input = flatten_input
        attach_feedback(self)

    @property
    def weight_layers(self) -> list[Any]:
        """The weight layer of every block, then the head (the paper's W_1 ... W_L)."""
        blocks: Any = self.blocks
        return [block[0] for block in blocks] + [self.head]

    def _check_input(self, x: torch.Tensor) -> None:
        expected = self.input_shape
        if expected is None:
            return
        got = tuple(x.shape[1:])
        if self.flatten_input:
            ok = x.dim() >= 2 and math.prod(got) == math.prod(expected)
            want = f"{math.prod(expected)} features per sample"
        else:
            ok = got == expected
            want = f"per-sample shape {expected}"
        if not ok:
            raise InputShapeError(
                f"the network expects {want}, got input of shape {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if self.flatten_input:
            x = x.flatten(1)
        for block, point in zip(self.blocks, self.points):
            x = point(block(x))
        return self.feedback(self.head(x.flatten(1)))


def mlp(
    in_features: int,
    hidden: Sequence[int],
    n_outputs: int,
    activation: str = "relu",
    mode: str = "dfa",
    feedback_init: str = "gaussian",
    feedback_seed: int = 0,
    unit_norm: bool = False,
    bias: bool = False,
    weight_init: str = "default",
    feedback_scale: float = 1.0,
) -> MarkedNetwork:
    """Fully connected net ``in -> hidden[0] -> ... -> n_outputs`` (bias-free like the paper).

    ``feedback_scale`` multiplies B (TinyDFA uses 1/sqrt(max width) so that B e has the size of
    BP's signal; cosines are unchanged).
    """
    if not hidden:
        raise ConfigError("an MLP for DFA needs at least one hidden layer")
    widths = [int(in_features), *map(int, hidden)]
    blocks = [
        nn.Sequential(nn.Linear(a, b, bias=bias), make_activation(activation))
        for a, b in itertools.pairwise(widths)
    ]
    head = nn.Linear(widths[-1], n_outputs, bias=bias)
    feedback = DirectFeedback(
        n_outputs,
        mode=mode,
        init=feedback_init,
        feedback_seed=feedback_seed,
        unit_norm=unit_norm,
        scale=feedback_scale,
    )
    net = MarkedNetwork(blocks, head, feedback, flatten_input=True, input_shape=(in_features,))
    init_weights(net.weight_layers, weight_init)
    with torch.no_grad():
        net(torch.zeros(1, in_features))  # materialise B (shapes are known)
    return net


def convnet(
    in_shape: Sequence[int],
    channels: int,
    n_conv: int,
    n_outputs: int,
    kernel_size: int = 3,
    stride: int = 1,
    padding: int = 0,
    activation: str = "relu",
    mode: str = "dfa",
    feedback_init: str = "gaussian",
    feedback_seed: int = 0,
    unit_norm: bool = True,
    conv_feedback: str = "dense",
    bias: bool = False,
    weight_init: str = "default",
) -> MarkedNetwork:
    """The paper's ConvNet: ``n_conv`` x (Conv2d -> activation), flatten, one Linear."""
    if n_conv < 1:
        raise ConfigError("a ConvNet needs at least one conv layer")
    c_in = int(in_shape[0])
    blocks = []
    for i in range(n_conv):
        conv = nn.Conv2d(
            c_in if i == 0 else channels, channels, kernel_size, stride, padding, bias=bias
        )
        blocks.append(nn.Sequential(conv, make_activation(activation)))
    if len(in_shape) != 3:
        raise ConfigError(
            f"a ConvNet needs (channels, height, width) inputs, got {tuple(in_shape)}"
        )
    too_small = ConfigError(
        f"input {tuple(in_shape)} is too small for {n_conv} conv layers of kernel {kernel_size} "
        f"(stride {stride}, padding {padding}); use fewer layers, a smaller kernel or a larger "
        "--input-size"
    )
    probe = torch.zeros(1, *in_shape)
    with torch.no_grad():
        for block in blocks:
            if min(probe.shape[2:]) + 2 * padding < kernel_size:
                raise too_small
            probe = block(probe)
    if probe.numel() == 0:
        raise too_small
    head = nn.Linear(probe.numel(), n_outputs, bias=bias)
    feedback = DirectFeedback(
        n_outputs,
        mode=mode,
        init=feedback_init,
        feedback_seed=feedback_seed,
        unit_norm=unit_norm,
        conv_feedback=conv_feedback,
    )
    net = MarkedNetwork(blocks, head, feedback, flatten_input=False, input_shape=in_shape)
    init_weights(net.weight_layers, weight_init)
    build_feedback(net, torch.zeros(1, *in_shape))
    return net


def build_model(cfg, input_shape: tuple[int, ...], n_outputs: int, example: torch.Tensor):
    """The network a :class:`~dltheory.dfa.config.TrainConfig` describes, with B initialised."""
    from .config import STRUCTURED_INITS
    from .structured import set_aligned_feedback, set_factorised_conv_feedback

    base_init = "gaussian" if cfg.feedback_init in STRUCTURED_INITS else cfg.feedback_init
    weight_init = "zero" if cfg.activation == "linear" else "default"  # deep-linear theory
    if cfg.model == "mlp":
        net = mlp(
            math.prod(input_shape),
            [cfg.width] * cfg.n_hidden,
            n_outputs,
            cfg.activation,
            cfg.method,
            base_init,
            cfg.feedback_seed,
            cfg.unit_norm,
            cfg.bias,
            weight_init,
            cfg.feedback_scale or cfg.width**-0.5,
        )
    else:
        if len(input_shape) != 3:
            raise ConfigError("--model cnn needs image inputs (not the random dataset)")
        net = convnet(
            input_shape,
            cfg.width,
            cfg.n_hidden,
            n_outputs,
            cfg.kernel_size,
            activation=cfg.activation,
            mode=cfg.method,
            feedback_init=base_init,
            feedback_seed=cfg.feedback_seed,
            unit_norm=True,
            conv_feedback=cfg.conv_feedback,
            bias=cfg.bias,
            weight_init=weight_init,
        )
    if cfg.feedback_init == "aligned":
        set_aligned_feedback(net, example)
    elif cfg.feedback_init in ("nmf", "svd"):
        set_factorised_conv_feedback(net, example, cfg.feedback_init, seed=cfg.feedback_seed)
    return net

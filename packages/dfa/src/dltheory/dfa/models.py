"""Ready-made networks with their blocks marked for DFA: an MLP and the paper's small CNN."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from dltheory.core.errors import ConfigError

from .engine import DirectFeedback, FeedbackPoint, attach_feedback, build_feedback

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "linear": nn.Identity}
WEIGHT_INITS = ("default", "zero", "gaussian")


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def init_weights(layers: Sequence[nn.Module], kind: str) -> None:
    """``default`` keeps PyTorch's init; ``zero`` (deep-linear theory); ``gaussian`` sd 1/sqrt(fan_in)."""
    if kind not in WEIGHT_INITS:
        raise ConfigError(f"unknown weight init {kind!r}; choose one of {WEIGHT_INITS}")
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
        blocks: list[nn.Module],
        head: nn.Module,
        feedback: DirectFeedback,
        flatten_input: bool,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.points = nn.ModuleList(FeedbackPoint() for _ in blocks)
        self.head = head
        self.feedback = feedback
        self.flatten_input = flatten_input
        attach_feedback(self)

    @property
    def weight_layers(self) -> list[nn.Module]:
        """The weight layer of every block, then the head (the paper's W_1 ... W_L)."""
        return [block[0] for block in self.blocks] + [self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
    net = MarkedNetwork(blocks, head, feedback, flatten_input=True)
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
    probe = torch.zeros(1, *in_shape)
    with torch.no_grad():
        for block in blocks:
            probe = block(probe)
    if probe.numel() == 0:
        raise ConfigError(
            f"input {tuple(in_shape)} is too small for {n_conv} conv layers of kernel {kernel_size}"
        )
    head = nn.Linear(probe.numel(), n_outputs, bias=bias)
    feedback = DirectFeedback(
        n_outputs,
        mode=mode,
        init=feedback_init,
        feedback_seed=feedback_seed,
        unit_norm=unit_norm,
        conv_feedback=conv_feedback,
    )
    net = MarkedNetwork(blocks, head, feedback, flatten_input=False)
    init_weights(net.weight_layers, weight_init)
    build_feedback(net, torch.zeros(1, *in_shape))
    return net

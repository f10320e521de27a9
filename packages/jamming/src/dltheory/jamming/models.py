"""Fully connected ReLU networks, many of them stacked into one set of batched tensors.

Architecture of arXiv:1809.09349 (section II) / ``nn_jamming`` ``FC``: L hidden ReLU layers, layer i
of width int(h + 1 - (i + 1) / L) so that a fractional h tunes N finely, biases, one scalar output.
N counts weights only (biases excluded), see :func:`count_weights`.

E networks with their own width, seed and (shared) depth are stored as padded tensors
``weights[l]: [E, out_max, in_max]``; ``masks[l]`` marks the real entries. Padded entries are zero
and receive no update, so every network computes exactly what it would compute alone.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch
from torch import nn

from dltheory.core.errors import ConfigError

PARAMETRISATIONS = ("standard", "ntk")
INITS = ("orthogonal", "normal")


def hidden_widths(h: float, depth: int) -> list[int]:
    """Widths of the L hidden layers for a (possibly fractional) width h."""
    if depth < 1:
        raise ConfigError(f"depth must be >= 1, got {depth}")
    widths = [int(h + 1 - (i + 1) / depth) for i in range(depth)]
    if min(widths) < 1:
        raise ConfigError(f"width h={h} gives an empty hidden layer at depth {depth}")
    return widths


def count_weights(d: int, h: float, depth: int) -> int:
    """N = number of weights (biases excluded) of the net with input dim d, width h, depth L."""
    sizes = [d, *hidden_widths(h, depth), 1]
    return sum(a * b for a, b in itertools.pairwise(sizes))


def width_for_count(n_weights: float, d: int, depth: int, tol: float = 1e-6) -> float:
    """Smallest fractional width h with count_weights(d, h, depth) >= n_weights (bisection)."""
    lo, hi = 1.0, 2.0
    while count_weights(d, hi, depth) < n_weights:
        lo, hi = hi, 2 * hi
    if count_weights(d, lo, depth) >= n_weights:
        return lo
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if count_weights(d, mid, depth) >= n_weights else (mid, hi)
    return hi


@dataclass(frozen=True)
class NetSpec:
    """One member of an ensemble: its width and its initialisation seed."""

    h: float
    seed: int


def distinct_widths(targets, d: int, depth: int) -> list[float]:
    """Fractional widths for the weight counts ``targets`` (in order), dropping those whose rounded
    count N repeats an earlier one."""
    widths, seen = [], set()
    for target in targets:
        h = width_for_count(float(target), d, depth)
        n = count_weights(d, h, depth)
        if n not in seen:
            seen.add(n)
            widths.append(h)
    return widths


def _init_layer(
    out_f: int, in_f: int, init: str, parametrisation: str, gain: float, gen: torch.Generator
) -> torch.Tensor:
    w = torch.empty(out_f, in_f, dtype=torch.float64)
    if init == "orthogonal":
        nn.init.orthogonal_(w, gain=gain, generator=gen)
        if parametrisation == "ntk":  # so that W / sqrt(fan_in) is the orthogonal matrix
            w.mul_(math.sqrt(in_f))
    elif init == "normal":
        std = gain if parametrisation == "ntk" else gain / math.sqrt(in_f)
        w.normal_(0.0, std, generator=gen)
    else:
        raise ConfigError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    return w


class StackedFC:
    """E fully connected ReLU nets of one depth, stored as padded stacked tensors.

    ``parametrisation``: ``standard`` (PyTorch: z = W a + b, the authors' choice) or ``ntk``
    (z = W a / sqrt(fan_in) + b, W ~ N(0, gain^2), Jacot et al.).
    """

    def __init__(
        self,
        d: int,
        specs: list[NetSpec],
        depth: int,
        parametrisation: str = "standard",
        init: str = "orthogonal",
        gain: float = 1.0,
        dtype=torch.float64,
        device="cpu",
    ):
        if parametrisation not in PARAMETRISATIONS:
            raise ConfigError(
                f"unknown parametrisation {parametrisation!r}; choose one of "
                f"{', '.join(PARAMETRISATIONS)}"
            )
        if not specs:
            raise ConfigError("an ensemble needs at least one network")
        self.d, self.depth, self.specs = d, depth, list(specs)
        self.parametrisation, self.init, self.gain = parametrisation, init, gain
        sizes = [[d, *hidden_widths(s.h, depth), 1] for s in specs]
        self.sizes = sizes
        max_sizes = [max(col) for col in zip(*sizes)]
        E = len(specs)
        self.weights, self.biases, self.masks, self.scales = [], [], [], []
        for layer in range(depth + 1):
            out_max, in_max = max_sizes[layer + 1], max_sizes[layer]
            w = torch.zeros(E, out_max, in_max, dtype=torch.float64)
            m = torch.zeros(E, out_max, in_max, dtype=torch.float64)
            scale = torch.ones(E, 1, 1, dtype=torch.float64)
            self.weights.append(w)
            self.masks.append(m)
            self.biases.append(torch.zeros(E, out_max, dtype=torch.float64))
            self.scales.append(scale)
        for e, spec in enumerate(specs):
            gen = torch.Generator().manual_seed(int(spec.seed))
            for layer in range(depth + 1):
                in_f, out_f = sizes[e][layer], sizes[e][layer + 1]
                w = _init_layer(out_f, in_f, init, parametrisation, gain, gen)
                self.weights[layer][e, :out_f, :in_f] = w
                self.masks[layer][e, :out_f, :in_f] = 1.0
                if parametrisation == "ntk":
                    self.scales[layer][e] = 1.0 / math.sqrt(in_f)
        # a unit is real when any of its incoming weights is
        self.bias_masks = [(m.amax(dim=2) > 0).to(torch.float64) for m in self.masks]
        self.to(device=device, dtype=dtype)

    # -- tensors -------------------------------------------------------------------------------
    def parameters(self) -> list[torch.Tensor]:
        return [*self.weights, *self.biases]

    def parameter_masks(self) -> list[torch.Tensor]:
        return [*self.masks, *self.bias_masks]

    def to(self, device=None, dtype=None) -> StackedFC:
        def conv(ts):
            return [t.detach().to(device=device, dtype=dtype) for t in ts]

        self.weights, self.biases = conv(self.weights), conv(self.biases)
        self.masks, self.bias_masks, self.scales = (
            conv(self.masks),
            conv(self.bias_masks),
            conv(self.scales),
        )
        return self

    @property
    def n_nets(self) -> int:
        return len(self.specs)

    @property
    def dtype(self) -> torch.dtype:
        return self.weights[0].dtype

    @property
    def device(self) -> torch.device:
        return self.weights[0].device

    def n_weights(self) -> list[int]:
        """N of every network (weights only)."""
        return [count_weights(self.d, s.h, self.depth) for s in self.specs]

    # -- computation ---------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        params: list[torch.Tensor] | None = None,
        rows: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Outputs [E, n] of every network on the shared inputs x [n, d].

        ``params`` replaces the stored tensors (e.g. a trial step); ``rows`` selects the networks
        those params belong to (their NTK scales), when they are a subset of the ensemble.
        """
        params = self.parameters() if params is None else params
        ws, bs = params[: self.depth + 1], params[self.depth + 1 :]
        scales = self.scales if rows is None else [s[rows] for s in self.scales]
        a = x
        for layer, (w, b, s) in enumerate(zip(ws, bs, scales)):
            w_eff = w * s if self.parametrisation == "ntk" else w
            if a.dim() == 2:  # inputs shared by all nets: one GEMM [n, d] x [d, E * out]
                E, out_f, in_f = w_eff.shape
                z = (
                    (a @ w_eff.reshape(E * out_f, in_f).T)
                    .view(a.shape[0], E, out_f)
                    .transpose(0, 1)
                )
            else:
                z = torch.bmm(a, w_eff.transpose(1, 2))
            z = z + b.unsqueeze(1)
            a = torch.relu(z) if layer < self.depth else z
        return a.squeeze(-1)

    __call__ = forward

    def mask_gradients(self, grads: list[torch.Tensor]) -> list[torch.Tensor]:
        return [g * m for g, m in zip(grads, self.parameter_masks())]

    # -- single networks ----------------------------------------------------------------------
    def subset(self, index: list[int]) -> StackedFC:
        """A new StackedFC holding copies of networks ``index`` (padding trimmed)."""
        new = StackedFC.__new__(StackedFC)
        new.d, new.depth = self.d, self.depth
        new.parametrisation, new.init, new.gain = self.parametrisation, self.init, self.gain
        new.specs = [self.specs[i] for i in index]
        new.sizes = [self.sizes[i] for i in index]
        max_sizes = [max(col) for col in zip(*new.sizes)]
        idx = torch.as_tensor(index, device=self.device)

        def take(ts, weight_like):
            out = []
            for layer, t in enumerate(ts):
                t = t.detach()[idx]
                t = (
                    t[:, : max_sizes[layer + 1], : max_sizes[layer]]
                    if weight_like
                    else t[:, : max_sizes[layer + 1]]
                )
                out.append(t.clone())
            return out

        new.weights, new.masks = take(self.weights, True), take(self.masks, True)
        new.biases, new.bias_masks = take(self.biases, False), take(self.bias_masks, False)
        new.scales = [s.detach()[idx].clone() for s in self.scales]
        return new

    def to_module(self, e: int) -> nn.Sequential:
        """Network e as a plain ``nn.Sequential`` of Linear/ReLU (the NTK scale folded in)."""
        sizes = self.sizes[e]
        layers: list[nn.Module] = []
        for layer in range(self.depth + 1):
            in_f, out_f = sizes[layer], sizes[layer + 1]
            lin = nn.Linear(in_f, out_f, dtype=self.dtype)
            with torch.no_grad():
                lin.weight.copy_(self.weights[layer][e, :out_f, :in_f] * self.scales[layer][e])
                lin.bias.copy_(self.biases[layer][e, :out_f])
            layers.append(lin)
            if layer < self.depth:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def state_dict(self) -> dict:
        return {
            "d": self.d,
            "depth": self.depth,
            "parametrisation": self.parametrisation,
            "init": self.init,
            "gain": self.gain,
            "specs": [(s.h, s.seed) for s in self.specs],
            "weights": [w.detach().cpu() for w in self.weights],
            "biases": [b.detach().cpu() for b in self.biases],
        }

    @classmethod
    def from_state_dict(cls, state: dict, device="cpu") -> StackedFC:
        net = cls(
            state["d"],
            [NetSpec(h, s) for h, s in state["specs"]],
            state["depth"],
            state["parametrisation"],
            state["init"],
            state["gain"],
            device=device,
        )
        with torch.no_grad():
            for p, q in zip(net.parameters(), [*state["weights"], *state["biases"]]):
                if p.shape != q.shape:
                    from dltheory.core.errors import CheckpointError

                    raise CheckpointError(
                        f"checkpoint tensor of shape {tuple(q.shape)} does not "
                        f"match the network's {tuple(p.shape)}"
                    )
                p.copy_(q.to(p.dtype))
        return net

"""Inputs, teachers and random features z = sigma(F x / sqrt D) / sqrt D, with the theory's conventions."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.theory.activations import (
    ACTIVATIONS,
    get_coefficients,
    leaky_family_alpha,
    resolve_coefficients,
)
from dltheory.randfeat.theory.block import BlockStructure
from dltheory.randfeat.theory.conventions import convert_ridge

INPUT_KINDS = ("gaussian", "sphere")


def activation_torch(activation) -> Callable[[torch.Tensor], torch.Tensor]:
    """Torch activation matching the theory: centred (mu0 subtracted, the GET drops the mean).

    Names are those of :data:`ACTIVATIONS`; a degree of linearity ``r`` (float or "r=0.5") gives the
    unit-variance family relu(x) + alpha relu(-x), centred (2006.03509 numerics). A Python callable
    is applied to the pre-activation tensor (it must accept torch tensors, e.g. ``torch.tanh`` or
    ``lambda h: h**3 - h``) and centred by its mu0 computed by quadrature.
    """
    if callable(activation):
        mu0 = resolve_coefficients(_numpy_view(activation)).mu0
        fn = activation
        return lambda h: torch.as_tensor(fn(h), dtype=h.dtype, device=h.device) - mu0
    if isinstance(activation, str) and not activation.startswith("r="):
        require_choice("activation", activation, ACTIVATIONS)
        mu0 = get_coefficients(activation).mu0
        base = {
            "relu": torch.relu,
            "tanh": torch.tanh,
            "erf": torch.erf,
            "sign": torch.sign,
            "abs": torch.abs,
            "linear": lambda h: h,
        }[activation]
        return (lambda h: base(h) - mu0) if mu0 else base
    r = float(activation[2:]) if isinstance(activation, str) else float(activation)
    alpha = leaky_family_alpha(r)
    mean = (1 + alpha) / math.sqrt(2 * math.pi)
    std = math.sqrt((1 + alpha**2) / 2 - mean**2)
    # relu(h) + alpha relu(-h) is a leaky ReLU with slope -alpha on h < 0 (one fused op)
    return lambda h: (torch.nn.functional.leaky_relu(h, -alpha) - mean) / std


def _numpy_view(fn: Callable) -> Callable[[float], float]:
    """A float -> float view of a torch-or-numpy callable, for the quadrature of its GET coefficients."""

    def scalar(h):
        try:
            return float(fn(torch.as_tensor(float(h), dtype=torch.float64)))
        except TypeError:
            return float(np.asarray(fn(np.asarray(h, dtype=float))))

    scalar.__name__ = getattr(fn, "__name__", "activation")
    return scalar


def coefficients_for(activation):
    """The GET coefficients the theory uses for ``activation`` (as accepted by the simulations)."""
    if callable(activation):
        return resolve_coefficients(_numpy_view(activation))
    if isinstance(activation, str) and activation.startswith("r="):
        return resolve_coefficients(activation)
    return resolve_coefficients(activation if isinstance(activation, str) else float(activation))


def draw_inputs(
    n: int,
    d: int,
    generator: torch.Generator,
    kind: str = "gaussian",
    structure: BlockStructure | None = None,
    dtype=torch.float64,
    device="cpu",
) -> torch.Tensor:
    """n inputs in R^d: N(0, I), uniform on the sphere of radius sqrt(d), or two-block Gaussian."""
    require_choice("input kind", kind, INPUT_KINDS)
    x = torch.randn(n, d, generator=generator, dtype=dtype, device="cpu").to(device)
    if kind == "sphere":
        x = x * (math.sqrt(d) / x.norm(dim=1, keepdim=True))
    if structure is not None:
        x = x * block_scale(d, structure.input_variances, structure, dtype, device)
    return x


def block_scale(
    d: int, variances, structure: BlockStructure, dtype=torch.float64, device="cpu"
) -> torch.Tensor:
    """Per-coordinate standard deviations sqrt(v_i) on the two blocks (first d/r_phi coordinates salient)."""
    d1 = round(d / structure.r_phi)
    require(0 < d1 <= d, f"D = {d} is too small for r_phi = {structure.r_phi}")
    scale = torch.full((d,), math.sqrt(variances[1]), dtype=dtype, device=device)
    scale[:d1] = math.sqrt(variances[0])
    return scale


def draw_features(
    p: int, d: int, generator: torch.Generator, dtype=torch.float64, device="cpu"
) -> torch.Tensor:
    """Feature matrix F in R^{P x D} with i.i.d. N(0, 1) entries."""
    return torch.randn(p, d, generator=generator, dtype=dtype).to(device)


def random_features(x: torch.Tensor, f: torch.Tensor, sigma) -> torch.Tensor:
    """z = sigma(F x / sqrt D) / sqrt D for each row x."""
    d = x.shape[1]
    return sigma(x @ f.T / math.sqrt(d)) / math.sqrt(d)


def unit_teacher(
    d: int, generator: torch.Generator, dtype=torch.float64, device="cpu"
) -> torch.Tensor:
    """Linear teacher beta with ||beta||^2 / D = rho = 1 exactly."""
    beta = torch.randn(d, generator=generator, dtype=dtype)
    return (beta * math.sqrt(d) / beta.norm()).to(device)


def replica_lams(ridges, d: int, p: int, n: int, ridge_convention: str, device="cpu"):
    """(ridges as an array, the same ridges in the replica convention as a float64 tensor), checked > 0."""
    ridges = np.atleast_1d(np.asarray(ridges, float))
    lam_rep = convert_ridge(ridges, p / d, n / d, ridge_convention, "replica")
    require(bool(np.all(lam_rep > 0)), "ridges must be positive")
    return ridges, torch.as_tensor(lam_rep, dtype=torch.float64, device=device)

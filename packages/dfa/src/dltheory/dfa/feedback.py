"""Fixed random feedback matrices for DFA and FA.

Layout: the DFA engine keeps every hidden layer's feedback in one matrix of shape
``(C, sum_l m_l)`` (C outputs; ``m_l`` = layer width for dense feedback, = channel count for
channel-repeated conv feedback), so that all the signals ``B_l e`` come out of a single GEMM.
Column block ``l`` is ``B_l^T``.

Every matrix is drawn from its own ``torch.Generator`` seeded with ``feedback_seed``, so runs
that differ only in their weight seed share the same B (the degeneracy-breaking measurement
relies on this, as in the paper's code where B is always drawn under seed 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from dltheory.core.errors import ConfigError

from .config import RANDOM_FEEDBACK_INITS as FEEDBACK_INITS


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator()
    gen.manual_seed(int(seed))
    return gen


def draw_block(kind: str, n_outputs: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """One layer's feedback ``B_l^T`` of shape (C, width), float64 on the CPU."""
    if kind == "gaussian":
        return torch.randn(n_outputs, width, generator=gen, dtype=torch.float64)
    if kind == "uniform":
        return 2 * torch.rand(n_outputs, width, generator=gen, dtype=torch.float64) - 1
    if kind == "orthogonal":
        # Orthonormal rows (C <= width) or columns, scaled so entries have unit variance like
        # the Gaussian draw: rows of B_l^T are orthogonal with squared norm ``width``.
        g = torch.randn(
            max(n_outputs, width), min(n_outputs, width), generator=gen, dtype=torch.float64
        )
        q, r = torch.linalg.qr(g)
        q = q * torch.sign(torch.diagonal(r))
        q = q.T if n_outputs <= width else q
        return q * math.sqrt(max(n_outputs, width))
    raise ConfigError(
        f"unknown feedback init {kind!r}; choose one of: {', '.join(FEEDBACK_INITS)} "
        "(aligned, nmf and svd are computed from a built model by dltheory.dfa.structured)"
    )


def unit_norm_rows(block: torch.Tensor) -> torch.Tensor:
    """Normalise each output's feedback vector (a row of ``B_l^T``) to unit norm."""
    return block / block.norm(dim=1, keepdim=True).clamp_min(1e-30)


def draw_feedback(
    kind: str, n_outputs: int, widths: Sequence[int], seed: int = 0, unit_norm: bool = False
) -> torch.Tensor:
    """Concatenated feedback ``[B_1^T | ... | B_{L-1}^T]`` of shape (C, sum(widths)), float64.

    Each block is drawn independently from one generator seeded with ``seed``.
    """
    if n_outputs < 1:
        raise ConfigError(f"n_outputs must be >= 1, got {n_outputs}")
    gen = _generator(seed)
    blocks = [draw_block(kind, n_outputs, int(w), gen) for w in widths]
    if unit_norm:
        blocks = [unit_norm_rows(b) for b in blocks]
    if not blocks:
        return torch.zeros(n_outputs, 0, dtype=torch.float64)
    return torch.cat(blocks, dim=1)


def fa_feedback_like(weight: torch.Tensor, kind: str, gen: torch.Generator) -> torch.Tensor:
    """A fixed FA feedback weight with ``weight``'s shape, scaled like PyTorch's default init.

    FA replaces ``W^T`` by ``B`` in the backward pass of each layer; B has entries of scale
    ``1/sqrt(fan_in)`` so the backward signal has the same size as BP's at initialisation.
    """
    fan_in = weight[0].numel()
    flat = draw_block(kind, weight.shape[0], fan_in, gen) / math.sqrt(fan_in)
    return flat.reshape(weight.shape).to(weight.dtype)

"""Model-dependent feedback inits: aligned (BP-equivalent for linear nets), NMF and SVD of the
conv connectivity (arXiv:2011.12428 Sec. 5, the test of why DFA fails to align CNNs).

The CNN inits go through the conv layer's equivalent fully connected matrix (eFCN), the exact
dense matrix built by :func:`dltheory.core.conv_dense.conv_to_dense` (shared with dltheory-efcn;
re-exported here). Small nets only: n_in x n_out entries.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.conv_dense import conv_to_dense  # public here too (tests, older imports)
from dltheory.core.errors import ConfigError

from .alignment import trace_segments
from .engine import find_engine
from .feedback import unit_norm_rows


def conv_connectivity(conv: nn.Conv2d, in_shape: Any) -> torch.Tensor:
    """0/1 receptive-field mask of the eFCN: which input units each output unit sees."""
    ones = torch.ones_like(conv.weight)
    return (conv_to_dense(conv, in_shape, kernel=ones) > 0).to(conv.weight.dtype)


def _layer_map(call, x):
    layer = call.module
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(
            x.reshape(-1, *call.in_shape),
            layer.weight,
            None,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
        )
    return F.linear(x.reshape(x.shape[0], -1), layer.weight)


@torch.no_grad()
def set_aligned_feedback(model: nn.Module, example: torch.Tensor) -> None:
    """B_l^T = W_L ... W_{l+1} (linear chain above point l), the paper's ALIGNED init.

    For a linear network this makes DFA's signal equal to BP's exactly.
    """
    engine = find_engine(model)
    segments = trace_segments(model, example)
    if any(len(s.layers) != 1 for s in segments) or any(engine.channel_flags):
        raise ConfigError("aligned feedback needs one weight layer per block and dense feedback")
    calls = [s.layers[0] for s in segments]
    for i in range(len(segments) - 1):
        n_l = engine.widths[i]
        z = torch.eye(n_l, dtype=engine.feedback.dtype, device=engine.feedback.device)
        for call in calls[i + 1 :]:
            z = _layer_map(call, z.to(call.module.weight.dtype))
        block = z.reshape(n_l, -1).T  # (C, n_l): row c = (W_L ... W_{l+1})[c, :]
        engine.set_block(i, unit_norm_rows(block) if engine.unit_norm else block)


@torch.no_grad()
def set_factorised_conv_feedback(
    model: nn.Module, example: torch.Tensor, kind: str, seed: int = 0
) -> None:
    """Rank-C factorisation of each conv layer's eFCN, written into consecutive feedbacks.

    ``nmf``: non-negative factorisation M_l ~ W H of the receptive-field mask, so that
    B_l B_{l-1}^T ~ M_l has the conv's sparsity. ``svd``: top-C SVD of the eFCN weights,
    B_l = U sqrt(S), B_{l-1} = V sqrt(S). Where two layers write the same B (the middle of a
    stack) the two factors are averaged, as in the paper's code. Rows are then unit-normed.
    """
    if kind not in ("nmf", "svd"):
        raise ConfigError(f"unknown factorised init {kind!r}; choose nmf or svd")
    engine = find_engine(model)
    if any(engine.channel_flags):
        raise ConfigError("factorised feedback needs dense conv feedback (conv_feedback='dense')")
    segments = trace_segments(model, example)
    c = engine.n_outputs
    written: dict[int, int] = {}
    for seg in segments[1:-1]:  # conv layers between two feedback points
        if len(seg.layers) != 1 or not isinstance(seg.layers[0].module, nn.Conv2d):
            continue
        call = seg.layers[0]
        if kind == "nmf":
            from sklearn.decomposition import NMF

            mask = conv_connectivity(call.module, call.in_shape).double().cpu().numpy()
            nmf = NMF(n_components=c, init="random", random_state=seed, max_iter=300)
            top = torch.from_numpy(nmf.fit_transform(mask)).T  # (C, n_l)
            bottom = torch.from_numpy(nmf.components_)  # (C, n_{l-1})
        else:
            in_shape: Any = call.in_shape  # (C, H, W)
            dense = conv_to_dense(call.module, in_shape).double().cpu()
            u, s, vh = torch.linalg.svd(dense, full_matrices=False)
            top = (u[:, :c] * s[:c].sqrt()).T
            bottom = vh[:c] * s[:c, None].sqrt()
        for idx, block in ((seg.index, top), (seg.index - 1, bottom)):
            if idx in written:
                block = (engine.block(idx).double().cpu() * written[idx] + block) / (
                    written[idx] + 1
                )
            written[idx] = written.get(idx, 0) + 1
            engine.set_block(idx, block)
    for idx in written:
        engine.set_block(idx, unit_norm_rows(engine.block(idx).double()))

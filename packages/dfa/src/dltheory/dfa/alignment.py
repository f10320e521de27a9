"""Alignment measurements as the paper's code defines them (arXiv:2011.12428, Sec. 4-5).

* Weight alignment WA_l = cos(W_l, B_l B_{l-1}^T) for middle layers, cos(W_L, B_{L-1}^T) for the
  top layer (first layer skipped), plus a "total" cosine over all concatenated weights/targets.
  Conv layers are compared through their equivalent fully connected matrix (eFCN) without ever
  building it: <W, B_l B_{l-1}^T> = sum_c <b_{l,c}, W(b_{l-1,c})> applies the layer to the
  feedback vectors, and ||W_eFCN||^2 is the conv of an all-ones input with the squared kernel.
* Gradient alignment GA_l = batch mean of the per-sample cosine between the DFA (or FA) signal
  delta_l at the pre-activation and the BP signal, on the same batch and weights; also the
  cosine between the two weight updates. The top layer (exact in every mode) is left out.
* Degeneracy breaking: cosine between the weights of two runs (same B, different seeds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .engine import DirectFeedback, FeedbackPoint, find_engine

WEIGHT_LAYER_TYPES = (nn.Linear, nn.Conv2d)


@dataclass
class LayerCall:
    module: Any  # an nn.Linear or nn.Conv2d
    in_shape: tuple[int, ...]  # per sample
    out_shape: tuple[int, ...]


@dataclass
class Segment:
    """Weight layers between feedback point ``index - 1`` and point ``index`` (``index == P``: head)."""

    index: int
    layers: list[LayerCall] = field(default_factory=list)


@torch.no_grad()
def trace_segments(model: nn.Module, example: torch.Tensor) -> list[Segment]:
    """Run one forward pass and group the weight layers by the feedback points between them."""
    segments = [Segment(0)]
    hooks = []

    def on_layer(module, inputs, output):
        segments[-1].layers.append(
            LayerCall(module, tuple(inputs[0].shape[1:]), tuple(output.shape[1:]))
        )

    def on_point(module, inputs, output):
        segments.append(Segment(len(segments)))

    for m in model.modules():
        if isinstance(m, WEIGHT_LAYER_TYPES):
            hooks.append(m.register_forward_hook(on_layer))
        elif isinstance(m, FeedbackPoint):
            hooks.append(m.register_forward_hook(on_point))
    was_training = model.training
    model.eval()
    try:
        model(example[:2])
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return segments


def _apply_linear_map(layer: Any, inputs: torch.Tensor) -> torch.Tensor:
    """The layer's weight acting on ``inputs`` (no bias): W x for Linear, W * x for Conv2d."""
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(
            inputs, layer.weight, None, layer.stride, layer.padding, layer.dilation, layer.groups
        )
    return F.linear(inputs, layer.weight)


def efcn_weight_norm_sq(layer: Any, in_shape: tuple[int, ...]) -> torch.Tensor:
    """||W||_F^2 of the layer's equivalent fully connected matrix."""
    if isinstance(layer, nn.Conv2d):
        ones = torch.ones(1, *in_shape, dtype=layer.weight.dtype, device=layer.weight.device)
        return F.conv2d(
            ones,
            layer.weight.square(),
            None,
            layer.stride,
            layer.padding,
            layer.dilation,
            layer.groups,
        ).sum()
    return layer.weight.square().sum()


@torch.no_grad()
def weight_alignment(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """WA per layer (keys ``wa_layer<k>``, k = 1-based weight-layer index) and ``wa_total``.

    DFA (and BP, as a control): WA_l = cos(W_l, B_l B_{l-1}^T) with the DFA feedback. Only
    segments holding exactly one weight layer whose input and output sizes match the surrounding
    feedback points are measured (the paper's layered networks). FA: WA_l = cos(W_l, B_l) with
    the fixed matrix that FA uses in place of W_l^T (see :func:`fa_weight_alignment`).
    """
    engine = find_engine(model)
    if engine.mode == "fa":
        return fa_weight_alignment(model, example)
    segments = trace_segments(model, example)
    n_points = len(segments) - 1
    out: dict[str, float] = {}
    inner_sum, w_sq_sum, t_sq_sum = 0.0, 0.0, 0.0
    for seg in segments[1:]:
        if len(seg.layers) != 1:
            continue
        call = seg.layers[0]
        layer = call.module
        prev = engine.dense_block(seg.index - 1).to(layer.weight.dtype)  # (C, n_{l-1})
        if prev.shape[1] != _numel(call.in_shape):
            continue
        if seg.index < n_points:
            top = engine.dense_block(seg.index).to(layer.weight.dtype)  # (C, n_l)
        else:
            top = torch.eye(
                engine.n_outputs, dtype=layer.weight.dtype, device=layer.weight.device
            )  # head: target is B_{L-1}^T
        if top.shape[1] != _numel(call.out_shape):
            continue
        mapped = _apply_linear_map(layer, prev.reshape(-1, *call.in_shape)).flatten(1)
        inner = (mapped * top).sum()  # <W, top^T prev> = sum_c <top_c, W prev_c>
        t_sq = ((top @ top.T) * (prev @ prev.T)).sum()  # ||top^T prev||_F^2 via C x C Grams
        w_sq = efcn_weight_norm_sq(layer, call.in_shape)
        out[f"wa_layer{_layer_number(segments, seg)}"] = float(
            inner / (w_sq.sqrt() * t_sq.sqrt()).clamp_min(1e-30)
        )
        inner_sum += float(inner)
        w_sq_sum += float(w_sq)
        t_sq_sum += float(t_sq)
    if w_sq_sum > 0 and t_sq_sum > 0:
        out["wa_total"] = inner_sum / (w_sq_sum**0.5 * t_sq_sum**0.5)
    return out


@torch.no_grad()
def fa_weight_alignment(model: nn.Module, example: torch.Tensor) -> dict[str, float]:
    """FA's weight alignment: cos(W_l, B_l), B_l the fixed feedback that replaces W_l^T in the
    backward pass of layer l (Lillicrap et al. 2016). The first weight layer is skipped: its B
    would only carry the signal to the input, which nothing uses."""
    calls = [c for seg in trace_segments(model, example) for c in seg.layers]
    out: dict[str, float] = {}
    dots, w_sq, b_sq = 0.0, 0.0, 0.0
    for k, call in enumerate(calls, start=1):
        fb = getattr(call.module, "fa_feedback", None)
        if k == 1 or fb is None:
            continue
        w, b = call.module.weight.flatten().double(), fb.flatten().double()
        out[f"wa_layer{k}"] = float(F.cosine_similarity(w, b, dim=0))
        dots += float(w @ b)
        w_sq += float(w @ w)
        b_sq += float(b @ b)
    if w_sq > 0 and b_sq > 0:
        out["wa_total"] = dots / (w_sq * b_sq) ** 0.5
    return out


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _layer_number(segments: list[Segment], target: Segment) -> int:
    count = 0
    for seg in segments:
        count += len(seg.layers)
        if seg is target:
            return count
    raise AssertionError("segment not in trace")


def _per_sample_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample cosine; 1 where both signals vanish, 0 where only one does."""
    a, b = a.flatten(1).double(), b.flatten(1).double()
    na, nb = a.norm(dim=1), b.norm(dim=1)
    cos = (a * b).sum(1) / (na * nb).clamp_min(1e-300)
    both_zero = (na == 0) & (nb == 0)
    return torch.where(both_zero, torch.ones_like(cos), cos)


def _signals_and_grads(model, layers, x, y, loss_fn, mode, engine: DirectFeedback):
    engine.mode = mode
    captured: dict[int, torch.Tensor] = {}
    hooks = []
    for i, layer in enumerate(layers):

        def fwd(module, inputs, output, i=i):
            if output.requires_grad:
                output.register_hook(lambda g: captured.__setitem__(i, g.detach().clone()))

        hooks.append(layer.register_forward_hook(fwd))
    for p in model.parameters():
        p.grad = None
    try:
        loss_fn(model(x), y).backward()
    finally:
        for h in hooks:
            h.remove()
    grads = {
        i: layer.weight.grad.detach().clone()
        for i, layer in enumerate(layers)
        if layer.weight.grad is not None
    }
    return captured, grads


def gradient_alignment(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn,
) -> dict[str, float]:
    """GA of the model's current mode (dfa or fa) against BP on the batch ``(x, y)``.

    Keys: ``ga_layer<k>`` (mean per-sample cosine of delta at layer k's pre-activation),
    ``ga_total`` (per-sample cosine over all measured layers concatenated), and
    ``update_cos_layer<k>`` (cosine of the weight gradients). Parameter ``.grad`` is restored.
    """
    engine = find_engine(model)
    mode = engine.mode
    calls = [c for seg in trace_segments(model, x) for c in seg.layers]
    layers = [c.module for c in calls[:-1]]  # drop the top layer: exact in every mode
    saved = {p: (None if p.grad is None else p.grad.clone()) for p in model.parameters()}
    try:
        bp_sig, bp_grad = _signals_and_grads(model, layers, x, y, loss_fn, "bp", engine)
        md_sig, md_grad = _signals_and_grads(model, layers, x, y, loss_fn, mode, engine)
    finally:
        engine.mode = mode
        for p, g in saved.items():
            p.grad = g
    out: dict[str, float] = {}
    total_a, total_b = [], []
    for i in range(len(layers)):
        if i in bp_sig and i in md_sig:
            out[f"ga_layer{i + 1}"] = float(_per_sample_cosine(md_sig[i], bp_sig[i]).mean())
            total_a.append(md_sig[i].flatten(1))
            total_b.append(bp_sig[i].flatten(1))
        if i in bp_grad and i in md_grad:
            out[f"update_cos_layer{i + 1}"] = float(
                F.cosine_similarity(
                    md_grad[i].flatten().double(), bp_grad[i].flatten().double(), dim=0
                )
            )
    if total_a:
        out["ga_total"] = float(
            _per_sample_cosine(torch.cat(total_a, 1), torch.cat(total_b, 1)).mean()
        )
    return out


@torch.no_grad()
def weight_cosines(model_a: nn.Module, model_b: nn.Module) -> dict[str, float]:
    """Cosine between corresponding weight matrices of two models (degeneracy breaking)."""
    la = [m for m in model_a.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    lb = [m for m in model_b.modules() if isinstance(m, WEIGHT_LAYER_TYPES)]
    if len(la) != len(lb):
        raise ValueError("the two models have different numbers of weight layers")
    out, dots, na, nb = {}, 0.0, 0.0, 0.0
    for k, (a, b) in enumerate(zip(la, lb), start=1):
        wa, wb = a.weight.flatten().double(), b.weight.flatten().double()
        out[f"cos_layer{k}"] = float(F.cosine_similarity(wa, wb, dim=0))
        dots += float(wa @ wb)
        na += float(wa @ wa)
        nb += float(wb @ wb)
    out["cos_total"] = dots / max((na * nb) ** 0.5, 1e-300)
    return out


def alignment_times(
    rows: list[dict], layers: list[int], prefix: str = "wa_layer", fraction: float = 0.5
) -> list[float]:
    """Per layer, the first logged step at which ``<prefix><l>`` reaches ``fraction`` of its
    maximum over the run (NaN if the measure never becomes positive)."""
    times = []
    for layer in layers:
        pairs = [(r["step"], r[f"{prefix}{layer}"]) for r in rows if f"{prefix}{layer}" in r]
        peak = max((v for _, v in pairs), default=float("nan"))
        if not peak > 0:
            times.append(float("nan"))
            continue
        times.append(float(next(max(s, 1) for s, v in pairs if v >= fraction * peak)))
    return times


def order_slope(times: list[float], layers: list[int]) -> float:
    """Least-squares slope of log10(time) against the layer index: > 0 when the bottom layers
    align first (the paper's bottom-to-top order); NaN with fewer than two finite times."""
    import math

    pts = [(k, math.log10(t)) for k, t in zip(layers, times) if t == t and t > 0]
    if len(pts) < 2:
        return float("nan")
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx

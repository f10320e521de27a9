"""Locality analysis: nonlocality (paper eq. 8), gates sigma(lambda_h), head centres, maps.

Unlike the official logging (issue #23 of facebookresearch/convit, which feeds raw patch
embeddings to every layer), the attention here is taken from a real forward pass: each layer sees
its actual input (positional embedding and all earlier blocks applied).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from dltheory.convit.attention import GPSA, relative_offsets
from dltheory.convit.models import ConViT


@torch.no_grad()
def layer_attention(
    model: ConViT, images: torch.Tensor, reduce_batch: bool = True
) -> list[torch.Tensor]:
    """Attention of every block for ``images`` on the patch tokens only.

    Returns one tensor per block, (H, P, P) averaged over the batch (or (B, H, P, P)). In the
    blocks after the class token joins, its row and column are dropped and each query row is
    renormalised over the P patch keys.
    """
    captured: list[torch.Tensor] = []
    hooks = []

    def hook(module, args):
        x, grid = args[0], args[1] if len(args) > 1 else None
        attn = module.attention(x, grid).float()
        if not isinstance(module, GPSA):
            attn = attn[:, :, 1:, 1:]
            attn = attn / attn.sum(-1, keepdim=True)
        captured.append(attn.mean(0) if reduce_batch else attn)

    for blk in model.blocks:
        attn = blk.attn
        assert isinstance(attn, torch.nn.Module)
        hooks.append(attn.register_forward_pre_hook(hook))
    was_training = model.training
    try:
        model.eval()
        model(images)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return captured


@torch.no_grad()
def nonlocality(model: ConViT, images: torch.Tensor | Iterable[torch.Tensor]) -> dict:
    """Paper eq. (8): D^{l,h} = (1/P) sum_{ij} A^{l,h}_{ij} ||delta_ij||, with A averaged over a
    real batch (or an iterable of batches), in patch units. Returns ``per_head`` (L, H) and
    ``per_layer`` (L,) (mean over heads) tensors and ``is_gpsa`` (L,) booleans."""
    batches = [images] if isinstance(images, torch.Tensor) else list(images)
    if not batches:
        raise ValueError("nonlocality needs at least one batch of images")
    device = next(model.parameters()).device
    dist = relative_offsets(model.grid_size, device=device)[..., 2].sqrt()
    total: torch.Tensor | None = None
    count = 0
    for batch in batches:
        batch = batch.to(device)
        maps = layer_attention(model, batch)
        per_head = torch.stack([torch.einsum("nm,hnm->h", dist, a) / a.shape[-1] for a in maps])
        total = per_head * len(batch) if total is None else total + per_head * len(batch)
        count += len(batch)
    assert total is not None
    per_head = (total / count).cpu()
    return {
        "per_head": per_head,
        "per_layer": per_head.mean(dim=1),
        "is_gpsa": torch.tensor([isinstance(b.attn, GPSA) for b in model.blocks]),
    }


def gate_values(model: ConViT) -> torch.Tensor:
    """sigma(lambda_h) per GPSA layer and head, shape (L_gpsa, H): the positional share (eq. 7)."""
    layers = model.gpsa_layers()
    if not layers:
        return torch.zeros(0, model.spec.num_heads)
    return torch.stack([layer.gates().detach().float().cpu() for layer in layers])


def head_centres(model: ConViT) -> dict[str, torch.Tensor]:
    """Attention centre Delta_h and span of every GPSA head, read off v_pos (paper eq. 5).

    With v_pos = alpha(2 Delta_x, 2 Delta_y, -1): span = -1/w_2 = 1/alpha, Delta = (w_0, w_1) span/2.
    Returns ``centres`` (L, H, 2) in (x, y) patch units and ``spans`` (L, H).
    """
    ws = [layer.pos_proj.weight.detach().float().cpu() for layer in model.gpsa_layers()]
    if not ws:
        return {"centres": torch.zeros(0, model.spec.num_heads, 2), "spans": torch.zeros(0)}
    w = torch.stack(ws)
    span = -1.0 / w[..., 2]
    return {"centres": w[..., :2] * span[..., None] / 2, "spans": span}


@torch.no_grad()
def attention_maps(
    model: ConViT, image: torch.Tensor, query: int | None = None
) -> list[torch.Tensor]:
    """Attention maps of one image (C, H, W): per block (heads, rows, cols) for the ``query``
    patch (default: the centre patch), ready for ``imshow``."""
    rows, cols = model.grid_size
    query = (rows // 2) * cols + cols // 2 if query is None else query
    maps = layer_attention(model, image.unsqueeze(0))
    return [m[:, query].reshape(m.shape[0], rows, cols).cpu() for m in maps]

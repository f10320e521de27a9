"""Loading official / timm / our own checkpoints, and moving a model to another patch grid."""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from dltheory.convit.models import ConViT
from dltheory.core.errors import CheckpointError

_WRAPPER_KEYS = ("model", "state_dict", "model_ema")


def resize_pos_embed(
    pos_embed: torch.Tensor,
    new_grid: tuple[int, int],
    old_grid: tuple[int, int] | None = None,
    mode: str = "bicubic",
) -> torch.Tensor:
    """Interpolate a patch-only positional embedding (1, N_old, D) to (1, rows*cols, D).

    ``old_grid`` defaults to the square grid of N_old (ConViT's embedding has no class slot).
    """
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1:
        raise ValueError(f"pos_embed must have shape (1, N, D), got {tuple(pos_embed.shape)}")
    n_old, dim = pos_embed.shape[1], pos_embed.shape[2]
    if old_grid is None:
        side = math.isqrt(n_old)
        if side * side != n_old:
            raise ValueError(f"pos_embed holds {n_old} positions, not a square grid; pass old_grid")
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != n_old:
        raise ValueError(f"old grid {old_grid} does not hold {n_old} positions")
    new_grid = (int(new_grid[0]), int(new_grid[1]))
    if tuple(old_grid) == new_grid:
        return pos_embed
    grid = pos_embed.reshape(1, old_grid[0], old_grid[1], dim).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=new_grid, mode=mode, align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, dim).to(pos_embed.dtype)


def resize_model_grid(model: ConViT, img_size, patch_size: int | None = None) -> ConViT:
    """Re-target ``model`` (in place) to another image size: interpolates ``pos_embed`` and makes
    every GPSA layer build offsets for the new grid. The patch size must stay the same
    (the patch-embedding weights are tied to it)."""
    from dataclasses import replace

    from dltheory.convit.models import _as_pair

    img_size = _as_pair(img_size)
    if patch_size is not None and patch_size != model.spec.patch_size:
        raise ValueError("changing the patch size would invalidate the patch-embedding weights")
    spec = replace(model.spec, img_size=img_size)
    new_grid = spec.grid_size
    if img_size[0] % spec.patch_size or img_size[1] % spec.patch_size:
        raise ValueError(f"image size {img_size} is not a multiple of patch size {spec.patch_size}")
    with torch.no_grad():
        new = resize_pos_embed(model.pos_embed.data, new_grid, model.grid_size)
    model.pos_embed = torch.nn.Parameter(new, requires_grad=model.pos_embed.requires_grad)
    model.spec = spec
    model.grid_size = new_grid
    for layer in model.gpsa_layers():
        layer.offsets(new_grid)
    return model


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    """A plain state_dict from a raw one, or from {'model': ...}-style wrappers; strips 'module.'."""
    if isinstance(obj, dict):
        for key in _WRAPPER_KEYS:
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError("checkpoint holds no state_dict of tensors")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in obj.items()}


def _short(keys, limit=6) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def load_state_dict_checked(
    model: ConViT,
    state: dict[str, torch.Tensor],
    source: str = "checkpoint",
    resize: bool = True,
    reset_head: bool = False,
) -> ConViT:
    """Load ``state`` into ``model`` strictly; one-line CheckpointError naming mismatched keys.

    ``resize`` interpolates a positional embedding stored for another grid; ``reset_head`` keeps
    the model's freshly initialised classifier when the checkpoint's has another class count.
    """
    state = dict(state)
    own = model.state_dict()
    pe = state.get("pos_embed")
    if (
        resize
        and pe is not None
        and pe.ndim == 3
        and pe.shape != own["pos_embed"].shape
        and pe.shape[-1] == own["pos_embed"].shape[-1]
    ):
        state["pos_embed"] = resize_pos_embed(pe, model.grid_size)
    if reset_head:
        for key in ("head.weight", "head.bias"):
            if key in state and key in own and state[key].shape != own[key].shape:
                state[key] = own[key]
    missing = set(own) - set(state)
    unexpected = set(state) - set(own)
    wrong = [
        f"{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_short(unexpected)}")
    if wrong:
        problems.append(
            f"shape mismatch: {'; '.join(wrong[:4])}" + (" ..." if len(wrong) > 4 else "")
        )
    if problems:
        raise CheckpointError(f"{source} does not fit this ConViT: " + " | ".join(problems))
    model.load_state_dict(state, strict=True)
    return model


def load_pretrained(
    path: str | Path,
    model: ConViT | None = None,
    variant: str = "convit_tiny",
    resize: bool = True,
    reset_head: bool = False,
    **model_kwargs,
) -> ConViT:
    """Load an official ``convit_*.pth``, a timm ``convit_*`` state_dict, or a dltheory training
    checkpoint (read with ``weights_only=True``) into ``model`` (default: build ``variant``)."""
    from dltheory.convit.models import create_convit
    from dltheory.core.runs import load_checkpoint

    path = Path(path)
    raw = load_checkpoint(path, map_location="cpu")
    state = unwrap_state_dict(raw)
    if model is None:
        model = create_convit(variant, **model_kwargs)
    return load_state_dict_checked(
        model, state, source=str(path), resize=resize, reset_head=reset_head
    )

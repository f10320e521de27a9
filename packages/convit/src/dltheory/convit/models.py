"""The ConViT model (d'Ascoli et al., 2021) with timm / official state-dict keys.

Patch embedding + positional embedding (patch tokens only) -> ``num_gpsa_layers`` GPSA blocks on
the patch tokens -> class token joined -> plain self-attention blocks -> LayerNorm -> head on the
class token. ``num_gpsa_layers=0`` is the DeiT-style baseline of the same size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from dltheory.convit.attention import GPSA, MHSA
from dltheory.convit.config import VARIANTS


@dataclass(frozen=True)
class ConViTSpec:
    """Everything that fixes a ConViT's architecture (and so its state-dict shapes)."""

    img_size: tuple[int, int] = (224, 224)
    patch_size: int = 16
    in_chans: int = 3
    num_classes: int = 1000
    embed_dim_per_head: int = 48
    num_heads: int = 4
    depth: int = 12
    num_gpsa_layers: int = 10
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    locality_strength: float = 1.0
    convolutional_init: bool = True
    gate_init: float = 1.0
    global_pool: str = "token"
    drop_rate: float = 0.0
    attn_drop_rate: float = 0.0
    drop_path_rate: float = 0.0

    @property
    def embed_dim(self) -> int:
        return self.embed_dim_per_head * self.num_heads

    @property
    def grid_size(self) -> tuple[int, int]:
        return (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["img_size"] = list(_as_pair(self.img_size))
        return d


def _as_pair(v) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(x) for x in v)
    if len(v) != 2:
        raise ValueError(f"expected an int or a (height, width) pair, got {v}")
    return v


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample with probability p."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x):
        return self.drop2(self.fc2(self.drop1(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: x + dp(attn(norm1 x)); x + dp(mlp(norm2 x))."""

    def __init__(self, dim, num_heads, use_gpsa, spec: ConViTSpec, drop_path: float):
        super().__init__()
        self.use_gpsa = use_gpsa
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn: GPSA | MHSA
        if use_gpsa:
            self.attn = GPSA(
                dim,
                num_heads,
                qkv_bias=spec.qkv_bias,
                attn_drop=spec.attn_drop_rate,
                proj_drop=spec.drop_rate,
                locality_strength=spec.locality_strength,
                grid_size=spec.grid_size,
            )
        else:
            self.attn = MHSA(
                dim,
                num_heads,
                qkv_bias=spec.qkv_bias,
                attn_drop=spec.attn_drop_rate,
                proj_drop=spec.drop_rate,
            )
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * spec.mlp_ratio), drop=spec.drop_rate)

    def forward(self, x, grid_size=None):
        x = x + self.drop_path(self.attn(self.norm1(x), grid_size))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)
        grid = (x.shape[-2], x.shape[-1])
        return x.flatten(2).transpose(1, 2), grid


class ConViT(nn.Module):
    """ConViT; ``num_gpsa_layers`` (the official ``local_up_to_layer``) GPSA blocks first."""

    def __init__(self, spec: ConViTSpec | None = None, **overrides):
        super().__init__()
        spec = spec or ConViTSpec()
        if overrides:
            spec = ConViTSpec(**{**spec.to_dict(), **overrides})
        spec = ConViTSpec(**{**spec.to_dict(), "img_size": _as_pair(spec.img_size)})
        _check_spec(spec)
        self.spec = spec
        dim = spec.embed_dim
        self.embed_dim = self.num_features = dim
        self.num_classes = spec.num_classes
        self.num_gpsa_layers = spec.num_gpsa_layers
        self.grid_size = spec.grid_size
        self.patch_embed = PatchEmbed(spec.patch_size, spec.in_chans, dim)
        num_patches = self.grid_size[0] * self.grid_size[1]
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches, dim))
        self.pos_drop = nn.Dropout(spec.drop_rate)
        rates = torch.linspace(0, spec.drop_path_rate, spec.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(dim, spec.num_heads, i < spec.num_gpsa_layers, spec, rates[i])
            for i in range(spec.depth)
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head_drop = nn.Dropout(spec.drop_rate)
        self.head = nn.Linear(dim, spec.num_classes) if spec.num_classes > 0 else nn.Identity()
        self._init_weights()

    # ---- init ---------------------------------------------------------------------------
    def _init_weights(self) -> None:
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for layer in self.gpsa_layers():
            if self.spec.convolutional_init:
                layer.local_init()
            with torch.no_grad():
                layer.gating_param.fill_(self.spec.gate_init)

    # ---- helpers ------------------------------------------------------------------------
    def gpsa_layers(self) -> list[GPSA]:
        return [b.attn for b in self.blocks if isinstance(b.attn, GPSA)]

    def set_fast(self, fast: bool = True, flush_subnormals: bool | None = None) -> ConViT:
        """Switch every attention layer between the fast and the reference forward."""
        for b in self.blocks:
            attn = b.attn
            assert isinstance(attn, (GPSA, MHSA))
            attn.use_fast = fast
            if flush_subnormals is not None and isinstance(attn, GPSA):
                attn.flush_subnormals = flush_subnormals
                attn._pos_cache = None
        return self

    def freeze_gates(self, frozen: bool = True) -> None:
        for layer in self.gpsa_layers():
            layer.gating_param.requires_grad_(not frozen)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}

    # ---- forward ------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x, grid = self.patch_embed(x)
        if x.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(
                f"input gives a {grid[0]}x{grid[1]} patch grid but the positional embedding "
                f"holds {self.pos_embed.shape[1]} positions (built for {self.grid_size}); "
                "use dltheory.convit.resize_model_grid or resize_pos_embed"
            )
        return self.pos_drop(x + self.pos_embed), grid

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x, grid = self.embed(x)
        for i, blk in enumerate(self.blocks):
            if i == self.num_gpsa_layers:
                x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
            x = blk(x, grid)
        return self.norm(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 1:].mean(dim=1) if self.spec.global_pool == "avg" else x[:, 0]
        x = self.head_drop(x)
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _check_spec(spec: ConViTSpec) -> None:
    if not 0 <= spec.num_gpsa_layers <= spec.depth:
        raise ValueError(
            f"num_gpsa_layers must lie in [0, depth={spec.depth}], got {spec.num_gpsa_layers}"
        )
    h, w = spec.img_size
    if h % spec.patch_size or w % spec.patch_size:
        raise ValueError(
            f"image size {spec.img_size} is not a multiple of patch size {spec.patch_size}"
        )
    if spec.global_pool not in ("token", "avg"):
        raise ValueError(f"global_pool must be 'token' or 'avg', got {spec.global_pool!r}")
    if spec.num_gpsa_layers == spec.depth:
        raise ValueError("with every block GPSA the class token never joins; use fewer GPSA layers")


# ---- builders (paper Table 1) -----------------------------------------------------------


def create_convit(name: str, **kwargs) -> ConViT:
    """Build a named variant; keyword arguments override any ``ConViTSpec`` field."""
    if name not in VARIANTS:
        raise ValueError(f"unknown ConViT variant {name!r}; choose from {', '.join(VARIANTS)}")
    return ConViT(ConViTSpec(**{**VARIANTS[name], **kwargs}))


def convit_tiny(**kwargs) -> ConViT:
    return create_convit("convit_tiny", **kwargs)


def convit_small(**kwargs) -> ConViT:
    return create_convit("convit_small", **kwargs)


def convit_base(**kwargs) -> ConViT:
    return create_convit("convit_base", **kwargs)


def convit_tiny_plus(**kwargs) -> ConViT:
    return create_convit("convit_tiny_plus", **kwargs)


def convit_small_plus(**kwargs) -> ConViT:
    return create_convit("convit_small_plus", **kwargs)


def convit_base_plus(**kwargs) -> ConViT:
    return create_convit("convit_base_plus", **kwargs)

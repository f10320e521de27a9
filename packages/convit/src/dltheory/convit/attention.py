"""Gated positional self-attention (GPSA) and plain multi-head self-attention (MHSA).

Both layers keep timm's / the official parameter names (``qk``, ``v``, ``proj``, ``pos_proj``,
``gating_param``; ``qkv``, ``proj``) so checkpoints load unchanged. Each has two forward paths:

* ``forward`` (fast): the content branch runs through ``F.scaled_dot_product_attention``; the
  positional attention P (H, N, N) does not depend on the input, so it is computed once per
  forward (cached while it cannot change) and applied as one batched product ``P @ v``.
* ``forward_reference``: the explicit formulation of the paper, materialising the mixed
  (B, H, N, N) attention exactly as timm / the official code do. Tests compare the two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def relative_offsets(grid_size: tuple[int, int], device=None) -> torch.Tensor:
    """Relative offsets r_nm = (dx, dy, dx^2 + dy^2) of key m seen from query n, shape (N, N, 3).

    Tokens lie on a (rows, cols) grid in row-major order; dx is the column offset and dy the row
    offset of the key minus the query (paper eq. 5 uses r_delta = (||delta||^2, delta_1, delta_2);
    the channel order here is the official code's, so ``pos_proj`` weights load unchanged).
    """
    rows, cols = int(grid_size[0]), int(grid_size[1])
    if rows < 1 or cols < 1:
        raise ValueError(f"grid size must be positive, got {grid_size}")
    r = torch.arange(rows, dtype=torch.float32, device=device).repeat_interleave(cols)
    c = torch.arange(cols, dtype=torch.float32, device=device).repeat(rows)
    dx = c[None, :] - c[:, None]
    dy = r[None, :] - r[:, None]
    return torch.stack((dx, dy, dx * dx + dy * dy), dim=-1)


def square_grid(num_tokens: int) -> tuple[int, int]:
    side = math.isqrt(num_tokens)
    if side * side != num_tokens:
        raise ValueError(
            f"GPSA got {num_tokens} tokens without a grid size; pass grid_size=(rows, cols) "
            "for non-square inputs"
        )
    return side, side


def flush_subnormal(p: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Zero probabilities below the smallest normal number of ``dtype``.

    At the locality initialisation most positional probabilities are exp(-||delta - Delta||^2),
    far below 1e-38; the subnormal ones make CPU matrix products many times slower. Dropping them
    changes each output by less than ``finfo(dtype).tiny * max|v|``. Global floating-point state
    (flush-to-zero flags) is left alone.
    """
    return p.masked_fill(p < torch.finfo(dtype).tiny, 0.0)


class GPSA(nn.Module):
    """Gated positional self-attention, paper eqs. (5)-(7).

    A_h = (1 - sigma(lambda_h)) softmax(q_h k_h^T / sqrt(d)) + sigma(lambda_h) softmax(v_pos,h . r),
    then out = proj(A V). Fast path: out_h = (1 - sigma_h) SDPA(q, k, v)_h + sigma_h P_h v_h.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        locality_strength: float = 1.0,
        grid_size: tuple[int, int] | None = None,
        flush_subnormals: bool = True,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.dim = dim
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.locality_strength = locality_strength
        self.flush_subnormals = flush_subnormals
        self.use_fast = True
        self.qk = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.pos_proj = nn.Linear(3, num_heads)
        self.proj_drop = nn.Dropout(proj_drop)
        self.gating_param = nn.Parameter(torch.ones(num_heads))
        self._grid: tuple[int, int] = (
            (int(grid_size[0]), int(grid_size[1])) if grid_size else (0, 0)
        )
        self.rel_offsets: torch.Tensor
        self.register_buffer(
            "rel_offsets",
            relative_offsets(grid_size) if grid_size else torch.zeros(0, 0, 3),
            persistent=False,
        )
        self._pos_cache: tuple[tuple, torch.Tensor] | None = None

    # ---- initialisation -------------------------------------------------------------------
    def local_init(self) -> None:
        """Convolutional initialisation (paper section 3): W_val = I and head h attends around
        Delta_h on a sqrt(H) x sqrt(H) kernel: logits -alpha ||delta - Delta_h||^2 + const."""
        with torch.no_grad():
            self.v.weight.copy_(torch.eye(self.dim))
            k = int(self.num_heads**0.5)
            centre = (k - 1) / 2 if k % 2 == 0 else k // 2
            for h1 in range(k):
                for h2 in range(k):
                    h = h1 + k * h2
                    self.pos_proj.weight[h, 2] = -1.0
                    self.pos_proj.weight[h, 1] = 2.0 * (h1 - centre)
                    self.pos_proj.weight[h, 0] = 2.0 * (h2 - centre)
            self.pos_proj.weight.mul_(self.locality_strength)

    # ---- positional attention -------------------------------------------------------------
    def offsets(self, grid_size: tuple[int, int]) -> torch.Tensor:
        """The (N, N, 3) offsets for ``grid_size``, rebuilt (as a buffer) when the grid changes."""
        grid_size = (int(grid_size[0]), int(grid_size[1]))
        if grid_size != self._grid or self.rel_offsets.shape[0] != grid_size[0] * grid_size[1]:
            self.rel_offsets = relative_offsets(grid_size, device=self.pos_proj.weight.device)
            self._grid = grid_size
            self._pos_cache = None
        return self.rel_offsets

    def positional_logits(self, grid_size: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
        """v_pos,h . r_nm + b_h as (H, N, N), in float32 (float64 if asked) whatever the autocast."""
        dtype = torch.float64 if dtype == torch.float64 else torch.float32
        rel = self.offsets(grid_size).to(dtype)
        weight, bias = self.pos_proj.weight.to(dtype), self.pos_proj.bias.to(dtype)
        return torch.einsum("nmc,hc->hnm", rel, weight) + bias[:, None, None]

    def positional_attention(self, grid_size: tuple[int, int], dtype=torch.float32) -> torch.Tensor:
        """P_h = softmax_m(v_pos,h . r_nm), shape (H, N, N); input independent.

        Cached while it cannot change (no grad needed, same parameters/version/grid/device/dtype);
        recomputed once per forward while training.
        """
        weight, bias = self.pos_proj.weight, self.pos_proj.bias
        needs_graph = torch.is_grad_enabled() and (weight.requires_grad or bias.requires_grad)
        compiling = torch.compiler.is_compiling()
        key = (
            tuple(grid_size),
            weight.device,
            dtype,
            weight.data_ptr(),
            weight._version,
            bias.data_ptr(),
            bias._version,
            self.flush_subnormals,
        )
        cached = self._pos_cache
        if not needs_graph and not compiling and cached is not None and cached[0] == key:
            return cached[1]
        with torch.autocast(device_type=weight.device.type, enabled=False):
            p = self.positional_logits(grid_size, dtype).softmax(dim=-1)
        if self.flush_subnormals:
            p = flush_subnormal(p, dtype)
        p = p.to(dtype)
        if not needs_graph and not compiling:
            self._pos_cache = (key, p)
        return p

    def gates(self) -> torch.Tensor:
        """sigma(lambda_h), the share of attention each head gives to position (paper eq. 7)."""
        return torch.sigmoid(self.gating_param)

    # ---- forward paths ----------------------------------------------------------------------
    def _qkv(self, x: torch.Tensor):
        B, N, _C = x.shape
        q, k = self.qk(x).reshape(B, N, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        v = self.v(x).reshape(B, N, self.num_heads, self.head_dim).transpose(1, 2)
        return q, k, v

    def _grid_for(self, x: torch.Tensor, grid_size) -> tuple[int, int]:
        grid = tuple(grid_size) if grid_size is not None else square_grid(x.shape[1])
        if grid[0] * grid[1] != x.shape[1]:
            raise ValueError(f"grid {grid} does not hold {x.shape[1]} tokens")
        return grid

    def forward(self, x: torch.Tensor, grid_size: tuple[int, int] | None = None) -> torch.Tensor:
        if not self.use_fast:
            return self.forward_reference(x, grid_size)
        B, N, C = x.shape
        grid = self._grid_for(x, grid_size)
        q, k, v = self._qkv(x)
        if self.training and self.attn_drop.p > 0:
            # Dropout acts on the mixed matrix A; keep it explicit so its mask matches eq. (7).
            out = self.attn_drop(self.mixed_attention_from(q, k, grid, v.dtype)) @ v
        else:
            gate = self.gates().to(v.dtype).view(1, -1, 1, 1)
            content = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
            positional = torch.matmul(self.positional_attention(grid, v.dtype), v)
            out = content + gate * (positional - content)  # (1-s) C v + s P v, eq. (7)
        out = out.transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))

    def mixed_attention_from(self, q, k, grid, dtype) -> torch.Tensor:
        gate = self.gates().to(dtype).view(1, -1, 1, 1)
        content = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        positional = self.positional_attention(grid, dtype).unsqueeze(0)
        return content + gate * (positional - content)

    def attention(self, x: torch.Tensor, grid_size: tuple[int, int] | None = None) -> torch.Tensor:
        """The mixed attention A (B, H, N, N) of eq. (7), for analysis."""
        q, k, _ = self._qkv(x)
        return self.mixed_attention_from(q, k, self._grid_for(x, grid_size), q.dtype)

    def forward_reference(self, x: torch.Tensor, grid_size: tuple[int, int] | None = None):
        """Explicit formulation (as in the official code): batch-expanded positional scores,
        two softmaxes, gate mixing, row renormalisation, dropout, A @ V."""
        B, N, C = x.shape
        grid = self._grid_for(x, grid_size)
        q, k, v = self._qkv(x)
        rel = self.offsets(grid).to(x.dtype).unsqueeze(0).expand(B, -1, -1, -1)
        pos_score = self.pos_proj(rel).permute(0, 3, 1, 2).softmax(dim=-1)
        patch_score = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        gate = torch.sigmoid(self.gating_param).view(1, -1, 1, 1)
        attn = (1.0 - gate) * patch_score + gate * pos_score
        attn = attn / attn.sum(dim=-1, keepdim=True)
        attn = self.attn_drop(attn)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj_drop(self.proj(out))


class MHSA(nn.Module):
    """Plain multi-head self-attention (the blocks after the class token joins)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = False,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.use_fast = True
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv(self, x):
        B, N, _C = x.shape
        return self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)

    def forward(self, x: torch.Tensor, grid_size=None) -> torch.Tensor:
        if not self.use_fast:
            return self.forward_reference(x)
        B, N, C = x.shape
        q, k, v = self._qkv(x)
        drop = self.attn_drop.p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, N, C)))

    def attention(self, x: torch.Tensor, grid_size=None) -> torch.Tensor:
        q, k, _ = self._qkv(x)
        return ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)

    def forward_reference(self, x: torch.Tensor, grid_size=None) -> torch.Tensor:
        B, N, C = x.shape
        _, _, v = self._qkv(x)
        attn = self.attn_drop(self.attention(x))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(B, N, C)))

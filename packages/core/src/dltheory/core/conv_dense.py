"""A 2-d convolution as an exact dense matrix (the eFCN of arXiv:1906.06766), shared by every
subpackage that needs it (dltheory-efcn's embedding, dltheory-dfa's CNN feedback inits).

A ``Conv2d(C_in -> C_out, k, stride s, padding p, dilation d)`` on a ``C_in x H x W`` input is a
linear map; as a matrix of shape ``(C_out*H_out*W_out, C_in*H*W)`` (PyTorch's C,H,W flattening)
its entries are

    W[(c', i, j), (c, s*i - p + d*a, s*j - p + d*b)] = w[c', c, a, b]

(reference notes A.3, the authors' ``cnn2fc``; the paper's body text was not available, so no
equation number can be cited)

for every output position (i, j) and filter tap (a, b) whose input position lies inside the
image; every other entry is zero. The set of entries carrying the same filter value
``w[c', c, a, b]`` is that value's *weight-sharing orbit*; the union of all orbits is the
*local support* (the locality mask).

Everything here is computed from small per-axis tables: no Python loop over positions or
channels. Tap validity is separable (rows x columns) and, per tap, an interval of output positions,
so the local support is a handful of rectangles (:attr:`ConvGeometry.blocks`), each a single
strided view of the dense matrix; :func:`embed_filter` writes the matrix with one strided copy per
rectangle (2.3x faster than one scatter with index tensors, see dltheory-efcn's benchmark).

Entry points: :func:`conv_to_dense` (the matrix of an ``nn.Conv2d``), :func:`conv_geometry` and
:func:`embed_filter` (matrix and bias of any filter for a given geometry).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TypeAlias

import torch
from torch import nn

DeviceLike: TypeAlias = "torch.device | str | None"


def as_pair(value: int | Sequence[int]) -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3) -> (2, 3)``; a 1-tuple is repeated (Conv2d argument style)."""
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    return value if len(value) == 2 else (value[0], value[0])


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes of one convolution acting on an *unpadded* ``in_channels x in_h x in_w`` input.

    ``pad = (left, right, top, bottom)`` is the total zero padding (the conv's own plus an absorbed
    ``ZeroPad2d``). With ``fold_padding`` the dense matrix acts on the unpadded input (padding
    columns do not exist); without it the matrix acts on the padded input, as in the authors'
    code, and the padding columns are *dead*: they only ever see zeros.
    """

    in_channels: int
    out_channels: int
    in_h: int
    in_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]
    fold_padding: bool = True

    @property
    def padded_h(self) -> int:
        return self.in_h + self.pad[2] + self.pad[3]

    @property
    def padded_w(self) -> int:
        return self.in_w + self.pad[0] + self.pad[1]

    @property
    def out_h(self) -> int:
        return (self.padded_h - self.dilation[0] * (self.kernel[0] - 1) - 1) // self.stride[0] + 1

    @property
    def out_w(self) -> int:
        return (self.padded_w - self.dilation[1] * (self.kernel[1] - 1) - 1) // self.stride[1] + 1

    @property
    def matrix_in_h(self) -> int:
        return self.in_h if self.fold_padding else self.padded_h

    @property
    def matrix_in_w(self) -> int:
        return self.in_w if self.fold_padding else self.padded_w

    @property
    def n_in(self) -> int:
        """Columns of the dense matrix (includes dead padding columns when not folded)."""
        return self.in_channels * self.matrix_in_h * self.matrix_in_w

    @property
    def n_live_in(self) -> int:
        """Columns that can see a non-zero input."""
        return self.in_channels * self.in_h * self.in_w

    @property
    def n_out(self) -> int:
        return self.out_channels * self.out_h * self.out_w

    @property
    def filter_shape(self) -> tuple[int, int, int, int]:
        return (self.out_channels, self.in_channels, *self.kernel)

    @property
    def local_shape(self) -> tuple[int, int, int, int, int, int]:
        """Shape ``(C_out, H_out, W_out, C_in, kh, kw)`` of the gathered local entries."""
        return (self.out_channels, self.out_h, self.out_w, self.in_channels, *self.kernel)

    def validate(self) -> None:
        if self.out_h < 1 or self.out_w < 1:
            raise ValueError(f"convolution output would be empty for geometry {self}")

    # --- separable tap positions -------------------------------------------------------------
    def _positions(self, axis: int, device: DeviceLike) -> tuple[torch.Tensor, torch.Tensor]:
        """Input coordinate (unpadded) of output index x tap along one axis, and its validity."""
        n_out = self.out_h if axis == 0 else self.out_w
        size = self.in_h if axis == 0 else self.in_w
        before = self.pad[2] if axis == 0 else self.pad[0]
        out_idx = torch.arange(n_out, device=device)
        taps = torch.arange(self.kernel[axis], device=device)
        pos = out_idx[:, None] * self.stride[axis] - before + taps[None, :] * self.dilation[axis]
        return pos, (pos >= 0) & (pos < size)

    def valid_taps(self, device: DeviceLike = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean ``(H_out, kh)`` and ``(W_out, kw)``: the tap lands inside the image."""
        return self._positions(0, device)[1], self._positions(1, device)[1]

    def orbit_sizes(self, device: DeviceLike = None) -> torch.Tensor:
        """``(kh, kw)`` number of output positions at which tap (a, b) sees the image."""
        vh, vw = self.valid_taps(device)
        return vh.sum(0)[:, None] * vw.sum(0)[None, :]

    def representative_positions(
        self, device: DeviceLike = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """For each tap, the first output row / column at which it is valid (argmax of validity)."""
        vh, vw = self.valid_taps(device)
        return vh.to(torch.uint8).argmax(0), vw.to(torch.uint8).argmax(0)

    def local_valid(self, device: DeviceLike = None) -> torch.Tensor:
        """Boolean mask broadcastable to :attr:`local_shape`, shape ``(1, H_out, W_out, 1, kh, kw)``."""
        vh, vw = self.valid_taps(device)
        valid = vh[:, None, :, None] & vw[None, :, None, :]  # (H_out, W_out, kh, kw)
        return valid[None, :, :, None, :, :]

    def support_index(
        self, device: DeviceLike = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Flat indices of the valid local entries only, as ``(C_out, V, C_in)``, and the taps
        ``(a_v, b_v)`` of the V valid (position, tap) pairs. Cached per (geometry, device).

        Built from the small separable validity mask, so no large boolean mask is indexed.
        """
        return _cached_support_index(self, _device_key(device))

    def _support_index(self, device: DeviceLike) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        valid = self.local_valid(device)[0, :, :, 0]  # (H_out, W_out, kh, kw)
        i, j, a, b = valid.nonzero(as_tuple=True)
        h = i * self.stride[0] - self.pad[2] + a * self.dilation[0]
        w = j * self.stride[1] - self.pad[0] + b * self.dilation[1]
        if not self.fold_padding:
            h, w = h + self.pad[2], w + self.pad[0]
        co = torch.arange(self.out_channels, device=device)
        ci = torch.arange(self.in_channels, device=device)
        rows = (co[:, None] * self.out_h + i[None]) * self.out_w + j[None]  # (C_out, V)
        hin, win = self.matrix_in_h, self.matrix_in_w
        cols = ci[None, :] * (hin * win) + (h * win + w)[:, None]  # (V, C_in)
        return rows[:, :, None] * self.n_in + cols[None], a, b

    @property
    def matrix_strides(self) -> tuple[int, int, int, int, int, int]:
        """Strides in the flat dense matrix of the ``(C_out, H_out, W_out, C_in, kh, kw)`` local view.

        Moving the output row i by one moves the matrix row by W_out and the input row by the
        stride: ``W_out*n_in + s_h*W``; likewise for j; the input channel moves by ``H*W``
        columns, the filter tap (a, b) by ``(d_h*W, d_w)``.
        """
        hin, win = self.matrix_in_h, self.matrix_in_w
        return (
            self.out_h * self.out_w * self.n_in,
            self.out_w * self.n_in + self.stride[0] * win,
            self.n_in + self.stride[1],
            hin * win,
            self.dilation[0] * win,
            self.dilation[1],
        )

    @staticmethod
    def _groups(valid: torch.Tensor) -> list[tuple[int, int, int, int]]:
        """Runs of consecutive output indices sharing the same interval of valid taps:
        ``(first index, count, first tap, tap count)``; rows without a valid tap are dropped."""
        groups: list[tuple[int, int, int, int]] = []
        for idx, row in enumerate(valid.tolist()):
            taps = [t for t, ok in enumerate(row) if ok]
            key = (taps[0], len(taps)) if taps else None
            if key is None:
                continue
            if groups and groups[-1][2:] == key and groups[-1][0] + groups[-1][1] == idx:
                first, count, *_ = groups[-1]
                groups[-1] = (first, count + 1, *key)
            else:
                groups.append((idx, 1, *key))
        return groups

    @cached_property
    def blocks(self) -> tuple[tuple[int, int, int, int, int, int, int, int, int], ...]:
        """Rectangles of (output position x filter tap) that lie inside the image.

        Each is ``(i0, n_i, a0, n_a, j0, n_j, b0, n_b, offset)``: output rows ``i0 .. i0+n_i`` all
        see taps ``a0 .. a0+n_a`` (likewise j, b), and ``offset`` is the flat index of entry
        ``(c'=0, i0, j0; c=0, a0, b0)``. Interior positions form one block; only the borders that
        touch the padding add a few more. Writing the local support is one strided copy per block.
        """
        vh, vw = self.valid_taps()
        shift_h = 0 if self.fold_padding else self.pad[2]
        shift_w = 0 if self.fold_padding else self.pad[0]
        blocks = []
        for i0, n_i, a0, n_a in self._groups(vh):
            h = i0 * self.stride[0] - self.pad[2] + a0 * self.dilation[0] + shift_h
            for j0, n_j, b0, n_b in self._groups(vw):
                w = j0 * self.stride[1] - self.pad[0] + b0 * self.dilation[1] + shift_w
                offset = (i0 * self.out_w + j0) * self.n_in + h * self.matrix_in_w + w
                blocks.append((i0, n_i, a0, n_a, j0, n_j, b0, n_b, offset))
        return tuple(blocks)

    @cached_property
    def n_local(self) -> int:
        """Number of entries in the local support (dense entries the CNN can make non-zero)."""
        return int(self.orbit_sizes().sum()) * self.out_channels * self.in_channels

    def live_column_mask(self, device: DeviceLike = None) -> torch.Tensor | None:
        """Boolean ``(n_in,)``: columns that can see non-zero input; ``None`` when all can."""
        if self.fold_padding or self.pad == (0, 0, 0, 0):
            return None
        live = torch.zeros(self.matrix_in_h, self.matrix_in_w, dtype=torch.bool, device=device)
        live[self.pad[2] : self.pad[2] + self.in_h, self.pad[0] : self.pad[0] + self.in_w] = True
        return live.expand(self.in_channels, -1, -1).reshape(-1)


def _device_key(device: DeviceLike) -> torch.device:
    return torch.device("cpu") if device is None else torch.device(device)


@lru_cache(maxsize=16)
def _cached_support_index(
    geometry: ConvGeometry, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return geometry._support_index(device)


# --- the embedding map E: filter -> dense matrix ---------------------------------------------------
def block_views(
    geometry: ConvGeometry, dense: torch.Tensor
) -> Iterator[tuple[tuple[slice, ...], torch.Tensor]]:
    """Yield ``(local_slice, view)`` for each block of :attr:`ConvGeometry.blocks`: ``view`` is the
    ``(C_out, n_i, n_j, C_in, n_a, n_b)`` strided view of a contiguous dense matrix holding those
    local entries, ``local_slice`` indexes the same entries of a ``local_shape`` tensor."""
    g = geometry
    if not dense.is_contiguous() or dense.numel() != g.n_out * g.n_in:
        raise ValueError(
            f"expected a contiguous ({g.n_out}, {g.n_in}) matrix, got {tuple(dense.shape)}"
        )
    base = dense.storage_offset()
    for i0, n_i, a0, n_a, j0, n_j, b0, n_b, offset in g.blocks:
        size = (g.out_channels, n_i, n_j, g.in_channels, n_a, n_b)
        local_slice = (
            slice(None),
            slice(i0, i0 + n_i),
            slice(j0, j0 + n_j),
            slice(None),
            slice(a0, a0 + n_a),
            slice(b0, b0 + n_b),
        )
        yield local_slice, dense.as_strided(size, g.matrix_strides, base + offset)


def embed_filter(
    geometry: ConvGeometry,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Dense ``(n_out, n_in)`` matrix and ``(n_out,)`` bias of a convolution.

    ``W[(c', i, j), (c, s*i - p + d*a, s*j - p + d*b)] = w[c', c, a, b]`` for every tap inside the
    image; the bias ``b[c']`` is repeated over the ``H_out*W_out`` positions. The local support
    is written by one strided copy per block of :attr:`ConvGeometry.blocks` (one for the interior,
    a few for the borders that touch the padding): no loop over positions or channels and no
    index tensors. ``out``: a zero matrix to write into (allocated if None).
    """
    g = geometry
    if tuple(weight.shape) != g.filter_shape:
        raise ValueError(f"filter shape {tuple(weight.shape)} does not match {g.filter_shape}")
    weight = weight.detach()
    dense = (
        torch.zeros(g.n_out, g.n_in, dtype=weight.dtype, device=weight.device)
        if out is None
        else out
    )
    for (*_, taps_h, taps_w), view in block_views(g, dense):
        view.copy_(weight[:, None, None, :, taps_h, taps_w].expand_as(view))
    dense_bias = None
    if bias is not None:
        dense_bias = bias.detach().repeat_interleave(g.out_h * g.out_w)
    return dense, dense_bias


# --- from an nn.Conv2d ------------------------------------------------------------------------------
def conv_padding(conv: nn.Conv2d) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) zero padding of a Conv2d, including padding='same'."""
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0, 0, 0, 0)
        pads = []
        for k, d in zip(reversed(conv.kernel_size), reversed(conv.dilation)):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return (pads[0], pads[1], pads[2], pads[3])
    ph, pw = as_pair(conv.padding)
    return (pw, pw, ph, ph)


def conv_geometry(
    conv: nn.Conv2d,
    in_shape: tuple[int, int, int],
    extra_pad: tuple[int, int, int, int] | None = None,
    fold_padding: bool = True,
) -> ConvGeometry:
    """Geometry of ``conv`` on unpadded ``(C, H, W)`` inputs, for one of its ``groups`` (the whole
    conv when ``groups == 1``). ``extra_pad``: a ``ZeroPad2d`` (left, right, top, bottom) applied
    before the conv and absorbed into its padding; ``in_shape`` is then the shape before that pad.
    Only zero padding is linear in the input the way the matrix assumes: other modes are refused.
    """
    if conv.padding_mode != "zeros":
        raise ValueError(f"padding_mode={conv.padding_mode!r}: only 'zeros' is supported")
    c, h, w = (int(v) for v in in_shape)
    if c != conv.in_channels:
        raise ValueError(f"input has {c} channels, the conv expects {conv.in_channels}")
    pad = conv_padding(conv)
    if extra_pad is not None:
        pad = (
            pad[0] + int(extra_pad[0]),
            pad[1] + int(extra_pad[1]),
            pad[2] + int(extra_pad[2]),
            pad[3] + int(extra_pad[3]),
        )
    return ConvGeometry(
        in_channels=c // conv.groups,
        out_channels=conv.out_channels // conv.groups,
        in_h=h,
        in_w=w,
        kernel=as_pair(conv.kernel_size),
        stride=as_pair(conv.stride),
        dilation=as_pair(conv.dilation),
        pad=pad,
        fold_padding=fold_padding,
    )


@torch.no_grad()
def conv_to_dense(
    conv: nn.Conv2d, in_shape: tuple[int, int, int], kernel: torch.Tensor | None = None
) -> torch.Tensor:
    """Exact eFCN matrix ``(n_out, n_in)`` of ``conv`` without its bias, on unpadded inputs of shape
    ``in_shape``: ``conv(x).flatten(1) - bias == x.flatten(1) @ dense.T``.

    ``kernel`` replaces ``conv.weight`` (same shape); ``torch.ones_like(conv.weight)`` gives the
    receptive-field mask as 0/1 entries. A grouped conv is block diagonal, one block per group.
    """
    weight = conv.weight if kernel is None else kernel
    geometry = conv_geometry(conv, in_shape)
    geometry.validate()
    blocks = [embed_filter(geometry, w)[0] for w in weight.chunk(conv.groups, dim=0)]
    return blocks[0] if len(blocks) == 1 else torch.block_diag(*blocks)  # type: ignore[no-untyped-call]

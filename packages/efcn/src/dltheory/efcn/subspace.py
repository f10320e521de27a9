"""The CNN subspace inside eFCN space: embedding map, locality mask, orbits, projection, deviation.

For one conv-derived layer let E(w, b) be the dense matrix and bias of the convolution with filter w
and bias b (see :mod:`dltheory.core.conv_dense`). The CNN subspace is the range of E. Its orthogonal
complement splits into two orthogonal pieces (reference notes A.5):

* off-locality: entries outside the local support (the mask of ``cnn2fc(..., return_mask=True)``);
* local but unshared: entries inside the support that differ from their weight-sharing orbit mean
  (the eLCN direction; the bias counts here, its orbit being all positions of one channel).

Because the range of E is spanned by the orbits' indicator vectors, which are disjoint, the
orthogonal projection is P(W) = E(orbit means), and ``|W - P(W)|^2 = off^2 + unshared^2``.
Orbits can differ in size when the padding is folded; the per-orbit mean is still the projection.
Weights in *dead* columns (padding positions, see ``ConvGeometry.fold_padding``) only ever see zeros:
they are left out of every norm.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dltheory.core.conv_dense import ConvGeometry, block_views, embed_filter

from .layers import EmbeddedConv2d, LocallyConnected2d

ConvDerived = (EmbeddedConv2d, LocallyConnected2d)


# --- the local gather (adjoint of the embedding map E on the support) -----------------------------
def gather_local(geometry: ConvGeometry, dense: torch.Tensor) -> torch.Tensor:
    """The local entries of a dense matrix as ``(C_out, H_out, W_out, C_in, kh, kw)``; 0 off-image."""
    local = dense.new_zeros(geometry.local_shape)
    for local_slice, view in block_views(geometry, dense.detach()):
        local[local_slice] = view
    return local


def locality_mask(geometry: ConvGeometry, device=None) -> torch.Tensor:
    """Boolean ``(n_out, n_in)``: True where the CNN can put a non-zero (live columns only)."""
    mask = torch.zeros(geometry.n_out * geometry.n_in, dtype=torch.bool, device=device)
    mask[geometry.support_index(device)[0]] = True
    return mask.view(geometry.n_out, geometry.n_in)


def orbit_index(geometry: ConvGeometry, device=None) -> torch.Tensor:
    """``(n_out, n_in)`` long tensor: the flat filter index ``((c'*C_in + c)*kh + a)*kw + b`` of the
    orbit each entry belongs to, and -1 outside the local support."""
    g = geometry
    index, tap_h, tap_w = g.support_index(device)
    filt = torch.arange(g.out_channels * g.in_channels * g.kernel[0] * g.kernel[1], device=device)
    filt = filt.view(g.filter_shape).permute(0, 2, 3, 1)[:, tap_h, tap_w, :]
    orbits = torch.full((g.n_out * g.n_in,), -1, dtype=torch.long, device=device)
    orbits[index] = filt
    return orbits.view(g.n_out, g.n_in)


# --- orbit means (the left inverse of E on its range) ---------------------------------------------
def orbit_mean(
    geometry: ConvGeometry, local: torch.Tensor, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Filter ``(C_out, C_in, kh, kw)`` and per-channel bias averaged over weight-sharing orbits.

    ``local`` is the ``(C_out, H_out, W_out, C_in, kh, kw)`` tensor of local entries (eFCN: from
    :func:`gather_local`; eLCN: its weight). The mean is taken as ``rep + mean(x - rep)`` with
    ``rep`` one member of the orbit, so a constant orbit returns its value bit-exactly.
    Filter entries whose orbit is empty (a tap that only ever sees padding) are returned as 0.
    """
    g = geometry
    device = local.device
    valid = g.local_valid(device)
    ri, rj = g.representative_positions(device)
    taps_h = torch.arange(g.kernel[0], device=device)[:, None]
    taps_w = torch.arange(g.kernel[1], device=device)[None, :]
    rep = local[:, ri[:, None], rj[None, :], :, taps_h, taps_w]  # (kh, kw, C_out, C_in)
    rep = rep.permute(2, 3, 0, 1)
    diff = torch.where(valid, local - rep[:, None, None], local.new_zeros(()))
    sizes = g.orbit_sizes(device)
    mean = rep + diff.sum(dim=(1, 2)) / sizes.clamp(min=1).to(local.dtype)
    mean = torch.where(sizes > 0, mean, mean.new_zeros(()))
    bias_mean = None
    if bias is not None:
        per_channel = bias.reshape(g.out_channels, -1)
        first = per_channel[:, :1]
        bias_mean = (first + (per_channel - first).mean(dim=1, keepdim=True)).squeeze(1)
    return mean, bias_mean


def layer_local(layer) -> torch.Tensor:
    if isinstance(layer, EmbeddedConv2d):
        return gather_local(layer.geometry, layer.weight.detach())
    if isinstance(layer, LocallyConnected2d):
        return layer.weight.detach()
    raise TypeError(f"not a conv-derived layer: {type(layer).__name__}")


def layer_filter(layer) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The CNN filter and bias nearest to a conv-derived layer (its orbit means)."""
    bias = None if layer.bias is None else layer.bias.detach()
    return orbit_mean(layer.geometry, layer_local(layer), bias)


def project_dense(
    geometry: ConvGeometry, dense: torch.Tensor, bias: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Orthogonal projection P(W) = E(orbit means of W) of a dense matrix onto the CNN subspace."""
    w, b = orbit_mean(geometry, gather_local(geometry, dense), bias)
    return embed_filter(geometry, w, b)


# --- deviation ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deviation:
    """Squared norms of one layer (or a sum of layers); ratios are relative to ``|theta|``."""

    norm_sq: float
    off_local_sq: float
    unshared_sq: float

    @property
    def total_sq(self) -> float:
        return self.off_local_sq + self.unshared_sq

    def _ratio(self, value: float) -> float:
        return (value / self.norm_sq) ** 0.5 if self.norm_sq > 0 else 0.0

    @property
    def total(self) -> float:
        """``|theta - P(theta)| / |theta|``."""
        return self._ratio(self.total_sq)

    @property
    def off_local(self) -> float:
        """``|W outside the local support| / |theta|``."""
        return self._ratio(self.off_local_sq)

    @property
    def unshared(self) -> float:
        """``|local part - P(theta)| / |theta|`` (weights and bias)."""
        return self._ratio(self.unshared_sq)

    def __add__(self, other: Deviation) -> Deviation:
        return Deviation(
            self.norm_sq + other.norm_sq,
            self.off_local_sq + other.off_local_sq,
            self.unshared_sq + other.unshared_sq,
        )

    def as_dict(self) -> dict[str, float]:
        return {"total": self.total, "off_local": self.off_local, "unshared": self.unshared}


def _sq(t: torch.Tensor) -> float:
    """Squared Frobenius norm, accumulated in the tensor's own dtype (cascade summation)."""
    return float(torch.linalg.vector_norm(t.detach())) ** 2


@torch.no_grad()
def layer_deviation(layer) -> Deviation:
    """Deviation of one conv-derived layer from the CNN subspace. Cost O(#weights)."""
    g = layer.geometry
    bias = None if layer.bias is None else layer.bias.detach()
    local = layer_local(layer)
    mean, bias_mean = orbit_mean(g, local, bias)
    valid = g.local_valid(local.device)
    unshared = torch.where(valid, local - mean[:, None, None], local.new_zeros(()))
    unshared_sq = _sq(unshared)
    local_sq = _sq(torch.where(valid, local, local.new_zeros(())))
    norm_sq = local_sq
    off_sq = 0.0
    if isinstance(layer, EmbeddedConv2d):
        # |W|^2 = |local|^2 + |off-local|^2 over live columns. The off part is summed directly (so a
        # layer inside the subspace reads exactly 0) by blanking the local and dead entries of W in
        # place and restoring them bit-exactly afterwards: no copy of the whole matrix. ``.data``
        # (not ``.detach()``) keeps autograd's version counter untouched, so deviation() may run
        # between a forward and its backward: the values autograd saved are back when it reads them.
        weight = layer.weight.data
        live = g.live_column_mask(weight.device)
        dead = None if live is None else weight[:, ~live].clone()
        try:
            for _, view in block_views(g, weight):
                view.zero_()
            if dead is not None:
                weight[:, ~live] = 0
            off_sq = _sq(weight)
        finally:
            for local_slice, view in block_views(g, weight):
                view.copy_(local[local_slice])
            if dead is not None:
                weight[:, ~live] = dead
        norm_sq += off_sq
    if bias is not None and bias_mean is not None:
        norm_sq += _sq(bias)
        unshared_sq += _sq(bias.reshape(g.out_channels, -1) - bias_mean[:, None])
    return Deviation(norm_sq, off_sq, unshared_sq)


def conv_derived_layers(
    model: torch.nn.Module,
) -> list[tuple[str, EmbeddedConv2d | LocallyConnected2d]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, ConvDerived)]


def deviation(model: torch.nn.Module) -> dict[str, dict[str, float]]:
    """Per-layer and total deviation of an eFCN/eLCN from the CNN subspace.

    Returns ``{layer_name: {"total", "off_local", "unshared"}, ..., "all": {...}}``; ``"all"``
    pools the squared norms of every conv-derived layer (``sqrt(sum dev^2 / sum |theta|^2)``).
    """
    layers = conv_derived_layers(model)
    if not layers:
        raise ValueError("model has no embedded convolution (EmbeddedConv2d / LocallyConnected2d)")
    result: dict[str, dict[str, float]] = {}
    pooled = Deviation(0.0, 0.0, 0.0)
    for name, layer in layers:
        dev = layer_deviation(layer)
        result[name] = dev.as_dict()
        pooled = pooled + dev
    result["all"] = pooled.as_dict()
    return result

"""The two layers a convolution is embedded into: a dense one (eFCN) and a local one (eLCN)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.conv_dense import ConvGeometry


class _ShapeChecked(nn.Module):
    geometry: ConvGeometry

    def _check_input(self, x: torch.Tensor) -> None:
        g = self.geometry
        expected = (g.in_channels, g.in_h, g.in_w)
        if x.dim() != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"{type(self).__name__} was built for inputs (N, {expected[0]}, {expected[1]}, "
                f"{expected[2]}); got {tuple(x.shape)}"
            )


class EmbeddedConv2d(_ShapeChecked):
    """A convolution written as one dense ``Linear`` on the flattened input (one eFCN layer).

    ``weight`` has shape ``(C_out*H_out*W_out, n_in)`` and ``bias`` ``(C_out*H_out*W_out,)``; every
    entry is a free parameter, so training moves the layer out of the CNN subspace. The layer keeps
    the spatial layout at its boundary (input ``(N, C, H, W)``, output ``(N, C', H', W')``) so that
    pooling, padding and activations between layers stay as in the CNN (as in the authors' code).
    ``source`` records how the original convolution was written so :func:`~dltheory.efcn.to_cnn`
    can rebuild it exactly.
    """

    def __init__(
        self,
        geometry: ConvGeometry,
        bias: bool = True,
        source: dict | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        geometry.validate()
        self.geometry = geometry
        self.source = dict(source or {})
        self.weight = nn.Parameter(
            torch.zeros(geometry.n_out, geometry.n_in, device=device, dtype=dtype)
        )
        self.bias = (
            nn.Parameter(torch.zeros(geometry.n_out, device=device, dtype=dtype)) if bias else None
        )

    @classmethod
    def from_dense(
        cls, geometry: ConvGeometry, weight: torch.Tensor, bias: torch.Tensor | None, source=None
    ) -> EmbeddedConv2d:
        """Wrap an existing dense matrix and bias without copying them."""
        layer = cls(
            geometry, bias=bias is not None, source=source, device="meta", dtype=weight.dtype
        )
        if tuple(weight.shape) != (geometry.n_out, geometry.n_in):
            raise ValueError(
                f"dense weight {tuple(weight.shape)} != {(geometry.n_out, geometry.n_in)}"
            )
        layer.weight = nn.Parameter(weight)
        if bias is not None:
            layer.bias = nn.Parameter(bias)
        return layer

    def reset_dense(self) -> None:
        """Dense default initialisation of an ``nn.Linear`` of the same shape (the FCN baseline)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.geometry.n_in)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        g = self.geometry
        if not g.fold_padding and any(g.pad):
            x = F.pad(x, g.pad)
        y = F.linear(x.flatten(1), self.weight, self.bias)
        return y.view(x.shape[0], g.out_channels, g.out_h, g.out_w)

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"({g.in_channels}x{g.in_h}x{g.in_w}) -> ({g.out_channels}x{g.out_h}x{g.out_w}), "
            f"dense {g.n_out}x{g.n_in}, kernel={g.kernel}, stride={g.stride}, "
            f"dilation={g.dilation}, pad={g.pad}, fold_padding={g.fold_padding}, "
            f"bias={self.bias is not None}"
        )


class LocallyConnected2d(_ShapeChecked):
    """A convolution without weight sharing (one eLCN layer): a separate filter per output position.

    ``weight`` has shape ``(C_out, H_out, W_out, C_in, kh, kw)``, ``bias`` ``(C_out, H_out, W_out)``.
    """

    def __init__(
        self,
        geometry: ConvGeometry,
        bias: bool = True,
        source: dict | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        geometry.validate()
        self.geometry = geometry
        self.source = dict(source or {})
        self.weight = nn.Parameter(torch.zeros(geometry.local_shape, device=device, dtype=dtype))
        self.bias = (
            nn.Parameter(
                torch.zeros(
                    geometry.out_channels,
                    geometry.out_h,
                    geometry.out_w,
                    device=device,
                    dtype=dtype,
                )
            )
            if bias
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        g = self.geometry
        if any(g.pad):
            x = F.pad(x, g.pad)
        cols = F.unfold(x, g.kernel, dilation=g.dilation, stride=g.stride)  # (N, C_in*kh*kw, L)
        w = self.weight.reshape(g.out_channels, g.out_h * g.out_w, -1)
        y = torch.einsum("nkl,olk->nol", cols, w).reshape(x.shape[0], *self.weight.shape[:3])
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        g = self.geometry
        return (
            f"({g.in_channels}x{g.in_h}x{g.in_w}) -> ({g.out_channels}x{g.out_h}x{g.out_w}), "
            f"kernel={g.kernel}, stride={g.stride}, dilation={g.dilation}, pad={g.pad}, "
            f"bias={self.bias is not None}"
        )

"""Rewrite a CNN as its eFCN (dense) or eLCN (local) equivalent, and back.

``embed(cnn, input_shape)`` replaces every ``Conv2d`` by an :class:`EmbeddedConv2d` computing the
same function; a ``ZeroPad2d`` directly before a conv inside an ``nn.Sequential`` is absorbed into
it (replaced by ``nn.Identity`` so module names do not shift). Pooling, activations, dropout,
flatten and ``Linear`` layers are deep-copied unchanged, as in the authors' ``cnn2fc``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd
from torch.overrides import TorchFunctionMode

from dltheory.core.conv_dense import ConvGeometry, as_pair, conv_geometry, embed_filter
from dltheory.core.errors import DltheoryError

from .layers import EmbeddedConv2d, LocallyConnected2d
from .subspace import conv_derived_layers, layer_deviation, layer_filter


class EmbeddingError(DltheoryError):
    """A network cannot be embedded or converted back (unsupported layer, not in the subspace)."""


# --- geometry of each conv in a network -----------------------------------------------------------
def _check_conv(name: str, conv: nn.Conv2d) -> None:
    if conv.groups != 1:
        raise EmbeddingError(
            f"{name}: grouped convolutions (groups={conv.groups}) are not supported"
        )
    if conv.padding_mode != "zeros":
        raise EmbeddingError(
            f"{name}: padding_mode={conv.padding_mode!r}; only 'zeros' is supported"
        )
    if type(conv) is not nn.Conv2d:
        raise EmbeddingError(f"{name}: {type(conv).__name__} is not a plain nn.Conv2d")


@dataclass
class _Site:
    name: str
    conv: nn.Conv2d
    pad_name: str | None  # sibling ZeroPad2d absorbed into this conv
    zero_pad: tuple[int, int, int, int] | None
    geometry: ConvGeometry = None  # type: ignore[assignment]  # set by _probe_input_shapes


def _find_sites(model: nn.Module) -> list[_Site]:
    sites: list[_Site] = []
    for parent_name, parent in model.named_modules():
        children = list(parent.named_children())
        for idx, (child_name, child) in enumerate(children):
            full = f"{parent_name}.{child_name}" if parent_name else child_name
            if isinstance(child, _ConvNd) and not isinstance(child, nn.Conv2d):
                # ConvTranspose2d, Conv1d, Conv3d, ...: never left silently as they are
                raise EmbeddingError(
                    f"{full}: {type(child).__name__} cannot be embedded (only nn.Conv2d is supported)"
                )
            if not isinstance(child, nn.Conv2d):
                continue
            _check_conv(full, child)
            pad_name, zero_pad = None, None
            if isinstance(parent, nn.Sequential) and idx > 0:
                prev_name, prev = children[idx - 1]
                if type(prev) is nn.ZeroPad2d:
                    if any(p < 0 for p in prev.padding):
                        raise EmbeddingError(f"{full}: negative ZeroPad2d padding is not supported")
                    pad_name = f"{parent_name}.{prev_name}" if parent_name else prev_name
                    p = prev.padding
                    zero_pad = (int(p[0]), int(p[1]), int(p[2]), int(p[3]))
            sites.append(_Site(full, child, pad_name, zero_pad))
    return sites


_CONV_FUNCTIONS = {
    torch.conv1d,
    torch.conv2d,
    torch.conv3d,
    torch.conv_transpose1d,
    torch.conv_transpose2d,
    torch.conv_transpose3d,
    torch.nn.functional.conv1d,
    torch.nn.functional.conv2d,
    torch.nn.functional.conv3d,
    torch.nn.functional.conv_transpose1d,
    torch.nn.functional.conv_transpose2d,
    torch.nn.functional.conv_transpose3d,
}


class _StrayConvWatch(TorchFunctionMode):
    """Records convolutions called outside the nn.Conv2d modules being embedded (functional ones
    in a custom ``forward``): they would stay convolutions in the eFCN, so they are refused."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0
        self.stray: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _CONV_FUNCTIONS and self.inside == 0:
            self.stray.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def _probe_input_shapes(model: nn.Module, sites: list[_Site], input_shape) -> None:
    """Run one zero input through the CNN and record the input shape of every conv."""
    seen: dict[str, list[tuple[int, ...]]] = {s.name: [] for s in sites}
    watch = _StrayConvWatch()

    def enter(name):
        def hook(_m, args):
            seen[name].append(tuple(args[0].shape[1:]))
            watch.inside += 1

        return hook

    def leave(_m, _args, _out):
        watch.inside -= 1

    hooks = [s.conv.register_forward_pre_hook(enter(s.name)) for s in sites]
    hooks += [s.conv.register_forward_hook(leave) for s in sites]
    param = next(model.parameters(), None)
    kwargs: dict[str, Any] = {} if param is None else {"dtype": param.dtype, "device": param.device}
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad(), watch:
            model(torch.zeros(1, *input_shape, **kwargs))
    except Exception as exc:
        raise EmbeddingError(
            f"the CNN does not accept inputs of shape {tuple(input_shape)}: {exc}"
        ) from exc
    finally:
        model.train(was_training)
        for handle in hooks:
            handle.remove()
    if watch.stray:
        raise EmbeddingError(
            f"the network calls {', '.join(sorted(set(watch.stray)))} outside an nn.Conv2d module "
            "(a functional convolution): it cannot be embedded; write it as an nn.Conv2d"
        )
    for s in sites:
        shapes = seen[s.name]
        if len(shapes) != 1:
            raise EmbeddingError(
                f"{s.name} is called {len(shapes)} times per forward; need exactly 1"
            )
        c, h, w = shapes[0]
        if s.zero_pad is not None:
            h -= s.zero_pad[2] + s.zero_pad[3]
            w -= s.zero_pad[0] + s.zero_pad[1]
        s.geometry = conv_geometry(s.conv, (c, h, w), extra_pad=s.zero_pad)


def conv_sites(cnn: nn.Module, input_shape, fold_padding: bool = True) -> list[_Site]:
    sites = _find_sites(cnn)
    if not sites:
        raise EmbeddingError("the network has no nn.Conv2d to embed")
    _probe_input_shapes(cnn, sites, tuple(input_shape))
    for s in sites:
        s.geometry = _with_fold(s.geometry, fold_padding)
    return sites


def _with_fold(g: ConvGeometry, fold: bool) -> ConvGeometry:
    return ConvGeometry(**{**g.__dict__, "fold_padding": fold})


# --- parameter counts and memory -------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSize:
    name: str
    cnn_params: int
    dense_params: int  # entries of the eFCN matrix + bias
    live_params: int  # dense_params without columns that only ever see padding zeros
    local_params: int  # eLCN parameters


@dataclass(frozen=True)
class EmbeddingPlan:
    """Sizes of the eFCN / eLCN of a CNN, known before anything is allocated."""

    layers: tuple[LayerSize, ...]
    other_params: int  # parameters carried over unchanged (Linear heads, ...)
    cnn_params: int

    @property
    def dense_params(self) -> int:
        return self.other_params + sum(s.dense_params for s in self.layers)

    @property
    def live_params(self) -> int:
        return self.other_params + sum(s.live_params for s in self.layers)

    @property
    def local_params(self) -> int:
        return self.other_params + sum(s.local_params for s in self.layers)

    def rows(self) -> list[dict]:
        rows = [s.__dict__.copy() for s in self.layers]
        rows.append(
            {
                "name": "total",
                "cnn_params": self.cnn_params,
                "dense_params": self.dense_params,
                "live_params": self.live_params,
                "local_params": self.local_params,
            }
        )
        return rows


def plan_embedding(cnn: nn.Module, input_shape, fold_padding: bool = True) -> EmbeddingPlan:
    sites = conv_sites(cnn, input_shape, fold_padding)
    layers = []
    conv_param_ids: set[int] = set()
    for s in sites:
        g = s.geometry
        bias = s.conv.bias is not None
        conv_param_ids.update(id(p) for p in s.conv.parameters())
        layers.append(
            LayerSize(
                name=s.name,
                cnn_params=sum(p.numel() for p in s.conv.parameters()),
                dense_params=g.n_out * g.n_in + (g.n_out if bias else 0),
                live_params=g.n_out * g.n_live_in + (g.n_out if bias else 0),
                local_params=g.out_channels
                * g.out_h
                * g.out_w
                * g.in_channels
                * g.kernel[0]
                * g.kernel[1]
                + (g.n_out if bias else 0),
            )
        )
    other = sum(p.numel() for p in cnn.parameters() if id(p) not in conv_param_ids)
    cnn_params = sum(p.numel() for p in cnn.parameters())
    return EmbeddingPlan(tuple(layers), other, cnn_params)


def available_memory_bytes(device: torch.device) -> int | None:
    """Free memory on ``device`` (CUDA: ``mem_get_info``; CPU: MemAvailable), None if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            with open("/proc/meminfo") as fh:
                for line in fh:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
    return None


def check_fits(
    n_params: int,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    max_params: int | None = None,
    copies: int = 1,
    what: str = "eFCN",
) -> int:
    """Refuse (EmbeddingError) a model of ``n_params`` that exceeds ``max_params`` or memory.

    ``copies`` counts the tensors of parameter size held at once (weights, gradients, momentum).
    Returns the number of bytes needed.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    needed = n_params * itemsize * copies
    if max_params is not None and n_params > max_params:
        raise EmbeddingError(
            f"the {what} has {n_params:,} parameters, more than --max-params {max_params:,}"
        )
    free = available_memory_bytes(torch.device(device))
    if free is not None and needed > free:
        raise EmbeddingError(
            f"the {what} has {n_params:,} parameters and needs ~{needed / 2**30:.2f} GiB "
            f"({copies} copies in {dtype}) but only {free / 2**30:.2f} GiB is free on {device}"
        )
    return needed


# --- module rewriting -----------------------------------------------------------------------------
def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def _source(site: _Site) -> dict:
    conv = site.conv
    return {
        "padding": conv.padding if isinstance(conv.padding, str) else tuple(as_pair(conv.padding)),
        "pad_name": site.pad_name,
        "zero_pad": site.zero_pad,
    }


def embed(
    cnn: nn.Module,
    input_shape,
    fold_padding: bool = True,
    max_params: int | None = None,
    dense_init: bool = False,
) -> nn.Module:
    """The eFCN of ``cnn``: same function, every convolution a dense layer (a few strided block copies each).

    ``input_shape`` is ``(C, H, W)`` of one input. With ``fold_padding`` (default) the dense layers
    act on unpadded inputs; without it they act on the padded input as in the authors' code
    (``cnn2fc``), and the padding columns are dead weights, left out of :func:`deviation` norms.
    ``dense_init=True`` gives the FCN twin instead: same layer sizes, dense default init.
    Refuses (``EmbeddingError``) before allocating when the eFCN exceeds ``max_params`` or memory.
    """
    sites = conv_sites(cnn, input_shape, fold_padding)
    plan = plan_embedding(cnn, input_shape, fold_padding)
    param = next(cnn.parameters())
    check_fits(plan.dense_params, param.dtype, param.device, max_params, what="eFCN")
    efcn = copy.deepcopy(cnn)
    for s in sites:
        conv = s.conv
        with torch.no_grad():
            dense, bias = embed_filter(s.geometry, conv.weight, conv.bias)
            layer = EmbeddedConv2d.from_dense(s.geometry, dense, bias, source=_source(s))
            if dense_init:
                layer.reset_dense()
        layer.train(conv.training)
        _set_submodule(efcn, s.name, layer)
        if s.pad_name is not None:
            _set_submodule(efcn, s.pad_name, nn.Identity())
    return efcn


def fcn_twin(cnn: nn.Module, input_shape, fold_padding: bool = True, max_params: int | None = None):
    """The standard FCN baseline: the eFCN's layer sizes with dense default initialisation."""
    return embed(cnn, input_shape, fold_padding, max_params, dense_init=True)


def embed_local(cnn: nn.Module, input_shape, max_params: int | None = None) -> nn.Module:
    """The eLCN of ``cnn``: every convolution a :class:`LocallyConnected2d` (local, unshared)."""
    sites = conv_sites(cnn, input_shape, fold_padding=True)
    plan = plan_embedding(cnn, input_shape)
    param = next(cnn.parameters())
    check_fits(plan.local_params, param.dtype, param.device, max_params, what="eLCN")
    elcn = copy.deepcopy(cnn)
    for s in sites:
        conv = s.conv
        layer = LocallyConnected2d(
            s.geometry,
            bias=conv.bias is not None,
            source=_source(s),
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        g = s.geometry
        with torch.no_grad():
            layer.weight.copy_(conv.weight[:, None, None].expand(g.local_shape))
            if conv.bias is not None and layer.bias is not None:
                layer.bias.copy_(conv.bias[:, None, None].expand(layer.bias.shape))
        layer.train(conv.training)
        _set_submodule(elcn, s.name, layer)
        if s.pad_name is not None:
            _set_submodule(elcn, s.pad_name, nn.Identity())
    return elcn


def to_cnn(model: nn.Module, tol: float = 1e-6, force: bool = False) -> nn.Module:
    """The CNN of an eFCN/eLCN whose conv-derived layers lie in the CNN subspace.

    Each layer's filter is its orbit mean (exact for a layer built by :func:`embed`). A layer whose
    relative deviation exceeds ``tol`` is refused unless ``force=True``, which returns the CNN of
    the orthogonal projection (:func:`project_to_cnn`).
    """
    cnn = copy.deepcopy(model)
    layers = conv_derived_layers(model)
    if not layers:
        raise EmbeddingError("the model has no embedded convolution to convert back")
    for name, layer in layers:
        if not force:
            dev = layer_deviation(layer).total
            if dev > tol:
                raise EmbeddingError(
                    f"{name} is not in the CNN subspace (relative deviation {dev:.3g} > tol {tol:g}); "
                    "pass force=True to convert its orthogonal projection"
                )
        g = layer.geometry
        weight, bias = layer_filter(layer)
        conv = nn.Conv2d(
            g.in_channels,
            g.out_channels,
            g.kernel,
            stride=g.stride,
            padding=layer.source.get("padding", 0),
            dilation=g.dilation,
            bias=bias is not None,
            device=weight.device,
            dtype=weight.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(weight)
            if bias is not None and conv.bias is not None:
                conv.bias.copy_(bias)
        conv.train(layer.training)
        _set_submodule(cnn, name, conv)
        if layer.source.get("pad_name"):
            _set_submodule(cnn, layer.source["pad_name"], nn.ZeroPad2d(layer.source["zero_pad"]))
    return cnn


@torch.no_grad()
def project_to_cnn(model: nn.Module, inplace: bool = False) -> nn.Module:
    """Orthogonal projection of every conv-derived layer onto the CNN subspace (orbit means)."""
    out = model if inplace else copy.deepcopy(model)
    for _name, layer in conv_derived_layers(out):
        weight, bias = layer_filter(layer)
        dense_bias: torch.Tensor | None
        if isinstance(layer, EmbeddedConv2d):
            dense, dense_bias = embed_filter(layer.geometry, weight, bias)
            layer.weight.copy_(dense)
        else:
            layer.weight.copy_(weight[:, None, None].expand(layer.geometry.local_shape))
            dense_bias = None if bias is None else bias[:, None, None]
        if layer.bias is not None and dense_bias is not None:
            layer.bias.copy_(dense_bias.expand_as(layer.bias).reshape(layer.bias.shape))
    return out

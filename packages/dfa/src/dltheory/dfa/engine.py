"""The DFA training engine: graph cut between blocks, one feedback GEMM, DFA/FA/BP modes.

Direct Feedback Alignment (Nokland 2016; arXiv:2011.12428 eq. 2): hidden layer l receives

    delta_l = (B_l e) * f'(h_l),    e = dL/dy_hat,

and the output layer receives its true gradient. The engine implements this exactly with
ordinary autograd:

* a :class:`FeedbackPoint` placed after each hidden block (after its activation) returns the
  block output *detached* (``requires_grad=False``), so the next block starts a fresh graph: no
  backpropagated signal crosses a block and no input-gradient GEMM is ever computed;
* :class:`DirectFeedback` wraps the network output. Its backward receives e, computes
  ``e @ [B_1^T | ... | B_{L-1}^T]`` with **one** matrix product, splits it and hands ``B_l e``
  to block l as the gradient of its output. Autograd then multiplies by f'(h_l) inside the block
  and forms the weight gradient ``delta_l x_{l-1}^T``.

One ``loss.backward()`` does everything, so any optimizer works unchanged. The same model runs
feedback alignment (``mode="fa"``: every Linear/Conv2d uses a fixed random ``B`` in place of
``W^T`` in its backward) and backprop (``mode="bp"``: plain autograd).

Usage (any model; mark blocks, attach once, train as usual)::

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.head = nn.Linear(784, 256), nn.Linear(256, 256), nn.Linear(256, 10)
            self.cut1, self.cut2 = FeedbackPoint(), FeedbackPoint()
            self.feedback = DirectFeedback(n_outputs=10, mode="dfa")

        def forward(self, x):
            x = self.cut1(torch.relu(self.fc1(x)))
            x = self.cut2(torch.relu(self.fc2(x)))
            return self.feedback(self.head(x))

    model = attach_feedback(Net())
    loss = F.cross_entropy(model(x), y); loss.backward(); optimizer.step()

The feedback matrix is materialised at the first forward from the shapes seen at the points
(in call order), drawn from its own generator (``feedback_seed``), and saved in the state dict.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.errors import ConfigError, DltheoryError, choice_error

from .config import CONV_FEEDBACK, FEEDBACK_INITS_ALL, MODES, STRUCTURED_INITS
from .feedback import FEEDBACK_INITS, draw_feedback, fa_feedback_like

WEIGHT_MODULES = (nn.Linear, nn.modules.conv._ConvNd)


class MarkingError(DltheoryError):
    """A model in DFA mode is not marked so that DFA (and not backprop) trains it."""


class FeedbackPoint(nn.Module):
    """Marks the output of a hidden block. In DFA mode it cuts the graph there."""

    def __init__(self) -> None:
        super().__init__()
        self.__dict__["_engine"] = None  # not a submodule: the engine is owned by the model

    def forward(self, activation: torch.Tensor) -> torch.Tensor:
        engine = self.__dict__["_engine"]
        if engine is None:
            raise DltheoryError(
                "FeedbackPoint is not attached: call attach_feedback(model) once "
                "after building the model"
            )
        return engine._visit(activation)


class _DirectFeedbackFunction(torch.autograd.Function):
    """Identity on the output; backward sends ``B_l e`` to every feedback point."""

    @staticmethod
    def forward(ctx, feedback, widths, channel_flags, output, *points):
        ctx.save_for_backward(feedback)
        ctx.widths = widths
        ctx.channel_flags = channel_flags
        ctx.point_meta = [(p.shape, p.dtype) for p in points]
        return output.view_as(output)

    @staticmethod
    def backward(ctx, grad_output):
        (feedback,) = ctx.saved_tensors
        e = grad_output.reshape(-1, feedback.shape[0]).to(feedback.dtype)
        projection = e @ feedback  # the single GEMM: (rows, C) @ (C, sum_l m_l)
        grads = []
        pieces = projection.split(ctx.widths, dim=1)
        for i, (piece, channel, (shape, dtype)) in enumerate(
            zip(pieces, ctx.channel_flags, ctx.point_meta)
        ):
            if not ctx.needs_input_grad[4 + i]:
                grads.append(None)
            elif channel:  # conv-shaped feedback: one value per (sample, channel), over space
                grads.append(piece.reshape(shape[0], shape[1], 1, 1).expand(shape).to(dtype))
            else:
                grads.append(piece.reshape(shape).to(dtype))
        return (None, None, None, grad_output, *grads)


class DirectFeedback(nn.Module):
    """Wraps the network output and owns the concatenated feedback matrix.

    Args:
        n_outputs: C, the size of the output's last dimension.
        mode: ``dfa`` | ``fa`` | ``bp``.
        init: ``gaussian`` | ``uniform`` | ``orthogonal`` (model-dependent inits such as aligned,
            NMF or SVD are applied afterwards with :mod:`dltheory.dfa.structured`).
        feedback_seed: seed of B's own generator (independent of the weight seed).
        unit_norm: normalise each output's feedback vector in each layer to unit norm.
        conv_feedback: ``dense`` (one weight per flattened unit) or ``channel`` (one weight
            per (output, channel), repeated over space) for 4-D activations.
        scale: multiplies B (e.g. ``1/sqrt(width)``); does not change any alignment cosine.
    """

    feedback: Any  # the (C, sum_l m_l) buffer, None until the first forward

    def __init__(
        self,
        n_outputs: int,
        mode: str = "dfa",
        init: str = "gaussian",
        feedback_seed: int = 0,
        unit_norm: bool = False,
        conv_feedback: str = "dense",
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise choice_error("training mode", mode, MODES)
        if init in STRUCTURED_INITS:
            raise ConfigError(
                f"feedback init {init!r} is computed from the built model: create the model with "
                "a random init (gaussian, uniform, orthogonal), then apply "
                "dltheory.dfa.structured (set_aligned_feedback / set_factorised_conv_feedback)"
            )
        if init not in FEEDBACK_INITS:
            raise choice_error("feedback init", init, FEEDBACK_INITS_ALL)
        if conv_feedback not in CONV_FEEDBACK:
            raise choice_error("conv feedback", conv_feedback, CONV_FEEDBACK)
        if int(n_outputs) < 1:
            raise ConfigError(f"n_outputs must be >= 1, got {n_outputs}")
        self.n_outputs = int(n_outputs)
        self.mode = mode
        self.init = init
        self.feedback_seed = int(feedback_seed)
        self.unit_norm = bool(unit_norm)
        self.conv_feedback = conv_feedback
        self.scale = float(scale)
        self.register_buffer("feedback", None)
        self.point_shapes: list[tuple[int, ...]] = []  # per-sample shape at each point
        self.widths: list[int] = []  # columns of each block in ``feedback``
        self.channel_flags: list[bool] = []
        self._seen: list[torch.Size] = []
        self._pending: list[torch.Tensor] = []
        self._fa_ready = False
        self._marks_checked = False
        self.__dict__["_weight_owner"] = {}  # id(parameter) -> weight-layer name (attach_feedback)

    # -- forward ------------------------------------------------------------------------------
    def _visit(self, activation: torch.Tensor) -> torch.Tensor:
        self._seen.append(activation.shape)
        if self.mode == "dfa" and torch.is_grad_enabled():
            self._pending.append(activation)
            return activation.detach()  # graph cut: requires_grad=False, no dx GEMM downstream
        return activation

    def forward(self, output: torch.Tensor) -> torch.Tensor:
        seen, pending = self._seen, self._pending
        self._seen, self._pending = [], []
        if output.shape[-1] != self.n_outputs:
            raise DltheoryError(
                f"DirectFeedback expects {self.n_outputs} outputs in the last "
                f"dimension, got shape {tuple(output.shape)}"
            )
        if not self.widths:
            self._build_layout(output, seen)
        elif len(seen) != len(self.widths):
            raise DltheoryError(
                f"the forward pass visited {len(seen)} feedback points but the "
                f"feedback was built for {len(self.widths)}"
            )
        if self.mode != "dfa" or not torch.is_grad_enabled():
            return output
        if not pending:
            raise MarkingError(
                "DFA mode, but the forward pass visited no FeedbackPoint: mark the output of "
                "every hidden block with a FeedbackPoint (and call attach_feedback), or use "
                "mode='bp' to train by backpropagation"
            )
        if not self._marks_checked:
            self._check_marks(output)
        fb = self.feedback
        return _DirectFeedbackFunction.apply(fb, self.widths, self.channel_flags, output, *pending)

    def _check_marks(self, output: torch.Tensor) -> None:
        """Refuse a model whose output reaches more than one weight layer by backprop.

        In DFA only the top layer may receive the true gradient; a second weight layer on the
        backprop path from the output means a hidden block was left without a FeedbackPoint,
        and it would silently train by backpropagation. Checked once, on the first DFA forward.
        """
        owners = self.__dict__["_weight_owner"]
        reached: set[str] = set()
        stack, seen = [output.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            variable = getattr(node, "variable", None)
            if variable is not None and id(variable) in owners:
                reached.add(owners[id(variable)])
            stack.extend(fn for fn, _ in node.next_functions)
        if len(reached) > 1:
            raise MarkingError(
                "DFA mode, but backpropagation from the output reaches "
                f"{len(reached)} weight layers ({', '.join(sorted(reached))}): only the top "
                "layer may get the true gradient; put a FeedbackPoint after every hidden block"
            )
        self._marks_checked = True

    def _build_layout(self, output: torch.Tensor, seen: list[torch.Size]) -> None:
        rows = output.numel() // self.n_outputs
        widths, flags, shapes = [], [], []
        for shape in seen:
            if shape[0] != output.shape[0]:
                raise DltheoryError(
                    f"feedback point with batch size {shape[0]} does not match "
                    f"the output's {output.shape[0]}"
                )
            numel = math.prod(shape)
            if numel % rows:
                raise DltheoryError(
                    f"feedback point of shape {tuple(shape)} cannot be split "
                    f"into the output's {rows} rows"
                )
            channel = self.conv_feedback == "channel" and len(shape) == 4 and rows == shape[0]
            widths.append(int(shape[1]) if channel else numel // rows)
            flags.append(channel)
            shapes.append(tuple(int(s) for s in shape[1:]))
        self.widths, self.channel_flags, self.point_shapes = widths, flags, shapes
        total = sum(widths)
        if self.feedback is None:
            fb = (
                draw_feedback(self.init, self.n_outputs, widths, self.feedback_seed, self.unit_norm)
                * self.scale
            )
            dtype = (
                output.dtype if output.dtype in (torch.float32, torch.float64) else torch.float32
            )
            self.feedback = fb.to(device=output.device, dtype=dtype)
        elif self.feedback.shape != (self.n_outputs, total):
            raise DltheoryError(
                f"loaded feedback has shape {tuple(self.feedback.shape)} but "
                f"the model needs {(self.n_outputs, total)}"
            )

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        key = prefix + "feedback"
        if self.feedback is None and key in state_dict:
            self.feedback = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    # -- access to B ----------------------------------------------------------------------------
    @property
    def built(self) -> bool:
        return self.feedback is not None and bool(self.widths)

    def block(self, layer: int) -> torch.Tensor:
        """``B_l^T`` as stored: shape (C, m_l) (a view into the concatenated matrix)."""
        self._require_built()
        start = sum(self.widths[:layer])
        return self.feedback[:, start : start + self.widths[layer]]

    def dense_block(self, layer: int) -> torch.Tensor:
        """``B_l^T`` over the flattened activation, shape (C, n_l) (channel feedback expanded)."""
        blk = self.block(layer)
        if not self.channel_flags[layer]:
            return blk
        _, h, w = self.point_shapes[layer]
        return blk[:, :, None].expand(-1, -1, h * w).reshape(self.n_outputs, -1)

    def set_block(self, layer: int, value: torch.Tensor) -> None:
        """Overwrite ``B_l^T`` (C, m_l) in place, e.g. with a structured init."""
        blk = self.block(layer)
        if tuple(value.shape) != tuple(blk.shape):
            raise DltheoryError(
                f"feedback block {layer} has shape {tuple(blk.shape)}, got {tuple(value.shape)}"
            )
        with torch.no_grad():
            blk.copy_(value.to(blk))

    def _require_built(self) -> None:
        if not self.built:
            raise DltheoryError(
                "the feedback matrix does not exist yet: run one forward pass "
                "(or use build_feedback(model, example_input)) first"
            )

    def extra_repr(self) -> str:
        return (
            f"n_outputs={self.n_outputs}, mode={self.mode}, init={self.init}, "
            f"feedback_seed={self.feedback_seed}, conv_feedback={self.conv_feedback}, "
            f"widths={self.widths}"
        )


# -- feedback alignment layers --------------------------------------------------------------
class _FALinearFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, feedback_weight):
        ctx.save_for_backward(x, feedback_weight)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad_out):
        x, fb = ctx.saved_tensors
        grad_x = grad_out @ fb.to(grad_out.dtype) if ctx.needs_input_grad[0] else None
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        grad_w = g2.T @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        grad_b = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


class _FAConv2dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, feedback_weight, stride, padding, dilation, groups):
        ctx.save_for_backward(x, feedback_weight)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.weight_shape = weight.shape
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, fb = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.nn.grad.conv2d_input(
                x.shape, fb.to(grad_out.dtype), grad_out, stride, padding, dilation, groups
            )
        if ctx.needs_input_grad[1]:
            grad_w = torch.nn.grad.conv2d_weight(
                x, ctx.weight_shape, grad_out, stride, padding, dilation, groups
            )
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.sum((0, 2, 3))
        return grad_x, grad_w, grad_b, None, None, None, None, None


class FALinear(nn.Linear):
    """``nn.Linear`` whose backward uses a fixed random matrix instead of ``W^T`` in FA mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        engine = self.__dict__.get("_engine")
        if engine is not None and engine.mode == "fa" and torch.is_grad_enabled():
            return _FALinearFunction.apply(x, self.weight, self.bias, self.fa_feedback)
        return F.linear(x, self.weight, self.bias)


class FAConv2d(nn.Conv2d):
    """``nn.Conv2d`` (zero padding) whose input gradient uses a fixed random kernel in FA mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        engine = self.__dict__.get("_engine")
        if engine is not None and engine.mode == "fa" and torch.is_grad_enabled():
            return _FAConv2dFunction.apply(
                x,
                self.weight,
                self.bias,
                self.fa_feedback,
                self.stride,
                self.padding,
                self.dilation,
                self.groups,
            )
        return super().forward(x)


def _to_fa_layer(module: Any, engine: DirectFeedback, gen: torch.Generator) -> nn.Module:
    """A FA twin of ``module`` that shares its very Parameters (so optimizers stay valid)."""
    has_bias = module.bias is not None
    new: Any
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise ConfigError("FA supports Conv2d with numeric zero padding only")
        conv: Any = module  # its tuples are 2-tuples
        new = FAConv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            has_bias,
            device="meta",
        )
    else:
        new = FALinear(module.in_features, module.out_features, has_bias, device="meta")
    new.weight = module.weight
    new.bias = module.bias
    new.train(module.training)
    fb = fa_feedback_like(module.weight.detach().cpu(), engine.init, gen)
    new.register_buffer("fa_feedback", fb.to(module.weight.device, module.weight.dtype))
    new.__dict__["_engine"] = engine
    return new


def find_engine(model: nn.Module) -> DirectFeedback:
    engines = [m for m in model.modules() if isinstance(m, DirectFeedback)]
    if len(engines) != 1:
        raise DltheoryError(
            f"expected exactly one DirectFeedback module in the model, found {len(engines)}"
        )
    return engines[0]


def attach_feedback(model: nn.Module) -> nn.Module:
    """Bind the model's FeedbackPoints to its DirectFeedback; in FA mode convert its layers.

    Returns the same model (modified in place). Call once, after building the model and
    before creating the optimizer.
    """
    engine = find_engine(model)
    for module in model.modules():
        if isinstance(module, FeedbackPoint):
            module.__dict__["_engine"] = engine
    engine.__dict__["_weight_owner"] = {
        id(p): name or type(module).__name__
        for name, module in model.named_modules()
        if isinstance(module, WEIGHT_MODULES)
        for p in module.parameters(recurse=False)
    }
    engine._marks_checked = False
    if engine.mode == "fa" and not engine._fa_ready:
        gen = torch.Generator()
        gen.manual_seed(engine.feedback_seed)
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if type(child) in (nn.Linear, nn.Conv2d):
                    setattr(parent, name, _to_fa_layer(child, engine, gen))
        engine._fa_ready = True
    return model


def set_mode(model: nn.Module, mode: str) -> None:
    """Switch a model between dfa, fa and bp (weights and B are kept)."""
    if mode not in MODES:
        raise choice_error("training mode", mode, MODES)
    engine = find_engine(model)
    engine.mode = mode
    engine._marks_checked = False
    if mode == "fa":
        attach_feedback(model)


@torch.no_grad()
def build_feedback(model: nn.Module, example_input: torch.Tensor) -> DirectFeedback:
    """Materialise B with one forward pass on ``example_input`` (a batch); returns the engine."""
    engine = find_engine(model)
    was_training = model.training
    model.eval()
    model(example_input)
    model.train(was_training)
    return engine

"""The evaluation loop the trainers share: mean loss and accuracy of a model over tensors."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from dltheory.core.device import Precision


def evaluate_tensors(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    batch_size: int = 1000,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
    precision: Precision | None = None,
    device: torch.device | str | None = None,
    classification: bool = True,
) -> tuple[float, float]:
    """Mean loss and accuracy (NaN unless ``classification``) of ``model`` over ``(x, y)``.

    Runs in eval mode without gradients, ``batch_size`` examples at a time (each moved to
    ``device`` when given, under ``precision.autocast()`` when given); ``loss_fn(output, target)``
    is a batch mean, taken on the float32 output and weighted by the batch size. The model's
    train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            autocast = precision.autocast() if precision is not None else contextlib.nullcontext()
            with autocast:
                out = model(xb)
            total_loss += float(loss_fn(out.float(), yb)) * xb.shape[0]
            if classification:
                correct += int((out.argmax(1) == yb).sum())
    model.train(was_training)
    n = x.shape[0]
    return total_loss / n, (correct / n if classification else math.nan)

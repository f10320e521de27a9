"""The loss landscape between solutions in FCN space (the authors' ``interp.py``, reference A.4).

Two networks with the same parameter layout (an eFCN and another eFCN, or the FCN twin) are
joined by a path, and the loss and accuracy are measured along it:

* linear path in weight space: ``theta(a) = (1 - a) theta_0 + a theta_1``;
* output averaging: ``f_a(x) = (1 - a) f_0(x) + a f_1(x)`` (the logits are averaged; a path in
  function space that needs no common parametrisation).

The *barrier* of a path is how far it rises above the straight line between its ends,
``max_a [L(a) - ((1 - a) L(0) + a L(1))]`` for the loss, and for the accuracy how far it falls below,
``max_a [((1 - a) acc(0) + a acc(1)) - acc(a)]`` (Frankle et al.'s error barrier). A barrier near
zero means the two ends lie in one convex-looking basin. The *rise* ``max_a L(a) - max(L(0), L(1))``
separates a bump from a monotone but non-convex descent (which has a barrier and no rise).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial

import torch
import torch.nn.functional as F

MODES = ("linear", "output")


def barrier(
    alphas: Sequence[float], values: Sequence[float], higher_is_worse: bool = True
) -> float:
    """Largest excess of ``values`` over the chord between the ends (0 when the path is convex).

    For an accuracy pass ``higher_is_worse=False``: the largest drop below the chord.
    """
    a = torch.as_tensor(alphas, dtype=torch.float64)
    v = torch.as_tensor(values, dtype=torch.float64)
    chord = (1 - a) * v[0] + a * v[-1]
    excess = v - chord if higher_is_worse else chord - v
    return float(excess.max().clamp(min=0.0))


def rise(values: Sequence[float]) -> float:
    """How far the path climbs above its higher end, ``max_a L(a) - max(L(0), L(1))`` (>= 0).

    Unlike :func:`barrier`, a monotone path has no rise even when it is not convex.
    """
    v = torch.as_tensor(values, dtype=torch.float64)
    return float((v.max() - torch.maximum(v[0], v[-1])).clamp(min=0.0))


def _check_same_layout(state_a: dict, state_b: dict) -> None:
    if state_a.keys() != state_b.keys():
        missing = sorted(set(state_a) ^ set(state_b))[:3]
        raise ValueError(f"the two networks have different parameters (e.g. {missing})")
    for k in state_a:
        if state_a[k].shape != state_b[k].shape:
            raise ValueError(
                f"{k}: shapes differ ({tuple(state_a[k].shape)} vs {tuple(state_b[k].shape)})"
            )


@torch.no_grad()
def _loss_acc(logits_fn, x, y, batch_size: int) -> tuple[float, float]:
    loss_sum, correct = 0.0, 0
    for start in range(0, x.shape[0], batch_size):
        out = _widen(logits_fn(x[start : start + batch_size]))
        yb = y[start : start + batch_size]
        loss_sum += float(F.cross_entropy(out, yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    return loss_sum / x.shape[0], correct / x.shape[0]


def _widen(t: torch.Tensor) -> torch.Tensor:
    """float32 for half-precision outputs; float32/float64 kept as they are."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


def _averaged_outputs(model_a, model_b, alpha: float, x: torch.Tensor) -> torch.Tensor:
    """f_a(x) = (1 - a) f_0(x) + a f_1(x): output averaging, in float32 or wider."""
    return torch.lerp(_widen(model_a(x)), _widen(model_b(x)), alpha)


@torch.no_grad()
def interpolate(
    model_a: torch.nn.Module,
    model_b: torch.nn.Module,
    splits: dict[str, tuple[torch.Tensor, torch.Tensor]],
    points: int = 11,
    mode: str = "linear",
    batch_size: int = 1000,
) -> list[dict]:
    """Loss and accuracy along the path from ``model_a`` (a = 0) to ``model_b`` (a = 1).

    ``splits`` maps a name (``train``, ``test``) to ``(x, y)``. Returns one row per point:
    ``{"alpha", "<split>_loss", "<split>_acc", ...}``. Neither model is changed.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if points < 2:
        raise ValueError("a path needs at least 2 points")
    model_a.eval()
    model_b.eval()
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    if mode == "linear":
        _check_same_layout(state_a, state_b)
        probe = copy.deepcopy(model_a).eval()
        floating = [k for k, v in state_a.items() if v.is_floating_point()]
    rows = []
    for i in range(points):
        alpha = i / (points - 1)
        fn: Callable[[torch.Tensor], torch.Tensor]
        if mode == "linear":
            # theta(a) = (1 - a) theta_0 + a theta_1, written into one probe network
            probe.load_state_dict(
                {k: torch.lerp(state_a[k], state_b[k], alpha) for k in floating}, strict=False
            )
            fn = probe
        else:
            fn = partial(_averaged_outputs, model_a, model_b, alpha)

        row = {"alpha": alpha}
        for name, (x, y) in splits.items():
            row[f"{name}_loss"], row[f"{name}_acc"] = _loss_acc(fn, x, y, batch_size)
        rows.append(row)
    return rows


def path_barriers(rows: list[dict], splits: Sequence[str] = ("train", "test")) -> dict[str, float]:
    """Loss and accuracy barriers of an :func:`interpolate` path, per split."""
    alphas = [r["alpha"] for r in rows]
    out = {}
    for s in splits:
        if f"{s}_loss" not in rows[0]:
            continue
        out[f"{s}_loss_barrier"] = barrier(alphas, [r[f"{s}_loss"] for r in rows])
        out[f"{s}_loss_rise"] = rise([r[f"{s}_loss"] for r in rows])
        out[f"{s}_acc_barrier"] = barrier(alphas, [r[f"{s}_acc"] for r in rows], False)
    return out

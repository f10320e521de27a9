"""Interpolation paths and barriers: closed forms, a float64 hand computation, and identities."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.efcn.landscape import barrier, interpolate, path_barriers, rise

pytestmark = pytest.mark.usefixtures("float64_default")


def test_barrier_of_known_curves():
    alphas = [i / 10 for i in range(11)]
    # L(a) = 1 + 4 a (1 - a) over the chord 1 -> 1: barrier 4 * 1/4 = 1, at a = 1/2
    assert barrier(alphas, [1 + 4 * a * (1 - a) for a in alphas]) == pytest.approx(1.0)
    # a convex path below its chord has no barrier
    assert barrier(alphas, [(a - 0.5) ** 2 for a in alphas]) == 0.0
    # chord from 2 to 0 and a straight path: 0 (up to rounding)
    assert barrier(alphas, [2 - 2 * a for a in alphas]) == pytest.approx(0.0, abs=1e-12)
    # accuracy: a dip of 0.3 below the chord 0.9 -> 0.8 at the middle
    acc = [0.9 - 0.1 * a for a in alphas]
    acc[5] -= 0.3
    assert barrier(alphas, acc, higher_is_worse=False) == pytest.approx(0.3)
    # a monotone smoothstep descent 1 - 3a^2 + 2a^3: above its chord 1 - a by a(1 - a)(1 - 2a),
    # 0.2 * 0.8 * 0.6 = 0.096 at a = 0.2 on this grid, but never above its start
    descent = [1 - 3 * a**2 + 2 * a**3 for a in alphas]
    assert barrier(alphas, descent) == pytest.approx(0.096)
    assert rise(descent) == 0.0
    assert rise([1 + 4 * a * (1 - a) for a in alphas]) == pytest.approx(1.0)


def _linear_pair(seed=0):
    gen = torch.Generator().manual_seed(seed)
    a, b = nn.Linear(5, 3), nn.Linear(5, 3)
    for m in (a, b):
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(torch.randn(p.shape, generator=gen))
    x = torch.randn(40, 5, generator=gen)
    y = torch.randint(0, 3, (40,), generator=gen)
    return a, b, x, y


def test_linear_path_matches_a_hand_computation():
    a, b, x, y = _linear_pair()
    rows = interpolate(a, b, {"test": (x, y)}, points=5, mode="linear", batch_size=7)
    assert [r["alpha"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for r in rows:
        t = r["alpha"]
        w = (1 - t) * a.weight + t * b.weight
        c = (1 - t) * a.bias + t * b.bias
        logits = x @ w.T + c
        assert r["test_loss"] == pytest.approx(
            float(F.cross_entropy(logits, y).detach()), rel=1e-12
        )
        assert r["test_acc"] == float((logits.argmax(1) == y).double().mean())


def test_output_averaging_equals_the_linear_path_for_a_linear_model():
    # f is linear in its parameters, so averaging outputs and averaging weights coincide
    a, b, x, y = _linear_pair(1)
    lin = interpolate(a, b, {"train": (x, y)}, points=6, mode="linear")
    out = interpolate(a, b, {"train": (x, y)}, points=6, mode="output")
    for r, s in zip(lin, out):
        assert r["train_loss"] == pytest.approx(s["train_loss"], rel=1e-12)
        assert r["train_acc"] == s["train_acc"]


def test_output_averaging_of_a_relu_net_is_convex_in_the_loss():
    # cross-entropy is convex in the logits: the output-averaged path has no loss barrier
    torch.manual_seed(0)
    a = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    b = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    out = interpolate(a, b, {"train": (x, y)}, points=11, mode="output")
    lin = interpolate(a, b, {"train": (x, y)}, points=11, mode="linear")
    assert path_barriers(out, ("train",))["train_loss_barrier"] == 0.0
    # the ends agree between the two modes (same two networks)
    assert lin[0]["train_loss"] == pytest.approx(out[0]["train_loss"], rel=1e-12)
    assert lin[-1]["train_loss"] == pytest.approx(out[-1]["train_loss"], rel=1e-12)
    # and the models themselves are left untouched
    assert math.isfinite(lin[5]["train_loss"])


def test_paths_refuse_different_layouts():
    with pytest.raises(ValueError, match="shapes differ"):
        interpolate(nn.Linear(3, 2), nn.Linear(4, 2), {}, mode="linear")
    with pytest.raises(ValueError, match="mode"):
        interpolate(nn.Linear(3, 2), nn.Linear(3, 2), {}, mode="curved")

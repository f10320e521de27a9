"""Alignment measurements against explicit constructions; structured feedback inits."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from dltheory.dfa import convnet, mlp, set_mode
from dltheory.dfa.alignment import (
    alignment_times,
    gradient_alignment,
    order_slope,
    weight_alignment,
    weight_cosines,
)
from dltheory.dfa.structured import (
    conv_connectivity,
    conv_to_dense,
    set_aligned_feedback,
    set_factorised_conv_feedback,
)

pytestmark = pytest.mark.usefixtures("float64_default")  # exactness checks in float64


def _cos(a, b):
    return float(F.cosine_similarity(a.detach().flatten(), b.detach().flatten(), dim=0))


def test_conv_to_dense_reproduces_the_conv():
    torch.manual_seed(0)
    net = convnet((2, 6, 6), channels=3, n_conv=1, n_outputs=2, padding=1)
    conv = net.blocks[0][0]
    x = torch.randn(4, 2, 6, 6)
    dense = conv_to_dense(conv, (2, 6, 6))
    torch.testing.assert_close(
        x.flatten(1) @ dense.T, F.conv2d(x, conv.weight, padding=1).flatten(1)
    )
    mask = conv_connectivity(conv, (2, 6, 6))
    assert torch.all((dense != 0) <= (mask > 0))
    assert int(mask.sum()) < mask.numel()  # padding corners see fewer inputs


def test_weight_alignment_matches_explicit_efcn_cosine():
    torch.manual_seed(1)
    net = convnet((1, 7, 7), channels=3, n_conv=2, n_outputs=4, padding=1)
    x = torch.randn(2, 1, 7, 7)
    wa = weight_alignment(net, x)
    fb = net.feedback
    conv2 = net.blocks[1][0]
    dense2 = conv_to_dense(conv2, (3, 7, 7))
    target2 = fb.dense_block(1).T @ fb.dense_block(0)  # B_2 B_1^T
    assert wa["wa_layer2"] == pytest.approx(_cos(dense2, target2), abs=1e-12)
    assert wa["wa_layer3"] == pytest.approx(_cos(net.head.weight, fb.dense_block(1)), abs=1e-12)
    total = _cos(
        torch.cat([dense2.flatten(), net.head.weight.flatten()]),
        torch.cat([target2.flatten(), fb.dense_block(1).flatten()]),
    )
    assert wa["wa_total"] == pytest.approx(total, abs=1e-12)


def test_weight_alignment_is_one_for_weights_equal_to_targets():
    torch.manual_seed(2)
    net = mlp(5, [8, 6], 3)
    fb = net.feedback
    with torch.no_grad():
        net.weight_layers[1].weight.copy_(2.5 * fb.block(1).T @ fb.block(0))
        net.weight_layers[2].weight.copy_(fb.block(1))
    wa = weight_alignment(net, torch.randn(2, 5))
    assert wa["wa_layer2"] == pytest.approx(1.0, abs=1e-12)
    assert wa["wa_layer3"] == pytest.approx(1.0, abs=1e-12)
    assert "wa_layer1" not in wa


def test_gradient_alignment_is_one_with_aligned_feedback_on_a_linear_net():
    torch.manual_seed(3)
    net = mlp(6, [7, 5, 4], 3, activation="linear")
    x, target = torch.randn(8, 6), torch.randint(0, 3, (8,))
    before = gradient_alignment(net, x, target, F.cross_entropy)
    assert before["ga_total"] < 0.9
    set_aligned_feedback(net, x)
    ga = gradient_alignment(net, x, target, F.cross_entropy)
    for k in (1, 2, 3):
        assert ga[f"ga_layer{k}"] == pytest.approx(1.0, abs=1e-10)
        assert ga[f"update_cos_layer{k}"] == pytest.approx(1.0, abs=1e-10)
    assert net.feedback.mode == "dfa"


def test_gradient_alignment_restores_grads_and_matches_manual_cosine():
    torch.manual_seed(4)
    net = mlp(6, [7, 5], 3, activation="tanh")
    x, target = torch.randn(8, 6), torch.randint(0, 3, (8,))
    for p in net.parameters():
        p.grad = torch.full_like(p, 0.5)
    ga = gradient_alignment(net, x, target, F.cross_entropy)
    assert all(torch.all(p.grad == 0.5) for p in net.parameters())
    # Manual: DFA and BP weight gradients of layer 1, from two separate copies.
    dfa_net, bp_net = copy.deepcopy(net), copy.deepcopy(net)
    set_mode(bp_net, "bp")
    for m in (dfa_net, bp_net):
        m.zero_grad()
        F.cross_entropy(m(x), target).backward()
    g_dfa = dfa_net.weight_layers[0].weight.grad
    g_bp = bp_net.weight_layers[0].weight.grad
    assert ga["update_cos_layer1"] == pytest.approx(_cos(g_dfa, g_bp), abs=1e-12)
    # GA_2 by hand: per-sample cosine of delta_2 = (B_2 e) f'(h_2) and BP's (W_3^T e) f'(h_2)
    w1, w2, w3 = (layer.weight.detach() for layer in net.weight_layers)
    a2 = torch.tanh(torch.tanh(x @ w1.T) @ w2.T)
    e = (torch.softmax(a2 @ w3.T, 1) - F.one_hot(target, 3)) / x.shape[0]
    d_dfa = (e @ net.feedback.block(1)) * (1 - a2**2)
    d_bp = (e @ w3) * (1 - a2**2)
    expected = F.cosine_similarity(d_dfa, d_bp, dim=1).mean()
    assert ga["ga_layer2"] == pytest.approx(float(expected), abs=1e-12)


def test_fa_weight_alignment_uses_the_matrices_fa_trains_with():
    """WA of an FA model is cos(W_l, B_l) with FA's own B_l (not the DFA feedback)."""
    torch.manual_seed(8)
    net = mlp(6, [7, 5], 3, activation="tanh", mode="fa")
    x = torch.randn(4, 6)
    head = net.weight_layers[2]
    with torch.no_grad():
        head.weight.copy_(3.0 * head.fa_feedback)  # W_3 parallel to B_3
    wa = weight_alignment(net, x)
    assert wa["wa_layer3"] == pytest.approx(1.0, abs=1e-12)
    w2, b2 = net.weight_layers[1].weight, net.weight_layers[1].fa_feedback
    assert wa["wa_layer2"] == pytest.approx(_cos(w2, b2), abs=1e-12)
    assert "wa_layer1" not in wa  # the first layer's B only reaches the input
    set_mode(net, "dfa")  # the same weights measured against the DFA feedback differ
    assert weight_alignment(net, x)["wa_layer3"] < 0.99


def test_weight_cosines():
    torch.manual_seed(5)
    a = mlp(5, [6], 3)
    b = copy.deepcopy(a)
    assert weight_cosines(a, b)["cos_total"] == pytest.approx(1.0)
    with torch.no_grad():
        b.weight_layers[0].weight.neg_()
    assert weight_cosines(a, b)["cos_layer1"] == pytest.approx(-1.0)


@pytest.mark.parametrize("kind", ["nmf", "svd"])
def test_factorised_conv_feedback_concentrates_on_the_conv_structure(kind):
    torch.manual_seed(6)
    net = convnet((1, 8, 8), channels=2, n_conv=2, n_outputs=3)
    x = torch.randn(2, 1, 8, 8)
    conv2 = net.blocks[1][0]
    mask = conv_connectivity(conv2, (2, 6, 6))

    def on_mask_fraction():
        t = net.feedback.dense_block(1).T @ net.feedback.dense_block(0)
        return float((t * mask).square().sum() / t.square().sum())

    random_fraction = on_mask_fraction()
    set_factorised_conv_feedback(net, x, kind)
    assert on_mask_fraction() > random_fraction + 0.2
    norms = net.feedback.block(0).norm(dim=1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_fa_gradient_alignment_is_one_when_feedback_equals_the_weights():
    torch.manual_seed(7)
    net = mlp(6, [7, 5], 3, activation="tanh", mode="fa")
    x, target = torch.randn(8, 6), torch.randint(0, 3, (8,))
    assert gradient_alignment(net, x, target, F.cross_entropy)["ga_total"] < 0.99
    with torch.no_grad():
        for layer in net.weight_layers:
            layer.fa_feedback.copy_(layer.weight)
    ga = gradient_alignment(net, x, target, F.cross_entropy)
    assert ga["ga_layer1"] == pytest.approx(1.0, abs=1e-12)
    assert ga["update_cos_layer2"] == pytest.approx(1.0, abs=1e-12)


def test_alignment_times_and_bottom_to_top_slope_by_hand():
    rows = [
        {"step": 0, "wa_layer2": 0.0, "wa_layer3": 0.0},
        {"step": 10, "wa_layer2": 0.3, "wa_layer3": 0.05},
        {"step": 100, "wa_layer2": 0.4, "wa_layer3": 0.3},
        {"step": 1000, "wa_layer2": 0.5, "wa_layer3": 0.4},
    ]
    # half of the maxima 0.5 and 0.4 is first reached at steps 10 and 100
    assert alignment_times(rows, [2, 3]) == [10.0, 100.0]
    assert order_slope([10.0, 100.0], [2, 3]) == pytest.approx(1.0)  # one decade per layer
    assert order_slope([100.0, 10.0, 1.0], [2, 3, 4]) == pytest.approx(-1.0)
    never = [{"step": s, "wa_layer2": -0.1} for s in (0, 5)]
    assert math.isnan(alignment_times(never, [2])[0])

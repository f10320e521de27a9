"""Exactness of the DFA engine against hand-written per-layer formulas, and BP == autograd."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from dltheory.core.errors import ConfigError, DltheoryError
from dltheory.dfa import (
    DirectFeedback,
    FeedbackPoint,
    attach_feedback,
    convnet,
    mlp,
    set_mode,
)
from dltheory.dfa.engine import MarkingError
from dltheory.dfa.models import InputShapeError

pytestmark = pytest.mark.usefixtures("float64_default")  # exactness checks in float64


def _ce_error(y_hat, target):
    """e = dL/dy for mean cross-entropy, by hand: (softmax - onehot) / N."""
    return (torch.softmax(y_hat, 1) - F.one_hot(target, y_hat.shape[1])) / y_hat.shape[0]


def _tanh_prime(h):
    return 1 - torch.tanh(h) ** 2


def _manual_mlp_grads(net, x, target, mode):
    """Per-layer formulas: delta_L = e; DFA delta_l = (B_l e) f'(h_l); FA/BP chain with B or W."""
    layers = net.weight_layers
    acts, pre = [x], []
    for layer in layers[:-1]:
        h = acts[-1] @ layer.weight.T + layer.bias
        pre.append(h)
        acts.append(torch.tanh(h))
    y_hat = acts[-1] @ layers[-1].weight.T + layers[-1].bias
    e = _ce_error(y_hat, target)
    deltas = [None] * len(layers)
    deltas[-1] = e
    for i in reversed(range(len(layers) - 1)):
        if mode == "dfa":
            signal = e @ net.feedback.block(i)  # B_l e, B_l^T stored as (C, n_l)
        elif mode == "fa":
            signal = deltas[i + 1] @ layers[i + 1].fa_feedback
        else:
            signal = deltas[i + 1] @ layers[i + 1].weight
        deltas[i] = signal * _tanh_prime(pre[i])
    return [(d.T @ a, d.sum(0)) for d, a in zip(deltas, acts)]


@pytest.mark.parametrize("mode", ["dfa", "fa", "bp"])
def test_mlp_updates_match_per_layer_formula(mode):
    torch.manual_seed(0)
    net = mlp(7, [11, 9, 6], 4, activation="tanh", mode=mode, bias=True)
    x, target = torch.randn(5, 7), torch.randint(0, 4, (5,))
    expected = _manual_mlp_grads(net, x, target, mode)
    params_before = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.3)
    opt.zero_grad()
    F.cross_entropy(net(x), target).backward()
    for layer, (gw, gb) in zip(net.weight_layers, expected):
        torch.testing.assert_close(layer.weight.grad, gw, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(layer.bias.grad, gb, rtol=1e-12, atol=1e-12)
    opt.step()
    for p0, p in zip(params_before, net.parameters()):
        torch.testing.assert_close(p.detach(), p0 - 0.3 * p.grad, rtol=1e-12, atol=1e-12)


def test_dfa_differs_from_bp():
    torch.manual_seed(1)
    net = mlp(7, [11, 9], 4, activation="tanh")
    x, target = torch.randn(5, 7), torch.randint(0, 4, (5,))
    F.cross_entropy(net(x), target).backward()
    dfa_grad = net.weight_layers[0].weight.grad.clone()
    net.zero_grad()
    set_mode(net, "bp")
    F.cross_entropy(net(x), target).backward()
    assert (dfa_grad - net.weight_layers[0].weight.grad).abs().max() > 1e-3


def _unfold_weight_grad(delta, x, kernel):
    """dL/dW[o, i, kh, kw] = sum_{n, p} delta[n, o, p] * patch[n, (i, kh, kw), p], via unfold."""
    patches = F.unfold(x, kernel)  # (N, C_in*k*k, P)
    return torch.einsum("nop,nkp->ok", delta.flatten(2), patches).reshape(
        delta.shape[1], x.shape[1], kernel, kernel
    )


@pytest.mark.parametrize("conv_feedback", ["dense", "channel"])
def test_cnn_dfa_updates_match_per_layer_formula(conv_feedback):
    torch.manual_seed(2)
    net = convnet(
        (2, 7, 7),
        channels=3,
        n_conv=2,
        n_outputs=4,
        kernel_size=3,
        activation="tanh",
        conv_feedback=conv_feedback,
    )
    x, target = torch.randn(5, 2, 7, 7), torch.randint(0, 4, (5,))
    convs = [b[0] for b in net.blocks]
    acts, pre = [x], []
    for conv in convs:
        h = F.conv2d(acts[-1], conv.weight)
        pre.append(h)
        acts.append(torch.tanh(h))
    y_hat = acts[-1].flatten(1) @ net.head.weight.T
    e = _ce_error(y_hat, target)
    F.cross_entropy(net(x), target).backward()
    torch.testing.assert_close(net.head.weight.grad, e.T @ acts[-1].flatten(1))
    for i, conv in enumerate(convs):
        signal = (e @ net.feedback.dense_block(i)).reshape(pre[i].shape)
        if conv_feedback == "channel":  # one feedback value per channel, same over space
            assert torch.allclose(signal, signal[:, :, :1, :1].expand_as(signal))
        delta = signal * _tanh_prime(pre[i])
        torch.testing.assert_close(
            conv.weight.grad, _unfold_weight_grad(delta, acts[i], 3), rtol=1e-11, atol=1e-12
        )


def test_cnn_fa_matches_transposed_conv_with_feedback_kernel():
    torch.manual_seed(3)
    net = convnet((1, 6, 6), channels=2, n_conv=2, n_outputs=3, activation="tanh", mode="fa")
    x, target = torch.randn(4, 1, 6, 6), torch.randint(0, 3, (4,))
    c1, c2 = (b[0] for b in net.blocks)
    h1 = F.conv2d(x, c1.weight)
    a1 = torch.tanh(h1)
    h2 = F.conv2d(a1, c2.weight)
    a2 = torch.tanh(h2)
    e = _ce_error(a2.flatten(1) @ net.head.weight.T, target)
    d2 = (e @ net.head.fa_feedback).reshape(h2.shape) * _tanh_prime(h2)
    d1 = F.conv_transpose2d(d2, c2.fa_feedback) * _tanh_prime(h1)
    F.cross_entropy(net(x), target).backward()
    torch.testing.assert_close(c2.weight.grad, _unfold_weight_grad(d2, a1, 3))
    torch.testing.assert_close(c1.weight.grad, _unfold_weight_grad(d1, x, 3))


def test_bp_mode_equals_plain_autograd():
    torch.manual_seed(4)
    net = mlp(6, [8, 8], 3, activation="relu", mode="bp", bias=True)
    plain = nn.Sequential(*(copy.deepcopy(b) for b in net.blocks), copy.deepcopy(net.head))
    x, target = torch.randn(9, 6), torch.randint(0, 3, (9,))
    F.cross_entropy(net(x), target).backward()
    F.cross_entropy(plain(x), target).backward()
    ours = [p.grad for p in net.parameters()]
    ref = [p.grad for p in plain.parameters()]
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_dfa_backward_skips_every_input_gradient_product():
    """Backward FLOPs: BP = dW + dx products; DFA = dW products + one e @ B projection."""
    torch.manual_seed(5)
    n, widths, c = 16, [20, 30, 30, 30], 10
    net = mlp(widths[0], widths[1:], c, activation="relu")
    x, target = torch.randn(n, widths[0]), torch.randint(0, c, (n,))

    def backward_flops(mode):
        """FLOPs of one backward pass, per operator (the forward runs outside the counter)."""
        set_mode(net, mode)
        loss = F.cross_entropy(net(x), target)
        with FlopCounterMode(display=False) as counter:
            loss.backward()
        return {str(op): int(f) for op, f in counter.get_flop_counts()["Global"].items()}

    dims = [*widths, c]
    # weight gradients delta_l x_{l-1}^T of every layer; input gradients W_l^T delta_l of every
    # layer but the first (nothing needs the gradient of the data)
    dw = sum(2 * n * a * b for a, b in itertools.pairwise(dims))
    dx = sum(2 * n * a * b for a, b in itertools.pairwise(dims[1:]))
    projection = 2 * n * c * sum(widths[1:])  # e @ [B_1^T | ... | B_{L-1}^T]
    bp, dfa = backward_flops("bp"), backward_flops("dfa")
    assert sum(bp.values()) == dw + dx
    assert sum(dfa.values()) == dw + projection
    # every counted FLOP is a matrix product (no hidden elementwise cost is counted as one)
    assert set(bp) | set(dfa) <= {"aten.mm", "aten.mm.default", "aten.addmm.default"}


def test_user_model_with_marked_blocks_and_one_projection():
    """A hand-marked model (blocks with two layers) trains through the same engine."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block1 = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 6), nn.Tanh())
            self.cut1 = FeedbackPoint()
            self.head = nn.Linear(6, 3)
            self.feedback = DirectFeedback(3, mode="dfa", feedback_seed=7)

        def forward(self, x):
            return self.feedback(self.head(self.cut1(self.block1(x))))

    torch.manual_seed(6)
    net = attach_feedback(Net())
    x, target = torch.randn(4, 5), torch.randint(0, 3, (4,))
    F.cross_entropy(net(x), target).backward()
    # Inside a block BP runs as usual from the injected signal B_1 e.
    ref = copy.deepcopy(net.block1)
    e = _ce_error(net.head(net.block1(x)), target)
    ref(x).backward(e @ net.feedback.block(0))
    for a, b in zip(net.block1.parameters(), ref.parameters()):
        torch.testing.assert_close(a.grad, b.grad)


def test_feedback_shared_across_weight_seeds_and_restored_from_state_dict():
    torch.manual_seed(0)
    a = mlp(5, [6, 7], 3, feedback_seed=11)
    torch.manual_seed(1)
    b = mlp(5, [6, 7], 3, feedback_seed=11)
    assert torch.equal(a.feedback.feedback, b.feedback.feedback)
    assert not torch.equal(a.weight_layers[0].weight, b.weight_layers[0].weight)
    fresh = attach_feedback(
        type(a)(
            copy.deepcopy(list(a.blocks)),
            copy.deepcopy(a.head),
            DirectFeedback(3, feedback_seed=99),
            flatten_input=True,
        )
    )
    fresh.load_state_dict(b.state_dict())
    assert torch.equal(fresh.feedback.feedback, b.feedback.feedback)


def test_clear_errors():
    with pytest.raises(DltheoryError, match="training mode"):
        DirectFeedback(3, mode="backprop")
    point = FeedbackPoint()
    with pytest.raises(DltheoryError, match="attach_feedback"):
        point(torch.zeros(1, 2))
    net = mlp(5, [6], 3)
    with pytest.raises(DltheoryError, match="outputs"):
        net.feedback(torch.zeros(2, 4))


def test_dfa_mode_without_feedback_points_refuses_to_train_by_backprop():
    class Unmarked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.head = nn.Linear(5, 8), nn.Linear(8, 3)
            self.feedback = DirectFeedback(3, mode="dfa")

        def forward(self, x):
            return self.feedback(self.head(torch.relu(self.fc1(x))))

    net = attach_feedback(Unmarked())
    x = torch.randn(4, 5)
    with torch.no_grad():
        net(x)  # evaluation is fine: nothing trains
    with pytest.raises(MarkingError, match="no FeedbackPoint"):
        net(x)
    set_mode(net, "bp")
    assert net(x).requires_grad  # BP mode is an explicit choice


def test_dfa_mode_with_an_unmarked_block_names_the_layers():
    class HalfMarked(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.head = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 3)
            self.cut1 = FeedbackPoint()  # fc2's block is left unmarked
            self.feedback = DirectFeedback(3, mode="dfa")

        def forward(self, x):
            x = self.cut1(torch.relu(self.fc1(x)))
            return self.feedback(self.head(torch.relu(self.fc2(x))))

    net = attach_feedback(HalfMarked())
    with pytest.raises(MarkingError, match=r"2 weight layers \(fc2, head\)"):
        net(torch.randn(4, 5))


def test_wrong_input_width_and_too_small_cnn_input_are_one_line_errors():
    net = mlp(64, [16], 10)
    with pytest.raises(InputShapeError, match="expects 64 features per sample") as info:
        net(torch.randn(2, 784))
    assert "\n" not in str(info.value)
    cnn = convnet((1, 8, 8), channels=2, n_conv=2, n_outputs=3)
    with pytest.raises(InputShapeError, match=r"per-sample shape \(1, 8, 8\)"):
        cnn(torch.randn(2, 1, 28, 28))
    with pytest.raises(ConfigError, match="too small for 4 conv layers of kernel 3") as info:
        convnet((1, 8, 8), channels=2, n_conv=4, n_outputs=3)
    assert "\n" not in str(info.value)


def test_unknown_feedback_init_lists_every_choice():
    with pytest.raises(ConfigError) as info:
        DirectFeedback(3, init="xavier")
    for choice in ("gaussian", "uniform", "orthogonal", "aligned", "nmf", "svd"):
        assert choice in str(info.value)

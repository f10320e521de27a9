"""Exactness of the CNN -> eFCN / eLCN embedding, checked against the CNN itself and its Jacobian."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dltheory.efcn import (
    EmbeddedConv2d,
    EmbeddingError,
    LocallyConnected2d,
    alexnet_cifar,
    check_fits,
    count_params,
    embed,
    embed_local,
    fcn_twin,
    plan_embedding,
    vanilla_cnn,
)
from dltheory.efcn.embedding import conv_sites


class TwoBranch(nn.Module):
    """Not a Sequential: convs are attributes used in a custom forward."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, stride=2, padding=1)
        self.b = nn.Conv2d(3, 4, (2, 3), dilation=(1, 2), bias=False)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        y = torch.tanh(self.a(x))
        return self.head(torch.relu(self.b(y)).flatten(1))


def _architectures():
    return {
        "stride-pad-bias": (
            lambda: nn.Sequential(
                nn.Conv2d(3, 4, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(4, 5, 3, stride=1, padding=2),
                nn.Flatten(),
                nn.Linear(5 * 8 * 7, 3),
            ),
            (3, 11, 9),
        ),
        "dilation-nobias-asym-zeropad-avgpool": (
            lambda: nn.Sequential(
                nn.ZeroPad2d((1, 2, 0, 3)),
                nn.Conv2d(2, 3, 3, dilation=2, bias=False),
                nn.ReLU(),
                nn.AvgPool2d(2),
                nn.Conv2d(3, 2, (2, 3), stride=(1, 2), padding="valid"),
                nn.Dropout(0.3),
                nn.Flatten(),
            ),
            (2, 12, 10),
        ),
        "same-padding-rect-kernel-nested": (
            lambda: nn.Sequential(
                nn.Sequential(nn.Conv2d(1, 3, (3, 5), padding="same"), nn.ReLU()),
                nn.MaxPool2d(2),
                nn.ZeroPad2d(1),
                nn.Conv2d(3, 3, 2, stride=2, padding=1),
                nn.Flatten(),
                nn.Linear(48, 2),
            ),
            (1, 8, 11),
        ),
        "vanilla-cnn-narrow": (lambda: vanilla_cnn(channels=5), (3, 32, 32)),
        "vanilla-small-digits": (
            lambda: vanilla_cnn(1, 10, 8, 4, (3, 3, 3), (1, 1, 1), (1, 1, 1), pool=(2, 2)),
            (1, 8, 8),
        ),
        "custom-forward": (TwoBranch, (2, 9, 12)),
    }


ARCHS = _architectures()


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "padded-columns"])
@pytest.mark.parametrize("name", list(ARCHS))
def test_efcn_output_equals_cnn_float64_and_float32(name, fold):
    factory, shape = ARCHS[name]
    torch.manual_seed(0)
    cnn = factory().double().eval()
    x = torch.randn(5, *shape, dtype=torch.float64)
    efcn = embed(cnn, shape, fold_padding=fold).eval()
    assert any(isinstance(m, EmbeddedConv2d) for m in efcn.modules())
    assert not any(isinstance(m, nn.Conv2d) for m in efcn.modules())
    ref = cnn(x)
    assert torch.allclose(efcn(x), ref, rtol=0, atol=1e-10)
    cnn32 = cnn.float()
    efcn32 = embed(cnn32, shape, fold_padding=fold).eval()
    assert (efcn32(x.float()) - cnn32(x.float())).abs().max().item() <= 1e-5


@pytest.mark.parametrize("name", list(ARCHS))
def test_elcn_output_equals_cnn(name):
    factory, shape = ARCHS[name]
    torch.manual_seed(1)
    cnn = factory().double().eval()
    x = torch.randn(4, *shape, dtype=torch.float64)
    elcn = embed_local(cnn, shape).eval()
    assert sum(isinstance(m, LocallyConnected2d) for m in elcn.modules()) == sum(
        isinstance(m, nn.Conv2d) for m in cnn.modules()
    )
    assert torch.allclose(elcn(x), cnn(x), rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    ("conv", "shape", "fold"),
    [
        (nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 7, 6), True),
        (nn.Conv2d(2, 3, 3, stride=2, padding=1), (2, 7, 6), False),
        (nn.Conv2d(1, 2, (2, 3), stride=(2, 1), dilation=(2, 1), padding=(1, 2)), (1, 6, 5), True),
    ],
)
def test_dense_matrix_equals_conv_jacobian(conv, shape, fold):
    """Independent of the index arithmetic: the matrix is the Jacobian of the conv on one input."""
    conv = conv.double()
    efcn = embed(nn.Sequential(conv), shape, fold_padding=fold)
    layer = efcn[0]
    padding = layer.geometry.pad
    x = torch.zeros(1, *shape, dtype=torch.float64)
    if fold:
        jac = torch.autograd.functional.jacobian(lambda v: conv(v).flatten(), x).reshape(
            layer.geometry.n_out, -1
        )
    else:
        padded = nn.functional.pad(x, padding)
        bare = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation
        ).double()
        bare.load_state_dict(conv.state_dict())
        jac = torch.autograd.functional.jacobian(lambda v: bare(v).flatten(), padded).reshape(
            layer.geometry.n_out, -1
        )
        # the authors' layout writes filter values on padding columns too; ours keeps them zero
        jac[:, ~layer.geometry.live_column_mask()] = 0
    assert torch.equal(layer.weight.detach(), jac)
    assert torch.equal(
        layer.bias.detach(),
        conv.bias.detach().repeat_interleave(layer.geometry.out_h * layer.geometry.out_w),
    )


def test_paper_parameter_counts_without_allocating():
    """Counts of the reference notes (A.2), padding columns included as in the authors' code."""
    vanilla = vanilla_cnn()
    assert count_params(vanilla) == 143_178
    authors = plan_embedding(vanilla, (3, 32, 32), fold_padding=False)
    assert authors.dense_params == 110_606_602
    assert [s.dense_params for s in authors.layers] == [
        18496 * 3888 + 18496,
        4096 * 9216 + 4096,
        576 * 1600 + 576,
    ]
    # live parameters drop the columns that only ever see padding zeros: same as the folded layout
    folded = plan_embedding(vanilla, (3, 32, 32), fold_padding=True)
    assert authors.live_params == folded.dense_params < authors.dense_params
    alex = alexnet_cifar()
    assert count_params(alex) == 2_848_906
    assert plan_embedding(alex, (3, 32, 32), fold_padding=False).dense_params == 239_049_674


def test_refuses_too_large_before_allocating():
    with pytest.raises(EmbeddingError, match="max-params"):
        embed(vanilla_cnn(), (3, 32, 32), max_params=1_000_000)
    with pytest.raises(EmbeddingError, match="GiB"):
        check_fits(10**15, torch.float32, "cpu")
    assert check_fits(1000, torch.float64, "cpu", copies=2) == 16_000


@pytest.mark.parametrize(
    ("model", "msg"),
    [
        (nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), "groups"),
        (nn.Sequential(nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")), "padding_mode"),
        (nn.Sequential(nn.Linear(4, 2)), "no nn.Conv2d"),
        (nn.Sequential(nn.Conv2d(2, 2, 3), nn.ConvTranspose2d(2, 2, 3)), "ConvTranspose2d"),
        (
            nn.Sequential(
                nn.Conv2d(2, 2, 3), nn.Flatten(), nn.Unflatten(1, (2, 16)), nn.Conv1d(2, 2, 3)
            ),
            "Conv1d",
        ),
    ],
)
def test_unsupported_networks_are_refused(model, msg):
    with pytest.raises(EmbeddingError, match=msg):
        embed(model, (2, 6, 6))


def test_shared_conv_and_bad_input_shape_are_refused():
    conv = nn.Conv2d(2, 2, 3, padding=1)
    with pytest.raises(EmbeddingError, match="called 2 times"):
        embed(nn.Sequential(conv, conv), (2, 5, 5))
    with pytest.raises(EmbeddingError, match="does not accept"):
        embed(vanilla_cnn(channels=2), (3, 4, 4))
    efcn = embed(nn.Sequential(nn.Conv2d(2, 2, 3)), (2, 5, 5))
    with pytest.raises(ValueError, match="built for inputs"):
        efcn(torch.zeros(1, 2, 6, 6))


def test_padding_columns_are_dead_and_excluded():
    """Without folding, columns facing padding get no gradient (reference notes A.3)."""
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.ZeroPad2d(2), nn.Conv2d(1, 2, 3), nn.Flatten())
    twin = fcn_twin(cnn, (1, 4, 4), fold_padding=False)
    layer = twin[1]
    live = layer.geometry.live_column_mask()
    assert live.sum() == 16
    assert live.numel() == 64
    twin(torch.randn(3, 1, 4, 4)).square().sum().backward()
    assert layer.weight.grad[:, ~live].abs().max() == 0
    assert layer.weight.grad[:, live].abs().max() > 0
    sites = conv_sites(cnn, (1, 4, 4), fold_padding=False)
    assert sites[0].zero_pad == (2, 2, 2, 2)
    assert sites[0].geometry.pad == (2, 2, 2, 2)


class _FunctionalConvNet(nn.Module):
    """An nn.Conv2d followed by a convolution called through torch.nn.functional."""

    def __init__(self, transpose: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.extra = nn.Parameter(torch.randn(2, 2, 3, 3))
        self.transpose = transpose

    def forward(self, x):
        x = self.conv(x).relu()
        if self.transpose:
            return nn.functional.conv_transpose2d(x, self.extra)
        return nn.functional.conv2d(x, self.extra, padding=1)


@pytest.mark.parametrize("transpose", [False, True])
def test_functional_convolutions_are_refused_not_left_as_convolutions(transpose):
    model = _FunctionalConvNet(transpose)
    name = "conv_transpose2d" if transpose else "conv2d"
    with pytest.raises(EmbeddingError, match=f"calls {name} outside an nn.Conv2d"):
        embed(model, (2, 5, 5))
    with pytest.raises(EmbeddingError, match="functional convolution"):
        embed_local(model, (2, 5, 5))

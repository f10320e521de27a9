"""The dense matrix of a Conv2d against PyTorch's own convolution, in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dltheory.core.conv_dense import conv_geometry, conv_to_dense, embed_filter

# PyTorch warns that padding="same" with an even kernel copies the input; irrelevant here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")

# (C_in, C_out, kernel, stride, padding, dilation, groups, bias, (H, W))
CASES = [
    (1, 1, 3, 1, 0, 1, 1, False, (5, 5)),
    (2, 3, 3, 1, 1, 1, 1, True, (6, 6)),
    (3, 4, 3, 2, 1, 1, 1, True, (7, 7)),
    (2, 2, (2, 3), (2, 1), (1, 0), 1, 1, False, (6, 5)),
    (3, 2, 3, 3, 2, 1, 1, True, (8, 7)),
    (2, 3, 3, 1, 2, 2, 1, True, (6, 6)),
    (2, 2, 4, 1, "same", 1, 1, True, (5, 6)),
    (3, 2, 3, 1, "valid", 1, 1, False, (4, 5)),
    (4, 6, 3, 1, 1, 1, 2, True, (5, 5)),
    (6, 3, 1, 2, 0, 1, 3, False, (4, 4)),
]


def _conv(case, dtype=torch.float64):
    c_in, c_out, k, s, p, d, groups, bias, _ = case
    return nn.Conv2d(
        c_in, c_out, k, stride=s, padding=p, dilation=d, groups=groups, bias=bias, dtype=dtype
    )


def _reference(conv, x, weight=None):
    weight = conv.weight if weight is None else weight
    return F.conv2d(x, weight, None, conv.stride, conv.padding, conv.dilation, conv.groups)


@pytest.mark.parametrize("case", CASES)
def test_dense_matrix_applied_to_inputs_is_the_convolution(case):
    torch.manual_seed(0)
    conv = _conv(case)
    in_shape = (case[0], *case[-1])
    x = torch.randn(7, *in_shape, dtype=torch.float64)
    dense = conv_to_dense(conv, in_shape)
    out = x.flatten(1) @ dense.T
    if conv.bias is not None:
        out = out + conv.bias.repeat_interleave(dense.shape[0] // conv.out_channels)
    torch.testing.assert_close(out, conv(x).flatten(1), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("ones", [False, True], ids=["weight", "ones-kernel"])
def test_every_entry_equals_the_conv_of_the_identity_basis(case, ones):
    # Column j of the matrix is the conv of the j-th unit input: an entry-by-entry reference.
    torch.manual_seed(1)
    conv = _conv(case)
    in_shape = (case[0], *case[-1])
    kernel = torch.ones_like(conv.weight) if ones else None
    dense = conv_to_dense(conv, in_shape, kernel=kernel)
    n_in = case[0] * case[-1][0] * case[-1][1]
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *in_shape)
    expected = _reference(conv, basis, kernel).reshape(n_in, -1).T
    assert dense.shape == expected.shape
    torch.testing.assert_close(dense, expected, rtol=0, atol=1e-12)
    if ones:  # the receptive-field mask: exactly 0/1
        assert set(dense.unique().tolist()) <= {0.0, 1.0}


def test_embed_filter_bias_absorbed_zero_pad_and_padded_layout():
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, bias=True, dtype=torch.float64)
    extra = (1, 0, 2, 1)  # ZeroPad2d (left, right, top, bottom) before the conv
    x = torch.randn(5, 2, 6, 7, dtype=torch.float64)
    expected = conv(F.pad(x, extra)).flatten(1)
    folded = conv_geometry(conv, (2, 6, 7), extra_pad=extra)
    dense, bias = embed_filter(folded, conv.weight, conv.bias)
    torch.testing.assert_close(x.flatten(1) @ dense.T + bias, expected, rtol=0, atol=1e-12)
    # Authors' layout: the matrix acts on the fully padded input (dead padding columns).
    padded = conv_geometry(conv, (2, 6, 7), extra_pad=extra, fold_padding=False)
    dense_p, bias_p = embed_filter(padded, conv.weight, conv.bias)
    x_pad = F.pad(x, tuple(a + b for a, b in zip(extra, (1, 1, 1, 1))))
    torch.testing.assert_close(x_pad.flatten(1) @ dense_p.T + bias_p, expected, rtol=0, atol=1e-12)


def test_refusals():
    conv = nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode"):
        conv_to_dense(conv, (2, 5, 5))
    with pytest.raises(ValueError, match="channels"):
        conv_to_dense(nn.Conv2d(2, 2, 3), (3, 5, 5))
    with pytest.raises(ValueError, match="empty"):
        conv_to_dense(nn.Conv2d(2, 2, 5), (2, 3, 3))
    with pytest.raises(ValueError, match="filter shape"):
        conv_to_dense(nn.Conv2d(2, 2, 3), (2, 5, 5), kernel=torch.ones(2, 2, 2, 2))

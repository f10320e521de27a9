"""Nonlocality (eq. 8) over a real batch, gates, head centres, attention maps."""

import math

import torch

from dltheory.convit import (
    ConViT,
    ConViTSpec,
    attention_maps,
    gate_values,
    head_centres,
    nonlocality,
)


def tiny_model(**kw):
    spec = dict(
        img_size=(24, 24),
        patch_size=4,
        num_heads=4,
        embed_dim_per_head=8,
        depth=3,
        num_gpsa_layers=2,
        num_classes=3,
    )
    torch.manual_seed(0)
    return ConViT(ConViTSpec(**{**spec, **kw})).eval()


def brute_nonlocality(model, x):
    """Independent loop: capture each block's input, form A explicitly, average, weight by ||delta||."""
    inputs = []
    hooks = [
        b.attn.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for b in model.blocks
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    rows, cols = model.grid_size
    coords = [(r, c) for r in range(rows) for c in range(cols)]
    dist = torch.tensor([[math.dist(p, q) for q in coords] for p in coords])
    out = []
    for blk, inp in zip(model.blocks, inputs):
        attn = blk.attn
        if hasattr(attn, "qk"):
            B, N, _ = inp.shape
            q, k = attn.qk(inp).reshape(B, N, 2, 4, 8).permute(2, 0, 3, 1, 4)
            content = (q @ k.transpose(-1, -2) * 8**-0.5).softmax(-1)
            logits = (
                torch.einsum("nmc,hc->hnm", attn.rel_offsets, attn.pos_proj.weight)
                + attn.pos_proj.bias[:, None, None]
            )
            g = torch.sigmoid(attn.gating_param)[:, None, None]
            a = (1 - g) * content + g * logits.softmax(-1)
        else:
            B, N, _C = inp.shape
            q, k, _ = attn.qkv(inp).reshape(B, N, 3, 4, 8).permute(2, 0, 3, 1, 4)
            a = (q @ k.transpose(-1, -2) * 8**-0.5).softmax(-1)[:, :, 1:, 1:]
            a = a / a.sum(-1, keepdim=True)
        a = a.mean(0)
        out.append((a * dist).sum((-1, -2)) / len(coords))
    return torch.stack(out)


def test_nonlocality_matches_brute_force_over_real_batch():
    model = tiny_model()
    x = torch.randn(5, 3, 24, 24)
    result = nonlocality(model, x)
    expected = brute_nonlocality(model, x)
    torch.testing.assert_close(result["per_head"], expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(result["per_layer"], expected.mean(1))
    assert result["is_gpsa"].tolist() == [True, True, False]
    # several batches average with their sizes
    split = nonlocality(model, [x[:2], x[2:]])
    torch.testing.assert_close(split["per_head"], result["per_head"], rtol=1e-5, atol=1e-5)


def test_purely_positional_heads_have_input_independent_nonlocality():
    model = tiny_model(gate_init=30.0)  # sigma = 1: attention is P alone
    a = nonlocality(model, torch.randn(3, 3, 24, 24))["per_head"][:2]
    b = nonlocality(model, torch.randn(4, 3, 24, 24))["per_head"][:2]
    torch.testing.assert_close(a, b)
    # at alpha = 1 the init heads sit within about one patch of their centre
    assert (a < 1.6).all()
    assert (a > 0.5).all()
    far = tiny_model(gate_init=30.0, locality_strength=0.01)
    assert (nonlocality(far, torch.randn(2, 3, 24, 24))["per_head"][:2] > a.max()).all()


def test_gates_and_head_centres_at_init():
    model = tiny_model(locality_strength=2.0)
    gates = gate_values(model)
    torch.testing.assert_close(gates, torch.full((2, 4), 1 / (1 + math.exp(-1))))
    centres = head_centres(model)
    torch.testing.assert_close(centres["spans"], torch.full((2, 4), 0.5))
    got = {tuple(c) for c in centres["centres"][0].tolist()}
    assert got == {(-0.5, -0.5), (-0.5, 0.5), (0.5, -0.5), (0.5, 0.5)}


def test_attention_maps_are_distributions_on_the_grid():
    model = tiny_model()
    maps = attention_maps(model, torch.randn(3, 24, 24))
    assert len(maps) == 3
    assert maps[0].shape == (4, 6, 6)
    for m in maps:
        torch.testing.assert_close(m.sum((-1, -2)), torch.ones(4))

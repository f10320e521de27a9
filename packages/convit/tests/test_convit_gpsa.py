"""GPSA: offsets, locality init, and the fast path against the explicit reference formulation."""

import copy

import pytest
import torch

from dltheory.convit.attention import GPSA, MHSA, flush_subnormal, relative_offsets


def brute_offsets(rows, cols):
    pos = [(r, c) for r in range(rows) for c in range(cols)]
    out = torch.zeros(len(pos), len(pos), 3)
    for n, (rn, cn) in enumerate(pos):
        for m, (rm, cm) in enumerate(pos):
            dx, dy = cm - cn, rm - rn
            out[n, m] = torch.tensor([dx, dy, dx * dx + dy * dy])
    return out


@pytest.mark.parametrize("grid", [(3, 3), (2, 5), (4, 3)])
def test_relative_offsets_match_brute_force(grid):
    assert torch.equal(relative_offsets(grid), brute_offsets(*grid))


def make_gpsa(dim=32, heads=4, grid=(5, 6), seed=0, **kw):
    torch.manual_seed(seed)
    layer = GPSA(dim, heads, grid_size=grid, **kw)
    layer.local_init()
    with torch.no_grad():  # move away from the init so every term matters
        layer.pos_proj.bias.normal_()
        layer.gating_param.normal_()
        layer.v.weight.add_(0.1 * torch.randn_like(layer.v.weight))
    return layer


def test_local_init_centres_heads_on_kernel_offsets():
    layer = GPSA(18, 9, grid_size=(7, 7), locality_strength=2.0)
    layer.local_init()
    assert torch.equal(layer.v.weight, torch.eye(18))
    p = layer.positional_attention((7, 7))
    centre_query = 3 * 7 + 3
    offsets = relative_offsets((7, 7))[centre_query]
    seen = set()
    for h in range(9):
        top = p[h, centre_query].argmax()
        seen.add((int(offsets[top, 0]), int(offsets[top, 1])))
    # a 3x3 kernel of attention centres: Delta in {-1, 0, 1}^2, one per head
    assert seen == {(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)}


def test_positional_attention_is_row_stochastic_and_ignores_bias():
    layer = make_gpsa()
    p = layer.positional_attention((5, 6))
    assert p.shape == (4, 30, 30)
    torch.testing.assert_close(p.sum(-1), torch.ones(4, 30))
    with torch.no_grad():
        layer.pos_proj.bias.add_(3.0)
    torch.testing.assert_close(layer.positional_attention((5, 6)), p)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fast_forward_and_grads_match_reference(dtype):
    ref = make_gpsa().to(dtype)
    fast = copy.deepcopy(ref)
    ref.use_fast = False
    x = torch.randn(3, 30, 32, dtype=dtype)
    x_ref, x_fast = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref = ref(x_ref, (5, 6))
    out_fast = fast(x_fast, (5, 6))
    # fp32: rounding level; float64: exact up to 1e-10, so the decomposition itself is exact
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(out_fast, out_ref, **tol)
    w = torch.randn_like(out_ref)
    (out_ref * w).sum().backward()
    (out_fast * w).sum().backward()
    torch.testing.assert_close(x_fast.grad, x_ref.grad, **tol)
    for (name, p_ref), (_, p_fast) in zip(ref.named_parameters(), fast.named_parameters()):
        if name == "pos_proj.bias":  # cancels inside the softmax: zero up to rounding
            assert p_ref.grad.abs().max() < 1e-5
            assert p_fast.grad.abs().max() < 1e-5
            continue
        torch.testing.assert_close(
            p_fast.grad, p_ref.grad, **tol, msg=lambda m, name=name: f"{name}: {m}"
        )


def test_attention_dropout_path_matches_reference_with_same_seed():
    ref = make_gpsa(attn_drop=0.3).train()
    fast = copy.deepcopy(ref)
    ref.use_fast = False
    x = torch.randn(2, 30, 32)
    torch.manual_seed(5)
    a = ref(x, (5, 6))
    torch.manual_seed(5)
    b = fast(x, (5, 6))
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    torch.manual_seed(6)
    assert not torch.allclose(fast(x, (5, 6)), a)  # dropout is really active
    ref.eval(), fast.eval()
    torch.testing.assert_close(fast(x, (5, 6)), ref(x, (5, 6)), rtol=1e-5, atol=1e-6)


def test_cache_is_refreshed_after_a_parameter_update():
    layer = make_gpsa().eval()
    with torch.no_grad():
        p1 = layer.positional_attention((5, 6))
        assert layer.positional_attention((5, 6)) is p1  # cached
        layer.pos_proj.weight.mul_(0.5)  # in-place update bumps the version counter
        p2 = layer.positional_attention((5, 6))
    assert p2 is not p1
    assert not torch.allclose(p1, p2)
    opt = torch.optim.SGD(layer.parameters(), lr=0.05)
    x = torch.randn(2, 30, 32)
    layer.train()
    layer(x, (5, 6)).square().sum().backward()
    opt.step()
    layer.eval()
    ref = copy.deepcopy(layer)
    ref.use_fast = False
    with torch.no_grad():
        torch.testing.assert_close(layer(x, (5, 6)), ref(x, (5, 6)), rtol=1e-4, atol=1e-5)
        cached = layer.positional_attention((5, 6))
        layer._pos_cache = None
        torch.testing.assert_close(cached, layer.positional_attention((5, 6)), rtol=0, atol=0)


def test_offsets_follow_dtype_and_grid_changes():
    layer = make_gpsa(grid=(5, 6))
    layer = layer.to(torch.float64)
    assert layer.rel_offsets.dtype == torch.float64
    x = torch.randn(2, 12, 32, dtype=torch.float64)
    ref = copy.deepcopy(layer)
    ref.use_fast = False
    torch.testing.assert_close(layer(x, (3, 4)), ref(x, (3, 4)))
    assert layer.rel_offsets.shape == (12, 12, 3)
    with pytest.raises(ValueError, match="grid size"):
        layer(torch.randn(1, 12, 32, dtype=torch.float64))  # 12 tokens: not square, no grid


def test_subnormal_flush_only_removes_subnormals():
    # locality init on a 14x14 grid: exp(-||delta||^2) leaves many subnormal probabilities
    layer = GPSA(48 * 4, 4, grid_size=(14, 14))
    layer.local_init()
    layer.flush_subnormals = False
    raw = layer.positional_attention((14, 14))
    tiny = torch.finfo(torch.float32).tiny
    subnormal = (raw > 0) & (raw < tiny)
    assert subnormal.any()
    flushed = flush_subnormal(raw, torch.float32)
    assert torch.equal(flushed[~subnormal], raw[~subnormal])
    assert (flushed[subnormal] == 0).all()


def test_mhsa_fast_matches_reference_and_grads():
    torch.manual_seed(1)
    fast = MHSA(32, 4)
    ref = copy.deepcopy(fast)
    ref.use_fast = False
    x = torch.randn(2, 17, 32, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    torch.testing.assert_close(fast(x), ref(x2), rtol=1e-5, atol=1e-6)
    fast(x).sum().backward()
    ref(x2).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_gpsa_compiles_without_graph_breaks():
    layer = make_gpsa().train()
    compiled = torch.compile(layer, backend="aot_eager", fullgraph=True)
    x = torch.randn(2, 30, 32, requires_grad=True)
    out = compiled(x, (5, 6))
    ref = copy.deepcopy(layer)
    ref.use_fast = False
    torch.testing.assert_close(out, ref(x, (5, 6)), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert layer.pos_proj.weight.grad is not None
    assert torch.isfinite(layer.pos_proj.weight.grad).all()


@pytest.mark.gpu
def test_gpsa_on_cuda_matches_cpu_reference_and_buffers_follow():
    layer = make_gpsa()
    ref = copy.deepcopy(layer)
    ref.use_fast = False
    x = torch.randn(4, 30, 32)
    expected = ref(x, (5, 6))
    cuda = layer.cuda()
    assert cuda.rel_offsets.is_cuda
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.testing.assert_close(cuda(x.cuda(), (5, 6)).cpu(), expected, rtol=1e-4, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        low = cuda(x.cuda(), (5, 6)).float().cpu()
    torch.testing.assert_close(low, expected, rtol=5e-2, atol=5e-2)


def test_bf16_autocast_keeps_positional_attention_in_fp32():
    layer = make_gpsa().eval()
    x = torch.randn(2, 30, 32)
    with torch.no_grad():
        expected = layer(x, (5, 6))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = layer(x, (5, 6))
            p = layer.positional_attention((5, 6), torch.float32)
    assert low.dtype == torch.bfloat16
    assert p.dtype == torch.float32
    torch.testing.assert_close(p, layer.positional_attention((5, 6)), rtol=0, atol=0)
    torch.testing.assert_close(low.float(), expected, rtol=5e-2, atol=5e-2)

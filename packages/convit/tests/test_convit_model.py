"""ConViT model: timm logits equivalence, official state-dict keys, variants, DeiT baseline."""

import pytest
import torch

from dltheory.convit import VARIANTS, ConViT, ConViTSpec, convit_small, convit_tiny, create_convit
from dltheory.convit.attention import GPSA, MHSA

timm = pytest.importorskip("timm")


@pytest.mark.parametrize(
    ("name", "ctor"), [("convit_tiny", convit_tiny), ("convit_small", convit_small)]
)
def test_timm_weights_give_identical_logits(name, ctor):
    torch.manual_seed(0)
    ref = timm.create_model(name, pretrained=False).eval()
    ours = ctor().eval()
    ref_sd = ref.state_dict()
    assert list(ours.state_dict()) == list(ref_sd)  # same keys, same order
    ours.load_state_dict(ref_sd, strict=True)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = ref(x)
        fast = ours(x)
    assert expected.abs().max() > 0.1  # logits are not trivially small
    torch.testing.assert_close(fast, expected, rtol=0, atol=1e-4)
    if name == "convit_tiny":  # the explicit formulation is timm's computation, to rounding
        with torch.no_grad():
            torch.testing.assert_close(ours.set_fast(False)(x), expected, rtol=0, atol=1e-5)


def test_official_key_layout_and_parameter_count():
    sd = convit_tiny().state_dict()
    assert sd["pos_embed"].shape == (1, 196, 192)
    assert sd["cls_token"].shape == (1, 1, 192)
    assert sd["blocks.0.attn.qk.weight"].shape == (384, 192)
    assert sd["blocks.9.attn.pos_proj.weight"].shape == (4, 3)
    assert sd["blocks.9.attn.gating_param"].shape == (4,)
    assert sd["blocks.10.attn.qkv.weight"].shape == (576, 192)
    assert "blocks.10.attn.qk.weight" not in sd
    assert not any("rel_offsets" in k for k in sd)  # offsets are non-persistent buffers
    assert sum(v.numel() for v in sd.values()) == 5_710_512  # timm results csv: 5.71M


def test_locality_init_and_gates():
    model = ConViT(
        ConViTSpec(
            img_size=(32, 32),
            patch_size=8,
            num_heads=9,
            embed_dim_per_head=4,
            depth=3,
            num_gpsa_layers=2,
        )
    )
    assert len(model.gpsa_layers()) == 2
    for layer in model.gpsa_layers():
        assert torch.equal(layer.v.weight, torch.eye(36))
        torch.testing.assert_close(
            layer.gates(), torch.full((9,), torch.sigmoid(torch.tensor(1.0)).item())
        )
    no_init = convit_tiny(
        convolutional_init=False, gate_init=0.0, depth=2, num_gpsa_layers=1, img_size=32
    )
    assert not torch.equal(no_init.blocks[0].attn.v.weight, torch.eye(192))
    assert torch.equal(no_init.blocks[0].attn.gating_param, torch.zeros(4))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_variant_widths(name):
    spec = ConViTSpec(**VARIANTS[name])
    assert spec.embed_dim == spec.num_heads * (64 if name.endswith("_plus") else 48)


def test_deit_baseline_and_small_custom_models():
    deit = create_convit(
        "convit_tiny", num_gpsa_layers=0, depth=2, img_size=32, patch_size=8, num_classes=7
    )
    assert all(isinstance(b.attn, MHSA) for b in deit.blocks)
    assert deit(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    rect = ConViT(
        ConViTSpec(
            img_size=(16, 24),
            patch_size=4,
            num_heads=4,
            embed_dim_per_head=8,
            depth=3,
            num_gpsa_layers=2,
            num_classes=5,
        )
    )
    assert isinstance(rect.blocks[1].attn, GPSA)
    assert isinstance(rect.blocks[2].attn, MHSA)
    x = torch.randn(2, 3, 16, 24)
    out = rect(x)
    assert out.shape == (2, 5)
    torch.testing.assert_close(rect.set_fast(False)(x), out, rtol=1e-5, atol=1e-5)
    assert rect.blocks[0].attn.rel_offsets.shape == (24, 24, 3)
    with pytest.raises(ValueError, match="patch grid"):
        rect(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="num_gpsa_layers"):
        create_convit("convit_tiny", num_gpsa_layers=13)
    with pytest.raises(ValueError, match="unknown ConViT variant"):
        create_convit("convit_huge")


def test_fast_model_gradients_match_reference():
    torch.manual_seed(0)
    model = ConViT(
        ConViTSpec(
            img_size=(16, 16),
            patch_size=4,
            num_heads=4,
            embed_dim_per_head=8,
            depth=3,
            num_gpsa_layers=2,
            num_classes=3,
        )
    ).double()
    x = torch.randn(3, 3, 16, 16, dtype=torch.float64)
    model(x).square().sum().backward()
    fast = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    model.set_fast(False)(x).square().sum().backward()
    for n, p in model.named_parameters():
        torch.testing.assert_close(fast[n], p.grad, rtol=1e-9, atol=1e-11, msg=n)

"""The CNN subspace: zero deviation after embedding, orthogonal projection, round trip to the CNN."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from dltheory.efcn import (
    EmbeddingError,
    deviation,
    embed,
    embed_filter,
    embed_local,
    fcn_twin,
    layer_deviation,
    locality_mask,
    orbit_index,
    project_dense,
    project_to_cnn,
    to_cnn,
    vanilla_cnn,
)


def _small_cnn():
    return nn.Sequential(
        nn.ZeroPad2d((1, 0, 2, 1)),
        nn.Conv2d(2, 3, 3, stride=2),
        nn.ReLU(),
        nn.Conv2d(3, 2, 2, padding=1, dilation=2),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8, 3),
    )


SHAPE = (2, 9, 8)


def _perturbed(model, scale=0.05, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return model


@pytest.mark.parametrize("fold", [True, False])
def test_zero_deviation_right_after_embedding(fold):
    torch.manual_seed(0)
    for cnn, shape in [(_small_cnn(), SHAPE), (vanilla_cnn(channels=6), (3, 32, 32))]:
        dev = deviation(embed(cnn, shape, fold_padding=fold))
        assert all(d == {"total": 0.0, "off_local": 0.0, "unshared": 0.0} for d in dev.values())
        assert deviation(embed_local(cnn, shape))["all"]["total"] == 0.0


def _projection_reference(geometry, dense, bias):
    """Least squares onto span{E(e_f)} built from unit filters: independent of orbit bookkeeping."""
    n_filter = (
        geometry.out_channels * geometry.in_channels * geometry.kernel[0] * geometry.kernel[1]
    )
    basis = []
    for f in range(n_filter + geometry.out_channels):
        w = torch.zeros(n_filter, dtype=torch.float64)
        b = torch.zeros(geometry.out_channels, dtype=torch.float64)
        if f < n_filter:
            w[f] = 1
        else:
            b[f - n_filter] = 1
        mat, vec = embed_filter(geometry, w.view(geometry.filter_shape), b)
        live = geometry.live_column_mask()
        if live is not None:
            mat = mat[:, live]
        basis.append(torch.cat([mat.reshape(-1), vec]))
    basis = torch.stack(basis, 1)
    live = geometry.live_column_mask()
    theta = torch.cat([(dense if live is None else dense[:, live]).reshape(-1), bias])
    coef = torch.linalg.lstsq(basis, theta).solution
    return basis @ coef, theta


@pytest.mark.parametrize("fold", [True, False])
def test_projection_is_orthogonal_and_idempotent(fold):
    torch.manual_seed(0)
    efcn = _perturbed(embed(_small_cnn().double(), SHAPE, fold_padding=fold))
    for name in ("1", "3"):
        layer = efcn.get_submodule(name)
        g = layer.geometry
        w, b = layer.weight.detach(), layer.bias.detach()
        pw, pb = project_dense(g, w, b)
        ppw, ppb = project_dense(g, pw, pb)
        assert torch.equal(ppw, pw)
        assert torch.equal(ppb, pb)
        ref, theta = _projection_reference(g, w, b)
        live = g.live_column_mask()
        ours = torch.cat([(pw if live is None else pw[:, live]).reshape(-1), pb])
        assert torch.allclose(ours, ref, atol=1e-12)
        # deviation = |theta - P theta| / |theta|, split orthogonally into off-local + unshared
        dev = layer_deviation(layer)
        expected = (theta - ref).norm() / theta.norm()
        assert dev.total == pytest.approx(float(expected), rel=1e-10)
        assert dev.total**2 == pytest.approx(dev.off_local**2 + dev.unshared**2, rel=1e-12)
        mask = locality_mask(g)
        off = w.clone()
        off[mask] = 0
        if live is not None:
            off = off[:, live]
        assert dev.off_local == pytest.approx(float(off.norm() / theta.norm()), rel=1e-10)
        assert dev.unshared > 0
        assert dev.off_local > 0


def test_orbits_and_mask_match_the_embedding():
    torch.manual_seed(0)
    cnn = _small_cnn().double()
    layer = embed(cnn, SHAPE)[1]
    g = layer.geometry
    orbits = orbit_index(g)
    mask = locality_mask(g)
    assert torch.equal(orbits >= 0, mask)
    filt = cnn[1].weight.detach().reshape(-1)
    assert torch.equal(layer.weight.detach()[mask], filt[orbits[mask]])
    assert layer.weight.detach()[~mask].abs().max() == 0
    sizes = torch.bincount(orbits[mask], minlength=filt.numel()).view(g.filter_shape)
    assert torch.equal(sizes, g.orbit_sizes().expand_as(sizes))
    assert int(mask.sum()) == g.n_local


@pytest.mark.parametrize("fold", [True, False])
def test_round_trip_recovers_the_cnn_exactly(fold):
    torch.manual_seed(3)
    for cnn, shape in [(_small_cnn(), SHAPE), (vanilla_cnn(channels=4), (3, 32, 32))]:
        back = to_cnn(embed(cnn, shape, fold_padding=fold))
        assert [type(m) for m in back.modules()] == [type(m) for m in cnn.modules()]
        sd, ref = back.state_dict(), cnn.state_dict()
        assert list(sd) == list(ref)
        assert all(torch.equal(sd[k], ref[k]) for k in ref)
        back_local = to_cnn(embed_local(cnn, shape))
        assert all(torch.equal(back_local.state_dict()[k], ref[k]) for k in ref)


def test_to_cnn_refuses_outside_subspace_and_force_projects():
    torch.manual_seed(0)
    cnn = _small_cnn().double()
    efcn = _perturbed(embed(cnn, SHAPE))
    with pytest.raises(EmbeddingError, match="not in the CNN subspace"):
        to_cnn(efcn)
    forced = to_cnn(efcn, force=True)
    projected = project_to_cnn(efcn)
    assert deviation(projected)["all"]["total"] < 1e-14
    x = torch.randn(4, *SHAPE, dtype=torch.float64)
    assert torch.allclose(forced(x), projected(x), atol=1e-12)
    # the projection left the original untouched
    assert deviation(efcn)["all"]["total"] > 1e-3


def test_dense_twin_is_far_from_the_subspace_and_training_leaves_it():
    torch.manual_seed(0)
    cnn = _small_cnn()
    twin = fcn_twin(cnn, SHAPE, fold_padding=False)
    before = {k: v.clone() for k, v in twin.state_dict().items()}
    assert deviation(twin)["all"]["total"] > 0.9  # a dense random matrix is mostly off-local
    # deviation() blanks entries in place and restores them: the weights are bit-identical
    assert all(torch.equal(before[k], v) for k, v in twin.state_dict().items())
    efcn = embed(cnn, SHAPE)
    opt = torch.optim.SGD(efcn.parameters(), lr=0.1)
    x, y = torch.randn(16, *SHAPE), torch.randint(0, 3, (16,))
    nn.functional.cross_entropy(efcn(x), y).backward()
    opt.step()
    dev = deviation(efcn)
    assert 0 < dev["all"]["total"] < 0.5
    assert dev["all"]["off_local"] > 0
    assert dev["all"]["unshared"] > 0


@pytest.mark.parametrize("make", [embed, embed_local, fcn_twin])
def test_deviation_between_forward_and_backward_keeps_autograd_exact(make):
    """deviation() blanks and restores weights in place; a backward after it must be unchanged."""
    torch.manual_seed(0)
    cnn = _small_cnn()
    x, y = torch.randn(6, *SHAPE), torch.randint(0, 3, (6,))
    reference = _perturbed(make(cnn, SHAPE), seed=1)
    net = copy.deepcopy(reference)
    nn.functional.cross_entropy(reference(x), y).backward()
    loss = nn.functional.cross_entropy(net(x), y)
    dev = deviation(net)  # between the forward and the backward
    loss.backward()
    assert dev["all"]["total"] > 0
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        assert torch.equal(p.grad, q.grad), name

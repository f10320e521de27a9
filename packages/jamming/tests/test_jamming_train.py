import torch

from dltheory.jamming.data import random_gaussian
from dltheory.jamming.models import NetSpec, StackedFC
from dltheory.jamming.train import EnsembleTrainer, OptimConfig

SPECS = [NetSpec(3.5, 0), NetSpec(5.0, 1), NetSpec(5.0, 2), NetSpec(20.0, 3)]


def _data():
    return random_gaussian(60, 5, 10, seed=4)


def _train(specs, cfg, parametrisation="standard"):
    ds = _data()
    net = StackedFC(5, specs, depth=2, parametrisation=parametrisation)
    trainer = EnsembleTrainer(net, ds.x_train, ds.y_train, cfg)
    return net, trainer.run()


def _assert_batched_equals_single(cfg, parametrisation="standard", some_fit=True):
    batched, res = _train(SPECS, cfg, parametrisation)
    if some_fit:  # both branches (frozen and still training) exercised
        assert any(res.fitted), res.stop_step
        assert not all(res.fitted), res.stop_step
    for e, spec in enumerate(SPECS):
        alone, res1 = _train([spec], cfg, parametrisation)
        assert res1.stop_step[0] == res.stop_step[e]
        assert res1.n_delta[0] == res.n_delta[e]
        sub = batched.subset([e])
        for p, q in zip(sub.parameters(), alone.parameters()):
            assert p.shape == q.shape
            torch.testing.assert_close(p, q, rtol=0, atol=1e-10)


def test_batched_adam_equals_single_networks():
    _assert_batched_equals_single(OptimConfig(optimizer="adam", lr=3e-2, max_steps=120))


def test_batched_flow_equals_single_networks_ntk():
    _assert_batched_equals_single(
        OptimConfig(optimizer="flow", max_steps=150, flow_max_dgrad=1e-2),
        parametrisation="ntk",
        some_fit=False,
    )


def test_adam_matches_torch_reference_loop():
    """E=1 stacked trainer == nn.Module + torch.optim.Adam on the full-batch quadratic hinge."""
    ds = _data()
    spec = NetSpec(40.0, 7)  # wide: never fits within the 60 steps, so no stop interferes
    net = StackedFC(5, [spec], depth=2)
    module = net.to_module(0)
    cfg = OptimConfig(lr=3e-3, max_steps=60, nd_stop=-1)
    EnsembleTrainer(net, ds.x_train, ds.y_train, cfg).run()
    opt = torch.optim.Adam(module.parameters(), lr=3e-3, foreach=False)
    for _ in range(60):
        f = module(ds.x_train).squeeze(-1)
        loss = (0.5 * torch.relu(1 - ds.y_train * f) ** 2).mean()  # eq. 3, all points
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = ds.x_test
    torch.testing.assert_close(net.forward(x)[0], module(x).squeeze(-1), rtol=0, atol=1e-10)


def test_fitted_network_stops_updating_while_others_continue():
    ds = _data()
    net = StackedFC(5, [NetSpec(20.0, 3), NetSpec(3.0, 0)], depth=2)
    trainer = EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=3e-2, max_steps=2000))
    snapshot, stopped_at = None, None
    while trainer.iteration < 400:
        trainer.step()
        if stopped_at is None and not trainer.active[0]:
            stopped_at = trainer.iteration
            snapshot = [p[0].clone() for p in net.parameters()]
    assert stopped_at is not None
    assert bool(trainer.active[1])
    assert trainer.n_delta[0] == 0
    assert trainer.n_delta[1] > 0
    frozen_steps = int(trainer.step_count[0])
    assert int(trainer.step_count[1]) == trainer.iteration > frozen_steps
    for p, s in zip(net.parameters(), snapshot):
        assert torch.equal(p[0], s)
    # N_Delta = 0 exactly at the stored weights, and it was not 0 one update earlier
    f = net.forward(ds.x_train)[0]
    assert int(((1 - ds.y_train * f) > 0).sum()) == 0
    assert trainer.stop_step[0] == frozen_steps


def test_stop_step_is_first_step_with_no_unsatisfied_point():
    ds = _data()
    spec = NetSpec(20.0, 3)
    net = StackedFC(5, [spec], depth=2)
    res = EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=3e-2, max_steps=500)).run()
    ref = StackedFC(5, [spec], depth=2)
    trainer = EnsembleTrainer(
        ref, ds.x_train, ds.y_train, OptimConfig(lr=3e-2, max_steps=10**6, nd_stop=-1)
    )
    first = None
    for step in range(500):
        if int(((1 - ds.y_train * ref.forward(ds.x_train)[0]) > 0).sum()) == 0:
            first = step
            break
        trainer.step()
    assert first is not None
    assert res.stop_step[0] == first


def test_flow_decreases_loss_monotonically():
    ds = _data()
    net = StackedFC(5, [NetSpec(6.0, 0), NetSpec(4.0, 1)], depth=2)
    trainer = EnsembleTrainer(
        net, ds.x_train, ds.y_train, OptimConfig(optimizer="flow", max_steps=1)
    )
    losses = []
    for _ in range(80):
        trainer.step()
        losses.append(trainer.loss.clone())
    losses = torch.stack(losses)
    assert (losses[1:] <= losses[:-1] + 1e-12).all()
    assert (losses[-1] < losses[0]).all()


def test_subtract_init_trains_f_minus_f0():
    ds = _data()
    net = StackedFC(
        5, [NetSpec(20.0, 3), NetSpec(5.0, 1)], depth=2, parametrisation="ntk", init="normal"
    )
    with torch.no_grad():
        f0 = net.forward(ds.x_train)
    trainer = EnsembleTrainer(
        net, ds.x_train, ds.y_train, OptimConfig(lr=3e-2, max_steps=1), output_offset=f0
    )
    trainer.step()
    # at w0 every output is 0, so every margin is violated by exactly kappa: loss 1/2, N_Delta = P
    assert trainer.n_delta.tolist() == [60, 60]
    torch.testing.assert_close(trainer.loss, torch.full((2,), 0.5, dtype=torch.float64))
    res = trainer.run(max_steps=200)
    with torch.no_grad():
        f = net.forward(ds.x_train) - f0
    assert ((1 - ds.y_train * f) > 0).sum(dim=1).tolist() == res.n_delta


def test_a_loaded_state_continues_exactly_like_the_original():
    """load_state_dict copies: the restored trainer shares no tensor (moments, step counts)
    with the one whose state it took, so both continue along the same path."""
    ds = _data()

    def make():
        net = StackedFC(5, SPECS, depth=2)
        return net, EnsembleTrainer(net, ds.x_train, ds.y_train, OptimConfig(lr=3e-2))

    net_a, a = make()
    for _ in range(30):
        a.step()
    net_b, b = make()
    b.load_state_dict(a.state_dict())
    for _ in range(20):
        a.step()
        b.step()
    assert torch.equal(a.step_count, b.step_count)
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(p, q)

"""Mixed precision: float32 first-order steps, every decision measured in float64."""

import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.jamming.config import NStarConfig
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.models import NetSpec, StackedFC
from dltheory.jamming.train import EnsembleTrainer, OptimConfig

SPECS = [NetSpec(3.5, 0), NetSpec(5.0, 1), NetSpec(5.0, 2), NetSpec(20.0, 3)]
THRESHOLD = 6


def _setup(fp64_below=THRESHOLD, max_steps=400, optimizer="adam"):
    ds = random_gaussian(60, 5, 10, seed=4)
    net = StackedFC(5, SPECS, depth=2).to(dtype=torch.float32)
    cfg = OptimConfig(
        optimizer=optimizer,
        lr=3e-2,
        max_steps=max_steps,
        fp64_below=fp64_below,
        flow_max_dgrad=1e-2,
    )
    return ds, net, EnsembleTrainer(net, ds.x_train, ds.y_train, cfg)


def _float64_measure(net: StackedFC, e: int, x, y) -> tuple[int, float]:
    """N_Delta and loss (1/P) sum 1/2 max(0, Delta)^2 of net e alone, as a float64 nn.Module
    (independent of the trainer)."""
    module = net.to_module(e).to(torch.float64)
    with torch.no_grad():
        f = module(x.to(torch.float64)).squeeze(-1)
    delta = 1 - y * f
    return int((delta > 0).sum()), float((0.5 * torch.relu(delta) ** 2).mean())


@pytest.mark.parametrize(("optimizer", "steps"), [("adam", 400), ("flow", 60)])
def test_mixed_trainer_reports_float64_decisions(optimizer, steps):
    ds, net, trainer = _setup(optimizer=optimizer, max_steps=steps)
    res = trainer.run()
    assert net.dtype == torch.float64
    if optimizer == "adam":  # (flow fits none of these nets in a few hundred steps)
        assert any(res.fitted), res.stop_step
        assert not all(res.fitted), res.stop_step
    for e in range(net.n_nets):
        n_delta, loss = _float64_measure(net, e, ds.x_train, ds.y_train)
        assert res.n_delta[e] == n_delta
        if not res.fitted[e]:  # measured at the cap on the final weights, in float64
            assert abs(res.loss[e] - loss) <= 1e-13 * loss
    # the data were promoted from the float64 originals, not from their float32 copies
    assert torch.equal(trainer.x, ds.x_train)


def test_float32_phase_is_plain_float32_adam_until_a_net_is_close():
    ds, net, mixed = _setup()
    plain_net = StackedFC(5, SPECS, depth=2).to(dtype=torch.float32)
    plain = EnsembleTrainer(
        plain_net, ds.x_train, ds.y_train, OptimConfig(lr=3e-2, max_steps=400, fp64_below=None)
    )
    steps_in_float32 = 0
    while net.dtype == torch.float32:
        assert not bool((mixed.stop_step >= 0).any())  # nothing is frozen in float32
        mixed.step()
        plain.step()
        steps_in_float32 += 1
        for p, q in zip(net.parameters(), plain_net.parameters()):
            if net.dtype == torch.float32:
                assert torch.equal(p, q)
        if net.dtype == torch.float32:
            assert int(mixed.n_delta.min()) > THRESHOLD or mixed._promote_pending
    # promoted at the step after the first one that saw a net within THRESHOLD of fitting
    assert int(mixed.n_delta.min()) <= THRESHOLD + 2  # at most a step's change past the threshold
    assert 1 < steps_in_float32 < 400
    assert plain_net.dtype == torch.float32  # the plain trainer never promotes


def test_mixed_resume_after_promotion_continues_in_float64():
    _, net_a, a = _setup(max_steps=10_000)
    while net_a.dtype == torch.float32:
        a.step()
    for _ in range(5):
        a.step()
    state = a.state_dict()
    _, net_b, b = _setup(max_steps=10_000)
    b.load_state_dict(state)
    assert net_b.dtype == torch.float64
    for _ in range(20):
        a.step()
        b.step()
    for p, q in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(p, q)


def test_fp64_switch_must_not_be_below_the_stop_rule():
    with pytest.raises(ConfigError, match="fp64_below"):
        OptimConfig(fp64_below=2, nd_stop=5).validate()


def test_search_precision_is_checked():
    with pytest.raises(ConfigError, match="precision 'fp32'"):
        NStarConfig(precision="fp32").check_precision()
    with pytest.raises(ConfigError, match="fp64_below"):
        NStarConfig(precision="mixed", fp64_below=1.5).check_precision()
    cfg = NStarConfig(precision="mixed", n_train=2000, fp64_below=0.05)
    assert cfg.optim().fp64_below == 100
    assert NStarConfig(precision="fp64").optim().fp64_below is None


def test_mixed_search_width_with_subtract_init_is_decided_in_float64():
    """train_widths in mixed precision with f = f_w - f_w0: the offsets are the float64 nets' at
    init, and each record's N_Delta is that of the final float64 net minus them."""
    from dltheory.jamming.ensembles import build_ensemble, load_data, train_widths

    cfg = NStarConfig(
        n_train=60, d=5, depth=2, n_seeds=2, lr=3e-2, max_steps=300, subtract_init=True,
        precision="mixed", fp64_below=0.1,
    )  # fmt: skip
    data = load_data(cfg)
    net, _, records = train_widths(cfg, data, [4.0, 12.0])
    assert net.dtype == torch.float64
    init = build_ensemble(cfg, data.dim, [4.0, 12.0], "cpu")  # float64, as the search builds it
    with torch.no_grad():
        f = net.forward(data.x_train) - init.forward(data.x_train)
    n_delta = ((1 - data.y_train * f) > 0).sum(dim=1).tolist()
    assert [r["n_delta"] for r in records] == n_delta
    assert any(r["outcome"] == "sat" for r in records)

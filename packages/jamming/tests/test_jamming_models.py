import math

import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.jamming.models import (
    NetSpec,
    StackedFC,
    count_weights,
    hidden_widths,
    width_for_count,
)


def test_fractional_width_rule_and_weight_count():
    assert hidden_widths(10.0, 3) == [10, 10, 10]
    assert hidden_widths(10.5, 2) == [11, 10]  # int(h + 1 - (i+1)/L)
    # authors' N = h(d+1) + h^2 (L-1) for integer h (weights only, biases excluded)
    for d, h, L in [(40, 40, 5), (51, 51, 3), (62, 62, 2)]:
        assert count_weights(d, h, L) == h * (d + 1) + h * h * (L - 1)
    assert count_weights(51, 51, 3) == 7854  # the paper's L=3, d=h=51 network


def test_width_for_count_is_the_smallest_width_reaching_n():
    for target in (50, 123, 777):
        h = width_for_count(target, 7, 3)
        assert count_weights(7, h, 3) >= target
        assert count_weights(7, h - 1e-3, 3) < target


@pytest.mark.parametrize("parametrisation", ["standard", "ntk"])
def test_stacked_forward_equals_each_network_alone(parametrisation):
    specs = [NetSpec(3.5, 0), NetSpec(7.0, 1), NetSpec(12.25, 2)]
    net = StackedFC(6, specs, depth=3, parametrisation=parametrisation, init="normal")
    x = torch.randn(9, 6, dtype=torch.float64)
    f = net.forward(x)
    for e in range(len(specs)):
        ref = net.to_module(e)(x).squeeze(-1)
        torch.testing.assert_close(f[e], ref, rtol=0, atol=1e-12)
        alone = StackedFC(6, [specs[e]], depth=3, parametrisation=parametrisation, init="normal")
        torch.testing.assert_close(f[e], alone.forward(x)[0], rtol=0, atol=1e-12)
    # padded entries are zero and the real parameters number N + biases
    real = sum(int(m[0].sum()) for m in net.masks)
    assert real == count_weights(6, 3.5, 3)


def test_orthogonal_init_and_ntk_scaling():
    net = StackedFC(8, [NetSpec(8.0, 3)], depth=2, init="orthogonal")
    w = net.weights[1][0]
    torch.testing.assert_close(w @ w.T, torch.eye(8, dtype=torch.float64), atol=1e-12, rtol=0)
    ntk = StackedFC(8, [NetSpec(400.0, 3)], depth=1, parametrisation="ntk", init="normal")
    w = ntk.weights[0][0, :400, :8]
    assert abs(w.std().item() - 1.0) < 0.05  # W ~ N(0, 1), the 1/sqrt(fan_in) is in the forward
    assert math.isclose(ntk.scales[0][0].item(), 1 / math.sqrt(8))


def test_bad_inputs_raise_config_errors():
    with pytest.raises(ConfigError):
        StackedFC(4, [NetSpec(4.0, 0)], depth=2, parametrisation="mup")
    with pytest.raises(ConfigError):
        hidden_widths(0.5, 2)
    with pytest.raises(ConfigError):
        StackedFC(4, [NetSpec(4.0, 0)], depth=2, init="xavier")


def test_state_dict_round_trip():
    net = StackedFC(5, [NetSpec(4.0, 0), NetSpec(6.5, 1)], depth=2)
    copy = StackedFC.from_state_dict(net.state_dict())
    x = torch.randn(4, 5, dtype=torch.float64)
    torch.testing.assert_close(copy.forward(x), net.forward(x), rtol=0, atol=0)

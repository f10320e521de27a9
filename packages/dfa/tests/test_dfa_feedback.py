"""Feedback matrix inits: statistics, orthogonality, unit norm, their own seed."""

from __future__ import annotations

import pytest
import torch

from dltheory.core.errors import ConfigError
from dltheory.dfa.feedback import draw_feedback


def test_orthogonal_blocks_have_orthogonal_rows_of_norm_sqrt_width():
    fb = draw_feedback("orthogonal", 4, [50, 30], seed=3)
    for block in fb.split([50, 30], dim=1):
        gram = block @ block.T
        torch.testing.assert_close(gram, block.shape[1] * torch.eye(4, dtype=torch.float64))


def test_gaussian_and_uniform_statistics():
    g = draw_feedback("gaussian", 10, [20_000], seed=0)
    u = draw_feedback("uniform", 10, [20_000], seed=0)
    assert abs(float(g.mean())) < 0.02
    assert abs(float(g.var()) - 1) < 0.02
    assert float(u.min()) >= -1
    assert float(u.max()) < 1
    assert abs(float(u.var()) - 1 / 3) < 0.01


def test_unit_norm_and_own_seed():
    a = draw_feedback("gaussian", 3, [7, 5], seed=1, unit_norm=True)
    for block in a.split([7, 5], dim=1):
        torch.testing.assert_close(block.norm(dim=1), torch.ones(3, dtype=torch.float64))
    torch.manual_seed(123)
    b = draw_feedback("gaussian", 3, [7, 5], seed=1, unit_norm=True)
    assert torch.equal(a, b)  # independent of the global RNG
    assert not torch.equal(a, draw_feedback("gaussian", 3, [7, 5], seed=2, unit_norm=True))


def test_unknown_init_is_a_config_error():
    with pytest.raises(ConfigError, match="feedback init"):
        draw_feedback("sparse", 3, [4])

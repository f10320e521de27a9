"""Deep linear DFA: exact data compression, the DFA weight form, alignment vs conditioning."""

from __future__ import annotations

import pytest
import torch

from dltheory.dfa import mlp
from dltheory.dfa.deep_linear import (
    LinearDFAConfig,
    alpha_beta_covariance,
    half_mse,
    make_task,
    run_linear_dfa,
    sufficient_batch,
)


def test_sufficient_batch_gives_the_full_batch_gradients():
    x, y = make_task(LinearDFAConfig(input_dim=6, n_samples=300, alpha=0.5, beta=0.3))
    torch.testing.assert_close(x.T @ x / 300, torch.eye(6, dtype=torch.float64))
    net = mlp(6, [9, 7], 2, activation="linear").double()
    grads = []
    for xb, yb in ((x, y), sufficient_batch(x, y)):
        net.zero_grad()
        half_mse(net(xb), yb).backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    for full, small in zip(*grads):
        torch.testing.assert_close(full, small, rtol=1e-10, atol=1e-12)


def test_alpha_beta_covariance():
    cov = alpha_beta_covariance(0.5, 0.2)
    torch.testing.assert_close(cov, torch.tensor([[1.0, 0.4], [0.4, 0.25]], dtype=torch.float64))


def test_alignment_falls_with_conditioning_and_weights_keep_the_dfa_form():
    base = dict(input_dim=8, n_samples=400, width=64, steps=250)
    good = run_linear_dfa(LinearDFAConfig(alpha=1.0, beta=1.0, **base))
    bad = run_linear_dfa(LinearDFAConfig(alpha=0.2, beta=0.2, **base))
    for res in (good, bad):
        assert res["residual"] < 1e-8  # W_l = B_l A_l B_{l-1}^T exactly (zero init)
        assert res["wa_layer2"] == pytest.approx(res["wa_pred_layer2"], abs=0.08)
    assert bad["cond_target"] > 10 * good["cond_target"]
    assert bad["cond_A2"] > 2 * good["cond_A2"]
    assert good["wa_total"] > 0.9
    assert bad["wa_total"] < good["wa_total"] - 0.05

"""Empirical neural tangent kernel of every network of an ensemble.

Theta_e(x, x') = sum_theta df_e(x)/dtheta df_e(x')/dtheta (Jacot et al.; ``feature_lazy``
``kernels.py``).  Its fluctuations across initialisations, ||Theta - <Theta>|| / ||<Theta>||,
scale as h^(-1/2) ~ N^(-1/4) at fixed depth, which is the origin of ||f_N - f_bar_N|| ~ N^(-1/4)
in arXiv:1901.01608.
"""

from __future__ import annotations

import torch

from .models import StackedFC


def jacobians(net: StackedFC, x: torch.Tensor) -> torch.Tensor:
    """J [E, n, n_params_padded]: gradient of each network's output at each input.

    Networks are independent, so the gradient of sum_e f_e(x_mu) gives every J_e(x_mu) at once.
    Padded entries are exactly zero.
    """
    params = [p.detach().requires_grad_(True) for p in net.parameters()]
    f = net.forward(x.to(net.dtype), params)
    rows = []
    for mu in range(f.shape[1]):
        raw = torch.autograd.grad(f[:, mu].sum(), params, retain_graph=mu + 1 < f.shape[1])
        grads = net.mask_gradients(list(raw))
        rows.append(torch.cat([g.flatten(1) for g in grads], dim=1))
    return torch.stack(rows, dim=1)


def ntk_gram(net: StackedFC, x: torch.Tensor) -> torch.Tensor:
    """Theta [E, n, n] = J J^T for every network."""
    jac = jacobians(net, x)
    return jac @ jac.transpose(1, 2)


def ntk_fluctuation(grams: torch.Tensor) -> dict:
    """Relative Frobenius fluctuation of the Gram matrices around their ensemble mean."""
    mean = grams.mean(dim=0)
    rel = (grams - mean).flatten(1).norm(dim=1) / mean.norm()
    return {
        "ntk_rel_fluctuation": float(rel.mean()),
        "ntk_rel_fluctuation_std": float(rel.std()),
        "ntk_mean_trace": float(mean.diagonal().sum()),
    }

"""Losses and constraint counts of the jamming papers.

Gap (arXiv:1809.09349 eq. 2): Delta_mu = kappa - y_mu f(x_mu), kappa = 1.  A constraint mu is
unsatisfied when Delta_mu > 0; N_Delta counts them.  Loss (eq. 3): L = (1/P) sum_mu l(Delta_mu) with
l the quadratic hinge 1/2 max(0, Delta)^2 by default.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dltheory.core.errors import ConfigError

LOSSES = ("qhinge", "hinge", "softhinge", "crossentropy")
#: losses whose gradient is exactly zero on satisfied points (Delta <= 0)
HINGE_LOSSES = ("qhinge", "hinge")


def gaps(f: torch.Tensor, y: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """Delta = kappa - y f, broadcast over a leading ensemble axis."""
    return kappa - y * f


def pointwise_loss(
    f: torch.Tensor, y: torch.Tensor, kind: str = "qhinge", kappa: float = 1.0, beta: float = 20.0
) -> torch.Tensor:
    """Per-point loss l(f, y) of the chosen kind."""
    delta = gaps(f, y, kappa)
    if kind == "qhinge":  # 1/2 max(0, Delta)^2
        return 0.5 * torch.relu(delta) ** 2
    if kind == "hinge":  # max(0, Delta)
        return torch.relu(delta)
    if kind == "softhinge":  # softplus_beta(Delta) = log(1 + exp(beta Delta)) / beta
        return F.softplus(delta, beta=beta)
    if kind == "crossentropy":  # log(1 + exp(-y f))
        return F.softplus(-y * f)
    raise ConfigError(f"unknown loss {kind!r}; choose one of {', '.join(LOSSES)}")


def mean_loss(
    f: torch.Tensor, y: torch.Tensor, kind: str = "qhinge", kappa: float = 1.0, beta: float = 20.0
) -> torch.Tensor:
    """L = (1/P) sum_mu l(Delta_mu) for every network: shape f.shape[:-1]."""
    return pointwise_loss(f, y, kind, kappa, beta).mean(dim=-1)


def n_unsatisfied(f: torch.Tensor, y: torch.Tensor, kappa: float = 1.0) -> torch.Tensor:
    """N_Delta = #{mu : y_mu f(x_mu) < kappa} for every network (int64)."""
    return (gaps(f, y, kappa) > 0).sum(dim=-1)


def classification_error(f: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Fraction of points with y f <= 0 (a zero output counts as an error)."""
    return (y * f <= 0).to(f.dtype).mean(dim=-1)


def gap_distribution(f: torch.Tensor, y: torch.Tensor, kappa: float = 1.0) -> dict:
    """Positive gaps (unsatisfied, density ~ Delta^theta) and |negative| gaps (~ |Delta|^-gamma)."""
    delta = gaps(f, y, kappa).flatten()
    return {
        "positive": delta[delta > 0].detach().cpu(),
        "negative": (-delta[delta <= 0]).detach().cpu(),
    }

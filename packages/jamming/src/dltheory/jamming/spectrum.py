"""The Gauss-Newton Hessian spectrum at a minimum, and the gap-distribution exponents.

At a minimum of L = 1/2 sum_mu max(0, Delta_mu)^2 the Hessian is J_A^T J_A + sum_mu r_mu d2r_mu
(A: the unsatisfied constraints); its Gauss-Newton part H = J_A^T J_A has rank <= N_Delta, so
below jamming (N_Delta > N) it has no zero modes beyond the symmetries, and in the SAT phase it
vanishes (arXiv:1809.09349 sec. IV). The gaps Delta near 0 follow power laws at jamming: for the
unsatisfied ones p(Delta) ~ Delta^theta (theta ~ 0.3 in the physics paper) and for the satisfied
ones p(|Delta|) ~ |Delta|^(-gamma) (gamma ~ 0.2). :func:`density_exponent` fits the density
exponent from the smallest values: the empirical CDF F(v) ~ v^(1 + a) gives a.
"""

from __future__ import annotations

import numpy as np
import torch

from .fits import FitError, PowerLawFit
from .minimiser import StackedAdaptor
from .models import StackedFC


def gauss_newton_spectrum(
    net: StackedFC,
    x: torch.Tensor,
    y: torch.Tensor,
    kappa: float = 1.0,
    offset: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Eigenvalues (ascending) of H = J_A^T J_A of every net, on its real parameters only."""
    x = x.to(device=net.device, dtype=net.dtype)
    y = y.to(device=net.device, dtype=net.dtype)
    adaptor = StackedAdaptor(net, offset)
    theta = adaptor.get()
    rows = torch.arange(net.n_nets, device=net.device)
    with torch.no_grad():
        f = adaptor.forward(x, theta, rows)
        jac = adaptor.jacobian(x, theta, rows)
    active = (kappa - y * f) > 0
    out = []
    for e in range(net.n_nets):
        real = adaptor.mask[e] > 0
        j = jac[e][active[e]][:, real]
        out.append(torch.linalg.eigvalsh(j.T @ j))
    return out


def density_exponent(values, fraction: float = 0.2, n_min: int = 8) -> PowerLawFit:
    """Exponent a of a density p(v) ~ v^a near v = 0, from the k smallest positive values (k =
    ``fraction`` of them, at least ``n_min``): the maximum-likelihood (Hill) estimate for a
    power law on (0, v_(k+1)], b = 1 + a = k / sum_i log(v_(k+1) / v_(i)), with the asymptotic
    95% interval b (1 +- 1.96 / sqrt(k))."""
    v = np.sort(np.asarray(values, dtype=float))
    v = v[v > 0]
    k = max(int(fraction * len(v)), n_min)
    if k + 1 > len(v):
        raise FitError(f"a gap exponent needs more than {n_min} positive values, got {len(v)}")
    logs = np.log(v[k] / v[:k])
    b = k / logs.sum()
    half = 1.96 * b / np.sqrt(k)
    return PowerLawFit(float(b - 1), float(b - 1 - half), float(b - 1 + half), float(v[k]), 0.0, k)

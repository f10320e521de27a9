"""CVAE objective and KL schedules.

Loss per batch (authors' ``training/losses.py``; Bowman et al. 2016 for the VAE part):
    L = [ NLL_rec + w_KL(step) * KL(q(z|x) || N(0, I)) + w_label * sum_i a_i * NLL(y_i | x_i) ] / B
where a_i = 1 for labelled queries and a_i = alpha for reservoir ("None") queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def logistic_kl_weight(step: int, k: float = 0.01, x0: float = 300.0) -> float:
    """Sigmoid annealing w = 1 / (1 + exp(-k (step - x0)))  (Bowman et al. 2016, Sentence-VAE)."""
    return 1.0 / (1.0 + math.exp(-k * (step - x0)))


def cyclical_kl_weight(step: int, total_steps: int, cycles: int = 4, ratio: float = 0.5) -> float:
    """Cyclical schedule (Fu et al. 2019, Eq. 5): within each of ``cycles`` periods, a linear ramp
    0 -> 1 over the first ``ratio`` of the period, then 1."""
    period = max(total_steps / cycles, 1.0)
    tau = (step % period) / period
    return min(tau / ratio, 1.0) if ratio > 0 else 1.0


def kl_per_dimension(mu: torch.Tensor, logv: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag e^logv) || N(0, I)) per example and dimension: -1/2 (1 + logv - mu^2 - e^logv)."""
    return -0.5 * (1 + logv - mu.pow(2) - logv.exp())


@dataclass
class LossParts:
    total: torch.Tensor
    reconstruction: torch.Tensor  # summed NLL / batch
    kl: torch.Tensor  # summed KL / batch (before weighting, before free bits)
    label: torch.Tensor  # weighted label NLL / batch
    kl_per_dim: torch.Tensor  # batch mean per latent dimension (detached)


def cvae_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    mu: torch.Tensor,
    logv: torch.Tensor,
    log_q_y: torch.Tensor,
    labels: torch.Tensor,
    label_weights: torch.Tensor,
    *,
    pad_id: int,
    kl_weight: float,
    label_weight: float,
    free_bits: float = 0.0,
) -> LossParts:
    batch = targets.shape[0]
    rec = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]).float(),
        targets.reshape(-1),
        ignore_index=pad_id,
        reduction="sum",
    )
    kld = kl_per_dimension(mu.float(), logv.float())
    kl_dim = kld.mean(0)
    kl_sum = kld.sum()
    # free bits (Kingma et al. 2016): each dimension's batch-mean KL counts at least lambda
    kl_term = torch.clamp(kl_dim, min=free_bits).sum() * batch if free_bits > 0 else kl_sum
    label_nll = F.nll_loss(log_q_y.float(), labels, reduction="none") * label_weights
    total = (rec + kl_weight * kl_term + label_weight * label_nll.sum()) / batch
    return LossParts(total, rec / batch, kl_sum / batch, label_nll.sum() / batch, kl_dim.detach())

"""Deep linear DFA: alignment matrices and why ill-conditioned statistics hurt alignment.

arXiv:2011.12428 Sec. 4 (deep linear networks): with zero initial weights and whitened inputs,
DFA keeps the weights in the form

    W_1 = B_1 A_1,   W_l = B_l A_l B_{l-1}^T,   W_L = A_L B_{L-1}^T,

with C x C *alignment matrices* A_l driven by the input-output statistics. Weight alignment is
perfect iff A_l is proportional to the identity, so it falls as the A_l become ill-conditioned.
Two knobs make the statistics ill-conditioned: the alpha-beta target covariance
Sigma = [[1, alpha(1-beta)], [alpha(1-beta), alpha^2]] (unequal variances alpha < 1, output
correlation 1 - beta) and label noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dltheory.core.errors import ConfigError

from .alignment import weight_alignment
from .models import mlp


@dataclass
class LinearDFAConfig:
    input_dim: int = 16
    n_samples: int = 1000
    width: int = 100
    n_layers: int = 3  # weight layers (n_layers - 1 hidden)
    lr: float = 1.0
    steps: int = 400
    alpha: float = 1.0
    beta: float = 1.0
    label_noise: float = 0.0  # classification variant: fraction of relabelled samples
    n_classes: int = 10  # classification variant only
    task: str = "alphabeta"  # alphabeta | labelnoise
    seed: int = 0
    feedback_seed: int = 0


def alpha_beta_covariance(alpha: float, beta: float) -> torch.Tensor:
    """Sigma = [[1, alpha(1-beta)], [alpha(1-beta), alpha^2]] (target covariance of the paper)."""
    off = alpha * (1.0 - beta)
    return torch.tensor([[1.0, off], [off, alpha**2]], dtype=torch.float64)


def whiten(x: torch.Tensor) -> torch.Tensor:
    """Centre and whiten so that x^T x / P = I exactly (ZCA)."""
    x = x - x.mean(0)
    cov = x.T @ x / x.shape[0]
    evals, evecs = torch.linalg.eigh(cov)
    return x @ evecs @ torch.diag(evals.rsqrt()) @ evecs.T


def make_task(cfg: LinearDFAConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Whitened Gaussian inputs and targets (float64)."""
    if cfg.task not in ("alphabeta", "labelnoise"):
        raise ConfigError(f"unknown deep-linear task {cfg.task!r}; choose alphabeta or labelnoise")
    if not 0.0 <= cfg.label_noise <= 1.0:
        raise ConfigError("label_noise must be in [0, 1]")
    gen = torch.Generator().manual_seed(cfg.seed)
    x = whiten(torch.randn(cfg.n_samples, cfg.input_dim, generator=gen, dtype=torch.float64))
    if cfg.task == "alphabeta":
        if not (0 < cfg.alpha <= 1 and 0 <= cfg.beta <= 1):
            raise ConfigError("alpha must be in (0, 1] and beta in [0, 1]")
        chol = torch.linalg.cholesky(
            alpha_beta_covariance(cfg.alpha, cfg.beta) + 1e-12 * torch.eye(2, dtype=torch.float64)
        )
        y = torch.randn(cfg.n_samples, 2, generator=gen, dtype=torch.float64) @ chol.T
        return x, y
    teacher = torch.randn(cfg.input_dim, cfg.n_classes, generator=gen, dtype=torch.float64)
    labels = (x @ teacher).argmax(1)
    flip = torch.rand(cfg.n_samples, generator=gen, dtype=torch.float64) < cfg.label_noise
    labels[flip] = torch.randint(0, cfg.n_classes, (int(flip.sum()),), generator=gen)
    return x, F.one_hot(labels, cfg.n_classes).to(torch.float64)


def alignment_matrices(net) -> list[torch.Tensor]:
    """A_1 = B_1^+ W_1, A_l = B_l^+ W_l (B_{l-1}^T)^+, A_L = W_L (B_{L-1}^T)^+."""
    fb = net.feedback
    bs = [fb.block(i).T for i in range(len(fb.widths))]  # B_l: (n_l, C)
    pinv = [torch.linalg.pinv(b) for b in bs]
    ws = [layer.weight.detach() for layer in net.weight_layers]
    mats = [pinv[0] @ ws[0]]
    for i in range(1, len(ws) - 1):
        mats.append(pinv[i] @ ws[i] @ pinv[i - 1].T)
    mats.append(ws[-1] @ pinv[-1].T)
    return mats


def reconstruction_residual(net, mats: list[torch.Tensor]) -> float:
    """max_l ||W_l - B_l A_l B_{l-1}^T|| / ||W_l||: ~0 when the DFA weight form holds."""
    fb = net.feedback
    bs = [fb.block(i).T for i in range(len(fb.widths))]
    ws = [layer.weight.detach() for layer in net.weight_layers]
    recon = [bs[0] @ mats[0]]
    recon += [bs[i] @ mats[i] @ bs[i - 1].T for i in range(1, len(ws) - 1)]
    recon.append(mats[-1] @ bs[-1].T)
    return max(float((w - r).norm() / w.norm().clamp_min(1e-300)) for w, r in zip(ws, recon))


def condition_number(mat: torch.Tensor, rtol: float = 1e-9) -> float:
    """sigma_max / sigma_min over the non-null singular values (> rtol * sigma_max).

    The cutoff matters for one-hot targets, whose centred statistics have rank C - 1.
    """
    s = torch.linalg.svdvals(mat)
    s = s[s > rtol * s.max()]
    return float(s.max() / s.min())


def sufficient_batch(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A d-sample batch with the same full-batch gradients as whitened ``(x, y)``.

    With x^T x / P = I the squared-loss gradient of a linear net depends on the data only
    through Sigma_yx = y^T x / P. The batch x' = sqrt(d) I_d, y' = x' Sigma_yx^T has
    x'^T x' / d = I and y'^T x' / d = Sigma_yx, so full-batch training on it is exact and costs
    d instead of P rows per step.
    """
    d = x.shape[1]
    sigma_yx = y.T @ x / x.shape[0]
    x_small = d**0.5 * torch.eye(d, dtype=x.dtype)
    return x_small, x_small @ sigma_yx.T


def half_mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """1/2 sum over outputs, mean over samples: e = (y_hat - y) / P."""
    return 0.5 * (y_hat - y).square().sum(1).mean()


def run_linear_dfa(cfg: LinearDFAConfig) -> dict[str, float]:
    """Full-batch gradient descent of a zero-init linear DFA net; alignment and conditioning."""
    x, y = make_task(cfg)
    xs, ys = sufficient_batch(x, y)
    torch.manual_seed(cfg.seed)
    net = mlp(
        cfg.input_dim,
        [cfg.width] * (cfg.n_layers - 1),
        y.shape[1],
        activation="linear",
        mode="dfa",
        feedback_seed=cfg.feedback_seed,
        weight_init="zero",
    ).double()
    params = list(net.parameters())
    lr = cfg.lr / cfg.width  # B has O(1) entries: scale the step with the width
    for _ in range(cfg.steps):
        for p in params:
            p.grad = None
        half_mse(net(xs), ys).backward()
        with torch.no_grad():
            for p in params:
                if p.grad is not None:
                    p.sub_(lr * p.grad)
    mats = alignment_matrices(net)
    with torch.no_grad():
        final_loss = float(half_mse(net(x), y))
    out = {
        "alpha": cfg.alpha,
        "beta": cfg.beta,
        "label_noise": cfg.label_noise,
        "final_loss": final_loss,
    }
    out.update(weight_alignment(net, x[:2]))
    for k, a in enumerate(mats[1:], start=2):
        out[f"cond_A{k}"] = condition_number(a)
        # wide-net prediction WA_l ~ Tr(A_l) / (sqrt(C) ||A_l||_F) (exact iff B_l^T B_l ∝ I)
        out[f"wa_pred_layer{k}"] = float(torch.trace(a) / (a.shape[0] ** 0.5 * a.norm()))
    out["residual"] = reconstruction_residual(net, mats)
    yx = y.T @ x / x.shape[0]
    out["cond_target"] = condition_number(yx @ yx.T)
    return out

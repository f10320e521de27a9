"""A whole ridge path of random-features regression from one eigendecomposition."""

from __future__ import annotations

import torch


class RidgePath:
    """Ridge estimators a(lam) = (Z^T Z + lam I)^-1 Z^T y for many lam (replica convention).

    Diagonalises the smaller Gram matrix once (Z Z^T when N <= P, else Z^T Z); every lam then costs
    a diagonal rescaling. ``predict(Z_test, lams)`` returns an (n_test, n_lams) tensor.
    """

    def __init__(self, z: torch.Tensor, y: torch.Tensor):
        self.n, self.p = z.shape
        self.z = z
        if y.dim() == 1:
            y = y[:, None]
        self.y = y
        if self.n <= self.p:
            evals, u = torch.linalg.eigh(z @ z.T)
            self.evals = evals.clamp_min(0)
            self.basis = u  # N x N
            self.coef = u.T @ y  # N x T
        else:
            evals, v = torch.linalg.eigh(z.T @ z)
            self.evals = evals.clamp_min(0)
            self.basis = v  # P x P
            self.coef = v.T @ (z.T @ y)

    def _scaled(self, lams: torch.Tensor) -> torch.Tensor:
        # (k, n_lams, targets): coefficient of each eigendirection for each lam
        return self.coef[:, None, :] / (self.evals[:, None, None] + lams[None, :, None])

    def weights(self, lams: torch.Tensor) -> torch.Tensor:
        """a(lam) stacked as (P, n_lams, targets)."""
        scaled = self._scaled(lams)
        if self.n <= self.p:
            return torch.einsum("pn,nlt->plt", self.z.T @ self.basis, scaled)
        return torch.einsum("pk,klt->plt", self.basis, scaled)

    def predict(self, z_test: torch.Tensor, lams: torch.Tensor) -> torch.Tensor:
        """Predictions (n_test, n_lams) (single target) or (n_test, n_lams, targets)."""
        scaled = self._scaled(lams)
        if self.n <= self.p:
            proj = z_test @ (self.z.T @ self.basis)
        else:
            proj = z_test @ self.basis
        out = torch.einsum("mk,klt->mlt", proj, scaled)
        return out[..., 0] if out.shape[-1] == 1 else out

    def predict_train(self, lams: torch.Tensor) -> torch.Tensor:
        return self.predict(self.z, lams)

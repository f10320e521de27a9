"""A whole ridge path of random-features regression from one factorisation of the Gram matrix.

Ridge in the replica convention, a(lam) = (Z^T Z + lam I)^-1 Z^T y. The smaller Gram matrix is
factorised once (Z Z^T when N <= P, the dual form a = Z^T (Z Z^T + lam I)^-1 y; else Z^T Z); every lam
then costs O(k) or O(k^2), not a new O(k^3) solve. Two factorisations:

* ``"tridiagonal"`` (CPU): Householder reduction G = Q T Q^T (LAPACK ``sytrd``, the first stage of a
  symmetric eigendecomposition). Each lam solves the tridiagonal system (T + lam I) s = Q^T b in O(k)
  (LAPACK ``ptsv``) and maps back with the k reflectors. It skips the eigenvector back-transformation,
  which is most of the cost of ``eigh``.
* ``"eigh"`` (any device): G = V diag(evals) V^T; each lam is a diagonal rescaling.

Both are exact up to rounding (they agree with scikit-learn's Cholesky ``Ridge`` to ~1e-11 in float64).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch

METHODS = ("auto", "tridiagonal", "eigh")


class RidgePath:
    """Ridge estimators for many lam from one factorisation; ``predict(Z_test, lams)`` is (n_test, n_lams).

    ``method="auto"`` uses the tridiagonal reduction on CPU and ``eigh`` elsewhere (GPU).
    """

    def __init__(self, z: torch.Tensor, y: torch.Tensor, method: str = "auto"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        if z.dim() != 2:
            raise ValueError(f"features must be a matrix (N, P), got shape {tuple(z.shape)}")
        if y.dim() == 1:
            y = y[:, None]
        if y.shape[0] != z.shape[0]:
            raise ValueError(f"{z.shape[0]} feature rows but {y.shape[0]} labels")
        self.n, self.p = z.shape
        self.z, self.y = z, y
        self.dual = self.n <= self.p
        if method == "auto":
            method = "tridiagonal" if z.device.type == "cpu" else "eigh"
        if method == "tridiagonal" and z.device.type != "cpu":
            raise ValueError("method='tridiagonal' runs on CPU; use method='eigh' on other devices")
        self.method = method
        rhs = y if self.dual else z.T @ y
        if method == "eigh":
            gram = z @ z.T if self.dual else z.T @ z
            evals, self.basis = torch.linalg.eigh(gram)
            self._evals = evals.clamp_min(0)
            self.coef = self.basis.T @ rhs
        else:
            self._tri = _Tridiagonal(z.numpy(), dual=self.dual)
            self.coef = self._tri.apply_qt(rhs.numpy())

    @cached_property
    def evals(self) -> torch.Tensor:
        """Eigenvalues of the factorised Gram matrix (ascending, clamped at 0)."""
        if self.method == "eigh":
            return self._evals
        return torch.from_numpy(self._tri.eigenvalues()).clamp_min(0)

    def _gram_solutions(self, lams: torch.Tensor) -> torch.Tensor:
        """(G + lam I)^-1 rhs for every lam, stacked as (k, n_lams, targets)."""
        lams = torch.as_tensor(lams, dtype=self.z.dtype)
        if lams.dim() == 0:
            lams = lams[None]
        if not bool((lams > 0).all()):
            raise ValueError(
                "ridge path needs lam > 0 for every lam (use a small positive lam for ridgeless)"
            )
        if self.method == "eigh":
            lams = lams.to(self.z.device)
            scaled = self.coef[:, None, :] / (self._evals[:, None, None] + lams[None, :, None])
            return torch.einsum("kj,jlt->klt", self.basis, scaled)
        return torch.from_numpy(self._tri.solve(self.coef, lams.cpu().numpy()))

    def weights(self, lams: torch.Tensor) -> torch.Tensor:
        """a(lam) stacked as (P, n_lams, targets)."""
        sol = self._gram_solutions(lams)
        if self.dual:
            return torch.einsum("np,nlt->plt", self.z, sol)
        return sol

    def predict(self, z_test: torch.Tensor, lams: torch.Tensor) -> torch.Tensor:
        """Predictions (n_test, n_lams) (single target) or (n_test, n_lams, targets)."""
        out = torch.einsum("mp,plt->mlt", z_test, self.weights(lams))
        return out[..., 0] if out.shape[-1] == 1 else out

    def predict_train(self, lams: torch.Tensor) -> torch.Tensor:
        return self.predict(self.z, lams)


class _Tridiagonal:
    """G = Q T Q^T by LAPACK sytrd (lower), with Q kept as k - 1 Householder reflectors."""

    def __init__(self, z: np.ndarray, dual: bool):
        from scipy.linalg import blas, lapack

        z = np.asarray(z)
        # syrk fills the lower triangle of Z Z^T (dual) or Z^T Z: half the flops of a matmul
        syrk = blas.get_blas_funcs("syrk", (z,))
        gram = syrk(1.0, z, trans=0 if dual else 1, lower=1)
        sytrd, sytrd_lwork, self._ptsv = lapack.get_lapack_funcs(
            ("sytrd", "sytrd_lwork", "ptsv"), (gram,)
        )
        lwork, info = sytrd_lwork(gram.shape[0], lower=1)
        if info != 0:
            raise RuntimeError(f"LAPACK sytrd_lwork failed (info={info})")
        packed, self.diag, self.offdiag, self.tau, info = sytrd(
            gram, lower=1, lwork=int(lwork), overwrite_a=1
        )
        if info != 0:
            raise RuntimeError(f"LAPACK sytrd failed (info={info})")
        self.k = gram.shape[0]
        # Reflector i acts on rows i+1.. with v = (1, packed[i+2:, i]); Q = H_0 H_1 ... H_{k-2}
        self.reflectors = [packed[i + 2 :, i].copy() for i in range(self.k - 1)]

    def _reflect(self, i: int, x: np.ndarray) -> None:
        block = x[i + 1 :]
        proj = block[0] + self.reflectors[i] @ block[1:]
        proj *= self.tau[i]
        block[0] -= proj
        block[1:] -= np.outer(self.reflectors[i], proj)

    def apply_qt(self, b: np.ndarray) -> np.ndarray:
        """Q^T b for b of shape (k, m)."""
        x = np.array(b, dtype=self.diag.dtype, copy=True)
        for i in range(self.k - 1):
            self._reflect(i, x)
        return x

    def apply_q(self, b: np.ndarray) -> np.ndarray:
        """Q b for b of shape (k, m)."""
        x = np.array(b, dtype=self.diag.dtype, copy=True)
        for i in reversed(range(self.k - 1)):
            self._reflect(i, x)
        return x

    def solve(self, qt_rhs: np.ndarray, lams: np.ndarray) -> np.ndarray:
        """(G + lam I)^-1 rhs = Q (T + lam I)^-1 Q^T rhs for each lam, as (k, n_lams, targets)."""
        targets = qt_rhs.shape[1]
        out = np.empty((self.k, len(lams), targets), dtype=self.diag.dtype)
        for j, lam in enumerate(lams):
            _, _, sol, info = self._ptsv(self.diag + lam, self.offdiag, qt_rhs)
            if info != 0:
                raise FloatingPointError(
                    f"Gram + {lam:g} I is not numerically positive definite (LAPACK ptsv info={info}); "
                    "use a larger ridge"
                )
            out[:, j, :] = sol
        flat = self.apply_q(out.reshape(self.k, -1))
        return flat.reshape(self.k, len(lams), targets)

    def eigenvalues(self) -> np.ndarray:
        from scipy.linalg import eigvalsh_tridiagonal

        return eigvalsh_tridiagonal(self.diag, self.offdiag)

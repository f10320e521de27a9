"""Ridge conventions of random-features regression (the most common pitfall).

With features z = sigma(F x / sqrt D) / sqrt D and N samples:

* ``replica``: a = (Z^T Z + lam_rep I)^-1 Z^T y  (Gerace et al. 2020; 2006.03509 analytic; 2103.05524).
* ``mm``: Mei & Montanari's lam_MM, with lam_rep = psi1 psi2 lam_MM (2003.01054 Mathematica code,
  2006.03509 numerics). The mapping is checked by the agreement of the two solvers in the tests.
* ``jacot``: the effective-ridge / Gaussian-covariate convention lam_J = lam_rep / psi1 = psi2 lam_MM.
"""

from __future__ import annotations

import numpy as np

from dltheory.randfeat.errors import require, require_choice

RIDGE_CONVENTIONS = ("mm", "replica", "jacot")


def _to_replica_factor(convention: str, psi1, psi2):
    require_choice("ridge_convention", convention, RIDGE_CONVENTIONS)
    psi1 = np.asarray(psi1, float)
    psi2 = np.asarray(psi2, float)
    return {"replica": np.ones_like(psi1 * psi2), "mm": psi1 * psi2, "jacot": psi1 + 0 * psi2}[
        convention
    ]


def convert_ridge(value, psi1, psi2, source: str, target: str) -> np.ndarray:
    """Convert a ridge strength between conventions ``mm``, ``replica`` and ``jacot``."""
    rep = np.asarray(value, float) * _to_replica_factor(source, psi1, psi2)
    return rep / _to_replica_factor(target, psi1, psi2)


def to_replica_ridge(value, psi1, psi2, convention: str) -> np.ndarray:
    """lam_rep from a ridge in ``convention``; must be positive."""
    lam = convert_ridge(value, psi1, psi2, convention, "replica")
    require(
        bool(np.all(lam > 0)),
        "the ridge must be positive (use a small value such as 1e-6 for ridgeless)",
    )
    return lam

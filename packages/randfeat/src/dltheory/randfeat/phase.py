"""The generalisation phase space over (N/D, P/D) (2006.03509 Fig. 1; 2103.05524 block phase space)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dltheory.randfeat.config import PhaseConfig
from dltheory.randfeat.errors import require
from dltheory.randfeat.evaluate import block_structure, uses_block_model
from dltheory.randfeat.theory import BlockTheory, RidgeTheory, block_rf, rf_ridge


def phase_grid(cfg: PhaseConfig) -> dict[str, np.ndarray]:
    """Test error over a log grid of (psi1, psi2) in [lo, hi]^2 (vectorised; regression or classification)."""
    require(0 < cfg.lo < cfg.hi and cfg.num >= 2, "phase needs 0 < lo < hi and num >= 2")
    axis = np.logspace(math.log10(cfg.lo), math.log10(cfg.hi), int(cfg.num))
    psi1, psi2 = np.meshgrid(axis, axis, indexing="xy")  # rows: psi2, columns: psi1
    common: dict[str, Any] = dict(
        activation=cfg.activation,
        ridge_convention=cfg.ridge_convention,
        noise=cfg.noise,
        task=cfg.task,
    )
    res: BlockTheory | RidgeTheory
    if cfg.loss == "logistic" or uses_block_model(cfg):
        structure = block_structure(cfg)
        res = block_rf(psi1, psi2, cfg.ridge, loss=cfg.loss, structure=structure, **common)
    else:
        res = rf_ridge(psi1, psi2, cfg.ridge, **common)
    return dict(axis=axis, psi1=psi1, psi2=psi2, test_error=res.test_error, converged=res.converged)

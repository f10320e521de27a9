"""dltheory.randfeat: exact random-features theory (double descent, ensembling, triple descent, data
structure) with finite-size simulations that confirm it.

The theory (:mod:`dltheory.randfeat.theory`) is numpy/scipy only; simulations live in
:mod:`dltheory.randfeat.simulate` (torch). Names are imported lazily so that the command line stays
light: ``from dltheory.randfeat import rf_ridge`` works as usual.
"""

from __future__ import annotations

import importlib

_ERRORS = ("ConvergenceWarning", "RandfeatInputError", "RidgeAtBoundWarning")
_THEORY = (
    "ACTIVATIONS",
    "CASES",
    "RIDGE_CONVENTIONS",
    "BlockStructure",
    "BlockTheory",
    "GETCoefficients",
    "PsiTerms",
    "RidgeTheory",
    "block_curve",
    "block_resolvent",
    "block_rf",
    "convert_ridge",
    "effective_ridge",
    "ensemble_error",
    "feature_spectrum_density",
    "get_coefficients",
    "get_coefficients_quadrature",
    "leaky_family_alpha",
    "leaky_family_linearity",
    "linearity_coefficients",
    "local_maxima",
    "mm_ridge",
    "mp_resolvent",
    "optimal_ridge",
    "parameter_wise_curve",
    "psi_terms",
    "resolve_coefficients",
    "rf_ridge",
    "sample_wise_curve",
)
__all__ = [*_ERRORS, *_THEORY]


def __getattr__(name: str):
    if name in _ERRORS:
        return getattr(importlib.import_module("dltheory.randfeat.errors"), name)
    if name in _THEORY:
        return getattr(importlib.import_module("dltheory.randfeat.theory"), name)
    raise AttributeError(f"module 'dltheory.randfeat' has no attribute {name!r}")

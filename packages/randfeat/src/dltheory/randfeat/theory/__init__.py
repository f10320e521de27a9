"""Random-features theory in the proportional limit (numpy/scipy only; no torch import).

Conventions: psi1 = P/D, psi2 = N/D, features z = sigma(F x/sqrt D)/sqrt D, ridge conventions in
:mod:`dltheory.randfeat.theory.conventions` (``mm``: lam_rep = psi1 psi2 lam_MM; ``replica``; ``jacot``).
"""

from dltheory.randfeat.theory.activations import (
    ACTIVATIONS,
    GETCoefficients,
    get_coefficients,
    get_coefficients_quadrature,
    leaky_family_alpha,
    leaky_family_linearity,
    linearity_coefficients,
    resolve_coefficients,
)
from dltheory.randfeat.theory.block import CASES, BlockStructure, BlockTheory, block_curve, block_rf
from dltheory.randfeat.theory.conventions import RIDGE_CONVENTIONS, convert_ridge
from dltheory.randfeat.theory.ensemble import (
    PsiTerms,
    effective_ridge,
    ensemble_error,
    optimal_ridge,
    psi_terms,
)
from dltheory.randfeat.theory.ridge import RidgeTheory, mm_ridge, rf_ridge
from dltheory.randfeat.theory.spectra import block_resolvent, mp_resolvent
from dltheory.randfeat.theory.triple import (
    feature_spectrum_density,
    local_maxima,
    parameter_wise_curve,
    sample_wise_curve,
)

__all__ = [
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
]

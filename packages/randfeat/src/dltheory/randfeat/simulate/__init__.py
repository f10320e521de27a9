"""Finite-size simulations of random-features models (torch, float64, CPU or GPU)."""

from dltheory.randfeat.simulate.experiments import (
    SimulationResult,
    simulate_block_classification,
    simulate_rf_ridge,
)
from dltheory.randfeat.simulate.features import activation_torch, draw_features, draw_inputs
from dltheory.randfeat.simulate.real_data import parity_pca_data, simulate_real_data
from dltheory.randfeat.simulate.ridge_path import RidgePath

__all__ = [
    "RidgePath",
    "SimulationResult",
    "activation_torch",
    "draw_features",
    "draw_inputs",
    "parity_pca_data",
    "simulate_block_classification",
    "simulate_real_data",
    "simulate_rf_ridge",
]

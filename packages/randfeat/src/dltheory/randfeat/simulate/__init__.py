"""Finite-size simulations of random-features models (torch, float64, CPU or GPU)."""

from dltheory.randfeat.simulate.decomposition import simulate_ensemble_decomposition
from dltheory.randfeat.simulate.ensembles import simulate_ensemble
from dltheory.randfeat.simulate.experiments import (
    SimulationResult,
    simulate_block_classification,
    simulate_rf_ridge,
)
from dltheory.randfeat.simulate.features import activation_torch, draw_features, draw_inputs
from dltheory.randfeat.simulate.networks import (
    NetworkCurve,
    NetworkSpec,
    simulate_network_real_data,
    simulate_network_teacher,
    train_networks,
)
from dltheory.randfeat.simulate.real_data import parity_pca_data, simulate_real_data
from dltheory.randfeat.simulate.ridge_path import RidgePath

__all__ = [
    "NetworkCurve",
    "NetworkSpec",
    "RidgePath",
    "SimulationResult",
    "activation_torch",
    "draw_features",
    "draw_inputs",
    "parity_pca_data",
    "simulate_block_classification",
    "simulate_ensemble",
    "simulate_ensemble_decomposition",
    "simulate_network_real_data",
    "simulate_network_teacher",
    "simulate_real_data",
    "simulate_rf_ridge",
    "train_networks",
]

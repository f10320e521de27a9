"""N* at fixed P on Gaussian random data (arXiv:1809.09349 fig. 1A, one point of it).

python examples/jamming_nstar.py
DLTHEORY_EXAMPLE_SMOKE=1 python examples/jamming_nstar.py   # P = 40, a few seconds

The minimiser (optimizer="lm") decides each net: SAT (N_Delta = 0) or a converged UNSAT minimum.
"""

import os

import torch

from dltheory.jamming.nstar import NStarConfig, find_nstar

torch.set_num_threads(1)
SMOKE = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
cfg = NStarConfig(
    dataset="random",
    n_train=40 if SMOKE else 120,
    d=10,
    depth=2,
    n_seeds=2,
    n_grid=3 if SMOKE else 6,
    max_factor=3.0 if SMOKE else 1.6,
    min_factor=0.15,
    n_bisect=1 if SMOKE else 2,
    optimizer="lm",
    lr=1e-2,
    max_steps=1000 if SMOKE else 1500,
    lm_escape_rounds=2 if SMOKE else 4,
)
result = find_nstar(cfg)
print(
    f"P={cfg.n_train}: N* = {result['n_star']:.0f} in [{result['n_star_low']}, {result['n_star_high']}], "
    f"N*/P = {result['n_star_over_p']:.2f}"
)

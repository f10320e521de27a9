"""N* at fixed P on Gaussian random data (arXiv:1809.09349 fig. 1A, one point of it).

python examples/jamming_nstar.py
"""

import torch

from dltheory.jamming.nstar import NStarConfig, find_nstar

torch.set_num_threads(1)
cfg = NStarConfig(
    dataset="random",
    n_train=120,
    d=10,
    depth=2,
    n_seeds=2,
    n_grid=6,
    max_factor=1.6,
    min_factor=0.15,
    n_bisect=2,
    lr=1e-2,
    lr_decay_every=1500,
    max_steps=3000,
)
result = find_nstar(cfg)
print(
    f"P={cfg.n_train}: N* = {result['n_star']:.0f} in [{result['n_star_low']}, {result['n_star_high']}], "
    f"N*/P = {result['n_star_over_p']:.2f}"
)

"""Real ensembles of random-features estimators (2003.01054): K feature maps trained on the same
data, outputs averaged; test error and its bias / variance split against the theory.

Usage: python examples/randfeat_ensembles.py [--d 100] [--seeds 8]
(DLTHEORY_EXAMPLE_SMOKE=1: D = 40, 3 seeds.)
"""

import argparse
import os

from dltheory.randfeat.simulate import simulate_ensemble
from dltheory.randfeat.simulate.ensembles import SPLIT
from dltheory.randfeat.theory import ensemble_error

if __name__ == "__main__":
    smoke = os.environ.get("DLTHEORY_EXAMPLE_SMOKE") == "1"
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--d", type=int, default=40 if smoke else 100)
    parser.add_argument("--seeds", type=int, default=3 if smoke else 8)
    args = parser.parse_args()
    ks, ridge, noise = (1, 2, 10), 0.1, 0.25  # P = N = D, tanh, lam_MM = 0.1, tau^2 = 0.25
    sim = simulate_ensemble(
        args.d, args.d, args.d, [ridge], ks=ks, activation="tanh", noise=noise, n_seeds=args.seeds
    )
    for k in ks:
        theory = ensemble_error(1.0, 1.0, ridge, k=k, activation="tanh", noise=noise)
        cells = [
            f"{name} {sim[k][name][0]:.3f}+-{sim[k][name + '_sem'][0]:.3f} ({float(theory[name]):.3f})"
            for name in SPLIT
        ]
        print(f"K = {k:2d}: " + ", ".join(cells))

"""Phase diagram N*(P) on Gaussian random data, P values run as a core sweep (fig. 1A).

python examples/jamming_phase_diagram.py   # writes jamming_phase_diagram.png/.csv
DLTHEORY_EXAMPLE_SMOKE=1 python examples/jamming_phase_diagram.py   # P = 30, 40, serial
"""

import os
from pathlib import Path

from dltheory.jamming.figures import nstar_slope, plot_phase
from dltheory.jamming.nstar import PhaseConfig, phase_diagram


def main() -> None:
    smoke = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
    cfg = PhaseConfig(
        dataset="random",
        d=10,
        depth=2,
        train_sizes=[30, 40] if smoke else [60, 120, 240],
        n_seeds=2,
        n_grid=3 if smoke else 6,
        max_factor=3.0 if smoke else 1.6,
        min_factor=0.15,
        n_bisect=1 if smoke else 2,
        optimizer="lm",  # the minimiser decides SAT / converged UNSAT
        lr=1e-2,
        max_steps=1000 if smoke else 1500,
        lm_escape_rounds=2 if smoke else 4,
        executor="serial" if smoke else "local",
    )
    rows = phase_diagram(cfg)
    plot_phase(rows, Path("jamming_phase_diagram"))
    print(f"N*/P = {nstar_slope(rows):.2f}  (authors: ~0.3 at P >= 500, L = 5, d = h)")


if __name__ == "__main__":  # the local sweep executor spawns processes
    main()

"""Phase diagram N*(P) on Gaussian random data, P values run as a core sweep (fig. 1A).

python examples/jamming_phase_diagram.py   # writes jamming_phase_diagram.png/.csv
"""

from pathlib import Path

from dltheory.jamming.figures import nstar_slope, plot_phase
from dltheory.jamming.nstar import PhaseConfig, phase_diagram


def main() -> None:
    cfg = PhaseConfig(
        dataset="random",
        d=10,
        depth=2,
        train_sizes=[60, 120, 240],
        n_seeds=2,
        n_grid=6,
        max_factor=1.6,
        min_factor=0.15,
        n_bisect=2,
        lr=1e-2,
        lr_decay_every=1500,
        max_steps=3000,
        executor="local",
    )
    rows = phase_diagram(cfg)
    plot_phase(rows, Path("jamming_phase_diagram"))
    print(f"N*/P = {nstar_slope(rows):.2f}  (authors: ~0.3 with millions of steps)")


if __name__ == "__main__":  # the local sweep executor spawns processes
    main()

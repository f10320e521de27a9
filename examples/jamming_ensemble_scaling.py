"""Test error with the cusp at N*, ensemble averaging, and ||f - f_bar|| ~ N^-1/4 on MNIST parity
(scikit-learn digits after PCA to d=10; arXiv:1810.09665 fig. 2, 1901.01608).

    python examples/jamming_ensemble_scaling.py   # writes jamming_scaling.png/.csv
    DLTHEORY_EXAMPLE_SMOKE=1 python examples/jamming_ensemble_scaling.py   # P = 60, serial
"""

import os
from pathlib import Path

from dltheory.jamming.figures import plot_scaling
from dltheory.jamming.scaling import ScalingConfig, run_scaling


def main() -> None:
    smoke = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
    cfg = ScalingConfig(
        dataset="mnist",
        source="digits",
        n_train=60 if smoke else 160,
        n_test=None,
        d=10,
        depth=2,
        n_seeds=3 if smoke else 8,
        n_points=4 if smoke else 8,
        n_min_factor=0.1,
        n_max_factor=6.0 if smoke else 20.0,
        parametrisation="ntk",
        init="normal",
        subtract_init=True,  # f = f_w - f_w0
        optimizer="lm",  # nets minimised to convergence: no early stopping
        lr=1e-2,
        max_steps=300 if smoke else 1500,
        lm_escape_rounds=1 if smoke else 4,
        n_ntk=8 if smoke else 24,
        executor="serial" if smoke else "local",
    )
    result = run_scaling(cfg)
    plot_scaling(result, Path("jamming_scaling"))
    print(f"N* ~ {result['n_star']:.0f}")
    for name, fit in result["fits"].items():
        if "exponent" in fit:
            print(f"{name}: {fit['exponent']:+.3f} [{fit['ci_low']:+.3f}, {fit['ci_high']:+.3f}]")


if __name__ == "__main__":  # the local sweep executor spawns processes
    main()

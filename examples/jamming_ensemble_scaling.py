"""Test error with the cusp at N*, ensemble averaging, and ||f - f_bar|| ~ N^-1/4 on MNIST parity
(scikit-learn digits after PCA to d=10; arXiv:1810.09665 fig. 2, 1901.01608).

    python examples/jamming_ensemble_scaling.py   # writes jamming_scaling.png/.csv
"""

from pathlib import Path

from dltheory.jamming.figures import plot_scaling
from dltheory.jamming.scaling import ScalingConfig, run_scaling


def main() -> None:
    cfg = ScalingConfig(
        dataset="mnist",
        source="digits",
        n_train=160,
        n_test=None,
        d=10,
        depth=2,
        n_seeds=8,
        n_points=8,
        n_min_factor=0.1,
        n_max_factor=20.0,
        parametrisation="ntk",
        init="normal",
        subtract_init=True,  # f = f_w - f_w0
        lr=1e-2,
        lr_decay_every=1500,
        max_steps=3000,
    )
    result = run_scaling(cfg)
    plot_scaling(result, Path("jamming_scaling"))
    print(f"N* ~ {result['n_star']:.0f}")
    for name, fit in result["fits"].items():
        if "exponent" in fit:
            print(f"{name}: {fit['exponent']:+.3f} [{fit['ci_low']:+.3f}, {fit['ci_high']:+.3f}]")


if __name__ == "__main__":  # the local sweep executor spawns processes
    main()

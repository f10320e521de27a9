"""Draw one figure of dltheory.randfeat (theory lines through simulation points, or trained networks).

Usage: python examples/randfeat_figure.py [FIGURE] [--full] [--out DIR]   (default: phase_spaces)
"""

import argparse
import os
import tempfile
from pathlib import Path

from dltheory.randfeat import figures

FIGURES = {
    "double_trouble": figures.figure_double_trouble,
    "triple_descent": figures.figure_triple_descent,
    "data_structure": figures.figure_data_structure,
    "networks": figures.figure_networks,
    "ensembles": figures.figure_ensembles,
    "triple_descent_more": figures.figure_triple_extra,
    "phase_spaces": figures.figure_phase_spaces,
    "data_structure_more": figures.figure_structure_extra,
    "mnist_structure": figures.figure_real_structure,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("figure", nargs="?", default="phase_spaces", choices=sorted(FIGURES))
    parser.add_argument(
        "--full", action="store_true", help="paper-scale simulations (slow on a CPU)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.out is None:  # the smoke run (DLTHEORY_EXAMPLE_SMOKE=1) leaves nothing behind
        smoke = os.environ.get("DLTHEORY_EXAMPLE_SMOKE") == "1"
        args.out = Path(tempfile.mkdtemp()) if smoke else Path("runs/randfeat_examples")
    args.out.mkdir(parents=True, exist_ok=True)
    path, metrics = FIGURES[args.figure](args.out, scale="full" if args.full else "quick")
    print(f"wrote {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")

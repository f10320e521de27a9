"""Draw one figure of dltheory.randfeat (theory lines through simulation points, or trained networks).

Usage: python examples/randfeat_figure.py {double_trouble,triple_descent,data_structure,networks} [--full] [--out DIR]
"""

import argparse
from pathlib import Path

from dltheory.randfeat import figures

FIGURES = {
    "double_trouble": figures.figure_double_trouble,
    "triple_descent": figures.figure_triple_descent,
    "data_structure": figures.figure_data_structure,
    "networks": figures.figure_networks,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("figure", choices=sorted(FIGURES))
    parser.add_argument(
        "--full", action="store_true", help="paper-scale simulations (slow on a CPU)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/randfeat_examples"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path, metrics = FIGURES[args.figure](args.out, scale="full" if args.full else "quick")
    print(f"wrote {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")

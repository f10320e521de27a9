"""Draw the triple descent figure of dltheory.randfeat (theory lines through simulation points).

Usage: python examples/randfeat_triple_descent.py [--full] [--out DIR]
"""

import argparse
from pathlib import Path

from dltheory.randfeat.figures import figure_triple_descent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="paper-scale simulations (slow on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("runs/randfeat_examples"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path, metrics = figure_triple_descent(args.out, quick=not args.full)
    print(f"wrote {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value}")

"""Assemble fig. 1A (N*(P) and N*/P at L = 5) from the nstar.json of separate N* searches.

    python packages/jamming/docs/make_fig1a.py RUN_DIR [RUN_DIR ...] --out packages/jamming/docs/fig1a_l5

Each RUN_DIR is the --out of one `dltheory jamming nstar` run (the commands are in the README).
Writes <out>.png, <out>.csv (the rows) and prints the plateau N*/P of the two largest P.
``width_seconds`` sums the training time of every decided width (Adam + minimiser, from the
records): unlike ``seconds`` (the last invocation's wall time) it survives a resumed search, and
it counts process time, so widths decided in parallel add up.
"""

import argparse
import json
from pathlib import Path

from dltheory.core.plotting import save_table
from dltheory.jamming.figures import plot_phase
from dltheory.jamming.reproduce import measure_nstar_plateau

KEYS = ("n_train", "d", "depth", "status", "n_star", "n_star_low", "n_star_high",
        "n_star_over_p", "h_star", "low_decision", "n_undecided", "seconds", "width_seconds")  # fmt: skip


def width_seconds(run: dict) -> float:
    """Adam + minimiser seconds summed over the widths (the nets of a width share one time)."""
    first = {r["n_params"]: r for r in run["records"]}
    return round(sum(r["seconds_adam"] + r["seconds_lm"] for r in first.values()), 1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="random data, L = 5, d ~ h at N*, minimiser")
    args = parser.parse_args()
    rows = sorted(
        (json.loads((run / "nstar.json").read_text()) for run in args.runs),
        key=lambda r: r["n_train"],
    )
    for row in rows:
        row["width_seconds"] = width_seconds(row)
    mean, se, used = measure_nstar_plateau(rows)
    plot_phase(rows, args.out, title=args.title, plateau=(mean, se))
    save_table([{k: r.get(k) for k in KEYS} for r in rows], args.out, title=args.title)
    print(f"plateau N*/P = {mean:.3f} +- {se:.3f} over P = {[r['n_train'] for r in used]}")

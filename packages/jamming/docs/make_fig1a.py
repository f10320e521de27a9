"""Assemble fig. 1A (N*(P) and N*/P at L = 5) from the nstar.json of separate N* searches.

    python packages/jamming/docs/make_fig1a.py RUN_DIR [RUN_DIR ...] --out packages/jamming/docs/fig1a_l5

Each RUN_DIR is the --out of one `dltheory jamming nstar` run (the commands are in the README).
Writes <out>.png, <out>.csv (the rows) and prints the plateau N*/P of the two largest P.
``width_seconds`` sums the training time of every decided width (Adam + minimiser, from the
records): unlike ``seconds`` (the last invocation's wall time) it survives a resumed search, and
it counts process time, so widths decided in parallel add up.
``--widths P:NETWORKS_JSON`` (repeatable) narrows P's bracket with widths decided outside the
search: the ``networks.json`` of a ``dltheory jamming train --optimizer lm`` run on the search's
data and nets (same P, d, depth, seeds and finisher settings). A width there is SAT when any of its
nets is (the search's ``any`` rule); the row records them in ``refined_by``.
"""

import argparse
import json
from pathlib import Path

from dltheory.core.plotting import save_table
from dltheory.jamming.figures import plot_phase
from dltheory.jamming.models import width_for_count
from dltheory.jamming.reproduce import measure_nstar_plateau

KEYS = ("n_train", "d", "depth", "status", "n_star", "n_star_low", "n_star_high",
        "n_star_over_p", "h_star", "low_decision", "n_undecided", "seconds", "width_seconds",
        "refined_by")  # fmt: skip


def width_seconds(run: dict) -> float:
    """Adam + minimiser seconds summed over the widths (the nets of a width share one time)."""
    first = {r["n_params"]: r for r in run["records"]}
    return round(sum(r["seconds_adam"] + r["seconds_lm"] for r in first.values()), 1)


def refine(row: dict, networks: list[dict]) -> None:
    """Narrow a bracketed search's [n_star_low, n_star_high] with widths decided alone."""
    if row["status"] != "bracketed":
        raise SystemExit(f"P = {row['n_train']}: only a bracketed search can be refined")
    outcomes: dict[int, list[str]] = {}
    for net in networks:
        outcomes.setdefault(int(net["N"]), []).append(net["outcome"])
    sat = {n for n, outs in outcomes.items() if "sat" in outs}
    high = min([row["n_star_high"], *sat])
    below = [n for n in outcomes if n not in sat and n < high]
    low = max([row["n_star_low"], *below])
    if low in outcomes:
        row["low_decision"] = "unsat" if set(outcomes[low]) == {"unsat"} else "undecided"
    row["n_star_low"], row["n_star_high"] = low, high
    row["n_star"] = (low + high) / 2
    row["n_star_over_p"] = row["n_star"] / row["n_train"]
    row["h_star"] = width_for_count(row["n_star"], row["d"], row["depth"])
    row["refined_by"] = ", ".join(
        f"{n}: {'sat' if n in sat else 'not sat'}" for n in sorted(outcomes)
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--title", default="random data, L = 5, d ~ h at N*, minimiser")
    parser.add_argument("--widths", action="append", default=[], metavar="P:NETWORKS_JSON")
    args = parser.parse_args()
    rows = sorted(
        (json.loads((run / "nstar.json").read_text()) for run in args.runs),
        key=lambda r: r["n_train"],
    )
    for row in rows:
        row["width_seconds"] = width_seconds(row)
    extra: dict[int, list[dict]] = {}
    for item in args.widths:
        size, _, path = item.partition(":")
        if not size.isdigit() or not Path(path).is_file():
            parser.error(f"expected --widths P:NETWORKS_JSON with an existing file, got {item!r}")
        extra.setdefault(int(size), []).extend(json.loads(Path(path).read_text()))
    for size, networks in extra.items():
        matching = [r for r in rows if r["n_train"] == size]
        if not matching:
            parser.error(f"--widths {size}: no search at P = {size} among the runs")
        refine(matching[0], networks)
    mean, se, used = measure_nstar_plateau(rows)
    plot_phase(rows, args.out, title=args.title, plateau=(mean, se))
    save_table([{k: r.get(k) for k in KEYS} for r in rows], args.out, title=args.title)
    print(f"plateau N*/P = {mean:.3f} +- {se:.3f} over P = {[r['n_train'] for r in used]}")

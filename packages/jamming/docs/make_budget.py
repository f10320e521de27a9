"""N*/P against the Adam step budget, at fixed P (L = 5, d ~ h): how much of fig. 1A is budget.

    python packages/jamming/docs/make_budget.py NSTAR_JSON:STEPS [NSTAR_JSON:STEPS ...] \
        --out packages/jamming/docs/budget_l5

Each NSTAR_JSON is the nstar.json of one `dltheory jamming nstar` run and STEPS its --max-steps
(given explicitly: older runs do not record it). `--sat-width P:STEPS:N` (repeatable) adds one width
found SAT with that budget outside a search (`dltheory jamming train`): an upper bound on N*/P,
drawn as a downward triangle. Writes <out>.png, <out>.csv, <out>.md and <out>.json: one
point per run, N*/P with its bisection bracket against the budget, one line per P, and the
papers' 0.3 (reached with 2M-10M Adam steps per net).
"""

import argparse
import json
from pathlib import Path

import numpy as np

from dltheory.core.plotting import new_figure, save_figure, save_table


def budget_row(path: Path, steps: int) -> dict:
    """One search's N* and bracket, over P, at its Adam budget."""
    run = json.loads(path.read_text())
    p = run["n_train"]
    return {
        "n_train": p,
        "adam_steps": steps,
        "n_star": run["n_star"],
        "n_star_low": run["n_star_low"],
        "n_star_high": run["n_star_high"],
        "n_star_over_p": round(run["n_star"] / p, 4),
        "low_over_p": round(run["n_star_low"] / p, 4),
        "high_over_p": round(run["n_star_high"] / p, 4),
        "status": run["status"],
        "low_decision": run["low_decision"],
    }


def plot_budget(rows: list[dict], stem: Path, sat_widths: list[tuple[int, int, int]]) -> Path:
    fig, ax = new_figure(size=(5.5, 4))
    colors = {}
    for p in sorted({r["n_train"] for r in rows}):
        pts = sorted((r for r in rows if r["n_train"] == p), key=lambda r: r["adam_steps"])
        x = np.array([r["adam_steps"] for r in pts], dtype=float)
        y = np.array([r["n_star_over_p"] for r in pts])
        lo = y - np.array([r["low_over_p"] for r in pts])
        hi = np.array([r["high_over_p"] for r in pts]) - y
        line = ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", capsize=3, label=f"P = {p}")
        colors[p] = line.lines[0].get_color()
    for k, (p, steps, n) in enumerate(sat_widths):
        label = "one SAT width (N*/P at most)" if k == 0 else None
        ax.plot([steps], [n / p], "v", ms=8, color=colors.get(p, "black"), label=label)
    ax.axhline(0.3, ls="--", color="gray", label="0.3 (papers)")
    ax.axvspan(2e6, 1e7, color="gray", alpha=0.15, label="papers' budget (2M-10M steps)")
    ax.set_xscale("log")
    budgets = {r["adam_steps"] for r in rows} | {s for _, s, _ in sat_widths}
    ticks = sorted(budgets | {2_000_000, 10_000_000})
    ax.set_xticks(ticks, [f"{t / 1e6:g}M" if t >= 1e6 else f"{t / 1e3:g}k" for t in ticks])
    ax.minorticks_off()
    ax.tick_params(axis="x", labelrotation=45, labelsize=8)
    ax.set_xlabel("Adam steps per net (then the minimiser)")
    ax.set_ylabel("N*/P (bisection bracket)")
    ax.set_ylim(0.2, 0.7)
    ax.set_title("random data, L = 5, d ~ h: N*/P against the step budget", fontsize=9)
    ax.legend(fontsize=8)
    return save_figure(fig, stem)  # the numbers go to <stem>.csv/.md/.json via save_table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="NSTAR_JSON:STEPS")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sat-width", action="append", default=[], metavar="P:STEPS:N")
    args = parser.parse_args()
    sat_widths = []
    for item in args.sat_width:
        parts = item.split(":")
        if len(parts) != 3 or not all(x.isdigit() for x in parts):
            parser.error(f"expected --sat-width P:STEPS:N, got {item!r}")
        sat_widths.append((int(parts[0]), int(parts[1]), int(parts[2])))
    rows = []
    for item in args.runs:
        path, _, steps = item.rpartition(":")
        if not path or not steps.isdigit():
            parser.error(f"expected NSTAR_JSON:STEPS, got {item!r}")
        if not Path(path).is_file():
            parser.error(f"no such nstar.json: {path}")
        rows.append(budget_row(Path(path), int(steps)))
    rows.sort(key=lambda r: (r["n_train"], r["adam_steps"]))
    plot_budget(rows, args.out, sat_widths)
    save_table(rows, args.out, title="N*/P against the Adam step budget (L = 5, d ~ h)")
    for r in rows:
        print(f"P = {r['n_train']:>5}  {r['adam_steps']:>7} steps  N*/P = {r['n_star_over_p']:.3f}"
              f" ({r['low_over_p']:.3f}-{r['high_over_p']:.3f})")  # fmt: skip
    for p, steps, n in sat_widths:
        print(f"P = {p:>5}  {steps:>7} steps  N = {n} SAT: N*/P <= {n / p:.3f}")

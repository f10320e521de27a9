"""One whole N* search per protocol, side by side in one process (issue 14, point 4).

The issue's benchmark: the time to decide SAT/UNSAT for the widths of one N* search at P = 2,000
(random data, L = 5, d = 17, 2 seeds; the descending search on the fig. 1A grid with 3
bisection rounds), each protocol run to its own bracket, one after another in this process on the
same data and thread count:

* ``adam``: the Adam protocol of the README (lr 1e-3, /10 every 15,000 steps, 40,000-step cap, the
  authors' rule N_Delta <= 0.1 N at the cap, as that protocol cannot certify UNSAT): the anchor;
* ``lm``: 20,000 Adam steps at lr 1e-3, then the minimiser (N_Delta = 0, a converged UNSAT
  minimum, or undecided), in float64 throughout;
* ``lm-mixed``: the same with ``precision=mixed`` (Adam in float32 while every net has
  N_Delta > 5% of P, then float64; the minimiser in float64);
* ``adam-mixed``: the anchor with ``precision=mixed`` (the precision's own gain).

Each row gives seconds, the speed-up against the anchor, the bracket and every width's decision,
the seconds per width, and ``ceiling_if_unsat_free``: the anchor's time over the time this protocol
spent on the widths it found SAT, i.e. the speed-up it would reach if every width below N* were
certified UNSAT at no cost (an upper bound on what a fast UNSAT certificate can buy).

    python packages/jamming/benchmarks/bench_jamming_nstar.py [--arms adam,lm,lm-mixed]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from dltheory.core.bench import git_commit, write_bench
from dltheory.jamming.config import NStarConfig
from dltheory.jamming.ensembles import load_data
from dltheory.jamming.nstar import find_nstar

ARMS = {
    "adam": dict(optimizer="adam", sat_criterion="authors", max_steps=40000, lr_decay_every=15000),
    "lm": dict(optimizer="lm", max_steps=20000),
    "lm-mixed": dict(optimizer="lm", max_steps=20000, precision="mixed"),
    "adam-mixed": dict(
        optimizer="adam",
        sat_criterion="authors",
        max_steps=40000,
        lr_decay_every=15000,
        precision="mixed",
    ),
}


def search_row(arm: str, P: int, d: int, seeds: int, n_bisect: int, device: str) -> dict:
    cfg = NStarConfig(
        dataset="random",
        n_train=P,
        d=d,
        depth=5,
        n_seeds=seeds,
        lr=1e-3,
        search="descend",
        n_grid=8,
        max_factor=1.5,
        min_factor=0.1,
        n_bisect=n_bisect,
        device=device,
        **ARMS[arm],
    )
    data = load_data(cfg)
    t0 = time.perf_counter()
    result = find_nstar(cfg, data)
    seconds = time.perf_counter() - t0
    by_width: dict[int, list[dict]] = {}
    for r in result["records"]:
        by_width.setdefault(int(r["n_params"]), []).append(r)
    # the nets of one width train as one stacked ensemble: its times are on every record
    width_seconds = {n: rs[0]["seconds_adam"] + rs[0]["seconds_lm"] for n, rs in by_width.items()}
    sat_widths = [n for n in by_width if result["decisions"].get(n) == "sat"]
    return {
        "scenario": f"N* search, P={P}, L=5, d={d}, {seeds} seeds",
        "method": arm,
        "seconds": round(seconds, 1),
        "seconds_first_order": round(sum(rs[0]["seconds_adam"] for rs in by_width.values()), 1),
        "seconds_minimiser": round(sum(rs[0]["seconds_lm"] for rs in by_width.values()), 1),
        "bracket": f"{result['n_star_low']}-{result['n_star_high']}",
        "n_star_over_p": result["n_star_over_p"],
        "decisions": result["decisions"],
        "n_delta": {n: [r["n_delta"] for r in rs] for n, rs in sorted(by_width.items())},
        "seconds_per_width": {n: round(t, 1) for n, t in sorted(width_seconds.items())},
        "seconds_sat_widths": round(sum(width_seconds[n] for n in sat_widths), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--P", type=int, default=2000)
    parser.add_argument("--d", type=int, default=17)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-bisect", type=int, default=3)
    parser.add_argument("--arms", default="adam,lm,lm-mixed,adam-mixed")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "results" / "local-bench_nstar.json"
    )
    args = parser.parse_args()
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; choose from {', '.join(ARMS)}")
    torch.set_num_threads(args.threads)
    rows = []
    for arm in arms:
        rows.append(search_row(arm, args.P, args.d, args.seeds, args.n_bisect, args.device))
        print(f"{arm}: {rows[-1]['seconds']} s, bracket {rows[-1]['bracket']}", flush=True)
    anchor = rows[0]["seconds"]
    commit = git_commit()
    for r in rows:
        r["speed_up"] = round(anchor / r["seconds"], 2)
        # the most any UNSAT certificate could give: every width not found SAT decided in 0 s
        sat_seconds = r["seconds_sat_widths"]  # 0 when the search found no SAT width
        r["ceiling_if_unsat_free"] = round(anchor / sat_seconds, 2) if sat_seconds else None
        r["same_decisions_as_anchor"] = _agree(rows[0]["decisions"], r["decisions"])
        r["threads"], r["commit"] = args.threads, commit
    print(write_bench(rows, args.out, title=f"one N* search per protocol (anchor: {arms[0]})"))


def _agree(anchor: dict, other: dict) -> str:
    """'yes' when every width both searches decided got the same SAT / not-SAT answer."""
    common = sorted(set(anchor) & set(other), key=int)
    differ = [n for n in common if (anchor[n] == "sat") != (other[n] == "sat")]
    return "yes" if not differ else "differ at N = " + ", ".join(str(n) for n in differ)


if __name__ == "__main__":
    main()

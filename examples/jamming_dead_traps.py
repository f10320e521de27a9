"""Dead-unit traps below N*: an artefact of the initialisation or the learning rate?

Random data (d = 10, L = 2, P = 160, N* ~ 90 here), 4 seeds at N = 0.25, 0.4, 0.55 P (all below
N*), Adam then the Levenberg-Marquardt minimiser, under four settings: the authors' init
(orthogonal, gain 1, standard parametrisation) at Adam lr 1e-2 and 1e-3, He gain sqrt 2, and the
NTK parametrisation. Per setting: how the nets end (sat, unsat at a live minimum, dead-unit trap
certified UNSAT by ``minimiser.dead_trap_certificate``, trap left undecided, unconverged) and the
fraction of nets below N* that the N* rule counts as certified UNSAT with and without the trap
certificate.

    python examples/jamming_dead_traps.py [--out traps.csv]
    DLTHEORY_EXAMPLE_SMOKE=1 python examples/jamming_dead_traps.py   # P = 40, a few seconds
"""

import argparse
import csv
import os
import time

import torch

from dltheory.jamming.config import NStarConfig
from dltheory.jamming.ensembles import load_data, train_widths
from dltheory.jamming.models import width_for_count
from dltheory.jamming.nstar import net_is_sat

SETTINGS = {
    "authors (orth. gain 1, lr 1e-2)": {},
    "lr 1e-3": {"lr": 1e-3},
    "gain sqrt 2": {"gain": 2**0.5},
    "NTK parametrisation": {"parametrisation": "ntk", "init": "normal", "lr": 1e-1},
}


def classify(r: dict) -> str:
    if r["outcome"] != "unsat":
        return r["outcome"]
    if r["n_dead"] >= r["n_delta"] > 0:
        return "trap certified" if r["trap_unsat"] else "trap undecided"
    return "unsat (live)"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=None, help="CSV of every net (optional)")
    args = parser.parse_args()
    smoke = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
    torch.set_num_threads(1)
    P = 40 if smoke else 160
    ratios = (0.3,) if smoke else (0.25, 0.4, 0.55)
    rows = []
    print(
        "setting | nets | sat | unsat (live) | trap certified | trap undecided | unconverged |"
        " certified UNSAT before -> after | seconds"
    )
    for name, extra in list(SETTINGS.items())[:2] if smoke else SETTINGS.items():
        cfg = NStarConfig(
            n_train=P,
            d=10,
            depth=2,
            n_seeds=2 if smoke else 4,
            optimizer="lm",
            lr=extra.get("lr", 1e-2),
            max_steps=300 if smoke else 3000,
            lm_escape_rounds=1 if smoke else 4,
            gain=extra.get("gain", 1.0),
            parametrisation=extra.get("parametrisation", "standard"),
            init=extra.get("init", "orthogonal"),
        )
        data = load_data(cfg)
        widths = [width_for_count(r * P, 10, 2) for r in ratios]
        t0 = time.perf_counter()
        _, _, records = train_widths(cfg, data, widths)
        seconds = time.perf_counter() - t0
        kinds = [classify(r) for r in records]
        before = sum(
            net_is_sat({**r, "trap_unsat": False}) is False for r in records
        )  # the old rule: every trap undecided
        after = sum(net_is_sat(r) is False for r in records)
        counts = [
            kinds.count(k)
            for k in ("sat", "unsat (live)", "trap certified", "trap undecided", "unconverged")
        ]
        print(
            f"{name} | {len(records)} | "
            + " | ".join(map(str, counts))
            + f" | {before}/{len(records)} -> {after}/{len(records)} | {seconds:.0f}"
        )
        for r, k in zip(records, kinds):
            rows.append(
                {
                    "setting": name,
                    "n_params": r["n_params"],
                    "seed": r["seed"],
                    "n_delta": r["n_delta"],
                    "trap_gap": r["trap_gap"],
                    "n_dead": r["n_dead"],
                    "kind": k,
                }
            )
    if args.out:
        with open(args.out, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

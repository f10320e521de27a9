"""Gap distributions and the Gauss-Newton Hessian spectrum around N* (arXiv:1809.09349 sec. IV).

Random data (d = 10, L = 2, P = 160, N* ~ 90 here): nets below, near and above N* are minimised
(Adam, then the Levenberg-Marquardt minimiser); per N: the outcomes, N_Delta against N, the rank
and smallest eigenvalues of J_A^T J_A, and, pooled over the nets below N*, the gap exponents
theta (unsatisfied, p(Delta) ~ Delta^theta) and gamma (satisfied, p(|Delta|) ~ |Delta|^-gamma).

    python examples/jamming_gaps_spectrum.py
    DLTHEORY_EXAMPLE_SMOKE=1 python examples/jamming_gaps_spectrum.py   # P = 40, a few seconds
"""

import os

import torch

from dltheory.jamming.config import NStarConfig
from dltheory.jamming.ensembles import load_data, train_widths
from dltheory.jamming.fits import FitError
from dltheory.jamming.models import width_for_count
from dltheory.jamming.spectrum import density_exponent, gauss_newton_spectrum


def main() -> None:
    smoke = bool(os.environ.get("DLTHEORY_EXAMPLE_SMOKE"))
    torch.set_num_threads(1)
    P = 40 if smoke else 160
    cfg = NStarConfig(
        dataset="random",
        n_train=P,
        d=10,
        depth=2,
        n_seeds=2 if smoke else 4,
        optimizer="lm",
        lr=1e-2,
        max_steps=300 if smoke else 3000,
        lm_escape_rounds=1 if smoke else 4,
    )
    data = load_data(cfg)
    ratios = (0.3, 1.0) if smoke else (0.25, 0.4, 0.55, 0.9, 1.9)
    widths = [width_for_count(r * P, 10, 2) for r in ratios]
    net, _, records = train_widths(cfg, data, widths)
    spectra = gauss_newton_spectrum(net, data.x_train, data.y_train)
    with torch.no_grad():
        gaps = 1 - data.y_train * net.forward(data.x_train)
    positive, satisfied = [], []
    print("N  seed  outcome  N_Delta  n_dead  rank(J_A^T J_A)  smallest nonzero eigenvalue")
    for e, r in enumerate(records):
        ev = spectra[e]
        tol = 1e-10 * float(ev.max()) if len(ev) else 0.0
        nonzero = ev[ev > tol]
        smallest = f"{float(nonzero.min()):.3g}" if len(nonzero) else "-"
        print(
            f"{r['n_params']:5d} {r['seed']:5d}  {r['outcome']:11s} {r['n_delta']:5d} "
            f"{r['n_dead']:5d}  {len(nonzero):5d}  {smallest}"
        )
        if r["outcome"] != "sat" and r["n_dead"] < r["n_delta"]:  # below N*, not a dead trap
            positive += gaps[e][gaps[e] > 0].tolist()
            satisfied += (-gaps[e][gaps[e] <= 0]).tolist()
    for name, values, sign in (("theta", positive, 1), ("gamma", satisfied, -1)):
        try:
            fit = density_exponent(values, fraction=0.3)
            lo, hi = sorted((sign * fit.ci_low, sign * fit.ci_high))
            print(
                f"{name} = {sign * fit.exponent:+.2f} [{lo:+.2f}, {hi:+.2f}] ({len(values)} gaps)"
            )
        except FitError as exc:
            print(f"{name}: no result ({exc})")


if __name__ == "__main__":
    main()

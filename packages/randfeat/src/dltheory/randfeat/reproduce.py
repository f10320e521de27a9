"""``reproduce``: each paper's main figure plus a phase space, with a manifest."""

from __future__ import annotations

import time
from pathlib import Path

from dltheory.randfeat.commands import draw_phase, phase_grid
from dltheory.randfeat.configs import PhaseConfig
from dltheory.randfeat.figures import (
    figure_data_structure,
    figure_double_trouble,
    figure_networks,
    figure_triple_descent,
)


def reproduce(out: Path, quick: bool = True, device="cpu"):
    """Draw the three papers' figures (theory lines, simulation points), the trained-network figure and a
    phase space under ``out``."""
    from dltheory.core.report import ReproduceReport

    out = Path(out)
    rep = ReproduceReport(
        out, title="Random features: double trouble, triple descent, data structure"
    )
    captions = {
        "double_trouble": "2003.01054: ensembles K = 1, 2, 10, inf (lines) vs simulations (points), N = D, "
        "ReLU, lam_MM = 1e-4, tau = 0.1; right: bias / init / sampling / noise variance of K = 1.",
        "triple_descent": "2006.03509: sample-wise test error at P/D = 10, Delta = 5, lam_rep = 0.1 for degrees "
        "of linearity r; peaks at N = D (linear) and N = P (nonlinear); right: feature spectrum at N = D.",
        "data_structure": "2103.05524: classification error vs N/D at P = D, tanh, square vs logistic loss on "
        "isotropic and aligned two-block data, lam_rep = 1e-3 as in the paper.",
        "networks": "Realistic networks (2006.03509, 2003.01054): two-layer nets with both layers trained by "
        "full-batch Adam, single and ensembles of K = 4; left: noisy linear teacher with the "
        "random-features theory of the same width; right: digits parity vs random features.",
    }
    for name, fn in (
        ("double_trouble", figure_double_trouble),
        ("triple_descent", figure_triple_descent),
        ("data_structure", figure_data_structure),
        ("networks", figure_networks),
    ):
        start = time.time()
        path, metrics = fn(out, quick=quick, device=device)
        rep.add_figure(path, captions[name])
        for note in metrics.pop("notes", []):
            rep.add_note(note)
        for key, value in metrics.items():
            rep.add_metric(key, value)
        rep.add_metric(f"{name}_seconds", round(time.time() - start, 1))
    cfg = PhaseConfig(
        task="regression",
        activation="tanh",
        ridge=0.1,
        noise=0.5,
        lo=10**-1.5,
        hi=10**2.5,
        num=30 if quick else 60,
    )
    path = draw_phase(
        phase_grid(cfg), out / "phase_space", title="tanh, lam_rep = 0.1, Delta = 0.5"
    )
    rep.add_figure(
        path,
        "2006.03509: phase space of the test error over (N/D, P/D) with N = D and N = P lines.",
    )
    rep.add_note(
        "Simulation points: mean +- standard error over seeds; theory: replica / effective-ridge solvers."
    )
    rep.write()
    return rep

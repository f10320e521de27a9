"""``reproduce``: the three papers' figures, phase spaces, trained networks, MNIST-t10k and the claims.

Scales: ``quick`` (about two minutes of one core; the CI demo), ``full`` (larger simulations, more
seeds: about ten minutes of one core), ``paper`` (the authors' sizes; needs MNIST-t10k and CIFAR-10
offline and refuses, before running anything, when one is missing).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from dltheory.randfeat.claims import CLAIMS
from dltheory.randfeat.config import PhaseConfig
from dltheory.randfeat.errors import RandfeatInputError, require

SCALES = ("quick", "full", "paper")

CAPTIONS = {
    "double_trouble": "2003.01054: ensembles K = 1, 2, 10, inf (lines) vs simulations (points), N = D, "
    "ReLU, lam_MM = 1e-4, tau = 0.1; right: bias / init / sampling / noise variance of K = 1.",
    "ensembles": "2003.01054: one model against K members at an equal parameter budget; optimal ridge "
    "vs K; the split at tau = 1; real K-member ensembles (points, mean +- SE) vs the theory (lines).",
    "triple_descent": "2006.03509: sample-wise test error at P/D = 10, Delta = 5, lam_rep = 0.1 for "
    "degrees of linearity r; peaks at N = D (linear) and N = P (nonlinear); right: feature spectrum.",
    "triple_descent_more": "2006.03509: parameter-wise curve (N/D = 10), inputs on the sphere vs the "
    "theory, and the height of each peak against the ridge.",
    "phase_spaces": "2006.03509: phase spaces for tanh and ReLU, lam_rep in {0.1, 1e-3}, "
    "Delta in {0, 0.5, 5}.",
    "data_structure": "2103.05524: classification error vs N/D at P = D, tanh, square vs logistic loss "
    "on isotropic and aligned two-block data, lam_rep = 1e-3 as in the paper.",
    "data_structure_more": "2103.05524: misaligned data, the r_beta alignment sweep at P/D = 100, and "
    "block phase spaces (square loss, lam = 0.1, r_beta = 100, r_phi = 100) for r_x = 0.01, 1, 100.",
    "mnist_structure": "2103.05524 realistic data: MNIST-t10k parity after PCA with whitening power "
    "1 / 0 / 1.25, random features P = D, square vs logistic loss.",
    "networks": "Realistic networks (2006.03509, 2003.01054): two-layer nets with both layers trained "
    "by full-batch Adam, single and ensembles of K = 4; left: noisy linear teacher with the "
    "random-features theory of the same width; right: digits parity vs random features.",
}


def _cifar10_root() -> Path | None:
    from dltheory.core.data import shared_data_dir

    shared = shared_data_dir()
    for name in ("cifar-10-batches-py", "cifar10", "cifar-10"):
        if shared is not None and (shared / name).is_dir():
            return shared / name
    return None


def paper_requirements() -> list[str]:
    """What the paper scale needs that is missing here (empty when everything is present)."""
    from dltheory.randfeat.data import mnist_root

    missing = []
    if mnist_root() is None:
        missing.append("MNIST-t10k (set DLTHEORY_SHARED_DATA to a folder holding mnist-t10k/)")
    if _cifar10_root() is None:
        missing.append("CIFAR-10 (cifar-10-batches-py/ under DLTHEORY_SHARED_DATA)")
    return missing


def reproduce(out, *, scale: str = "quick", device="auto"):
    """Draw every figure under ``out``, write ``manifest.json`` and ``claims.json`` (verdicts from
    the claims' rules) and return the :class:`~dltheory.core.report.ReproduceReport`."""
    from dltheory.core.claims import ClaimBoard
    from dltheory.core.device import resolve_device
    from dltheory.core.report import ReproduceReport
    from dltheory.randfeat import figures
    from dltheory.randfeat.data import mnist_root
    from dltheory.randfeat.phase import phase_grid

    require(scale in SCALES, f"scale must be one of {', '.join(SCALES)}, not {scale!r}")
    if scale == "paper":
        print(
            "randfeat paper scale needs: CPU only; MNIST-t10k and CIFAR-10 offline (the "
            "realistic experiments of 2103.05524); about 1-2 h of one core (D = 1000 block "
            "simulations, 100 feature draws per ensemble point, 5 seeds of trained networks).",
            file=sys.stderr,
        )
        missing = paper_requirements()
        if missing:
            raise RandfeatInputError(f"--scale paper needs {'; '.join(missing)}")
    device = resolve_device(device)
    out = Path(out)
    board = ClaimBoard(CLAIMS, scale)
    rep = ReproduceReport(
        out, title=f"Random features: double trouble, triple descent, data structure ({scale})"
    )
    steps = [
        ("double_trouble", figures.figure_double_trouble),
        ("ensembles", figures.figure_ensembles),
        ("triple_descent", figures.figure_triple_descent),
        ("triple_descent_more", figures.figure_triple_extra),
        ("phase_spaces", figures.figure_phase_spaces),
        ("data_structure", figures.figure_data_structure),
        ("data_structure_more", figures.figure_structure_extra),
        ("mnist_structure", figures.figure_real_structure),
        ("networks", figures.figure_networks),
    ]
    for name, fn in steps:
        if name == "mnist_structure" and mnist_root() is None:
            rep.add_note("mnist_structure: skipped, MNIST-t10k not found (DLTHEORY_SHARED_DATA)")
            continue
        start = time.time()
        path, metrics = fn(out, scale=scale, device=device)
        seconds = time.time() - start
        rep.add_figure(path, CAPTIONS[name])
        for note in metrics.pop("notes", []):
            rep.add_note(note)
        for claim_id, m in metrics.pop("claims", {}).items():
            if board.wants(claim_id):
                board.measure(
                    claim_id,
                    m["value"],
                    m.get("uncertainty"),
                    seeds=m.get("seeds"),
                    seconds=m.get("seconds", seconds),
                    **m.get("details", {}),
                )
        for key, value in metrics.items():
            rep.add_metric(key, value)
        rep.add_metric(f"{name}_seconds", round(seconds, 1))
    cfg = PhaseConfig(
        task="regression",
        activation="tanh",
        ridge=0.1,
        noise=0.5,
        lo=10**-1.5,
        hi=10**2.5,
        num=30 if scale == "quick" else 60,
    )
    path = figures.draw_phase(
        phase_grid(cfg), out / "phase_space", title="tanh, lam_rep = 0.1, Delta = 0.5"
    )
    rep.add_figure(
        path,
        "2006.03509: phase space of the test error over (N/D, P/D) with N = D and N = P lines.",
    )
    rep.add_note(
        "Simulation points: mean +- standard error over seeds; theory: replica / effective-ridge "
        "solvers. Claims: claims.json (verdicts computed from each claim's rule)."
    )
    import torch

    rep.add_metric("torch_threads", torch.get_num_threads())
    board.write(out)
    rep.write()
    return rep

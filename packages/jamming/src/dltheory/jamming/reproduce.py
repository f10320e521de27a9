"""`dltheory jamming reproduce`: the papers' main figures at small (--quick) or paper-like scale.

1. Phase diagram N*(P) on Gaussian random data (arXiv:1809.09349 fig. 1A).
2. Test error vs N with the cusp at N* and the ensemble-averaged curve; fluctuations
   ||f_N - f_bar_N|| vs N with the fitted exponent; ||f_N|| vs N - N*; NTK fluctuations
   (arXiv:1810.09665 fig. 2, 1901.01608) on MNIST parity after PCA (scikit-learn digits offline;
   the MNIST IDX files of the shared data folder when present, for the full preset).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from .ensembles import to_json
from .figures import nstar_slope, plot_phase, plot_scaling
from .nstar import PhaseConfig, phase_diagram
from .scaling import ScalingConfig, run_scaling


def presets(
    quick: bool, device: str, executor: str, max_workers: int
) -> tuple[PhaseConfig, ScalingConfig]:
    common = {"device": device, "executor": executor, "max_workers": max_workers}
    if quick:
        phase = PhaseConfig(
            dataset="random",
            d=10,
            depth=2,
            train_sizes=[80, 160, 320],
            n_seeds=2,
            n_grid=7,
            max_factor=1.6,
            min_factor=0.15,
            n_bisect=2,
            lr=1e-2,
            lr_decay_every=1500,
            max_steps=4000,
            **common,
        )
        scale = ScalingConfig(
            dataset="mnist",
            source="digits",
            n_train=160,
            n_test=None,
            d=10,
            depth=2,
            n_seeds=8,
            n_points=10,
            n_min_factor=0.1,
            n_max_factor=20.0,
            parametrisation="ntk",
            init="normal",
            subtract_init=True,
            lr=1e-2,
            lr_decay_every=1500,
            max_steps=4000,
            n_ntk=24,
            **common,
        )
        return phase, scale
    from dltheory.core.data import shared_data_dir

    has_idx = shared_data_dir() is not None and (shared_data_dir() / "mnist-t10k").exists()
    phase = PhaseConfig(
        dataset="random",
        d=20,
        depth=3,
        train_sizes=[500, 1000, 2000, 4000, 8000],
        n_seeds=4,
        n_grid=10,
        max_factor=1.0,
        min_factor=0.05,
        n_bisect=4,
        lr=1e-2,
        lr_decay_every=50_000,
        max_steps=200_000,
        **common,
    )
    scale = ScalingConfig(
        dataset="mnist",
        source="idx" if has_idx else "digits",
        n_train=5000 if has_idx else 1000,
        n_test=None,
        d=10,
        depth=5,
        n_seeds=16,
        n_points=14,
        n_min_factor=0.01,
        n_max_factor=20.0,
        lr=1e-2,
        parametrisation="ntk",
        init="normal",
        subtract_init=True,
        lr_decay_every=50_000,
        max_steps=200_000,
        n_ntk=64,
        **common,
    )
    return phase, scale


def reproduce(
    quick: bool, out: Path, device: str = "auto", executor: str = "local", max_workers: int = 2
) -> Path:
    from dltheory.core.plotting import save_table
    from dltheory.core.report import ReproduceReport

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cpu" if device == "auto" and quick else device
    phase_cfg, scale_cfg = presets(quick, dev, executor, max_workers)
    report = ReproduceReport(out, title="Jamming transition and N-scaling of FC nets")
    t0 = time.time()

    rows = phase_diagram(phase_cfg)
    save_table(
        [{k: v for k, v in r.items() if k != "records"} for r in rows],
        out / "phase",
        title="N* search per P (random data)",
    )
    fig = plot_phase(
        rows,
        out / "phase_diagram",
        title=f"random data, d={phase_cfg.d}, L={phase_cfg.depth}, {phase_cfg.max_steps} steps",
    )
    (out / "phase.json").write_text(to_json(rows, indent=1))
    slope = nstar_slope(rows)
    report.add_figure(fig, "N*(P) on Gaussian random data; bars are the bisection brackets")
    report.add_table(out / "phase.md", "N* searches")
    report.add_metric("nstar_over_p_random", slope)

    result = run_scaling(scale_cfg)
    save_table(result["rows"], out / "scaling", title="ensembles across N (MNIST parity, PCA)")
    fig = plot_scaling(
        result,
        out / "scaling",
        title=f"MNIST parity ({scale_cfg.source}, PCA d={scale_cfg.d}), P={scale_cfg.n_train}, "
        f"L={scale_cfg.depth}, {scale_cfg.n_seeds} nets per N",
    )
    (out / "scaling.json").write_text(to_json(result, indent=1))
    report.add_figure(
        fig, "test error and ensemble error vs N, fluctuations, output norm, NTK fluctuations"
    )
    report.add_table(out / "scaling.md", "ensemble statistics per N")
    report.add_metric(
        "nstar_over_p_mnist",
        result["n_star"] / scale_cfg.n_train if math.isfinite(result["n_star"]) else math.nan,
    )
    for name, fit in result["fits"].items():
        if "exponent" in fit:
            report.add_metric(f"exponent_{name}", fit["exponent"])
            report.add_metric(f"exponent_{name}_ci", [fit["ci_low"], fit["ci_high"]])
    report.add_note(
        "Paper values: N*/P ~ 0.3 for random data; ||f - f_bar|| ~ N^-1/4; "
        "eps_N - eps_inf ~ N^-1/2; ||f|| ~ (N - N*)^-1. Quick runs use short step caps, "
        "which bias N* upward (slow nets near N* count as UNSAT)."
    )
    report.add_metric("wall_seconds", round(time.time() - t0, 1))
    return report.write()

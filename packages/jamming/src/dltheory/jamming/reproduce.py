"""`dltheory jamming reproduce`: the papers' results and a claims scoreboard at three scales.

1. N*(P) on Gaussian random data (arXiv:1809.09349 fig. 1A): one N* search per P with the
   minimiser deciding SAT / converged UNSAT (``optimizer="lm"``, exact criterion).
2. Test error through N* (the cusp), ensemble averages, fluctuations ||f_N - f_bar_N||, ||f_N||
   near N* and NTK fluctuations (arXiv:1810.09665 fig. 2, 1901.01608) on MNIST parity after PCA,
   nets minimised to convergence (no early stopping).

Scales: ``quick`` (about 2 min of one core: small P, scikit-learn digits), ``full`` (the largest
setting that fits ~10-20 min here: P up to 1000 for N*, the MNIST t10k IDX files when present),
``paper`` (P up to 60k, 2M-10M steps: refused here with what it needs).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from dltheory.core.errors import DltheoryError, require_choice

from .claims import CLAIMS
from .config import PhaseConfig, ScalingConfig
from .ensembles import to_json

SCALES = ("quick", "full", "paper")
DEPTHS = (2, 3, 5)


def presets(scale: str, device: str = "cpu") -> tuple[PhaseConfig, ScalingConfig]:
    """The phase-diagram and scaling configurations of a scale."""
    if scale == "quick":
        common: dict[str, Any] = {"device": device, "executor": "serial", "max_workers": 1}
        phase = PhaseConfig(
            dataset="random",
            d=10,
            depth=2,
            train_sizes=[80, 160],
            n_seeds=2,
            n_grid=6,
            max_factor=1.2,
            min_factor=0.15,
            n_bisect=2,
            optimizer="lm",
            lr=1e-2,
            max_steps=1500,
            **common,
        )
        scale_cfg = ScalingConfig(
            dataset="mnist",
            source="digits",
            n_train=160,
            n_test=None,
            d=10,
            depth=2,
            n_seeds=6,
            n_points=8,
            n_min_factor=0.15,
            n_max_factor=12.0,
            parametrisation="ntk",
            init="normal",
            subtract_init=True,
            optimizer="lm",
            lr=1e-2,
            max_steps=1500,
            n_ntk=16,
            **common,
        )
        return phase, scale_cfg
    if scale == "full":
        from dltheory.core.data import shared_data_dir

        root = shared_data_dir()
        has_idx = root is not None and (root / "mnist-t10k").exists()
        common = {"device": device, "executor": "local", "max_workers": 2}
        # fig. 1A's setting, L = 5 and d = h near N* (d = 8 at P = 500, 12 at P = 1000: the
        # widths at N* are 7.4-8 and ~11), at the largest P whose search fits a few minutes here;
        # deep narrow nets need Adam at lr 1e-3 (1e-2 diverges at L = 5) and ~20k steps
        phase = PhaseConfig(
            dataset="random",
            d=8,
            depth=5,
            train_sizes=[500, 1000],
            dims=[8, 12],
            n_seeds=2,
            n_grid=8,
            max_factor=1.5,
            min_factor=0.1,
            n_bisect=3,
            search="descend",
            stop_early=False,  # every seed decided: the sharpness claim needs all-SAT widths
            optimizer="lm",
            lr=1e-3,
            max_steps=20000,
            **common,
        )
        scale_cfg = ScalingConfig(
            dataset="mnist",
            source="idx" if has_idx else "digits",
            n_train=400,
            n_test=4000,
            d=10,
            depth=2,
            n_seeds=8,
            n_points=10,
            n_min_factor=0.1,
            n_max_factor=10.0,
            parametrisation="ntk",
            init="normal",
            subtract_init=True,
            optimizer="lm",
            lr=1e-2,
            max_steps=3000,
            n_ntk=24,
            **common,
        )
        return phase, scale_cfg
    raise DltheoryError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")


PAPER_NEEDS = (
    "the paper scale needs random data with P from 500 to 60,000 at L = 5, d = h (nets of "
    "N ~ 0.3 P = 20,000 weights: a Gauss-Newton system of that size per net, i.e. a GPU with "
    "~40 GB), MNIST's 70k images (torchvision, --data-root) and 2M-10M Adam steps per net in "
    "the authors' protocol: days of GPU time"
)


# ------------------------------------------------------------------------------ measurements


def bracket_se(search: dict) -> float:
    """SE of N* from its bisection bracket [lo, hi], read as a uniform distribution: half / sqrt 3."""
    return (search["n_star_high"] - search["n_star_low"]) / 2 / math.sqrt(3)


def summary(search: dict) -> dict:
    """A search without its per-net records (one table row)."""
    return {k: v for k, v in search.items() if k not in ("records", "decisions")}


def measure_nstar_plateau(rows: list[dict], top: int = 2) -> tuple[float, float, list[dict]]:
    """Mean N*/P over the ``top`` largest bracketed P and its SE (brackets and spread)."""
    ok = sorted((r for r in rows if r["status"] == "bracketed"), key=lambda r: r["n_train"])
    use = ok[-top:]
    if not use:
        return math.nan, math.nan, []
    ratios = [r["n_star"] / r["n_train"] for r in use]
    se_b = [bracket_se(r) / r["n_train"] for r in use]
    k = len(use)
    mean = sum(ratios) / k
    var_b = sum(s**2 for s in se_b) / k**2
    spread = sum((x - mean) ** 2 for x in ratios) / (k - 1) / k if k > 1 else 0.0
    return mean, math.sqrt(var_b + spread), use


def measure_sharpness(rows: list[dict]) -> tuple[float, float]:
    """Mean relative window (N_all_SAT - N_no_SAT) / N* over the P values, and its SE."""
    windows = []
    for r in rows:
        if r["status"] != "bracketed":
            continue
        by_n: dict[int, list[bool]] = {}
        for rec in r["records"]:
            by_n.setdefault(rec["n_params"], []).append(rec["outcome"] == "sat")
        ns = sorted(by_n)
        none = [n for n in ns if not any(by_n[n])]
        if not none:
            continue
        n_none = max(none)
        all_sat = [n for n in ns if n > n_none and all(by_n[n])]
        if not all_sat:
            continue
        windows.append((min(all_sat) - n_none) / r["n_star"])
    if not windows:
        return math.nan, math.nan
    mean = sum(windows) / len(windows)
    if len(windows) < 2:
        return mean, mean  # one P: no spread to estimate; the window itself as the uncertainty
    var = sum((w - mean) ** 2 for w in windows) / (len(windows) - 1)
    return mean, math.sqrt(var / len(windows))


def measure_depth_spread(results: list[dict]) -> tuple[float, float]:
    """(max - min) / mean of N* over the searches, SE from the brackets (uniform: half / sqrt 3)."""
    ok = [r for r in results if r["status"] == "bracketed"]
    if len(ok) < 2 or len(ok) < len(results):  # a depth without a bracket: no measurement
        return math.nan, math.nan
    stars = [r["n_star"] for r in ok]
    mean = sum(stars) / len(stars)
    halves = [bracket_se(r) for r in ok]
    i, j = stars.index(max(stars)), stars.index(min(stars))
    return (stars[i] - stars[j]) / mean, math.hypot(halves[i], halves[j]) / mean


def _se_error(row: dict, n_seeds: int) -> float:
    return row["test_error_std"] / math.sqrt(n_seeds)


def measure_cusp(rows: list[dict], n_star: float, n_seeds: int) -> tuple[float, float, dict]:
    """eps(N nearest N*) minus the larger neighbour's eps, with the SE of that difference."""
    if not math.isfinite(n_star) or len(rows) < 3:
        return math.nan, math.nan, {}
    i = min(range(len(rows)), key=lambda k: abs(math.log(rows[k]["n_params"] / n_star)))
    i = min(max(i, 1), len(rows) - 2)
    j = max((i - 1, i + 1), key=lambda k: rows[k]["test_error"])
    diff = rows[i]["test_error"] - rows[j]["test_error"]
    se = math.hypot(_se_error(rows[i], n_seeds), _se_error(rows[j], n_seeds))
    return diff, se, {"peak_N": rows[i]["n_params"], "neighbour_N": rows[j]["n_params"]}


def measure_ensemble_gain(rows: list[dict], n_star: float, n_seeds: int, n_test: int):
    """eps of single nets at the largest N minus eps of the ensemble just beyond N*, with SE."""
    beyond = [r for r in rows if math.isfinite(n_star) and r["n_params"] > n_star]
    if not beyond:
        return math.nan, math.nan, {}
    near, big = beyond[0], rows[-1]
    p = near["ensemble_test_error"]
    se = math.hypot(_se_error(big, n_seeds), math.sqrt(max(p * (1 - p), 1e-12) / n_test))
    return (
        big["test_error"] - p,
        se,
        {"ensemble_N": near["n_params"], "single_N": big["n_params"]},
    )


MNIST_NSTAR_P = 2000  # the MNIST N* search of the full scale (t10k: up to 8k training points)


def _mnist_nstar(board, report, phase_cfg: PhaseConfig, out: Path) -> None:
    """N*/P on MNIST parity (t10k IDX, PCA d = 10), the phase diagram's depth and protocol."""
    from dataclasses import asdict

    from dltheory.core.data import shared_data_dir
    from dltheory.core.plotting import save_table

    from .config import NStarConfig
    from .ensembles import config_from_dict
    from .nstar import find_nstar

    root = shared_data_dir()
    if root is None or not (root / "mnist-t10k").exists():
        board.not_run(
            "jamming.mnist_nstar_over_p",
            "the MNIST t10k IDX files are absent (../shared/data/mnist-t10k)",
        )
        return
    t0 = time.time()
    values = {
        **asdict(phase_cfg),
        "dataset": "mnist",
        "source": "idx",
        "data_root": str(root / "mnist-t10k"),
        "n_train": MNIST_NSTAR_P,
        "n_test": 2000,
        "d": 10,
        "max_factor": 1.0,
        "min_factor": 0.02,
        "stop_early": True,
    }
    res = find_nstar(config_from_dict(NStarConfig, values))
    row = summary(res)
    save_table([row], out / "mnist_nstar", title="N* on MNIST parity (t10k, PCA d = 10)")
    (out / "mnist_nstar.json").write_text(to_json(res, indent=1))
    report.add_table(out / "mnist_nstar.md", "N* on MNIST parity")
    P = res["n_train"]
    if res["status"] == "bracketed":
        se = bracket_se(res) / P
        value = res["n_star"] / P
    else:
        value, se = math.nan, math.nan
    board.measure(
        "jamming.mnist_nstar_over_p",
        value,
        se,
        seeds=phase_cfg.n_seeds,
        seconds=time.time() - t0,
        P=P,
        depth=res["depth"],
        status=res["status"],
    )


def _fit_claim(board, claim_id: str, fit: dict, seconds: float) -> None:
    if "exponent" in fit:
        board.measure(claim_id, fit["exponent"], (fit["ci_low"], fit["ci_high"]), seconds=seconds)
    else:
        board.measure(claim_id, math.nan, None, seconds=seconds, error=fit.get("error", ""))


# ------------------------------------------------------------------------------- reproduce


def reproduce(out, *, scale: str = "quick", device: str = "auto") -> Path:
    """Run the scale's experiments; write figures, tables, manifest.json and claims.json."""
    from dltheory.core.claims import ClaimBoard
    from dltheory.core.plotting import save_table
    from dltheory.core.report import ReproduceReport

    from .figures import nstar_slope, plot_phase, plot_scaling
    from .nstar import phase_diagram
    from .scaling import run_scaling

    require_choice("scale", scale, SCALES)
    if scale == "paper":
        print(f"jamming paper scale: {PAPER_NEEDS}")
        raise DltheoryError(
            "the paper scale cannot run here: no GPU and no 70k MNIST images "
            "(see the line above for what it needs)"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cpu" if device == "auto" else device
    phase_cfg, scale_cfg = presets(scale, dev)
    report = ReproduceReport(out, title=f"Jamming transition and N-scaling ({scale})")
    board = ClaimBoard(CLAIMS, scale)
    t0 = time.time()

    rows = phase_diagram(phase_cfg)
    t_phase = time.time() - t0
    save_table(
        [summary(r) for r in rows],
        out / "phase",
        title="N* search per P (random data, minimiser, exact criterion)",
    )
    value, se, used = measure_nstar_plateau(rows)
    dims = phase_cfg.dims or [phase_cfg.d]
    fig = plot_phase(
        rows,
        out / "phase_diagram",
        title=f"random data, d={','.join(map(str, dims))}, L={phase_cfg.depth}, minimiser",
        plateau=(value, se),
    )
    (out / "phase.json").write_text(to_json(rows, indent=1))
    report.add_figure(fig, "N*(P) on Gaussian random data; bars are the bisection brackets")
    report.add_table(out / "phase.md", "N* searches")
    report.add_metric("nstar_over_p_fit", nstar_slope(rows))
    board.measure(
        "jamming.nstar_over_p",
        value,
        se,
        seeds=phase_cfg.n_seeds,
        seconds=t_phase,
        P=[r["n_train"] for r in used],
    )
    value, se = measure_sharpness(rows)
    board.measure("jamming.sharp_transition", value, se, seeds=phase_cfg.n_seeds, seconds=t_phase)

    if board.wants("jamming.depth_independence"):
        from dataclasses import asdict

        from .config import NStarConfig
        from .ensembles import config_from_dict
        from .nstar import find_nstar

        t_depth = time.time()
        # the phase diagram's protocol at its smallest P and d, for every depth (the search of
        # the phase diagram's own depth is reused)
        P0 = min(phase_cfg.train_sizes or [500])
        d0 = rows[[r["n_train"] for r in rows].index(P0)]["d"]
        base = {**asdict(phase_cfg), "n_train": P0, "d": d0, "stop_early": True}
        searches = []
        for L in DEPTHS:
            same = [r for r in rows if r["n_train"] == P0 and r["depth"] == L]
            if same:
                searches.append(same[0])
            else:
                searches.append(find_nstar(config_from_dict(NStarConfig, {**base, "depth": L})))
        save_table(
            [summary(r) for r in searches], out / "depth", title=f"N* at P = {P0} for L = 2, 3, 5"
        )
        report.add_table(out / "depth.md", "depth independence")
        value, se = measure_depth_spread(searches)
        board.measure(
            "jamming.depth_independence",
            value,
            se,
            seeds=phase_cfg.n_seeds,
            seconds=time.time() - t_depth,
            n_star=[r["n_star"] for r in searches],
        )

    if board.wants("jamming.mnist_nstar_over_p"):
        _mnist_nstar(board, report, phase_cfg, out)

    t1 = time.time()
    result = run_scaling(scale_cfg)
    t_scale = time.time() - t1
    save_table(result["rows"], out / "scaling", title="ensembles across N (MNIST parity, PCA)")
    fig = plot_scaling(
        result,
        out / "scaling",
        title=f"MNIST parity ({scale_cfg.source}, PCA d={scale_cfg.d}), P={scale_cfg.n_train}, "
        f"L={scale_cfg.depth}, {scale_cfg.n_seeds} nets per N, minimiser",
    )
    (out / "scaling.json").write_text(to_json(result, indent=1))
    report.add_figure(fig, "test error (cusp), ensemble error, fluctuations, norm, NTK vs N")
    report.add_table(out / "scaling.md", "ensemble statistics per N")
    n_star, srows, n = result["n_star"], result["rows"], scale_cfg.n_seeds
    report.add_metric(
        "nstar_over_p_mnist", n_star / scale_cfg.n_train if math.isfinite(n_star) else math.nan
    )
    diff, se, info = measure_cusp(srows, n_star, n)
    board.measure("jamming.cusp", diff, se, seeds=n, seconds=t_scale, **info)
    fits = result["fits"]
    _fit_claim(board, "jamming.fluctuations", fits.get("fluctuation_vs_N", {}), t_scale)
    _fit_claim(board, "jamming.test_error_scaling", fits.get("test_error_vs_N", {}), t_scale)
    _fit_claim(board, "jamming.norm_divergence", fits.get("norm_vs_N_minus_Nstar", {}), t_scale)
    n_test = result.get("n_test") or 1000
    diff, se, info = measure_ensemble_gain(srows, n_star, n, n_test)
    board.measure("jamming.ensemble_optimum", diff, se, seeds=n, seconds=t_scale, **info)
    for name, fit in fits.items():
        if "exponent" in fit:
            report.add_metric(f"exponent_{name}", fit["exponent"])
            report.add_metric(f"exponent_{name}_ci", [fit["ci_low"], fit["ci_high"]])
        else:
            report.add_metric(f"exponent_{name}", fit.get("error", "no fit"))
    board.write(out)
    report.add_note(
        "N* is the smallest N whose nets reach N_Delta = 0, with UNSAT only at a converged "
        "minimum of the Levenberg-Marquardt minimiser (any-seed rule); see claims.json."
    )
    report.add_metric("wall_seconds", round(time.time() - t0, 1))
    return report.write()

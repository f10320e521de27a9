"""`dltheory dfa reproduce`: the paper's figures and claims (arXiv:2011.12428) at three scales.

quick: scikit-learn digits and small widths (about a minute of one core); full: MNIST-t10k for
the deep nonlinear measurements, more seeds and the MNIST comparison with BP (about 10 minutes of
one core); paper: the paper's own setting (1000 epochs, 10 seeds; a GPU and the datasets).
Every claim is measured with its uncertainty over seeds and judged by dltheory.core.claims.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from dltheory.core.claims import ClaimBoard, jackknife, mean_and_se
from dltheory.core.errors import DltheoryError, require_choice
from dltheory.core.plotting import save_table
from dltheory.core.report import ReproduceReport

from . import figures
from .alignment import alignment_times, order_slope, weight_cosines
from .claims import CLAIMS
from .config import TrainConfig
from .deep_linear import LinearDFAConfig, run_linear_dfa
from .teacher_student import TeacherStudentConfig, initial_state, integrate_ode, simulate
from .train import fit


@dataclass(frozen=True)
class Scale:
    """The sizes of one reproduce scale."""

    name: str
    shallow_n: int
    shallow_time: float
    shallow_seeds: int
    deep_dataset: str  # bottom-to-top, width sweep, degeneracy (mnist-t10k when available)
    layerwise_epochs: float
    deep_hidden: int
    deep_width: int
    deep_epochs: float
    deep_seeds: int
    widths: tuple[int, ...]
    width_seeds: int
    degeneracy_seeds: int
    degeneracy_epochs: float
    linear_grid: tuple[float, ...]
    linear_noise: tuple[float, ...]
    linear_steps: int
    linear_seeds: int
    cnn_seeds: int
    cnn_epochs: float
    cnn_input_size: int
    mnist_seeds: int
    mnist_epochs: float
    minutes: float  # the time estimate printed before a run (one core)


SCALES = {
    "quick": Scale(
        "quick", 500, 30.0, 3, "digits", 8, 4, 64, 6, 3, (32, 128, 512), 2, 3, 4,
        (0.2, 0.6, 1.0), (0.0, 0.5, 0.9), 300, 3, 3, 4, 0, 0, 0, 1.5,
    ),
    "full": Scale(
        "full", 1000, 50.0, 5, "mnist-t10k", 10, 4, 128, 6, 5, (32, 64, 128, 256, 512), 3, 5, 4,
        (0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.3, 0.6, 0.9), 600, 4, 4, 6, 14, 3, 20, 10,
    ),
    "paper": Scale(
        "paper", 1000, 100.0, 10, "mnist", 1000, 4, 64, 1000, 10, (16, 32, 64, 128, 256, 512),
        10, 10, 1000, (0.2, 0.4, 0.6, 0.8, 1.0), (0.0, 0.1, 0.2, 0.5, 0.9), 10_000, 10, 10, 1000,
        14, 10, 1000, 6000,
    ),
}  # fmt: skip


def _mean_se(values: list[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    return mean_and_se(finite)


# ------------------------------------------------------------------------- shallow theory
def first_time(t: np.ndarray, x: np.ndarray, threshold: float, below: bool = False) -> float:
    """The first logged time at which ``x`` reaches ``threshold`` (from above if ``below``)."""
    hit = np.nonzero(x <= threshold if below else x >= threshold)[0]
    return float(t[hit[0]]) if len(hit) else math.nan


def shallow(out: Path, spec: Scale, board: ClaimBoard, report: ReproduceReport) -> None:
    """Align-then-memorise and ODE-vs-simulation in the K=4, M=2 erf teacher-student model."""
    start = time.perf_counter()
    base = TeacherStudentConfig(n_inputs=spec.shallow_n, time=spec.shallow_time, n_logs=40)
    gaps, errors, rows = [], [], []
    curves: dict[str, dict[str, Any]] = {}
    for seed in range(spec.shallow_seeds):
        for method in ("dfa", "bp") if seed == 0 else ("dfa",):
            cfg = replace(base, method=method, seed=seed)
            state = initial_state(cfg)
            sim, ode = simulate(cfg, state), integrate_ode(cfg, state, dt=0.02)
            ode_eg = np.interp(sim["t"], ode["t"], ode["eg"])
            max_err = float(np.max(np.abs(sim["eg"] - ode_eg) / ode_eg))
            if seed == 0:
                curves[method] = {
                    **{f"ode_{k}": ode[k] for k in ("t", "eg", "cos_vb")},
                    **{f"sim_{k}": sim[k] for k in ("t", "eg", "cos_vb")},
                }
                report.add_metric(f"shallow_{method}_max_rel_err_sim_vs_ode", max_err)
            if method != "dfa":
                continue
            # align: cos(v, b) reaches 0.9; memorise: eps_g falls to half its initial value
            gap = {}
            for name, run in (("ode", ode), ("sim", sim)):
                t_align = first_time(run["t"], run["cos_vb"], 0.9)
                t_half = first_time(run["t"], run["eg"], run["eg"][0] / 2, below=True)
                gap[name] = math.log10(t_half / t_align) if t_align > 0 else math.nan
                rows.append({"seed": seed, "run": name, "t_aligned": t_align, "t_half": t_half})
            gaps.append(min(gap.values()))
            errors.append(max_err)
    report.add_figure(
        figures.align_then_memorise(out, curves, spec.shallow_n),
        f"Shallow teacher-student (K=4, M=2, erf, eta=1, N={spec.shallow_n}): ODE lines, online "
        "SGD dots from the same initial condition. DFA aligns cos(v, b) while the error is on "
        "its plateau, then memorises.",
    )
    save_table(rows, out / "align_times", title="Alignment and error-halving times (DFA)")
    report.add_table(out / "align_times.md", "align then memorise: times per seed")
    seconds = time.perf_counter() - start
    n = spec.shallow_seeds
    value, se = _mean_se(gaps)
    board.measure("dfa.align_then_memorise", value, se, seeds=n, seconds=seconds)
    value, se = _mean_se(errors)
    board.measure("dfa.ode_matches_simulation", value, se, seeds=n, seconds=seconds)


# ------------------------------------------------------------------------- deep networks
def _run(cfg: TrainConfig, out: Path, device: str) -> tuple[Any, list[dict[str, Any]], dict]:
    model, last = fit(cfg, out, device=device, overwrite=True, quiet=True)
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return model, [json.loads(line) for line in lines if line.strip()], last


def layerwise(out: Path, spec: Scale, base: TrainConfig, report: ReproduceReport, device: str):
    cfg = replace(base, epochs=spec.layerwise_epochs, width=128, log_points=15)
    _, rows, last = _run(cfg, out / "runs" / "mlp_dfa", device)
    report.add_figure(
        figures.layerwise(out, rows, f"DFA MLP on {cfg.dataset}"),
        f"DFA MLP ({cfg.dataset}, width 128): weight and gradient alignment per layer over "
        "training (log steps).",
    )
    for key in ("test_acc", "ga_total", "wa_total"):
        report.add_metric(f"mlp_dfa_{key}", last[key])


def bottom_to_top(
    out: Path, spec: Scale, base: TrainConfig, board: ClaimBoard, report: ReproduceReport, device
) -> None:
    """Per-layer alignment times in a deep nonlinear DFA MLP, over seeds."""
    start = time.perf_counter()
    cfg = replace(
        base,
        n_hidden=spec.deep_hidden,
        width=spec.deep_width,
        epochs=spec.deep_epochs,
        log_points=40,
    )
    layers = list(range(2, spec.deep_hidden + 2))  # WA is defined for layers 2..L
    ga_layers = list(range(1, spec.deep_hidden + 1))
    times, slopes, ga_slopes, table, first_rows = [], [], [], [], None
    for seed in range(spec.deep_seeds):
        _, rows, last = _run(replace(cfg, seed=seed), out / "runs" / f"deep_{seed}", device)
        first_rows = first_rows or rows
        t = alignment_times(rows, layers)
        t_ga = alignment_times(rows, ga_layers, prefix="ga_layer")
        times.append(t)
        slopes.append(order_slope(t, layers))
        ga_slopes.append(order_slope(t_ga, ga_layers))
        table.append(
            {
                "seed": seed,
                **{f"t_wa{layer}": v for layer, v in zip(layers, t)},
                **{f"t_ga{layer}": v for layer, v in zip(ga_layers, t_ga)},
                "slope_wa": slopes[-1],
                "slope_ga": ga_slopes[-1],
                "test_acc": last["test_acc"],
            }
        )
    arr = np.array(times, dtype=float)
    title = f"DFA MLP {spec.deep_hidden}x{spec.deep_width}, {cfg.dataset}"
    report.add_figure(
        figures.bottom_to_top(out, first_rows or [], layers, arr, title),
        "Bottom-to-top alignment: WA_l over training (one seed, normalised), and the step at "
        f"which each layer reaches half its maximal WA, mean and SE over {spec.deep_seeds} seeds.",
    )
    save_table(table, out / "bottom_to_top_table", title="Alignment times per layer (steps)")
    report.add_table(out / "bottom_to_top_table.md", "alignment times per layer and seed")
    value, se = _mean_se(slopes)
    report.add_metric("bottom_to_top_slope_wa", value)
    report.add_metric("bottom_to_top_slope_ga", _mean_se(ga_slopes)[0])
    board.measure(
        "dfa.bottom_to_top",
        value,
        se,
        seeds=spec.deep_seeds,
        seconds=time.perf_counter() - start,
    )


def width_sweep(out: Path, spec: Scale, base: TrainConfig, report: ReproduceReport, device):
    """Final WA and GA of a DFA MLP against its width (mean and SE over seeds)."""
    rows = []
    for width in spec.widths:
        finals = []
        for seed in range(spec.width_seeds):
            cfg = replace(base, width=width, seed=seed, epochs=spec.deep_epochs, log_points=2)
            finals.append(_run(cfg, out / "runs" / f"width_{width}_{seed}", device)[2])
        row: dict[str, Any] = {"width": width}
        for key in ("ga_total", "wa_total", "test_acc"):
            row[f"{key}_mean"], row[f"{key}_se"] = _mean_se([f[key] for f in finals])
        rows.append(row)
    report.add_figure(
        figures.alignment_vs_width(out, rows),
        f"Alignment after training against the hidden width ({base.dataset}, 2 hidden layers, "
        f"{spec.width_seeds} seeds).",
    )
    save_table(rows, out / "width_table", title="DFA alignment vs width")
    report.add_table(out / "width_table.md", "alignment vs width")
    report.add_metric("width_ga_total_smallest", rows[0]["ga_total_mean"])
    report.add_metric("width_ga_total_largest", rows[-1]["ga_total_mean"])


def degeneracy(
    out: Path, spec: Scale, base: TrainConfig, board: ClaimBoard, report: ReproduceReport, device
) -> None:
    """Cosine between final weights of runs with different seeds and the same B: DFA vs BP."""
    start = time.perf_counter()
    seeds = list(range(spec.degeneracy_seeds))
    models: dict[str, list] = {"dfa": [], "bp": []}
    for method in models:
        for seed in seeds:
            cfg = replace(
                base, method=method, seed=seed, epochs=spec.degeneracy_epochs, log_points=2
            )
            folder = out / "runs" / f"degeneracy_{method}_{seed}"
            models[method].append(fit(cfg, folder, device=device, overwrite=True, quiet=True)[0])

    def pair_mean(method: str, keep: list[int], key: str = "cos_total") -> float:
        ms = models[method]
        vals = [weight_cosines(ms[i], ms[j])[key] for i in keep for j in keep if i < j]
        return float(np.mean(vals))

    def difference(keep: list[int]) -> float:
        return pair_mean("dfa", keep) - pair_mean("bp", keep)

    value, se = jackknife(seeds, difference)
    keys = [k for k in weight_cosines(models["dfa"][0], models["dfa"][1]) if k != "cos_total"]
    keys.append("cos_total")
    columns = {m: [pair_mean(m, seeds, k) for k in keys] for m in models}
    report.add_figure(
        figures.degeneracy(out, keys, columns),
        f"Degeneracy breaking ({base.dataset}): mean cosine between the final weights of "
        f"{len(seeds)} runs with different seeds and the same feedback B, DFA vs BP.",
    )
    rows = [{"method": m.upper(), **dict(zip(keys, columns[m]))} for m in models]
    save_table(rows, out / "degeneracy_table", title="Cosine between final weights across seeds")
    report.add_table(out / "degeneracy_table.md", "degeneracy breaking")
    for m in models:
        report.add_metric(f"degeneracy_{m}_cos_total", columns[m][-1])
    board.measure(
        "dfa.degeneracy_breaking",
        value,
        se,
        seeds=len(seeds),
        seconds=time.perf_counter() - start,
    )


def conditioning(out: Path, spec: Scale, board: ClaimBoard, report: ReproduceReport) -> None:
    """Deep linear DFA: WA over the alpha-beta grid against cond(A_2), per feedback seed."""
    start = time.perf_counter()
    grid = spec.linear_grid
    base = LinearDFAConfig(steps=spec.linear_steps)
    correlations: list[float] = []
    first_rows: list[dict[str, Any]] = []
    wa = np.zeros((len(grid), len(grid)))
    for fb_seed in range(spec.linear_seeds):
        rows = []
        for i, alpha in enumerate(grid):
            for j, beta in enumerate(grid):
                res = run_linear_dfa(
                    replace(base, alpha=alpha, beta=beta, feedback_seed=fb_seed, seed=fb_seed)
                )
                rows.append(res)
                if fb_seed == 0:
                    wa[i, j] = res["wa_total"]
        first_rows = first_rows or rows
        log_cond = np.log([r["cond_A2"] for r in rows])
        correlations.append(float(np.corrcoef(log_cond, [r["wa_total"] for r in rows])[0, 1]))
    noise_rows = [
        run_linear_dfa(replace(base, task="labelnoise", label_noise=p)) for p in spec.linear_noise
    ]
    report.add_figure(
        figures.conditioning(out, grid, wa, first_rows, spec.linear_noise, noise_rows),
        "Deep linear DFA (zero init, whitened inputs, width 100): weight alignment over the "
        "alpha-beta grid, against cond(A_2), and against label noise.",
    )
    save_table(first_rows + noise_rows, out / "conditioning_table", title="Deep linear DFA")
    report.add_table(out / "conditioning_table.md", "deep linear DFA")
    report.add_metric("linear_wa_best", float(wa.max()))
    report.add_metric("linear_wa_worst", float(wa.min()))
    report.add_metric("linear_wa_noise0", noise_rows[0]["wa_total"])
    report.add_metric("linear_wa_noise_max", noise_rows[-1]["wa_total"])
    value, se = _mean_se(correlations)
    board.measure(
        "dfa.conditioning",
        value,
        se,
        seeds=spec.linear_seeds,
        seconds=time.perf_counter() - start,
    )


def cnn_failure(
    out: Path, spec: Scale, base: TrainConfig, board: ClaimBoard, report: ReproduceReport, device
) -> None:
    """GA of DFA on a CNN vs an MLP, and CNN accuracy with DFA vs BP, over seeds."""
    start = time.perf_counter()
    common = replace(base, epochs=spec.cnn_epochs, log_points=2, input_size=spec.cnn_input_size)
    cnn = replace(common, model="cnn", width=8, kernel_size=3)
    variants = {
        "MLP": replace(common, width=128),
        "CNN random B": cnn,
        "CNN BP": replace(cnn, method="bp"),
    }
    extra = {
        "CNN channel B": replace(cnn, conv_feedback="channel"),
        "CNN NMF B": replace(cnn, feedback_init="nmf"),
    }
    results: dict[str, list[dict]] = {name: [] for name in [*variants, *extra]}
    for seed in range(spec.cnn_seeds):
        todo = {**variants, **(extra if seed == 0 else {})}
        for name, cfg in todo.items():
            folder = out / "runs" / f"cnn_{name.replace(' ', '_')}_{seed}"
            results[name].append(_run(replace(cfg, seed=seed), folder, device)[2])
    ga_gap = [
        m["ga_total"] - c["ga_total"] for m, c in zip(results["MLP"], results["CNN random B"])
    ]
    acc_gap = [
        b["test_acc"] - c["test_acc"] for b, c in zip(results["CNN BP"], results["CNN random B"])
    ]
    rows: list[dict[str, Any]] = [
        {
            "model": name,
            "seeds": len(recs),
            "test_acc": float(np.mean([r["test_acc"] for r in recs])),
            "ga_total": float(np.mean([r.get("ga_total", np.nan) for r in recs])),
            "wa_total": float(np.mean([r.get("wa_total", np.nan) for r in recs])),
        }
        for name, recs in results.items()
    ]
    dataset = f"{base.dataset}" + (f" {spec.cnn_input_size}px" if spec.cnn_input_size else "")
    report.add_figure(
        figures.cnn(out, rows, dataset),
        f"DFA on a small CNN (two 3x3 conv layers of 8 channels, {dataset}): gradient alignment "
        "and test accuracy against a DFA MLP and the CNN trained by BP.",
    )
    save_table(rows, out / "cnn_table", title="DFA on CNNs")
    report.add_table(out / "cnn_table.md", "DFA on CNNs")
    for r in rows:
        key = r["model"].replace(" ", "_")
        report.add_metric(f"cnn_{key}_test_acc", r["test_acc"])
        if math.isfinite(r["ga_total"]):  # BP has no gradient alignment to measure
            report.add_metric(f"cnn_{key}_ga_total", r["ga_total"])
    (ga_mean, ga_se), (acc_mean, acc_se) = _mean_se(ga_gap), _mean_se(acc_gap)
    value, se = (ga_mean, ga_se) if ga_mean <= acc_mean else (acc_mean, acc_se)
    report.add_metric("cnn_ga_gap_mlp_minus_cnn", ga_mean)
    report.add_metric("cnn_acc_gap_bp_minus_dfa", acc_mean)
    board.measure(
        "dfa.cnn_failure", value, se, seeds=spec.cnn_seeds, seconds=time.perf_counter() - start
    )


def mnist_vs_bp(
    out: Path, spec: Scale, base: TrainConfig, board: ClaimBoard, report: ReproduceReport, device
) -> None:
    """MLP 784-256-256-10 on MNIST: DFA vs BP test accuracy, paired by seed."""
    start = time.perf_counter()
    cfg = replace(base, width=256, n_hidden=2, lr=0.003, epochs=spec.mnist_epochs, log_points=2)
    acc: dict[str, list[dict[str, Any]]] = {"dfa": [], "bp": [], "fa": []}
    for seed in range(spec.mnist_seeds):
        for method in acc:
            folder = out / "runs" / f"mnist_{method}_{seed}"
            acc[method].append(_run(replace(cfg, method=method, seed=seed), folder, device)[2])
    rows = []
    for method, recs in acc.items():
        mean, se = _mean_se([r["test_acc"] for r in recs])
        rows.append({"method": method.upper(), "test_acc_mean": mean, "test_acc_se": se})
        report.add_metric(f"mnist_{method}_test_acc", mean)
    report.add_figure(
        figures.mnist(out, rows),
        f"MNIST-t10k (8000 train / 2000 test), MLP 784-256-256-10, SGD lr 0.003 momentum 0.9, "
        f"{spec.mnist_epochs:g} epochs, {spec.mnist_seeds} seeds.",
    )
    save_table(rows, out / "mnist_table", title="MNIST-t10k test accuracy")
    report.add_table(out / "mnist_table.md", "MNIST-t10k: DFA, BP, FA")
    gaps = [b["test_acc"] - d["test_acc"] for b, d in zip(acc["bp"], acc["dfa"])]
    value, se = _mean_se(gaps)
    board.measure(
        "dfa.mnist_close_to_bp",
        value,
        se,
        seeds=spec.mnist_seeds,
        seconds=time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------- driver
def _mnist_available() -> bool:
    from dltheory.core.data import mnist_t10k_dir
    from dltheory.core.errors import DatasetNotFoundError

    try:
        mnist_t10k_dir()
    except DatasetNotFoundError:
        return False
    return True


def _check_paper_requirements(spec: Scale) -> None:
    import torch

    print(
        "dfa reproduce --scale paper needs: a CUDA GPU, the MNIST training set under a "
        "torchvision root (DLTHEORY_SHARED_DATA/torchvision or ./data), about 16 GB of GPU "
        f"memory and roughly {spec.minutes / 60:.0f} GPU-hours (1000 epochs, 10 seeds)."
    )
    if not torch.cuda.is_available():
        raise DltheoryError("--scale paper needs a CUDA GPU (1000 epochs x 10 seeds); none here")
    if not (Path("data") / "MNIST").is_dir():
        raise DltheoryError("--scale paper needs the MNIST training set in ./data/MNIST")


def reproduce(out: str | Path, *, scale: str = "quick", device: str = "cpu") -> Path:
    """Draw every figure into ``out``, measure every claim, write manifest.json and claims.json."""
    require_choice("scale", scale, SCALES)
    spec = SCALES[scale]
    if scale == "paper":
        _check_paper_requirements(spec)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = ReproduceReport(out, title="DFA: align then memorise (arXiv:2011.12428)")
    board = ClaimBoard(CLAIMS, scale)
    mnist = _mnist_available()
    deep_dataset = spec.deep_dataset
    if deep_dataset == "mnist-t10k" and not mnist:
        deep_dataset = "digits"
        report.add_note("MNIST-t10k not found: the deep measurements ran on digits instead.")
    digits = TrainConfig(dataset="digits", lr=0.01, device=device, threads=None)
    deep = replace(digits, dataset=deep_dataset, lr=0.01 if deep_dataset == "digits" else 0.003)
    shallow(out, spec, board, report)
    layerwise(out, spec, digits, report, device)
    bottom_to_top(out, spec, deep, board, report, device)
    width_sweep(out, spec, deep, report, device)
    degeneracy(out, spec, digits, board, report, device)
    conditioning(out, spec, board, report)
    cnn_base = deep if spec.cnn_input_size else digits
    cnn_failure(out, spec, replace(cnn_base, lr=0.01), board, report, device)
    if board.wants("dfa.mnist_close_to_bp"):
        if mnist:
            mnist_base = replace(digits, dataset="mnist-t10k")
            mnist_vs_bp(out, spec, mnist_base, board, report, device)
        else:
            board.not_run("dfa.mnist_close_to_bp", "MNIST-t10k not found (shared/data/mnist-t10k)")
    report.add_note(
        f"Scale {scale}: "
        + (
            "scikit-learn digits (8x8), small widths, few epochs and 2-5 seeds; "
            if scale == "quick"
            else f"deep measurements on {deep_dataset}; "
        )
        + "the paper trains 1000 epochs over 10 seeds."
    )
    board.write(out)
    return report.write()

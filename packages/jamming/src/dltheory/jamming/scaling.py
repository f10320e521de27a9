"""Generalisation, output fluctuations and ensembles across N (arXiv:1810.09665, 1901.01608).

For each N an ensemble of n networks (different initialisations) is trained on the same P points.
On the test set: the mean test error eps_N of single nets, the error eps(f_bar_N) of the
ensemble-averaged output f_bar_N = <f_N>, the fluctuation ||f_N - f_bar_N|| (root mean square over
test inputs, averaged over nets, with the n/(n-1) bias correction) and the output norm ||f_N||.
Fits: ||f - f_bar|| ~ N^(-1/4), eps_N - eps_inf ~ N^(-1/2), ||f|| ~ (N - N*)^(-alpha).
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np
import torch

from dltheory.core.errors import ConfigError

from .config import ScalingConfig
from .ensembles import (
    build_ensemble,
    config_from_dict,
    initial_outputs,
    load_data,
    resolve_torch_device,
    train_widths,
)
from .fits import FitError, fit_divergence, fit_offset_power_law, fit_power_law
from .losses import classification_error
from .models import count_weights, distinct_widths
from .ntk import ntk_fluctuation, ntk_gram


def ensemble_statistics(f_test: torch.Tensor, y_test: torch.Tensor) -> dict:
    """Test metrics of an ensemble from its outputs f_test [n_nets, n_test]."""
    n = f_test.shape[0]
    f_bar = f_test.mean(dim=0)
    errors = classification_error(f_test, y_test)
    # ||f - f_bar||: RMS over test inputs; sqrt(n/(n-1)) makes E||.||^2 the variance over inits
    fluct = ((f_test - f_bar) ** 2).mean(dim=1).sqrt() * math.sqrt(n / (n - 1)) if n > 1 else None
    return {
        "test_error": float(errors.mean()),
        "test_error_std": float(errors.std()) if n > 1 else 0.0,
        "ensemble_test_error": float(classification_error(f_bar, y_test)),
        "fluctuation": float(fluct.mean()) if fluct is not None else math.nan,
        "output_norm": float((f_test**2).mean(dim=1).sqrt().mean()),
        "ensemble_output_norm": float((f_bar**2).mean().sqrt()),
    }


def scaling_point(values: dict) -> dict:
    """Sweep entry point: train one ensemble at width ``h`` and measure it on the test set."""
    torch.set_num_threads(1)
    cfg = config_from_dict(ScalingConfig, values)
    h = float(values["h"])
    data = load_data(cfg)
    device = resolve_torch_device(cfg.device)
    net, _result, records = train_widths(cfg, data, [h], device)
    with torch.no_grad():
        f_test = net.forward(data.x_test.to(device)).cpu()
    init = build_ensemble(cfg, data.dim, [h], device)  # same seeds: the initial networks
    if cfg.subtract_init:
        f_test = f_test - initial_outputs(init, data.x_test).cpu()
    from .nstar import decide_width

    row = {
        "h": h,
        "decision": decide_width(records, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction),
        "n_params": count_weights(data.dim, h, cfg.depth),
        "fitted_fraction": float(np.mean([r["fitted"] for r in records])),
        "mean_n_delta": float(np.mean([r["n_delta"] for r in records])),
        "mean_stop_step": float(
            np.mean([r["stop_step"] if r["fitted"] else cfg.max_steps for r in records])
        ),
        **ensemble_statistics(f_test, data.y_test.cpu()),
    }
    if cfg.n_ntk and cfg.n_seeds > 1:
        row.update(ntk_fluctuation(ntk_gram(init, data.x_test[: cfg.n_ntk].to(device)).cpu()))
    return row


def width_values(cfg: ScalingConfig, d: int) -> list[float]:
    targets = cfg.n_values or list(
        np.geomspace(cfg.n_min_factor * cfg.n_train, cfg.n_max_factor * cfg.n_train, cfg.n_points)
    )
    return distinct_widths(targets, d, cfg.depth)


def estimate_nstar(rows: list[dict]) -> float:
    """N* from an N scan, with the N* search's definition (each row's ``decision`` from
    :func:`nstar.decide_width`): the midpoint between the largest N that is not SAT and the next N."""
    rows = sorted(rows, key=lambda r: r["n_params"])
    below = [i for i, r in enumerate(rows) if r["decision"] != "sat"]
    if not below:
        return math.nan
    i = below[-1]
    if i + 1 >= len(rows):
        return math.nan
    return 0.5 * (rows[i]["n_params"] + rows[i + 1]["n_params"])


def scaling_fits(rows: list[dict], n_star: float) -> dict:
    """Power-law fits (with 95% intervals) of the three scaling laws; missing when too few points."""
    n = np.array([r["n_params"] for r in rows], dtype=float)
    fits = {}
    above = n > (n_star if math.isfinite(n_star) else 0)
    far = n > (2 * n_star if math.isfinite(n_star) else 0)

    def attempt(name, fn, *args):
        try:
            fits[name] = fn(*args).as_dict()
        except FitError as exc:
            fits[name] = {"error": str(exc)}

    fl = np.array([r["fluctuation"] for r in rows])
    attempt("fluctuation_vs_N", fit_power_law, n[far], fl[far])
    err = np.array([r["test_error"] for r in rows])
    attempt("test_error_vs_N", fit_offset_power_law, n[far], err[far])
    if "ntk_rel_fluctuation" in rows[0]:
        ntk = np.array([r["ntk_rel_fluctuation"] for r in rows])
        attempt("ntk_fluctuation_vs_N", fit_power_law, n, ntk)
    if math.isfinite(n_star):
        near = above & (n < 6 * n_star)
        norm = np.array([r["output_norm"] for r in rows])
        attempt("norm_vs_N_minus_Nstar", fit_divergence, n[near], norm[near], n_star)
    return fits


def run_scaling(cfg: ScalingConfig) -> dict:
    """Train ensembles across N (one sweep job per N) and fit the scaling laws."""
    from dltheory.core.sweep import grid, run_sweep

    if cfg.n_seeds < 2:
        raise ConfigError("the scaling analysis needs n_seeds >= 2 to measure fluctuations")
    data = load_data(cfg)
    widths = width_values(cfg, data.dim)
    base = {k: v for k, v in asdict(cfg).items() if k not in ("executor", "max_workers")}
    rows = run_sweep(
        scaling_point,
        grid(base, h=widths),
        executor=cfg.executor,
        max_workers=cfg.max_workers,
        description="ensembles across N",
    )
    keep = (
        "h",
        "decision",
        "n_params",
        "fitted_fraction",
        "mean_n_delta",
        "mean_stop_step",
        "test_error",
        "test_error_std",
        "ensemble_test_error",
        "fluctuation",
        "output_norm",
        "ensemble_output_norm",
        "ntk_rel_fluctuation",
        "ntk_rel_fluctuation_std",
        "ntk_mean_trace",
    )
    rows = sorted(({k: r[k] for k in keep if k in r} for r in rows), key=lambda r: r["n_params"])
    n_star = cfg.n_star if cfg.n_star is not None else estimate_nstar(rows)
    return {
        "rows": rows,
        "n_star": n_star,
        "n_train": cfg.n_train,
        "n_test": len(data.y_test),
        "fits": scaling_fits(rows, n_star),
    }

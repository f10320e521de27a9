"""Figures: the phase diagram N*(P) and the scaling of error, fluctuations and norm with N."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dltheory.core.plotting import new_figure, save_figure


def nstar_slope(rows: list[dict]) -> float:
    """Least-squares slope of N* = c P through the origin over the bracketed searches."""
    pts = [(r["n_train"], r["n_star"]) for r in rows if r["status"] == "bracketed"]
    if not pts:
        return math.nan
    p, n = np.array(pts, dtype=float).T
    return float((p @ n) / (p @ p))


def plot_phase(
    rows: list[dict], stem: Path, title: str = "", plateau: tuple[float, float] | None = None
) -> Path:
    """Left: N* vs P with each search's bracket, the fit N* = c P and the authors' 0.3 P.
    Right: N*/P vs P with the bracket, the measured plateau (mean +- 2 SE) and 0.3."""
    fig, (ax, ax2) = new_figure(ncols=2, size=(5, 4))
    ok = [r for r in rows if r["status"] == "bracketed"]
    p = np.array([r["n_train"] for r in ok], dtype=float)
    n = np.array([r["n_star"] for r in ok], dtype=float)
    lo = n - np.array([r["n_star_low"] for r in ok], dtype=float)
    hi = np.array([r["n_star_high"] for r in ok], dtype=float) - n
    ax.errorbar(p, n, yerr=[lo, hi], fmt="o", capsize=3, label="N* (bisection bracket)")
    slope = nstar_slope(rows)
    grid = np.linspace(0, max([r["n_train"] for r in rows]) * 1.05, 50)
    if math.isfinite(slope):
        ax.plot(grid, slope * grid, "-", label=f"fit N* = {slope:.2f} P")
    ax.plot(grid, 0.3 * grid, "--", color="gray", label="N* = 0.3 P (authors)")
    ax.fill_between(
        grid,
        slope * grid if math.isfinite(slope) else 0 * grid,
        grid.max() * 2,
        color="tab:green",
        alpha=0.08,
    )
    ax.set_xlabel("P (training points)")
    ax.set_ylabel("N (weights)")
    ax.set_ylim(0, max(n.max() * 1.3 if len(n) else 1, 1))
    ax.set_title(title or "jamming phase diagram (SAT above, UNSAT below)", fontsize=9)
    ax.legend(fontsize=8)
    if len(p):
        ax2.errorbar(p, n / p, yerr=[lo / p, hi / p], fmt="o", capsize=3, label="N*/P (bracket)")
    ax2.axhline(0.3, ls="--", color="gray", label="0.3 (authors)")
    if plateau is not None and all(math.isfinite(v) for v in plateau):
        mean, se = plateau
        ax2.axhspan(mean - 2 * se, mean + 2 * se, color="tab:orange", alpha=0.2)
        ax2.axhline(mean, color="tab:orange", label=f"plateau {mean:.2f} +- {2 * se:.2f} (2 SE)")
    if len(p) > 1:
        from matplotlib.ticker import NullFormatter, ScalarFormatter

        ax2.set_xscale("log")
        ax2.set_xticks(p)
        ax2.xaxis.set_major_formatter(ScalarFormatter())
        ax2.xaxis.set_minor_formatter(NullFormatter())
    ax2.set_ylim(0, max(1.0, float((n / p).max()) * 1.2) if len(p) else 1.0)
    ax2.set_xlabel("P (training points)")
    ax2.set_ylabel("N*/P")
    ax2.legend(fontsize=8)
    return save_figure(
        fig,
        stem,
        data={
            "P": p.tolist(),
            "n_star": n.tolist(),
            "n_star_low": (n - lo).tolist(),
            "n_star_high": (n + hi).tolist(),
        },
    )


def _fit_line(ax, x, fit: dict, label: str, shift: float = 0.0):
    if "exponent" not in fit:
        return
    xs = np.geomspace(min(x), max(x), 30)
    ax.plot(
        xs + shift,
        fit["prefactor"] * xs ** fit["exponent"] + fit.get("offset", 0.0),
        "--",
        label=f"{label}: {fit['exponent']:.2f} [{fit['ci_low']:.2f}, {fit['ci_high']:.2f}]",
    )


def plot_scaling(result: dict, stem: Path, title: str = "") -> Path:
    """Test error (single nets and ensemble average), fluctuations, norm and NTK vs N."""
    rows, fits, n_star = result["rows"], result["fits"], result["n_star"]
    n = np.array([r["n_params"] for r in rows], dtype=float)
    has_ntk = "ntk_rel_fluctuation" in rows[0]
    fig, axes = new_figure(ncols=4 if has_ntk else 3, size=(4, 3.6))
    ax = axes[0]
    err = np.array([r["test_error"] for r in rows])
    ax.errorbar(
        n,
        err,
        yerr=[r["test_error_std"] for r in rows],
        fmt="o-",
        capsize=2,
        label="ε_N (single nets)",
    )
    ax.plot(n, [r["ensemble_test_error"] for r in rows], "s-", label="ε(f̄_N) (ensemble mean)")
    if math.isfinite(n_star):
        ax.axvline(n_star, color="gray", ls=":", label=f"N* ≈ {n_star:.0f}")
    ax.set_xscale("log")
    ax.set_xlabel("N")
    ax.set_ylabel("test error")
    ax.legend(fontsize=7)
    ax = axes[1]
    fl = np.array([r["fluctuation"] for r in rows])
    ax.loglog(n, fl, "o-", label="‖f_N − f̄_N‖")
    far = n > 2 * n_star if math.isfinite(n_star) else n > 0
    if far.any():
        _fit_line(ax, n[far], fits.get("fluctuation_vs_N", {}), "slope")
    ax.set_xlabel("N")
    ax.set_title("fluctuations (paper: −1/4)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[2]
    norm = np.array([r["output_norm"] for r in rows])
    if math.isfinite(n_star) and (n > n_star).any():
        above = n > n_star
        ax.loglog(n[above] - n_star, norm[above], "o-", label="‖f_N‖ (test)")
        near = above & (n < 6 * n_star)
        if near.sum() >= 3:
            _fit_line(ax, n[near] - n_star, fits.get("norm_vs_N_minus_Nstar", {}), "slope")
        ax.set_xlabel("N − N*")
    else:
        ax.loglog(n, norm, "o-", label="‖f_N‖ (test)")
        ax.set_xlabel("N")
    ax.set_title("output norm (paper: −1 near N*)", fontsize=9)
    ax.legend(fontsize=7)
    data = {
        "N": n,
        "test_error": err,
        "ensemble_test_error": [r["ensemble_test_error"] for r in rows],
        "fluctuation": fl,
        "output_norm": norm,
    }
    if has_ntk:
        ax = axes[3]
        ntk = np.array([r["ntk_rel_fluctuation"] for r in rows])
        ax.loglog(n, ntk, "o-", label="‖Θ − Θ̄‖/‖Θ̄‖ (init)")
        _fit_line(ax, n, fits.get("ntk_fluctuation_vs_N", {}), "slope")
        ax.set_xlabel("N")
        ax.set_title("NTK fluctuations (theory: −1/4)", fontsize=9)
        ax.legend(fontsize=7)
        data["ntk_rel_fluctuation"] = ntk
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, stem, data={k: list(v) for k, v in data.items()})  # type: ignore[call-overload]

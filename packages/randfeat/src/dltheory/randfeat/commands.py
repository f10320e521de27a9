"""Library functions behind the command line: theory tables, simulations and the phase space."""

from __future__ import annotations

import math

import numpy as np

from dltheory.randfeat.configs import PhaseConfig, SimulateConfig, TheoryConfig
from dltheory.randfeat.errors import require
from dltheory.randfeat.theory import block_rf, ensemble_error, rf_ridge

CURVE_AXES = ("", "psi1", "psi2", "ridge")
MODELS = ("ridge", "ensemble", "block")
SIMULATE_MODELS = ("ridge", "ensemble", "block", "network")


def _grid(cfg) -> dict[str, np.ndarray]:
    require(
        cfg.curve in CURVE_AXES, f"unknown curve axis {cfg.curve!r}; choose psi1, psi2 or ridge"
    )
    values = {
        "psi1": np.atleast_1d(float(cfg.psi1)),
        "psi2": np.atleast_1d(float(cfg.psi2)),
        "ridge": np.atleast_1d(float(cfg.ridge)),
    }
    if cfg.curve:
        require(
            cfg.start > 0 and cfg.stop > 0 and cfg.num >= 2,
            "a curve needs start, stop > 0 and num >= 2",
        )
        values[cfg.curve] = np.logspace(math.log10(cfg.start), math.log10(cfg.stop), int(cfg.num))
    n = max(len(v) for v in values.values())
    return {k: np.broadcast_to(v, (n,)) for k, v in values.items()}


def evaluate_theory(cfg: TheoryConfig) -> list[dict]:
    """Rows of the theory at one point or along a curve (keys as documented for ``theory --json``)."""
    require(cfg.model in MODELS, f"unknown model {cfg.model!r}; choose one of {', '.join(MODELS)}")
    g = _grid(cfg)
    common = dict(activation=cfg.activation, ridge_convention=cfg.ridge_convention)
    if cfg.model == "ridge":
        r = rf_ridge(g["psi1"], g["psi2"], g["ridge"], noise=cfg.noise, task=cfg.task, **common)
        cols = dict(test_error=r.test_error, train_error=r.train_error, m=r.m, q=r.q, v=r.v)
    elif cfg.model == "ensemble":
        require(cfg.task == "regression", "ensembles are solved for regression")
        r = ensemble_error(g["psi1"], g["psi2"], g["ridge"], k=cfg.k, noise=cfg.noise, **common)
        single = rf_ridge(g["psi1"], g["psi2"], g["ridge"], noise=cfg.noise, **common)
        cols = {
            key: r[key] for key in ("test_error", "bias", "var_init", "var_noise", "var_sampling")
        }
        cols["train_error"] = single.train_error if cfg.k == 1 else np.full(len(g["psi1"]), np.nan)
    else:
        r = block_rf(
            g["psi1"],
            g["psi2"],
            g["ridge"],
            structure=cfg.structure,
            task=cfg.task,
            loss=cfg.loss,
            noise=cfg.noise,
            **common,
        )
        cols = dict(
            test_error=r.test_error,
            train_error=np.full(len(g["psi1"]), np.nan),
            m=r.m,
            q=r.q,
            v=r.v,
        )
    rows = []
    for i in range(len(g["psi1"])):
        row = {
            "psi1": float(g["psi1"][i]),
            "psi2": float(g["psi2"][i]),
            "ridge": float(g["ridge"][i]),
        }
        row.update({k: float(np.asarray(v)[i]) for k, v in cols.items()})
        rows.append(row)
    return rows


def run_simulation(cfg: SimulateConfig, device) -> list[dict]:
    """Rows of finite-size simulations (mean and standard error over seeds) at one point or along a curve."""
    from dltheory.randfeat.simulate import simulate_block_classification, simulate_rf_ridge

    require(
        cfg.model in SIMULATE_MODELS,
        f"simulate --model must be one of {', '.join(SIMULATE_MODELS)}",
    )
    require(cfg.d >= 2, "D must be at least 2")
    g = _grid(cfg)
    rows = []
    for p1, p2, lam in zip(g["psi1"], g["psi2"], g["ridge"]):
        p, n = max(1, round(p1 * cfg.d)), max(1, round(p2 * cfg.d))
        if cfg.model == "network":
            rows.append(_simulate_network(cfg, p, n, float(lam), device))
            continue
        if cfg.model == "ensemble":
            rows.append(_simulate_decomposition(cfg, p, n, float(lam), device))
            continue
        if cfg.model == "ridge":
            ks = sorted({1, int(cfg.k)})
            res = simulate_rf_ridge(
                cfg.d,
                p,
                n,
                [lam],
                ridge_convention=cfg.ridge_convention,
                activation=cfg.activation,
                noise=cfg.noise,
                ks=ks,
                n_seeds=cfg.n_seeds,
                n_test=cfg.n_test,
                seed=cfg.seed,
                device=device,
            )
            col = ks.index(int(cfg.k))
        else:
            res = simulate_block_classification(
                cfg.d,
                p,
                n,
                [lam],
                structure=cfg.structure,
                activation=cfg.activation,
                loss=cfg.loss,
                flip=cfg.noise,
                n_seeds=cfg.n_seeds,
                n_test=cfg.n_test,
                seed=cfg.seed,
                device=device,
            )
            col = 0
        rows.append(
            dict(
                psi1=p / cfg.d,
                psi2=n / cfg.d,
                ridge=float(lam),
                test_error=float(res.test_mean[0, col]),
                test_sem=float(res.test_sem[0, col]),
                train_error=float(res.train_mean[0, 0]),
                train_sem=float(res.train_sem[0, 0]),
                n_seeds=cfg.n_seeds,
            )
        )
    return rows


def _simulate_decomposition(cfg: SimulateConfig, p: int, n: int, lam: float, device) -> dict:
    """One row of the simulated bias / variance split of a K-estimator ensemble (same keys as theory)."""
    from dltheory.randfeat.simulate.decomposition import COMPONENTS, simulate_ensemble_decomposition

    require(cfg.n_seeds >= 3, "simulate --model ensemble needs --n-seeds >= 3")
    res = simulate_ensemble_decomposition(
        cfg.d,
        p,
        n,
        [lam],
        ks=[cfg.k],
        ridge_convention=cfg.ridge_convention,
        activation=cfg.activation,
        noise=cfg.noise,
        n_seeds=cfg.n_seeds,
        n_features=3,
        n_test=cfg.n_test,
        seed=cfg.seed,
        device=device,
    )
    split = res[float(cfg.k)]
    row = dict(psi1=p / cfg.d, psi2=n / cfg.d, ridge=lam, k=int(cfg.k))
    for name in COMPONENTS:
        row[name], row[f"{name}_sem"] = float(split[name][0]), float(split[f"{name}_sem"][0])
    row.update(
        train_error=float(res["train_error"][0]),
        train_sem=float(res["train_error_sem"][0]),
        n_seeds=cfg.n_seeds,
    )
    return row


def _simulate_network(cfg: SimulateConfig, p: int, n: int, lam: float, device) -> dict:
    """One row for two-layer networks trained by full-batch descent on the linear teacher."""
    from dltheory.randfeat.simulate.networks import NetworkSpec, simulate_network_teacher
    from dltheory.randfeat.theory.conventions import convert_ridge

    lam_rep = float(convert_ridge(lam, p / cfg.d, n / cfg.d, cfg.ridge_convention, "replica"))
    spec = NetworkSpec(
        width=p,
        activation=cfg.activation,
        train_first_layer=not cfg.frozen_first_layer,
        optimizer=cfg.optimizer,
        lr=cfg.lr,
        steps=cfg.steps,
        ridge=lam_rep,
    )
    ks = sorted({1, int(cfg.k)})
    curve = simulate_network_teacher(
        cfg.d,
        [n],
        spec,
        noise=cfg.noise,
        ks=ks,
        n_seeds=cfg.n_seeds,
        n_test=cfg.n_test,
        seed=cfg.seed,
        device=device,
    )
    col = ks.index(int(cfg.k))
    return dict(
        psi1=p / cfg.d,
        psi2=n / cfg.d,
        ridge=lam,
        test_error=float(curve.test_mean[0, col]),
        test_sem=float(curve.test_sem[0, col]),
        train_error=float(curve.train_mean[0]),
        train_sem=float(curve.train_sem[0]),
        n_seeds=cfg.n_seeds,
    )


def phase_grid(cfg: PhaseConfig) -> dict[str, np.ndarray]:
    """Test error over a log grid of (psi1, psi2) in [lo, hi]^2 (vectorised; regression or classification)."""
    require(0 < cfg.lo < cfg.hi and cfg.num >= 2, "phase needs 0 < lo < hi and num >= 2")
    axis = np.logspace(math.log10(cfg.lo), math.log10(cfg.hi), int(cfg.num))
    psi1, psi2 = np.meshgrid(axis, axis, indexing="xy")  # rows: psi2, columns: psi1
    if cfg.loss == "logistic" or cfg.structure != "isotropic":
        res = block_rf(
            psi1,
            psi2,
            cfg.ridge,
            activation=cfg.activation,
            ridge_convention=cfg.ridge_convention,
            noise=cfg.noise,
            task=cfg.task,
            loss=cfg.loss,
            structure=cfg.structure,
        )
    else:
        res = rf_ridge(
            psi1,
            psi2,
            cfg.ridge,
            activation=cfg.activation,
            ridge_convention=cfg.ridge_convention,
            noise=cfg.noise,
            task=cfg.task,
        )
    return dict(axis=axis, psi1=psi1, psi2=psi2, test_error=res.test_error, converged=res.converged)


def draw_phase(grid: dict, out_stem, title: str = ""):
    """Contour plot of log10 test error over (N/D, P/D) with the N = D and N = P lines."""
    from dltheory.core.plotting import new_figure, save_figure

    fig, ax = new_figure(size=(5.2, 4.2))
    err = np.log10(np.maximum(grid["test_error"], 1e-12))
    cs = ax.contourf(grid["psi2"], grid["psi1"], err, levels=20, cmap="viridis")
    fig.colorbar(cs, ax=ax, label="log10 test error")
    axis = grid["axis"]
    ax.plot([1, 1], [axis[0], axis[-1]], "w--", lw=1.2, label="N = D")
    ax.plot(axis, axis, "r--", lw=1.2, label="N = P")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N / D")
    ax.set_ylabel("P / D")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    data = {
        "psi2": grid["psi2"].ravel(),
        "psi1": grid["psi1"].ravel(),
        "test_error": grid["test_error"].ravel(),
    }
    return save_figure(fig, out_stem, data=data)

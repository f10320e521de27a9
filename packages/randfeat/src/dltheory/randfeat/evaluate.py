"""Evaluate the theory or a simulation at one point or along a curve: the rows behind ``dltheory
randfeat theory`` and ``simulate`` (JSON keys documented there; non-finite values become null)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dltheory.randfeat.config import SimulateConfig, TheoryConfig, model_defaults
from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.theory import CASES, BlockStructure, block_rf, ensemble_error, rf_ridge

CURVE_AXES = ("", "psi1", "psi2", "ridge", "r_beta")
MODELS = ("ridge", "ensemble", "block")
SIMULATE_MODELS = ("ridge", "ensemble", "block", "network")


def block_structure(cfg) -> BlockStructure:
    """The preset ``cfg.structure`` with any of ``r_x``, ``r_beta``, ``r_phi`` given overriding it."""
    require_choice("structure", cfg.structure, CASES)
    base = CASES[cfg.structure]
    return BlockStructure(
        base.r_x if cfg.r_x is None else float(cfg.r_x),
        base.r_beta if cfg.r_beta is None else float(cfg.r_beta),
        base.r_phi if cfg.r_phi is None else float(cfg.r_phi),
    )


def uses_block_model(cfg) -> bool:
    """Whether the data are two-block (a non-isotropic preset or any block parameter given)."""
    return cfg.structure != "isotropic" or any(
        getattr(cfg, k) is not None for k in ("r_x", "r_beta", "r_phi")
    )


def _grid(cfg, axes=("", "psi1", "psi2", "ridge")) -> dict[str, np.ndarray]:
    require(
        cfg.curve in axes,
        f"unknown curve axis {cfg.curve!r}; choose one of {', '.join(a for a in axes if a)}",
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
    require_choice("model", cfg.model, MODELS)
    cfg = model_defaults(cfg)
    if cfg.curve == "r_beta":
        require(
            cfg.model == "block", "--curve r_beta sweeps the teacher alignment of --model block"
        )
        return _r_beta_curve(cfg)
    g = _grid(cfg)
    common: dict[str, Any] = dict(activation=cfg.activation, ridge_convention=cfg.ridge_convention)
    cols: dict[str, Any]
    if cfg.model == "ridge":
        r = rf_ridge(g["psi1"], g["psi2"], g["ridge"], noise=cfg.noise, task=cfg.task, **common)
        cols = dict(test_error=r.test_error, train_error=r.train_error, m=r.m, q=r.q, v=r.v)
    elif cfg.model == "ensemble":
        require(cfg.task == "regression", "ensembles are solved for regression")
        ens = ensemble_error(g["psi1"], g["psi2"], g["ridge"], k=cfg.k, noise=cfg.noise, **common)
        single = rf_ridge(g["psi1"], g["psi2"], g["ridge"], noise=cfg.noise, **common)
        cols = {
            key: ens[key] for key in ("test_error", "bias", "var_init", "var_noise", "var_sampling")
        }
        cols["train_error"] = single.train_error if cfg.k == 1 else np.full(len(g["psi1"]), np.nan)
    else:
        blk = block_rf(
            g["psi1"],
            g["psi2"],
            g["ridge"],
            structure=block_structure(cfg),
            task=cfg.task,
            loss=cfg.loss,
            noise=cfg.noise,
            **common,
        )
        cols = dict(
            test_error=blk.test_error,
            train_error=np.full(len(g["psi1"]), np.nan),
            m=blk.m,
            q=blk.q,
            v=blk.v,
        )
    rows = []
    for i in range(len(g["psi1"])):
        row: dict[str, Any] = {
            "psi1": float(g["psi1"][i]),
            "psi2": float(g["psi2"][i]),
            "ridge": float(g["ridge"][i]),
        }
        row.update({k: float(np.asarray(v)[i]) for k, v in cols.items()})
        if cfg.model == "block":  # block regression is the full MSE (paper (c) plots half of it)
            row["error_kind"] = "mse" if cfg.task == "regression" else "0-1"
        rows.append(row)
    return rows


def _r_beta_curve(cfg: TheoryConfig) -> list[dict]:
    """Block theory versus the teacher alignment r_beta (2103.05524 alignment sweep)."""
    require(
        cfg.start > 0 and cfg.stop > 0 and cfg.num >= 2,
        "a curve needs start, stop > 0 and num >= 2",
    )
    base = block_structure(cfg)
    rows = []
    for r_beta in np.logspace(math.log10(cfg.start), math.log10(cfg.stop), int(cfg.num)):
        r = block_rf(
            cfg.psi1,
            cfg.psi2,
            cfg.ridge,
            structure=BlockStructure(base.r_x, float(r_beta), base.r_phi),
            task=cfg.task,
            loss=cfg.loss,
            noise=cfg.noise,
            activation=cfg.activation,
            ridge_convention=cfg.ridge_convention,
        )
        rows.append(
            dict(
                psi1=float(cfg.psi1),
                psi2=float(cfg.psi2),
                ridge=float(cfg.ridge),
                r_beta=float(r_beta),
                test_error=float(r.test_error),
                m=float(r.m),
                q=float(r.q),
                v=float(r.v),
                converged=bool(r.converged),
            )
        )
    return rows


def run_simulation(cfg: SimulateConfig, device) -> list[dict]:
    """Rows of finite-size simulations (mean and standard error over seeds) at one point or along a curve."""
    from dltheory.randfeat.simulate import simulate_block_classification, simulate_rf_ridge

    require(
        cfg.model in SIMULATE_MODELS,
        f"simulate --model must be one of {', '.join(SIMULATE_MODELS)}",
    )
    require(cfg.d >= 2, "D must be at least 2")
    cfg = model_defaults(cfg)
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
                inputs=cfg.inputs,
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
                structure=block_structure(cfg),
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
    """One row for real K-member ensembles (and single estimators): test error and its split, each
    with its standard error, and the theory's values beside them."""
    from dltheory.randfeat.simulate.ensembles import SPLIT, simulate_ensemble

    require(cfg.n_seeds >= 3, "simulate --model ensemble needs --n-seeds >= 3")
    require(cfg.k >= 1, "--k (ensemble size) must be >= 1")
    res = simulate_ensemble(
        cfg.d,
        p,
        n,
        [lam],
        ks=[cfg.k],
        ridge_convention=cfg.ridge_convention,
        activation=cfg.activation,
        noise=cfg.noise,
        inputs=cfg.inputs,
        n_seeds=cfg.n_seeds,
        n_test=cfg.n_test,
        seed=cfg.seed,
        device=device,
    )
    split = res[int(cfg.k)]
    theory = ensemble_error(
        p / cfg.d,
        n / cfg.d,
        lam,
        k=cfg.k,
        activation=cfg.activation,
        ridge_convention=cfg.ridge_convention,
        noise=cfg.noise,
    )
    row = dict(psi1=p / cfg.d, psi2=n / cfg.d, ridge=lam, k=int(cfg.k))
    for name in SPLIT:
        row[name], row[f"{name}_sem"] = float(split[name][0]), float(split[f"{name}_sem"][0])
        row[f"{name}_theory"] = float(theory[name])
    row.update(n_seeds=cfg.n_seeds, members_per_seed=res["members"])
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
        inputs=cfg.inputs,
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


def network_curve(cfg, device) -> tuple[list[dict], object]:
    """Trained two-layer networks (single and K-ensembles) versus N, beside random features of the
    same width: the theory line for the teacher, a ridge-path simulation for real data. Returns the
    rows and the figure path (when ``cfg.out`` is set)."""
    from dltheory.randfeat.data import require_mnist
    from dltheory.randfeat.simulate import parity_pca_data, simulate_real_data
    from dltheory.randfeat.simulate.networks import (
        NetworkSpec,
        simulate_network_real_data,
        simulate_network_teacher,
    )

    require(cfg.data in ("teacher", "digits", "mnist"), "--data must be teacher, digits or mnist")
    require(1 <= cfg.n_min < cfg.n_max and cfg.num >= 2, "need 1 <= n_min < n_max and num >= 2")
    require(cfg.k >= 1 and cfg.n_seeds >= 2, "need --k >= 1 and --n-seeds >= 2")
    n_grid = np.unique(
        np.round(np.logspace(math.log10(cfg.n_min), math.log10(cfg.n_max), cfg.num)).astype(int)
    )
    ks = sorted({1, int(cfg.k)})
    spec = NetworkSpec(
        width=cfg.width,
        activation=cfg.activation,
        train_first_layer=not cfg.frozen_first_layer,
        optimizer=cfg.optimizer,
        lr=cfg.lr,
        steps=cfg.steps,
        ridge=cfg.ridge,
    )
    if cfg.data == "teacher":
        curve = simulate_network_teacher(
            cfg.d,
            n_grid,
            spec,
            noise=cfg.noise,
            ks=ks,
            n_seeds=cfg.n_seeds,
            n_test=cfg.n_test,
            seed=cfg.seed,
            device=device,
        )
        rf = rf_ridge(
            cfg.width / cfg.d,
            n_grid / cfg.d,
            cfg.ridge,
            activation=cfg.activation,
            ridge_convention="replica",
            noise=cfg.noise,
        ).test_error
        rf_sem = np.zeros(len(n_grid))
    else:
        root = require_mnist(cfg.root) if cfg.data == "mnist" else None
        x, y = parity_pca_data(cfg.data, d=cfg.d, whiten_pow=cfg.whiten_pow, root=root)
        require(
            int(n_grid[-1]) + cfg.n_test <= x.shape[0],
            f"--n-max + --n-test must be <= {x.shape[0]} images",
        )
        curve = simulate_network_real_data(
            x.float(), y.float(), n_grid, spec, ks=ks, n_seeds=cfg.n_seeds, n_test=cfg.n_test
        )
        sim = simulate_real_data(
            x,
            y,
            cfg.width,
            n_grid,
            cfg.ridge,
            activation=cfg.activation,
            n_seeds=cfg.n_seeds,
            n_test=cfg.n_test,
            seed=cfg.seed,
        )
        rf, rf_sem = sim["test_mean"], sim["test_sem"]
    rows = []
    for i, n in enumerate(n_grid):
        row: dict[str, Any] = {"n": int(n)}
        for j, k in enumerate(ks):
            row[f"net_k{k}"] = float(curve.test_mean[i, j])
            row[f"net_k{k}_sem"] = float(curve.test_sem[i, j])
        row["random_features"] = float(rf[i])
        row["random_features_sem"] = float(rf_sem[i])
        rows.append(row)
    path = None
    if cfg.out is not None:
        from dltheory.randfeat.figures import draw_network_curve

        path = draw_network_curve(rows, ks, cfg, Path(cfg.out) / f"networks_{cfg.data}")
    return rows, path

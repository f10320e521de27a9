"""One figure per paper: theory lines through simulation points (used by ``reproduce`` and examples)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dltheory.randfeat.theory import (
    block_curve,
    ensemble_error,
    feature_spectrum_density,
    local_maxima,
    rf_ridge,
)


def _err(ax, x, mean, sem, **kw):
    ax.errorbar(x, mean, yerr=sem, fmt="o", ms=4, capsize=2, **kw)


def figure_double_trouble(out: Path, quick: bool = True, device="cpu") -> tuple[Path, dict]:
    """2003.01054: ensembles of K = 1, 2, 10, inf ReLU random-features estimators versus P/N at N = D,
    and the bias / variance split of K = 1 (lam_MM = 1e-4, tau = 0.1 as in the authors' numerics), each
    term also measured by simulation (:mod:`dltheory.randfeat.simulate.decomposition`)."""
    from dltheory.core.plotting import new_figure, save_figure
    from dltheory.randfeat.simulate import simulate_rf_ridge
    from dltheory.randfeat.simulate.decomposition import simulate_ensemble_decomposition

    d = 100
    ridge, tau2, ks = 1e-4, 0.01, (1, 2, 10)
    ratio = np.logspace(-1, 1, 200)
    fig, (ax, ax2) = new_figure(ncols=2, size=(4.8, 3.8))
    data, agreement = {"P_over_N": ratio}, []
    for k in (*ks, np.inf):
        e = ensemble_error(ratio, 1.0, ridge, k=k, noise=tau2)["test_error"]
        data[f"theory_K{k}"] = e
        ax.plot(ratio, e, label=f"K = {k}")
    sim_ratio = np.logspace(-1, 1, 7 if quick else 15)
    means, sems = [], []
    for r in sim_ratio:
        res = simulate_rf_ridge(
            d,
            max(1, round(r * d)),
            d,
            [ridge],
            activation="relu",
            noise=tau2,
            ks=ks,
            n_seeds=4 if quick else 10,
            n_test=1000,
            device=device,
        )
        means.append(res.test_mean[0])
        sems.append(res.test_sem[0])
    means, sems = np.array(means), np.array(sems)
    for j, k in enumerate(ks):
        _err(ax, sim_ratio, means[:, j], sems[:, j], color=f"C{j}")
        data[f"sim_K{k}"], data[f"sim_K{k}_sem"] = means[:, j], sems[:, j]
        theory = ensemble_error(sim_ratio, 1.0, ridge, k=k, noise=tau2)["test_error"]
        agreement.extend(np.abs(means[:, j] - theory) / theory)
    data["sim_P_over_N"] = sim_ratio
    ax.set(
        xscale="log", yscale="log", xlabel="P / N", ylabel="test error", title="ensembles (N = D)"
    )
    ax.axvline(1, color="gray", ls=":")
    ax.legend(fontsize=8)
    split = ensemble_error(ratio, 1.0, ridge, k=1, noise=tau2)
    parts = ("bias", "var_init", "var_sampling", "var_noise")
    sim_split = [
        simulate_ensemble_decomposition(
            d,
            max(1, round(r * d)),
            d,
            [ridge],
            noise=tau2,
            n_seeds=6 if quick else 12,
            n_features=3,
            n_test=2000,
            device=device,
        )[1.0]
        for r in sim_ratio
    ]
    z_scores = []
    for j, name in enumerate(parts):
        ax2.plot(ratio, split[name], color=f"C{j}", label=name)
        data[name] = split[name]
        m = np.array([s_[name][0] for s_ in sim_split])
        se = np.array([s_[f"{name}_sem"][0] for s_ in sim_split])
        _err(ax2, sim_ratio, m, se, color=f"C{j}")
        data[f"sim_{name}"], data[f"sim_{name}_sem"] = m, se
        theory = ensemble_error(sim_ratio, 1.0, ridge, k=1, noise=tau2)[name]
        z_scores.extend(np.abs(m - theory) / se)
    ax2.set(
        xscale="log", yscale="log", xlabel="P / N", title="K = 1 decomposition", ylim=(1e-4, None)
    )
    ax2.legend(fontsize=8)
    path = save_figure(fig, out / "double_trouble", data=data)
    return path, {
        "double_trouble_median_rel_error": float(np.median(agreement)),
        "double_trouble_split_median_abs_z": round(float(np.median(z_scores)), 2),
        "double_trouble_split_max_abs_z": round(float(np.max(z_scores)), 2),
    }


def figure_triple_descent(out: Path, quick: bool = True, device="cpu") -> tuple[Path, dict]:
    """2006.03509: sample-wise test error at P/D = 10 for degrees of linearity r (noise Delta = 5,
    lam_rep = 0.1): peaks at N = D (linear, noise-driven) and N = P (nonlinear); plus the feature
    spectrum at N = D whose gap explains the linear peak."""
    import torch

    from dltheory.core.plotting import new_figure, save_figure
    from dltheory.randfeat.simulate import simulate_rf_ridge
    from dltheory.randfeat.simulate.features import (
        activation_torch,
        draw_features,
        draw_inputs,
        random_features,
    )

    psi1, lam, noise = 10.0, 0.1, 5.0
    psi2 = np.logspace(-1, 2, 300)
    fig, (ax, ax2) = new_figure(ncols=2, size=(4.8, 3.8))
    data, metrics = {"N_over_D": psi2}, {}
    for j, r in enumerate((0.5, 0.9, 0.99)):
        e = rf_ridge(
            psi1, psi2, lam, activation=r, ridge_convention="replica", noise=noise
        ).test_error
        data[f"theory_r{r}"] = e
        ax.plot(psi2, e, color=f"C{j}", label=f"r = {r}")
        metrics[f"triple_descent_peaks_r{r}"] = [round(float(x), 3) for x in local_maxima(psi2, e)]
    d = 30 if quick else 100
    sim_psi2 = np.logspace(-1, 2, 9 if quick else 16)
    rel = []
    for j, r in enumerate((0.5, 0.9)):
        m, s = [], []
        for p2 in sim_psi2:
            res = simulate_rf_ridge(
                d,
                int(psi1 * d),
                max(1, round(p2 * d)),
                [lam],
                ridge_convention="replica",
                activation=f"r={r}",
                noise=noise,
                n_seeds=3 if quick else 8,
                n_test=1000,
                device=device,
            )
            m.append(res.test_mean[0, 0])
            s.append(res.test_sem[0, 0])
        m, s = np.array(m), np.array(s)
        _err(ax, sim_psi2, m, s, color=f"C{j}")
        data[f"sim_r{r}"], data[f"sim_r{r}_sem"] = m, s
        th = rf_ridge(
            psi1, sim_psi2, lam, activation=r, ridge_convention="replica", noise=noise
        ).test_error
        rel.extend(np.abs(m - th) / th)
    data["sim_N_over_D"] = sim_psi2
    metrics["triple_descent_median_rel_error"] = float(np.median(rel))
    ax.axvline(1, color="gray", ls=":")
    ax.axvline(psi1, color="gray", ls="--")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N / D",
        ylabel="test error",
        title=f"P/D = {psi1:g}, Delta = {noise:g}",
    )
    ax.legend(fontsize=8)
    # feature spectrum of Z^T Z at N = D (r = 0.9): theory density vs one draw, log-spaced eigenvalues
    gen = torch.Generator().manual_seed(0)
    dd = 100
    f = draw_features(int(psi1 * dd), dd, gen)
    z = random_features(draw_inputs(dd, dd, gen), f, activation_torch("r=0.9"))
    evals = torch.linalg.eigvalsh(z.T @ z).numpy()
    evals = evals[evals > 1e-8]
    x = np.logspace(-2, np.log10(2 * evals.max()), 400)
    dens = (
        feature_spectrum_density(x, psi1, 1.0, 0.9, eta=1e-4) * psi1
    )  # per nonzero eigenvalue (N/P of them)
    bins = np.logspace(-2, np.log10(2 * evals.max()), 40)
    ax2.hist(
        evals, bins=bins, density=True, alpha=0.4, color="C1", label="simulation (D = N = 100)"
    )
    ax2.plot(x, dens, color="C1", label="theory")
    ax2.set(
        xscale="log",
        yscale="log",
        xlabel="eigenvalue of Z^T Z",
        ylabel="density of nonzero eigenvalues",
        title="feature spectrum at N = D, r = 0.9",
        ylim=(1e-4, None),
    )
    ax2.legend(fontsize=8)
    data["spectrum_x"], data["spectrum_density"], data["spectrum_sim_eigenvalues"] = x, dens, evals
    return save_figure(fig, out / "triple_descent", data=data), metrics


def figure_data_structure(out: Path, quick: bool = True, device="cpu") -> tuple[Path, dict]:
    """2103.05524: classification error versus N/D at P = D (tanh) for isotropic and aligned two-block
    data, square loss (interpolation peak at N = P) against logistic loss.

    lam = 1e-3 as in the paper. Theory points whose fixed point did not converge (a ``ConvergenceWarning``
    is still raised) are dropped from the plot and their N/D listed in the returned ``notes``."""
    from dltheory.core.plotting import new_figure, save_figure
    from dltheory.randfeat.simulate import simulate_block_classification

    lam = 1e-3
    max_iter = 5000 if quick else 20_000
    sim_psi2 = np.logspace(-1, 1, 5 if quick else 10)
    # one warm-started sweep gives both the lines and the theory at the simulation points
    psi2 = np.union1d(np.logspace(-1, 1.5, 16 if quick else 60), sim_psi2)
    at_sim = np.searchsorted(psi2, sim_psi2)
    fig, axes = new_figure(ncols=2, size=(4.6, 3.8))
    data, rel, notes, dropped_total = {"N_over_D": psi2}, [], [], 0
    d = 150 if quick else 1000
    for ax, case in zip(axes, ("isotropic", "aligned")):
        for j, loss in enumerate(("square", "logistic")):
            res = block_curve(
                1.0, psi2, lam, structure=case, loss=loss, activation="tanh", max_iter=max_iter
            )
            ok = np.asarray(res.converged, bool)
            th = np.where(ok, res.test_error, np.nan)  # never draw a non-converged point
            data[f"theory_{case}_{loss}"], data[f"converged_{case}_{loss}"] = th, ok.astype(int)
            if not ok.all():
                dropped_total += int((~ok).sum())
                notes.append(
                    f"data_structure: {case}/{loss} theory not converged after {max_iter} iterations "
                    f"at N/D = {', '.join(f'{x:.3g}' for x in psi2[~ok])}; dropped from the plot"
                )
            ax.plot(psi2, th, color=f"C{j}", label=f"{loss} (theory)")
            m, s = [], []
            for p2 in sim_psi2:
                sim = simulate_block_classification(
                    d,
                    d,
                    max(2, round(p2 * d)),
                    [lam],
                    structure=case,
                    activation="tanh",
                    loss=loss,
                    n_seeds=3 if quick else 10,
                    n_test=2000,
                    device=device,
                )
                m.append(sim.test_mean[0, 0])
                s.append(sim.test_sem[0, 0])
            m, s = np.array(m), np.array(s)
            _err(ax, sim_psi2, m, s, color=f"C{j}")
            data[f"sim_{case}_{loss}"], data[f"sim_{case}_{loss}_sem"] = m, s
            thp = th[at_sim]
            good = np.isfinite(thp)
            rel.extend(np.abs(m[good] - thp[good]) / thp[good])
        ax.axvline(1, color="gray", ls=":")
        ax.set(
            xscale="log",
            xlabel="N / D",
            ylabel="test classification error",
            title=f"{case}, P = D = {d}, lam = {lam:g}",
        )
        ax.legend(fontsize=8)
    data["sim_N_over_D"] = sim_psi2
    metrics = {
        "data_structure_median_rel_error": float(np.median(rel)) if rel else float("nan"),
        "data_structure_lambda": lam,
        "data_structure_theory_points_dropped": dropped_total,
    }
    if notes:
        metrics["notes"] = notes
    return save_figure(fig, out / "data_structure", data=data), metrics


def figure_networks(out: Path, quick: bool = True, device="cpu") -> tuple[Path, dict]:
    """The "realistic network" counterpart (2006.03509, 2003.01054): two-layer networks with every layer
    trained by full-batch descent (Adam), single nets and ensembles of K = 4, versus N.

    Left: the noisy linear teacher of (b) (D = 10, P = 100, r = 0.9, Delta = 5, readout ridge 0.1), with
    the random-features theory of the same architecture as a line. Right: digits parity after PCA
    (D = 20), networks against random features (ridge path) of the same width.
    """
    import torch

    from dltheory.core.plotting import new_figure, save_figure
    from dltheory.randfeat.simulate import parity_pca_data, simulate_real_data
    from dltheory.randfeat.simulate.networks import (
        NetworkSpec,
        simulate_network_real_data,
        simulate_network_teacher,
    )

    seeds, ks = (2 if quick else 5), (1, 4)
    fig, (ax, ax2) = new_figure(ncols=2, size=(4.8, 3.8))
    data, metrics = {}, {}
    # left: linear teacher with label noise
    d, p, lam, noise, act = 10, 100, 0.1, 5.0, "r=0.9"
    n_grid = np.unique(np.round(np.logspace(np.log10(3), 3, 9 if quick else 16)).astype(int))
    spec = NetworkSpec(
        width=p, activation=act, optimizer="adam", lr=0.01, steps=1000 if quick else 4000, ridge=lam
    )
    curve = simulate_network_teacher(
        d,
        n_grid,
        spec,
        noise=noise,
        ks=ks,
        n_seeds=seeds,
        n_test=1000,
        dtype=torch.float32,
        device=device,
    )
    psi2 = np.logspace(np.log10(n_grid[0] / d), np.log10(n_grid[-1] / d), 300)
    theory = rf_ridge(
        p / d, psi2, lam, activation=0.9, ridge_convention="replica", noise=noise
    ).test_error
    ax.plot(psi2, theory, color="gray", label="random features (theory)")
    data.update(teacher_N_over_D_theory=psi2, teacher_rf_theory=theory, teacher_N=n_grid)
    for j, k in enumerate(ks):
        _err(
            ax,
            n_grid / d,
            curve.test_mean[:, j],
            curve.test_sem[:, j],
            color=f"C{j}",
            label=f"trained nets, K = {k}",
        )
        data[f"teacher_net_K{k}"], data[f"teacher_net_K{k}_sem"] = (
            curve.test_mean[:, j],
            curve.test_sem[:, j],
        )
    for x, style, name in ((1, ":", "N = D"), (p / d, "--", "N = P"), (p, "-.", "N = PD")):
        ax.axvline(x, color="gray", ls=style, lw=0.8, label=name)
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="N / D",
        ylabel="test error",
        title=f"teacher: D = {d}, P = {p}, Delta = {noise:g}",
    )
    ax.legend(fontsize=7)
    peak = int(np.argmax(curve.test_mean[:, 0]))
    metrics["networks_teacher_peak_N"] = int(n_grid[peak])
    metrics["networks_teacher_K4_over_K1_at_largest_N"] = round(
        float(curve.test_mean[-1, 1] / curve.test_mean[-1, 0]), 3
    )
    # right: digits parity, networks vs random features of the same width
    x, y = parity_pca_data("digits", d=20)
    p2, n_test = 50, 400
    n_real = np.unique(
        np.round(
            np.logspace(np.log10(20), np.log10(x.shape[0] - n_test), 6 if quick else 10)
        ).astype(int)
    )
    real_spec = NetworkSpec(
        width=p2,
        activation="relu",
        optimizer="adam",
        lr=0.01,
        steps=500 if quick else 2000,
        ridge=1e-2,
    )
    real = simulate_network_real_data(
        x.float(), y.float(), n_real, real_spec, ks=ks, n_seeds=seeds, n_test=n_test
    )
    rf = simulate_real_data(x, y, p2, n_real, 1e-2, activation="relu", n_seeds=seeds, n_test=n_test)
    _err(
        ax2,
        n_real,
        rf["test_mean"],
        rf["test_sem"],
        color="gray",
        label=f"random features, P = {p2}",
    )
    for j, k in enumerate(ks):
        _err(
            ax2,
            n_real,
            real.test_mean[:, j],
            real.test_sem[:, j],
            color=f"C{j}",
            label=f"trained nets, K = {k}",
        )
        data[f"digits_net_K{k}"], data[f"digits_net_K{k}_sem"] = (
            real.test_mean[:, j],
            real.test_sem[:, j],
        )
    data.update(digits_N=n_real, digits_rf=rf["test_mean"], digits_rf_sem=rf["test_sem"])
    ax2.set(
        xscale="log",
        xlabel="N (training images)",
        ylabel="parity test error",
        title=f"digits parity, PCA D = 20, P = {p2}",
    )
    ax2.legend(fontsize=7)
    metrics["networks_digits_error_largest_N"] = {
        f"K{k}": round(float(real.test_mean[-1, j]), 4) for j, k in enumerate(ks)
    }
    metrics["networks_digits_rf_error_largest_N"] = round(float(rf["test_mean"][-1]), 4)
    return save_figure(fig, out / "networks", data=data), metrics

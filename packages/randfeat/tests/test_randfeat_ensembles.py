"""Real ensembles (K feature maps trained on the same data, outputs averaged) against the theory of
2003.01054: the K-dependence is measured, not assumed."""

import numpy as np
import pytest

from dltheory.randfeat.simulate import simulate_rf_ridge
from dltheory.randfeat.simulate.ensembles import SPLIT, simulate_ensemble
from dltheory.randfeat.theory import ensemble_error


@pytest.mark.parametrize(
    ("activation", "ridge", "noise", "ks", "seeds"),
    [("tanh", 0.1, 0.25, (1, 2, 10, 40), 6), ("relu", 0.01, 0.01, (1, 2, 10), 8)],
)
def test_real_ensembles_match_the_theory_within_3_se(activation, ridge, noise, ks, seeds):
    sim = simulate_ensemble(
        100,
        100,
        100,
        [ridge],
        ks=ks,
        activation=activation,
        noise=noise,
        n_seeds=seeds,
        n_test=1000,
    )
    assert sim["members"] == 2 * ks[-1]
    for k in ks:
        theory = ensemble_error(1.0, 1.0, ridge, k=k, activation=activation, noise=noise)
        for name in SPLIT:
            mean, se = sim[k][name][0], sim[k][f"{name}_sem"][0]
            assert se > 0
            assert abs(mean - float(theory[name])) < 3 * se, (k, name, mean, se, theory[name])


def test_the_measured_split_follows_one_over_k():
    # the initialisation variance of a K-member ensemble is that of one member divided by K, and
    # the bias and sampling variance do not depend on K: measured from the ensembles themselves
    sim = simulate_ensemble(80, 80, 80, [0.1], ks=(1, 10), activation="tanh", noise=0.25, n_seeds=6)
    one, ten = sim[1], sim[10]
    ratio = one["var_init"][0] / ten["var_init"][0]
    ratio_se = ratio * np.hypot(
        one["var_init_sem"][0] / one["var_init"][0], ten["var_init_sem"][0] / ten["var_init"][0]
    )
    assert abs(ratio - 10) < 3 * ratio_se + 1.0
    for name in ("bias", "var_sampling"):
        gap = abs(one[name][0] - ten[name][0])
        assert gap < 3 * np.hypot(one[f"{name}_sem"][0], ten[f"{name}_sem"][0])


def test_realised_error_equals_the_ridge_simulation_for_one_member():
    # K = 1, same draw order as simulate_rf_ridge is not shared; compare both with the theory
    ens = simulate_ensemble(100, 200, 100, [0.01], ks=(1,), n_seeds=6, n_test=1000)[1]
    ridge = simulate_rf_ridge(100, 200, 100, [0.01], n_seeds=6, n_test=1000)
    gap = abs(ens["test_error"][0] - ridge.test_mean[0, 0])
    assert gap < 3 * np.hypot(ens["test_error_sem"][0], ridge.test_sem[0, 0])


def test_sphere_inputs_match_the_gaussian_theory():
    sim = simulate_ensemble(
        100, 200, 100, [0.05], ks=(1, 10), inputs="sphere", activation="tanh", n_seeds=6
    )
    for k in (1, 10):
        theory = float(ensemble_error(2.0, 1.0, 0.05, k=k, activation="tanh")["test_error"])
        assert abs(sim[k]["test_error"][0] - theory) < 3 * sim[k]["test_error_sem"][0]

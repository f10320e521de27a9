"""Bad input and consistency: one-line errors, the CLI's defaults equal the API's, JSON without NaN,
callable activations, the optimal-ridge search bound."""

import json
import re
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dltheory.randfeat import RandfeatInputError, RidgeAtBoundWarning
from dltheory.randfeat.cli import app
from dltheory.randfeat.simulate import simulate_rf_ridge
from dltheory.randfeat.theory import (
    block_rf,
    ensemble_error,
    get_coefficients,
    mm_ridge,
    optimal_ridge,
    rf_ridge,
)

runner = CliRunner()
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(psi1=0.0), "psi1"),
        (dict(psi1=-1.0), "psi1"),
        (dict(psi2=-0.5), "psi2"),
        (dict(noise=0.7), "flip"),
        (dict(noise=-0.1), "flip"),
        (dict(task="regression", noise=-0.1), "non-negative"),
        (dict(loss="hinge"), "loss"),
    ],
)
def test_block_rf_validates_like_rf_ridge(kwargs, match):
    args = dict(psi1=1.0, psi2=1.0)
    args.update({k: kwargs.pop(k) for k in ("psi1", "psi2") if k in kwargs})
    with pytest.raises(RandfeatInputError, match=match):
        block_rf(args["psi1"], args["psi2"], 0.1, **kwargs)


def test_rf_ridge_rejects_the_same_inputs():
    for psi1 in (0.0, -1.0):
        with pytest.raises(RandfeatInputError, match="psi1"):
            rf_ridge(psi1, 1.0, 0.1)
    with pytest.raises(RandfeatInputError, match="flip"):
        rf_ridge(1.0, 1.0, 0.1, task="classification", noise=0.7)


def test_ensemble_error_rejects_negative_noise():
    with pytest.raises(RandfeatInputError, match="non-negative"):
        ensemble_error(1.0, 1.0, 0.1, noise=-0.01)


def test_optimal_ridge_says_when_the_optimum_is_at_the_search_bound():
    # reference test case 4: the optimum is lam_MM ~ 0.12 (MM bias 0.6460); a search capped at 0.05
    # ends at its upper bound and must say so
    with pytest.warns(RidgeAtBoundWarning, match="upper"):
        lam, err = optimal_ridge(1.585, 1.0, bounds=(1e-3, 0.05))
    assert lam == pytest.approx(0.05)
    assert err == pytest.approx(float(mm_ridge(1.585, 1.0, 0.05)["test_error"]), rel=1e-7)
    # far from the peak and without noise the error decreases down to zero ridge
    with pytest.warns(RidgeAtBoundWarning, match="lower"):
        optimal_ridge(5.0, 0.5, bounds=(1e-6, 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RidgeAtBoundWarning)  # an interior optimum: no warning
        lam, err = optimal_ridge(1.585, 1.0)
    assert err == pytest.approx(0.6460, abs=2e-4)


def test_callable_activation_matches_the_closed_form():
    # ReLU's GET coefficients in closed form vs quadrature of a user callable
    fn = lambda h: np.maximum(h, 0.0)  # noqa: E731
    a = rf_ridge(2.0, 1.0, 0.01, activation=fn).test_error
    assert float(a) == pytest.approx(0.662857, abs=1e-5)  # reference 0.6629 (MM, relu)
    b = block_rf(1.0, 2.0, 0.1, activation=torch.relu).test_error
    c = block_rf(1.0, 2.0, 0.1, activation="relu").test_error
    assert float(b) == pytest.approx(float(c), rel=1e-7)
    with pytest.raises(RandfeatInputError, match="callable"):
        rf_ridge(1.0, 1.0, 0.1, activation=lambda h: "text")


def test_simulation_accepts_a_torch_callable():
    named = simulate_rf_ridge(40, 80, 40, [0.05], activation="relu", n_seeds=2, n_test=200)
    given = simulate_rf_ridge(40, 80, 40, [0.05], activation=torch.relu, n_seeds=2, n_test=200)
    # the callable is centred by its own mu0 (quadrature), the name by the closed form
    np.testing.assert_allclose(given.test_mean, named.test_mean, rtol=1e-6)
    assert get_coefficients("relu").mu0 == pytest.approx(1 / np.sqrt(2 * np.pi))


def test_cli_block_defaults_equal_the_api():
    res = runner.invoke(app, ["theory", "--model", "block", "--psi1", "1", "--psi2", "2", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    api = block_rf(1.0, 2.0, 0.01)  # tanh, classification, replica convention
    assert row["test_error"] == pytest.approx(float(api.test_error), rel=1e-10)
    res = runner.invoke(
        app, ["theory", "--model", "block", "--r-x", "100", "--r-beta", "0.01", "--json"]
    )
    from dltheory.randfeat.theory import CASES

    assert json.loads(res.stdout)["test_error"] == pytest.approx(
        float(block_rf(2.0, 1.0, 0.01, structure=CASES["misaligned"]).test_error), rel=1e-10
    )


def test_every_block_parameter_is_settable_from_the_cli(tmp_path):
    from dltheory.randfeat.theory import BlockStructure

    res = runner.invoke(
        app,
        ["theory", "--model", "block", "--r-x", "30", "--r-beta", "5", "--r-phi", "4", "--json"],
    )
    assert res.exit_code == 0, res.output
    expected = block_rf(2.0, 1.0, 0.01, structure=BlockStructure(30.0, 5.0, 4.0)).test_error
    assert json.loads(res.stdout)["test_error"] == pytest.approx(float(expected), rel=1e-10)
    res = runner.invoke(
        app,
        [
            "phase",
            "--r-x",
            "100",
            "--r-beta",
            "100",
            "--r-phi",
            "100",
            "--num",
            "4",
            "--lo",
            "0.1",
            "--hi",
            "10",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    grid = block_rf(
        np.array([0.1]),
        np.array([0.1]),
        0.1,
        structure=BlockStructure(100.0, 100.0, 100.0),
        task="regression",
        activation="tanh",
    ).test_error
    first = (tmp_path / "phase_space.csv").read_text().splitlines()[1].split(",")
    assert float(first[2]) == pytest.approx(float(grid[0]), rel=1e-8)


def test_readme_block_and_theory_examples_run_as_written():
    lines = [
        line.split("#")[0].strip()
        for line in README.read_text().splitlines()
        if line.startswith("dltheory randfeat theory")
    ]
    assert any("--model block" in line for line in lines)
    for line in lines:
        args = shlex.split(line)[2:]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, f"{line}: {res.output}"


def test_json_writes_null_never_nan():
    res = runner.invoke(
        app,
        ["theory", "--model", "ensemble", "--k", "10", "--psi1", "1", "--ridge", "0.1", "--json"],
    )
    assert res.exit_code == 0, res.output
    assert not re.search(r"\bNaN\b|\bInfinity\b", res.stdout)
    row = json.loads(res.stdout)
    assert row["train_error"] is None  # no train error for an ensemble of 10


def test_block_regression_reports_the_full_mse_not_the_half():
    # 2103.05524 plots (rho + Q - 2M)/2; block_rf reports rho + Q - 2M, the same MSE as rf_ridge
    one = block_rf(1.5, 2.0, 0.1, structure="isotropic", task="regression", activation="relu")
    ref = rf_ridge(1.5, 2.0, 0.1, ridge_convention="replica")
    assert float(one.test_error) == pytest.approx(float(ref.test_error), rel=1e-6)
    assert float(one.test_error) == pytest.approx(1 + float(one.q) - 2 * float(one.m), rel=1e-12)


def test_cli_bad_block_input_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "dltheory.randfeat", "theory", "--model", "block", "--psi1", "-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:")
    assert len(proc.stderr.strip().splitlines()) == 1

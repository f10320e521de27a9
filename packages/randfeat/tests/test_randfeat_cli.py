"""The command line: JSON keys, one-line errors, the phase-space figure."""

import json
import subprocess
import sys

import numpy as np
from typer.testing import CliRunner

from dltheory.randfeat.cli import app

runner = CliRunner()


def test_cli_module_imports_no_torch():
    code = "import sys, dltheory.randfeat.cli; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_theory_json_point_and_ensemble_keys():
    res = runner.invoke(app, ["theory", "--psi1", "2", "--psi2", "1", "--ridge", "0.01", "--json"])
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert {"test_error", "train_error"} <= set(row)
    assert abs(row["test_error"] - 0.6629) < 1e-4
    res = runner.invoke(
        app,
        [
            "theory",
            "--model",
            "ensemble",
            "--k",
            "inf",
            "--psi1",
            "1",
            "--ridge",
            "0.1",
            "--noise",
            "0.01",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert {"test_error", "bias", "var_init", "var_noise", "var_sampling"} <= set(row)
    assert abs(row["test_error"] - 0.487) < 1e-3


def test_theory_curve_table_and_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("activation: tanh\nnoise: 0.5\n")
    res = runner.invoke(
        app, ["theory", "--config", str(cfg), "--curve", "psi2", "--num", "5", "--json"]
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert len(rows) == 5
    assert rows[0]["psi2"] < rows[-1]["psi2"]


def test_bad_input_is_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "dltheory.randfeat", "theory", "--activation", "swish"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:")
    assert "swish" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_simulate_json(tmp_path):
    res = runner.invoke(
        app,
        [
            "simulate",
            "--d",
            "40",
            "--psi1",
            "2",
            "--psi2",
            "1",
            "--n-seeds",
            "3",
            "--n-test",
            "200",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.output)
    assert row["n_seeds"] == 3
    assert row["test_sem"] > 0
    assert 0 < row["test_error"] < 5


def test_simulate_network_json_for_frozen_and_trained_first_layers():
    common = [
        "--d",
        "10",
        "--psi1",
        "2",
        "--psi2",
        "3",
        "--ridge",
        "0.05",
        "--ridge-convention",
        "replica",
        "--activation",
        "tanh",
        "--noise",
        "0.1",
        "--n-seeds",
        "2",
        "--n-test",
        "200",
        "--device",
        "cpu",
        "--json",
    ]
    res = runner.invoke(
        app,
        [
            "simulate",
            "--model",
            "network",
            "--frozen-first-layer",
            "--optimizer",
            "gd",
            "--lr",
            "2",
            "--steps",
            "3000",
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    net = json.loads(res.stdout)  # progress lines go to stderr
    assert {"test_error", "test_sem", "train_error", "train_sem"} <= set(net)
    assert 0 < net["train_error"] < net["test_error"] + 0.1 + 1
    assert net["test_sem"] > 0
    rows = {}
    for k in ("1", "3"):
        res = runner.invoke(
            app, ["simulate", "--model", "network", "--k", k, "--steps", "200", *common]
        )
        assert res.exit_code == 0, res.output
        rows[k] = json.loads(res.stdout)  # progress lines go to stderr
    # averaging 3 nets trained on the same data removes part of their variance (same seeds)
    assert rows["3"]["test_error"] < rows["1"]["test_error"] + 2 * rows["1"]["test_sem"]


def test_simulate_ensemble_json_has_the_theory_keys():
    args = [
        "--d",
        "60",
        "--psi1",
        "1",
        "--psi2",
        "1",
        "--ridge",
        "0.1",
        "--noise",
        "0.25",
        "--k",
        "10",
        "--n-seeds",
        "4",
        "--n-test",
        "500",
        "--device",
        "cpu",
        "--json",
    ]
    sim = runner.invoke(app, ["simulate", "--model", "ensemble", *args])
    assert sim.exit_code == 0, sim.output
    row = json.loads(sim.stdout)
    keys = ("test_error", "bias", "var_init", "var_noise", "var_sampling")
    assert set(keys) | {f"{k}_sem" for k in keys} | {f"{k}_theory" for k in keys} <= set(row)
    assert row["members_per_seed"] == 20  # two real 10-member ensembles per data set
    # the realised error of the averaged outputs against the sum of the separately measured terms
    parts = sum(row[k] for k in keys[1:])
    assert abs(parts - row["test_error"]) < 3 * row["test_error_sem"]
    theory = json.loads(
        runner.invoke(
            app,
            [
                "theory",
                "--model",
                "ensemble",
                "--psi1",
                "1",
                "--psi2",
                "1",
                "--ridge",
                "0.1",
                "--noise",
                "0.25",
                "--k",
                "10",
                "--json",
            ],
        ).stdout
    )
    assert row["test_error_theory"] == theory["test_error"]
    for key in keys:
        assert abs(row[key] - theory[key]) < 3 * row[f"{key}_sem"] + 0.01, key


def test_phase_writes_figure(tmp_path):
    res = runner.invoke(app, ["phase", "--num", "6", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "phase_space.png").stat().st_size > 1000
    assert (tmp_path / "phase_space.csv").read_text().count("\n") == 37


def test_networks_command_teacher_and_mnist(tmp_path, mnist_t10k_dir):
    from dltheory.randfeat.theory import rf_ridge

    common = ["--n-seeds", "2", "--n-test", "300", "--steps", "100", "--device", "cpu", "--json"]
    res = runner.invoke(
        app,
        [
            "networks",
            "--d",
            "8",
            "--width",
            "16",
            "--n-min",
            "8",
            "--n-max",
            "64",
            "--num",
            "3",
            "--k",
            "2",
            "--out",
            str(tmp_path),
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["n"] for r in rows] == [8, 23, 64]
    # the random-features column is the theory at the same width (replica ridge 0.1, Delta = 5)
    theory = rf_ridge(
        2.0,
        np.array([1.0, 23 / 8, 8.0]),
        0.1,
        activation=0.9,
        ridge_convention="replica",
        noise=5.0,
    ).test_error
    np.testing.assert_allclose([r["random_features"] for r in rows], theory, rtol=1e-10)
    assert (tmp_path / "networks_teacher.png").is_file()
    res = runner.invoke(
        app,
        [
            "networks",
            "--data",
            "mnist",
            "--root",
            str(mnist_t10k_dir),
            "--d",
            "20",
            "--width",
            "20",
            "--activation",
            "relu",
            "--ridge",
            "0.01",
            "--n-min",
            "200",
            "--n-max",
            "1000",
            "--num",
            "2",
            "--k",
            "1",
            *common,
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    # MNIST parity after PCA to D = 20: both nets and random features far below chance (0.5)
    assert rows[-1]["net_k1"] < 0.35
    assert rows[-1]["random_features"] < 0.35

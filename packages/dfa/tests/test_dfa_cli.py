"""End-to-end command line: train on digits (above chance), resume, NaN stop, theory, linear."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from dltheory.core.errors import NonFiniteLossError
from dltheory.dfa.cli import app
from dltheory.dfa.train import TrainConfig, train

runner = CliRunner()


def _metrics(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_train_dfa_on_digits_clearly_above_chance_then_resume(tmp_path):
    out = tmp_path / "run"
    args = [
        "train",
        "--method",
        "dfa",
        "--width",
        "64",
        "--epochs",
        "3",
        "--log-points",
        "4",
        "--out",
        str(out),
        "--device",
        "cpu",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["test_acc"] > 0.6  # chance is 0.1
    rows = _metrics(out)
    assert rows[0]["step"] == 0
    assert rows[-1]["step"] == record["step"]
    for key in (
        "train_loss",
        "test_loss",
        "train_acc",
        "wa_layer2",
        "wa_layer3",
        "ga_layer1",
        "ga_layer2",
        "ga_total",
        "update_cos_layer1",
    ):
        assert key in rows[-1]
    assert json.loads((out / "config.json").read_text())["method"] == "dfa"
    assert (out / "last.pt").exists()
    # Resume with a longer schedule continues from the saved step.
    result = runner.invoke(app, [*args[:6], "4", *args[7:], "--resume"])
    assert result.exit_code == 0, result.output
    steps = [r["step"] for r in _metrics(out)]
    assert steps == sorted(steps)
    assert steps[-1] > record["step"]


def test_dfa_aligns_a_cnn_far_less_than_an_mlp(tmp_path):
    """The paper's CNN failure: with the same data and training, DFA's gradient alignment on a
    CNN stays well below the MLP's; FA trains the CNN through FA's own conv feedback."""
    base = TrainConfig(epochs=2, log_points=2, device="cpu", threads=1)
    mlp_rec = train(replace(base, width=64), tmp_path / "mlp", quiet=True)
    cnn_rec = train(replace(base, model="cnn", width=8), tmp_path / "cnn", quiet=True)
    assert cnn_rec["ga_total"] < 0.5 * mlp_rec["ga_total"]
    fa_rec = train(replace(base, model="cnn", width=4, method="fa"), tmp_path / "fa", quiet=True)
    assert "ga_total" in fa_rec
    assert "wa_layer2" in fa_rec  # measured against FA's own conv feedback


def test_nan_stops_the_run_keeping_the_checkpoint(tmp_path):
    cfg = TrainConfig(
        dataset="random", method="bp", lr=1e8, momentum=0.0, epochs=3, log_points=2, width=32
    )
    with pytest.raises(NonFiniteLossError, match=r"last\.pt"):
        train(cfg, tmp_path / "nan", device="cpu", quiet=True)
    assert (tmp_path / "nan" / "last.pt").exists()


def test_theory_and_linear_commands(tmp_path):
    result = runner.invoke(
        app, ["theory", "--N", "200", "--time", "2", "--out", str(tmp_path / "th"), "--json"]
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    assert record["max_rel_err_sim_vs_ode"] < 0.05
    assert (tmp_path / "th" / "theory_dfa.csv").exists()
    result = runner.invoke(
        app,
        [
            "linear",
            "--grid",
            "0.5,1.0",
            "--label-noise",
            "0.5",
            "--width",
            "32",
            "--steps",
            "50",
            "--out",
            str(tmp_path / "li"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "li" / "linear.json").read_text())) == 5


def test_bad_flag_is_one_line_error():
    proc = subprocess.run(
        [sys.executable, "-m", "dltheory.dfa", "train", "--method", "sgd"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:")
    assert "method" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_sweep_runs_a_grid_of_train_runs(tmp_path):
    result = runner.invoke(
        app,
        [
            "sweep",
            "--param",
            "method=dfa,bp",
            "--param",
            "epochs=3",
            "--param",
            "width=32",
            "--out",
            str(tmp_path / "sw"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    assert [r["method"] for r in rows] == ["dfa", "bp"]
    assert rows[0]["ga_total"] > 0.2  # DFA's signal aligns with BP's
    assert "ga_total" in rows[0]
    assert "ga_total" not in rows[1]
    result = runner.invoke(app, ["sweep", "--param", "nonsense=1", "--out", str(tmp_path / "x")])
    assert result.exit_code != 0


def test_paper_scale_states_its_needs_and_refuses_without_them(tmp_path, capsys):
    from dltheory.core.errors import DltheoryError
    from dltheory.dfa.reproduce import reproduce

    with pytest.raises(DltheoryError, match="--scale paper needs"):
        reproduce(tmp_path / "paper", scale="paper")
    assert "CUDA GPU" in capsys.readouterr().out
    assert not (tmp_path / "paper").exists()

"""Training branches, resume, NaN handling, and the command line end to end on tiny digits runs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from dltheory.core.errors import CheckpointError, NonFiniteLossError
from dltheory.efcn.cli import app
from dltheory.efcn.embedding import EmbeddingError
from dltheory.efcn.figures import read_metrics
from dltheory.efcn.reproduce import findings
from dltheory.efcn.training import TrainConfig, switch, switch_epochs, train_cnn

TINY = TrainConfig(
    dataset="digits",
    data_size=120,
    model="vanilla-small",
    channels=3,
    epochs=2,
    batch_size=40,
    n_saves=2,
    device="cpu",
    threads=1,
)


def test_switch_epochs_follow_the_authors_logspace():
    assert switch_epochs(100, 20) == [
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        8,
        11,
        14,
        18,
        23,
        29,
        37,
        48,
        61,
        78,
        100,
    ]
    assert switch_epochs(2, 2) == [0, 1, 2]


def test_switch_starts_exactly_where_the_cnn_was(tmp_path):
    cnn = train_cnn(TINY, tmp_path / "cnn")
    assert sorted(p.name for p in (tmp_path / "cnn").glob("cnn_epoch*.pt")) == [
        "cnn_epoch0000.pt",
        "cnn_epoch0001.pt",
        "cnn_epoch0002.pt",
    ]
    cnn_rows = {r["epoch"]: r for r in read_metrics(tmp_path / "cnn")}
    result = switch(TINY, tmp_path / "cnn", 1, tmp_path / "efcn")
    rows = read_metrics(tmp_path / "efcn")
    assert [r["epoch"] for r in rows] == [1, 2]  # rest of the budget, on the total-epoch axis
    assert rows[0]["dev_total"] == 0.0  # embedded exactly: inside the CNN subspace
    assert rows[0]["test_loss"] == pytest.approx(cnn_rows[1]["test_loss"], abs=1e-5)
    assert rows[0]["test_acc"] == cnn_rows[1]["test_acc"]
    assert rows[1]["dev_total"] > 0
    assert result["t_w"] == 1
    assert cnn["epoch"] == 2
    with pytest.raises(CheckpointError, match="have: none"):
        switch(TINY, tmp_path / "nowhere", 1, tmp_path / "efcn5")
    with pytest.raises(EmbeddingError, match="max-params"):
        switch(replace(TINY, max_params=100), tmp_path / "cnn", 1, tmp_path / "efcn_big")


def test_resume_continues_exactly(tmp_path):
    straight = train_cnn(TINY, tmp_path / "a")
    train_cnn(replace(TINY, epochs=1), tmp_path / "b")
    resumed = train_cnn(TINY, tmp_path / "b", resume=True)
    assert resumed["test_loss"] == straight["test_loss"]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_metrics(tmp_path / "b")] == [0, 1, 2]


def test_nan_stops_and_keeps_last_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="last good checkpoint"):
        train_cnn(replace(TINY, lr=1e30, epochs=3), tmp_path / "nan")
    assert (tmp_path / "nan" / "last.pt").exists()


def test_findings_compare_branches():
    def row(branch, t_w, acc, dev=0.0):
        return {
            "branch": branch,
            "t_w": t_w,
            "seeds": 2,
            "final_test_acc_mean": acc,
            "final_test_acc_std": 0.01,
            "final_deviation_mean": dev,
        }

    rows = [
        row("cnn", "", 0.80),
        row("fcn", "", 0.70, 0.9),
        row("efcn", 0, 0.75, 0.1),
        row("efcn", 3, 0.85, 0.05),
        row("efcn", 10, 0.80),
    ]
    notes, metrics = findings(rows)
    assert metrics["best_intermediate_t_w"] == 3
    assert metrics["intermediate_t_w_beating_cnn"] == 1
    assert metrics["efcn_branches_beating_fcn"] == 3
    assert metrics["max_final_deviation"] == 0.1
    assert "+0.0500 vs the CNN" in notes[2]


def test_cli_tiny_sweep_end_to_end(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text(
        "epochs: 5\nchannels: 2\ndata_size: 90\nbatch_size: 45\nn_saves: 2\nthreads: 1\n"
    )
    out = tmp_path / "sweep"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "sweep",
            "--config",
            str(config),
            "--epochs",
            "2",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [(r["branch"], r["t_w"]) for r in rows] == [
        ("cnn", ""),
        ("fcn", ""),
        ("efcn", 0),
        ("efcn", 1),
        ("efcn", 2),
    ]
    assert all(r["epochs"] == 2 for r in rows)  # the flag beat the file's epochs: 5
    assert rows[-1]["final_deviation"] == 0.0  # switched at the end: no FCN training
    assert rows[1]["final_deviation"] > 0.5  # the dense twin is far from the CNN subspace
    for name in ("switch_time", "deviation", "accuracy_curves"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert (out / "figures" / f"{name}.csv").exists()
    assert json.loads((out / "cnn" / "config.json").read_text())["channels"] == 2
    res = runner.invoke(
        app,
        ["sweep", "--config", str(config), "--out", str(tmp_path / "bad"), "--switch-times", "4"],
    )
    assert res.exit_code != 0
    assert "not CNN checkpoint epochs" in str(res.exception)


def test_cli_size_reports_and_refuses():
    runner = CliRunner()
    res = runner.invoke(app, ["size", "--model", "vanilla", "--json"])
    assert res.exit_code == 0
    row = json.loads(res.stdout)[0]
    assert (row["cnn_params"], row["dense_params"]) == (143_178, 110_606_602)
    res = runner.invoke(app, ["size", "--model", "alexnet", "--max-params", "1000000"])
    assert isinstance(res.exception, EmbeddingError)
    assert "239,049,674 parameters, more than --max-params 1,000,000" in str(res.exception)


def test_mnist_t10k_with_the_authors_architecture(mnist_t10k_dir):
    from dltheory.efcn import embed
    from dltheory.efcn.data import load_data
    from dltheory.efcn.models import build_cnn

    data = load_data("mnist-t10k", str(mnist_t10k_dir), data_size=64)
    assert data.x_train.shape == (64, 1, 28, 28)
    assert data.x_test.shape == (64, 1, 28, 28)
    assert abs(float(data.x_train.mean())) < 0.5  # normalised with the MNIST mean/std
    torch.manual_seed(0)
    cnn = build_cnn("vanilla", 1, 10, 28, channels=4).double().eval()
    efcn = embed(cnn, data.input_shape).eval()
    x = data.x_test.double()
    assert torch.allclose(efcn(x), cnn(x), rtol=0, atol=1e-10)


def test_cli_train_then_switch_inherits_the_cnn_settings(tmp_path):
    runner = CliRunner()
    args = [
        "--epochs",
        "2",
        "--channels",
        "2",
        "--data-size",
        "60",
        "--batch-size",
        "30",
        "--n-saves",
        "2",
        "--threads",
        "1",
        "--device",
        "cpu",
    ]
    res = runner.invoke(app, ["train", "--out", str(tmp_path / "cnn"), *args])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app,
        [
            "switch",
            "--from",
            str(tmp_path / "cnn"),
            "--at",
            "1",
            "--out",
            str(tmp_path / "sw"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert result["t_w"] == 1
    assert result["epoch"] == 2
    assert json.loads((tmp_path / "sw" / "config.json").read_text())["channels"] == 2

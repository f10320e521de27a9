"""Training branches, resume, NaN handling, and the command line end to end on tiny digits runs."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from dltheory.core.errors import CheckpointError, NonFiniteLossError
from dltheory.efcn.claims import CLAIMS
from dltheory.efcn.cli import app
from dltheory.efcn.embedding import EmbeddingError
from dltheory.efcn.figures import read_metrics
from dltheory.efcn.reproduce import QUICK, claim_values
from dltheory.efcn.train import TrainConfig, switch, switch_epochs, train_cnn

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


def test_claim_values_by_hand():
    """Each claim's per-seed measure, on hand-made summary and barrier rows."""

    def row(branch, t_w, acc, dev=""):
        return {"branch": branch, "t_w": t_w, "final_test_acc": acc, "final_deviation": dev}

    rows = [
        row("cnn", "", 0.80),
        row("fcn", "", 0.70, 0.8),
        row("efcn", 0, 0.75, 0.2),
        row("efcn", 3, 0.86, 0.1),
        row("efcn", 5, 0.84, 0.05),
        row("efcn", 10, 0.80, 0.0),  # t_w = epochs: the CNN itself, left out
        row("elcn", 3, 0.83, 0.1),
    ]
    barriers = [
        {"t_w": 0, "path": "to_fcn", "mode": "linear", "train_loss_barrier": 1.0},
        {"t_w": 3, "path": "to_fcn", "mode": "linear", "train_loss_barrier": 2.0},
        {"t_w": 3, "path": "to_fcn", "mode": "output", "train_loss_barrier": 9.0},
        {"t_w": 3, "path": "switch", "mode": "linear", "train_loss_barrier": 0.5},
    ]
    cfg = replace(QUICK, epochs=10)
    values, extra = claim_values(cfg, [rows], [barriers])
    assert values["efcn.efcn_beats_fcn"][0] == pytest.approx((0.75 + 0.86 + 0.84) / 3 - 0.70)
    assert values["efcn.intermediate_switch_beats_cnn"][0] == pytest.approx(0.85 - 0.80)
    assert values["efcn.small_deviation"][0] == pytest.approx(0.2 / 0.8)
    assert values["efcn.efcn_fcn_barrier"][0] == pytest.approx(1.5)
    assert extra["elcn_minus_cnn"][0] == pytest.approx(0.03)
    assert extra["switch_loss_barrier"][0] == pytest.approx(0.5)


def test_claims_are_declared_with_the_fixed_ids():
    ids = {c.id for c in CLAIMS}
    assert {
        "efcn.efcn_beats_fcn",
        "efcn.intermediate_switch_beats_cnn",
        "efcn.small_deviation",
    } <= ids
    assert all(i.startswith("efcn.") for i in ids)


def test_elcn_branch_starts_at_the_cnn_and_stays_local(tmp_path):
    train_cnn(TINY, tmp_path / "cnn")
    cnn_rows = {r["epoch"]: r for r in read_metrics(tmp_path / "cnn")}
    result = switch(TINY, tmp_path / "cnn", 1, tmp_path / "elcn", to="elcn")
    rows = read_metrics(tmp_path / "elcn")
    assert result["branch"] == "elcn"
    assert rows[0]["test_loss"] == pytest.approx(cnn_rows[1]["test_loss"], abs=1e-5)
    assert rows[0]["dev_total"] == 0.0
    assert all(r["dev_off_local"] == 0.0 for r in rows)  # an eLCN cannot leave the local support
    assert rows[-1]["dev_unshared"] > 0


def test_resume_after_sigint_mid_epoch_is_exact(tmp_path, monkeypatch):
    """A SIGINT at step 4 (inside epoch 2) saves last.pt; --resume ends bit-identical."""
    import signal

    from dltheory.core.errors import RunInterrupted
    from dltheory.core.session import Session

    cfg = replace(TINY, epochs=3)
    straight = train_cnn(cfg, tmp_path / "a")

    class StopAt4(Session):
        def maybe_checkpoint(self, step, state_fn):
            if step == 4:
                self._stop_signal = signal.SIGINT
            super().maybe_checkpoint(step, state_fn)

    monkeypatch.setattr("dltheory.efcn.train.Session", StopAt4)
    with pytest.raises(RunInterrupted, match="step 4"):
        train_cnn(cfg, tmp_path / "b")
    monkeypatch.undo()
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["step"] == 4
    resumed = train_cnn(cfg, tmp_path / "b", resume=True)
    assert resumed["test_loss"] == straight["test_loss"]
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [r["epoch"] for r in read_metrics(tmp_path / "b")] == [0, 1, 2, 3]


def test_resume_refuses_a_changed_learning_rate(tmp_path):
    from dltheory.core.errors import ConfigError

    train_cnn(replace(TINY, epochs=1), tmp_path / "b")
    with pytest.raises(ConfigError, match="lr"):
        train_cnn(replace(TINY, lr=0.5), tmp_path / "b", resume=True)


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
    assert [(r["branch"], r["t_w"]) for r in rows][:5] == [
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


def test_landscape_paths_end_at_the_branches_solutions(tmp_path):
    """The path ends, evaluated by the landscape code, equal the metrics the branches logged."""
    from dltheory.efcn.protocol import as_sweep_config, barrier_rows, sweep

    cfg = as_sweep_config(TINY, epochs=2, landscape_points=3, landscape_examples=0, local_times=[1])
    sweep(cfg, tmp_path / "s")
    rows = json.loads((tmp_path / "s" / "landscape.json").read_text())
    cnn = {r["epoch"]: r for r in read_metrics(tmp_path / "s" / "cnn")}
    fcn = read_metrics(tmp_path / "s" / "fcn")[-1]
    efcn1 = read_metrics(tmp_path / "s" / "efcn_tw0001")[-1]
    start = next(
        r
        for r in rows
        if (r["t_w"], r["path"], r["mode"], r["alpha"]) == (1, "switch", "linear", 0.0)
    )
    end = next(
        r
        for r in rows
        if (r["t_w"], r["path"], r["mode"], r["alpha"]) == (1, "switch", "linear", 1.0)
    )
    to_fcn = next(
        r
        for r in rows
        if (r["t_w"], r["path"], r["mode"], r["alpha"]) == (1, "to_fcn", "output", 1.0)
    )
    assert start["test_loss"] == pytest.approx(cnn[1]["test_loss"], abs=1e-5)
    assert end["test_loss"] == pytest.approx(efcn1["test_loss"], abs=1e-6)
    assert to_fcn["test_acc"] == fcn["test_acc"]
    assert {(r["path"], r["t_w"]) for r in rows} >= {("elcn_switch", 1), ("to_fcn", 0)}
    assert all(r["t_w"] < 2 for r in rows)  # t_w = epochs has no trained branch to join
    b = barrier_rows(rows)
    assert all(v >= 0 for r in b for k, v in r.items() if k.endswith("barrier"))
    assert (tmp_path / "s" / "figures" / "landscape.png").stat().st_size > 1000


def test_cli_eval_reloads_a_run(tmp_path):
    train_cnn(TINY, tmp_path / "cnn")
    switch(TINY, tmp_path / "cnn", 1, tmp_path / "efcn")
    logged = read_metrics(tmp_path / "efcn")[-1]
    res = CliRunner().invoke(
        app, ["eval", "--run", str(tmp_path / "efcn"), "--device", "cpu", "--json"]
    )
    assert res.exit_code == 0, res.output
    row = json.loads(res.stdout)
    assert row["branch"] == "efcn"
    assert row["test_loss"] == pytest.approx(logged["test_loss"], abs=1e-6)
    assert row["dev_total"] == pytest.approx(logged["dev_total"], abs=1e-7)
    res = CliRunner().invoke(app, ["eval", "--run", str(tmp_path / "nothing")])
    assert "no config.json" in str(res.exception)


def test_reproduce_writes_judged_claims(tmp_path, monkeypatch):
    """A tiny reproduce end to end: every claim measured, verdicts computed from the rules."""
    from dltheory.core.claims import read_claims
    from dltheory.efcn import reproduce as rep
    from dltheory.efcn.protocol import as_sweep_config

    tiny = as_sweep_config(TINY, epochs=3, n_saves=3, local_times=[1], landscape_points=3)
    monkeypatch.setitem(rep.SETTINGS, "quick", tiny)
    manifest = rep.reproduce(tmp_path / "r", scale="quick", device="cpu", seeds=(0, 1))
    records = {r["id"]: r for r in read_claims(tmp_path / "r" / "claims.json")}
    assert set(records) == {c.id for c in CLAIMS}
    for r in records.values():
        assert r["verdict"] in ("reproduced", "differs")
        assert r["uncertainty"] is not None
    metrics = json.loads(manifest.read_text())["metrics"]
    per_seed = metrics["efcn.small_deviation"]["per_seed"]
    assert records["efcn.small_deviation"]["measured"] == pytest.approx(sum(per_seed) / 2)
    assert (tmp_path / "r" / "figures" / "landscape.png").exists()


def test_paper_scale_is_refused_without_a_gpu(tmp_path):
    from dltheory.core.errors import DltheoryError
    from dltheory.efcn.reproduce import reproduce

    with pytest.raises(DltheoryError, match="CUDA GPU"):
        reproduce(tmp_path / "p", scale="paper", device="cpu")
    assert not (tmp_path / "p" / "claims.json").exists()


def test_cli_resume_rebuilds_the_config_from_the_run_folder(tmp_path):
    """`--resume` starts from config.json (exactly the config dataclass) and only lets the
    mutable keys change."""
    runner = CliRunner()
    args = ["--epochs", "1", "--channels", "3", "--data-size", "60", "--batch-size", "30"]
    out = str(tmp_path / "cnn")
    res = runner.invoke(app, ["train", "--out", out, *args, "--n-saves", "1", "--device", "cpu"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--out", out, "--resume", "--epochs", "2", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epoch"] == 2
    sw = str(tmp_path / "sw")
    res = runner.invoke(app, ["switch", "--from", out, "--at", "1", "--out", sw, "--to", "elcn"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["switch", "--out", sw, "--resume", "--relax-epochs", "2", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.stdout)
    assert (result["branch"], result["epoch"]) == ("elcn", 3)
    res = runner.invoke(app, ["switch", "--out", sw, "--resume", "--lr", "0.3"])
    assert res.exit_code != 0
    assert "lr (saved 0.1, now 0.3)" in str(res.exception)


@pytest.mark.slow
def test_quick_reproduce_end_to_end(tmp_path):
    """The shipped quick scale (3 seeds): every claim judged, the figures and tables written."""
    from dltheory.core.claims import read_claims
    from dltheory.efcn.reproduce import reproduce

    reproduce(tmp_path / "q", scale="quick", device="cpu")
    records = read_claims(tmp_path / "q" / "claims.json")
    assert {r["id"] for r in records} == {c.id for c in CLAIMS}
    assert all(r["verdict"] in ("reproduced", "differs") for r in records)
    for name in ("switch_time.png", "landscape.png", "barriers.md", "summary.md"):
        assert (tmp_path / "q" / "figures" / name).exists()

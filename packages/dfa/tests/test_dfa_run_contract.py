"""The run contract of `dfa train` (issue 13): exact resume that keeps logging and saving,
checkpoints on a step cadence, SIGINT saves, config checks on resume, threads, one-line errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from typer.testing import CliRunner

from dltheory.cli.app import run_app
from dltheory.core.errors import ConfigError
from dltheory.core.session import Session
from dltheory.core.testing import run_torchrun
from dltheory.dfa.cli import app
from dltheory.dfa.train import TrainConfig, log_steps, train

runner = CliRunner()
SMALL = TrainConfig(width=32, epochs=1.0, log_points=4, device="cpu", threads=1)
PER_EPOCH = 23  # ceil(1437 digits training samples / 64)


def _rows(folder):
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]


def _weights(folder):
    return torch.load(folder / "last.pt", weights_only=True)


def _cli(capsys, *args):
    """Run `dltheory dfa ARGS` in this process through the CLI's error handling."""
    with pytest.raises(SystemExit) as info:
        run_app(app, "dfa", list(args))
    return info.value.code, capsys.readouterr().err


def test_resume_keeps_logging_and_saving_and_is_exact(tmp_path):
    """1 epoch, then --resume to 2 epochs == 2 epochs in one go (bit for bit)."""
    straight = tmp_path / "straight"
    train(replace(SMALL, epochs=2.0), straight, quiet=True)
    parts = tmp_path / "parts"
    train(SMALL, parts, quiet=True)
    assert _weights(parts)["step"] == PER_EPOCH
    record = train(replace(SMALL, epochs=2.0), parts, resume=True, quiet=True)
    # the resumed run logs up to its new end and saves its last step
    steps = [r["step"] for r in _rows(parts)]
    assert steps[-1] == 2 * PER_EPOCH
    assert steps == sorted(set(steps))
    assert record["step"] == 2 * PER_EPOCH
    assert _weights(parts)["step"] == 2 * PER_EPOCH
    a, b = _weights(straight)["model"], _weights(parts)["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    assert _rows(parts)[-1]["test_loss"] == _rows(straight)[-1]["test_loss"]


def test_resume_refuses_a_changed_learning_rate_and_leaves_the_folder(tmp_path):
    out = tmp_path / "run"
    train(SMALL, out, quiet=True)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match=r"lr \(saved 0.01, now 0.1\)"):
        train(replace(SMALL, lr=0.1, epochs=2.0), out, resume=True, quiet=True)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before


def test_checkpoints_follow_the_step_cadence_not_only_log_points(tmp_path, monkeypatch):
    saved_steps = []
    original = Session.checkpoint

    def spy(self, state):
        saved_steps.append(state["step"])
        return original(self, state)

    monkeypatch.setattr(Session, "checkpoint", spy)
    cfg = replace(SMALL, epochs=2.0, log_points=2, checkpoint_every=10, checkpoint_seconds=0)
    train(cfg, tmp_path / "run", quiet=True)
    total = 2 * PER_EPOCH
    log_points = [p for p in log_steps(total, 2) if 0 < p < total]  # [1]
    assert [s for s in saved_steps if s < total] == sorted({*range(10, total, 10), *log_points})
    assert saved_steps[-1] == total


def test_threads_come_from_the_config(tmp_path):
    torch.set_num_threads(2)
    try:
        train(replace(SMALL, threads=1, epochs=0.2), tmp_path / "run", quiet=True)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(1)


def test_sigint_saves_a_checkpoint_and_exits_130(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "dltheory.dfa",
        "train",
        "--width",
        "256",
        "--epochs",
        "100000",
        "--log-points",
        "2",
        "--checkpoint-every",
        "0",
        "--checkpoint-seconds",
        "0",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)  # step 0 is logged: the loop is running
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1
    assert "SIGINT" in lines[0]
    assert "--resume" in lines[0]
    step = _weights(out)["step"]
    assert step > 0  # saved at the interruption, although no cadence or log point was due


def test_sweep_bad_value_and_bad_choice_are_one_line_errors(tmp_path, capsys):
    code, err = _cli(capsys, "sweep", "--param", "width=abc", "--out", str(tmp_path / "sw"))
    assert code == 2
    assert err.strip().startswith("error:")
    assert len(err.strip().splitlines()) == 1
    assert "width" in err
    assert not (tmp_path / "sw").exists()


def test_cli_errors_for_bad_shapes_and_feedback_init_are_one_line(tmp_path, capsys):
    too_small = _cli(
        capsys, "train", "--model", "cnn", "--n-hidden", "4", "--out", str(tmp_path / "a")
    )
    bad_init = _cli(capsys, "train", "--feedback-init", "xavier", "--out", str(tmp_path / "b"))
    for code, err in (too_small, bad_init):
        assert code == 2
        assert len(err.strip().splitlines()) == 1
    assert "too small for 4 conv layers" in too_small[1]
    for choice in ("gaussian", "uniform", "orthogonal", "aligned", "nmf", "svd"):
        assert choice in bad_init[1]


def test_eval_reloads_the_run_and_reproduces_the_logged_numbers(tmp_path):
    out = tmp_path / "run"
    train(SMALL, out, quiet=True)
    result = runner.invoke(app, ["eval", "--run", str(out), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output.strip().splitlines()[-1])
    last = _rows(out)[-1]
    assert record["step"] == last["step"]
    for key in ("test_loss", "test_acc", "wa_layer2", "ga_layer1"):
        assert record[key] == pytest.approx(last[key], rel=1e-6, abs=1e-9)


@pytest.mark.distributed
def test_torchrun_two_processes_train_like_one(tmp_path):
    """2 gloo processes, each with half of every batch, follow the single-process run."""
    out = tmp_path / "ddp"
    args = [
        "train",
        "--width",
        "32",
        "--epochs",
        "0.5",
        "--log-points",
        "2",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--json",
    ]
    proc = run_torchrun(["-m", "dltheory.dfa", *args, "--out", str(out)], nproc=2, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    single = tmp_path / "single"
    train(replace(SMALL, epochs=0.5, log_points=2), single, quiet=True)
    a, b = _weights(out), _weights(single)
    assert a["step"] == b["step"]
    for key in a["model"]:  # mean of two half-batch gradients == the full-batch gradient
        torch.testing.assert_close(a["model"][key], b["model"][key], rtol=1e-4, atol=1e-5)
    assert len(_rows(out)) == len(_rows(single))

"""Run contract: one-line errors, scales, claims, torchrun (2 gloo processes)."""

import json
import os
import subprocess
import sys

import pytest
import torch

from dltheory.core.claims import ClaimBoard
from dltheory.core.errors import ConfigError, DatasetNotFoundError
from dltheory.querygen.claims import CLAIMS
from dltheory.querygen.config import TrainConfig
from dltheory.querygen.reproduce import (
    SECONDS_PER_RUN,
    measure_claims,
    plan_for,
    run_reproduction,
    time_estimate,
)


def dltheory(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "DLTHEORY_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "dltheory.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--epochs", 0, "epochs must be at least 1"), ("--lr", -1, "lr must be positive")],
)
def test_train_bad_values_are_one_line_errors(tmp_path, flag, value, message):
    proc = dltheory("querygen", "train", flag, value, "--out", tmp_path / "run")
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
    assert lines == [f"error: {message} (got {value})"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("generate", "--resume"), "--resume applies to `train` run folders"),
        (("transfer", "--overwrite"), "--overwrite applies to `train` run folders"),
        (("eval", "--resume"), "--resume applies to `train` run folders"),
        (("generate", "--format", "xml"), "format must be one of jsonl, csv, rasa, snips"),
        (("generate", "--n-per-intent", "0"), "n_per_intent must be at least 1"),
        (("transfer", "--fold", "3"), "fold must be in 0..1"),
    ],
)
def test_generate_transfer_eval_refuse_in_one_line(tmp_path, args, message):
    proc = dltheory("querygen", *args, "--out", tmp_path / "x")
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {message}")
    assert not (tmp_path / "x").exists()


def test_config_validation_names_the_key():
    with pytest.raises(ConfigError, match=r"fold must be in 0\.\.1"):
        TrainConfig(fold=2).validate()
    with pytest.raises(ConfigError, match="method must be one of"):
        TrainConfig(method="copy").validate()


def test_scales_and_paper_scale_refuses_without_data(monkeypatch, tmp_path):
    monkeypatch.setenv("DLTHEORY_SHARED_DATA", str(tmp_path))  # no SNIPS there
    assert plan_for("quick", None)["data"] == "chatterbot"
    with pytest.raises(DatasetNotFoundError, match="needs the SNIPS"):
        plan_for("paper", None)
    plan = plan_for("paper", "/some/snips")
    assert plan["seeds"] == (1, 2, 3, 4, 5)
    assert plan["runs"] == 2 * 5 * 5


def test_paper_scale_runs_the_paper_setting_when_snips_is_present(monkeypatch, tmp_path):
    (tmp_path / "snips-nlu-benchmark-2017-06").mkdir()
    monkeypatch.setenv("DLTHEORY_SHARED_DATA", str(tmp_path))
    plan = plan_for("paper", None)  # not refused: SNIPS is there
    assert plan["snips"]
    assert plan["data"].endswith("snips-nlu-benchmark-2017-06")
    assert (plan["epochs"], plan["seeds"], plan["runs"]) == (50, (1, 2, 3, 4, 5), 50)
    # finished runs in --out are reused: seed 1 of a full run leaves 2 folds x 5 settings done
    out = tmp_path / "out"
    for fold in (0, 1):
        for key in plan["settings"]:
            (out / "runs" / f"fold{fold}_seed1_{key}").mkdir(parents=True)
            (out / "runs" / f"fold{fold}_seed1_{key}" / "result.json").write_text("{}")
    est = time_estimate(plan, out)
    assert (est["done"], est["todo"]) == (10, 40)
    assert est["wall_seconds"] == pytest.approx(40 * SECONDS_PER_RUN)

    class Stop(Exception):
        pass

    said = []

    def log(message):  # the estimate comes first, before any data is read or a run trains
        said.append(message)
        raise Stop

    with pytest.raises(Stop):
        run_reproduction(out, scale="paper", log=log)
    assert "50 runs of 50 epochs" in said[0]
    assert "200 few-shot" in said[0]
    assert f"about {40 * SECONDS_PER_RUN / 60:.0f} min" in said[0]
    assert not (out / "claims.json").exists()


def _run(acc, novelty, gru, kn):
    return {
        "intent_accuracy": acc,
        "novelty": novelty,
        "originality": novelty,
        "language_model": {"gru": {"log_ratio": gru}, "kneser_ney": {"log_ratio": kn}},
    }


def test_claims_are_paired_differences_judged_by_their_rules(tmp_path):
    results = {
        f"fold{f}_seed{s}": {
            "none": _run(0.95, 0.10 + 0.01 * s, 0.3, 0.1),
            "qt": _run(0.94, 0.30 + 0.01 * s + 0.02 * f, 0.2 + 0.01 * f, -0.05 - 0.01 * s),
            "pseudo": _run(0.90 + 0.01 * f, 0.2, 0.0, 0.0),
            "qt_a0": _run(0.80 + 0.01 * s, 0.4, 0.0, 0.0),
            "qt_a1": _run(0.95, 0.3, 0.0, 0.0),
        }
        for f in (0, 1)
        for s in (0, 1)
    }
    board = ClaimBoard(CLAIMS, "full")
    measure_claims(board, results, snips=True, seconds=1.0)
    path = board.write(tmp_path)
    records = {r["id"]: r for r in json.loads(path.read_text())}
    assert records["querygen.transfer_originality"]["measured"] == pytest.approx(0.21)
    assert records["querygen.transfer_originality"]["verdict"] == "reproduced"
    assert records["querygen.transfer_keeps_accuracy"]["verdict"] == "reproduced"
    assert records["querygen.pseudo_label_costs_accuracy"]["measured"] == pytest.approx(0.905)
    assert records["querygen.alpha_tradeoff"]["measured"] == pytest.approx(0.145)
    assert records["querygen.lm_augmentation"]["verdict"] == "differs"  # GRU got worse
    assert records["querygen.lm_augmentation_kneser_ney"]["verdict"] == "reproduced"
    board = ClaimBoard(CLAIMS, "quick")
    measure_claims(board, results, snips=False, seconds=1.0)
    assert {r["verdict"] for r in board.finalise()} == {"not-run"}


@pytest.mark.distributed
def test_torchrun_two_gloo_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "dltheory.querygen", "train", "--device", "cpu", "--out", str(out)]
    cmd += ["--epochs", "2", "--train-size", "40", "--none-size", "16", "--hidden-size", "16"]
    cmd += ["--embedding-dim", "8", "--latent-size", "2", "--batch-size", "16", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]  # rank 0 writes, once per epoch
    assert all(r["world_size"] == 2 for r in rows)
    assert rows[-1]["step"] == 2 * 4  # 56 queries in global batches of 16
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    state = torch.load(out / "model.pt", weights_only=True)
    assert state["intents"]

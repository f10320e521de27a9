"""Trainer and CLI end to end on digits with a micro model: metrics, exact resume (at an epoch
boundary, mid-epoch after SIGINT, on a step cadence), config check on resume, NaN stop, eval,
analyze, sampling ratio, weight-decay groups, schedule."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from dltheory.convit.cli import app
from dltheory.convit.config import TrainConfig
from dltheory.convit.data import RepeatedAugSampler, per_class_prefix
from dltheory.convit.train import build_model, lr_at_epoch, param_groups, train
from dltheory.core.errors import ConfigError, NonFiniteLossError, RunInterrupted

MICRO = dict(
    depth=2,
    num_gpsa_layers=1,
    num_heads=4,
    embed_dim_per_head=4,
    patch_size=2,
    batch_size=16,
    max_steps_per_epoch=3,
    warmup_epochs=1,
    threads=1,
    analysis_images=16,
    workers=0,
)


def micro_cfg(out, **kw):
    return TrainConfig(**{**MICRO, "epochs": 2, "out": str(out), **kw})


def _rows(folder):
    return [json.loads(x) for x in (folder / "metrics.jsonl").read_text().splitlines()]


def _hand_top1(run_dir) -> float:
    """Top-1 (%) of a run's model.pt on the held-out digits, computed here without the trainer."""
    from dltheory.convit.data import build_datasets
    from dltheory.convit.train import load_run_model

    model = load_run_model(run_dir).eval()
    _, val, _, _ = build_datasets("digits", img_size=model.spec.img_size[0])
    x = torch.stack([val[i][0] for i in range(len(val))])
    y = torch.tensor([int(val[i][1]) for i in range(len(val))])
    with torch.no_grad():
        return 100.0 * (model(x).argmax(1) == y).double().mean().item()


def _same_weights(a_dir, b_dir):
    a = torch.load(a_dir / "model.pt", weights_only=True)["model"]
    b = torch.load(b_dir / "model.pt", weights_only=True)["model"]
    return all(torch.equal(a[k], b[k]) for k in a)


def test_train_logs_metrics_and_resumes_exactly(tmp_path, monkeypatch):
    full = train(micro_cfg(tmp_path / "full"))
    rows = _rows(tmp_path / "full")
    # step 0: the untrained model's locality; then one record per evaluated epoch
    assert [(r["epoch"], r["step"]) for r in rows] == [(0, 0), (1, 3), (2, 6)]
    assert "top1" not in rows[0]
    assert len(rows[0]["nonlocality"]) == 2
    for key in ("train_loss", "top1", "top5", "lr", "img_per_s", "nonlocality", "gates"):
        assert key in full
    assert len(full["gates"]) == 1
    assert len(full["gates"][0]) == 4

    # interrupt right after the first epoch's checkpoint, then resume
    from dltheory.core.session import Session

    original = Session.checkpoint

    def save_then_stop(self, state):
        original(self, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(Session, "checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        train(micro_cfg(tmp_path / "cut"))
    monkeypatch.setattr(Session, "checkpoint", original)
    resumed = train(micro_cfg(tmp_path / "cut"), resume=True)
    assert _same_weights(tmp_path / "full", tmp_path / "cut")
    assert resumed["top1"] == full["top1"]
    assert resumed["step"] == 6
    assert [r["step"] for r in _rows(tmp_path / "cut")] == [0, 3, 6]


def test_sigint_mid_epoch_saves_and_resume_is_exact(tmp_path, monkeypatch):
    """SIGINT after step 4 (mid-epoch 2 of 3): the Session saves, the run stops with
    RunInterrupted, and --resume continues with the same batches and random streams."""
    import os
    import signal

    from dltheory.convit import train as train_module

    kw = dict(epochs=3, max_steps_per_epoch=0, sampling_ratio=0.15, random_erasing=0.5)
    reference = train(micro_cfg(tmp_path / "ref", **kw))  # 215 images -> 13 steps per epoch
    calls = {"n": 0}
    original = train_module.MixCriterion.__call__

    def interrupt_at_step_17(self, logits, target):
        calls["n"] += 1
        if calls["n"] == 17:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, logits, target)

    monkeypatch.setattr(train_module.MixCriterion, "__call__", interrupt_at_step_17)
    with pytest.raises(RunInterrupted, match="SIGINT"):
        train(micro_cfg(tmp_path / "cut", **kw))
    monkeypatch.setattr(train_module.MixCriterion, "__call__", original)
    state = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)
    assert state["step"] == 17
    assert (state["extra"]["epoch"], state["extra"]["batch"]) == (1, 4)
    resumed = train(micro_cfg(tmp_path / "cut", **kw), resume=True)
    assert resumed["step"] == reference["step"] == 39
    assert resumed["top1"] == reference["top1"]
    assert _same_weights(tmp_path / "ref", tmp_path / "cut")
    assert [r["step"] for r in _rows(tmp_path / "cut")] == [0, 13, 26, 39]


def test_step_cadence_checkpoints_and_resume_config_check(tmp_path, monkeypatch):
    from dltheory.core.session import Session

    saved = []
    original = Session.checkpoint

    def record(self, state):
        saved.append(state["step"])
        return original(self, state)

    monkeypatch.setattr(Session, "checkpoint", record)
    train(micro_cfg(tmp_path / "run", checkpoint_every_steps=2))
    # steps 2 and 4 by the cadence, 3 and 6 at the epoch ends (evaluations)
    assert sorted(set(saved)) == [2, 3, 4, 6]
    monkeypatch.setattr(Session, "checkpoint", original)
    with pytest.raises(ConfigError, match="lr"):
        train(micro_cfg(tmp_path / "run", lr=1.0), resume=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == 5e-4
    more = train(micro_cfg(tmp_path / "run", epochs=3), resume=True)  # epochs may grow
    assert more["step"] == 9


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    from dltheory.convit import train as train_module

    calls = {"n": 0}
    original = train_module.MixCriterion.__call__

    def nan_after_first_epoch(self, logits, target):  # 3 steps per epoch: step 4 goes NaN
        calls["n"] += 1
        loss = original(self, logits, target)
        return loss * float("nan") if calls["n"] > 3 else loss

    monkeypatch.setattr(train_module.MixCriterion, "__call__", nan_after_first_epoch)
    with pytest.raises(NonFiniteLossError, match=r"last\.pt was kept"):
        train(micro_cfg(tmp_path / "nan", epochs=3))
    state = torch.load(tmp_path / "nan" / "last.pt", weights_only=True)
    assert state["extra"]["epoch"] == 1  # one epoch completed
    assert state["step"] == 3
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_cli_train_eval_analyze(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    args = [
        "train",
        "--out",
        str(out),
        "--epochs",
        "1",
        "--depth",
        "2",
        "--num-gpsa-layers",
        "1",
        "--embed-dim-per-head",
        "4",
        "--patch-size",
        "2",
        "--batch-size",
        "16",
        "--max-steps-per-epoch",
        "2",
        "--no-randaugment",
        "--random-erasing",
        "0",
        "--sampling-ratio",
        "0.5",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text())
    assert config["random_erasing"] == 0.0
    assert config["randaugment"] is False
    assert config["sampling_ratio"] == 0.5
    assert config["mixup"] == 0.8  # recipe default kept
    result = runner.invoke(app, ["eval", str(out), "--device", "cpu", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output.strip().splitlines()[-1])
    assert metrics["top1"] == pytest.approx(_hand_top1(out), abs=1e-9)
    assert metrics["top5"] >= metrics["top1"]
    result = runner.invoke(
        app,
        ["analyze", str(out), "--out", str(tmp_path / "an"), "--images", "8", "--device", "cpu"],
    )
    assert result.exit_code == 0, result.output
    analysis = json.loads((tmp_path / "an" / "analysis.json").read_text())
    assert len(analysis["nonlocality_per_layer"]) == 2
    assert len(analysis["gates"]) == 1
    assert (tmp_path / "an" / "gates.png").exists()
    assert (tmp_path / "an" / "nonlocality_per_layer.csv").exists()
    result = runner.invoke(
        app, ["train", "--out", str(out), "--epochs", "1"]
    )  # refuses to overwrite
    assert result.exit_code != 0
    assert "already holds a run" in str(result.exception)
    result = runner.invoke(app, ["train", "--dataset", "mnist-typo", "--out", str(tmp_path / "x")])
    assert "unknown dataset" in str(result.exception)


def test_reproduce_paper_scale_prints_requirements_and_refuses(tmp_path, monkeypatch):
    monkeypatch.delenv("DLTHEORY_IMAGENET", raising=False)
    out = tmp_path / "paper"
    result = CliRunner().invoke(app, ["reproduce", "--scale", "paper", "--out", str(out)])
    assert result.exit_code != 0
    assert "8 CUDA GPUs" in result.output  # the requirements are printed first
    message = str(result.exception)
    assert "\n" not in message
    assert "DLTHEORY_IMAGENET" in message
    assert not out.exists()  # refused before writing anything


def test_train_refuses_bad_values_in_one_line(tmp_path):
    runner = CliRunner()
    for args, words in (
        (["--lr", "-1"], "lr must be positive"),
        (["--num-gpsa-layers", "12"], "num_gpsa_layers"),
        (["--precision", "fp8"], "precision"),
        (["--set", "dataset=imagenet"], "unknown dataset"),
        (["--dataset", "mnist-t10k", "--data-root", str(tmp_path / "none")], "not found"),
    ):
        result = runner.invoke(app, ["train", "--out", str(tmp_path / "x"), *args])
        assert result.exit_code != 0
        assert words in str(result.exception)
        assert not (tmp_path / "x").exists()


def test_per_class_prefix_keeps_first_images_in_order():
    targets = [0, 1, 0, 1, 0, 2, 1, 0]
    assert per_class_prefix(targets, 0.5) == [
        0,
        1,
        2,
        5,
    ]  # floor(0.5 n_c); class 2 keeps its only one
    assert per_class_prefix(targets, 1.0) == list(range(8))
    with pytest.raises(ConfigError, match="sampling ratio"):
        per_class_prefix(targets, 0.0)


def test_repeated_augmentation_sampler_partitions_repeats():
    samplers = [RepeatedAugSampler(10, num_replicas=3, rank=r, repeats=3, seed=1) for r in range(3)]
    draws = [list(s) for s in samplers]
    assert all(len(d) == 4 for d in draws)
    # the three copies of an index go to the three different processes
    first = draws[0]
    assert all(i in draws[1] and i in draws[2] for i in first[:3])
    single = RepeatedAugSampler(10, repeats=1, seed=1)
    assert sorted(single) == list(range(10))


def test_weight_decay_groups_and_schedule():
    cfg = micro_cfg("unused")
    model = build_model(cfg, num_classes=10, in_chans=1)
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    no_decay_names = {names[id(p)] for p in no_decay["params"]}
    assert {
        "pos_embed",
        "cls_token",
        "blocks.0.attn.gating_param",
        "blocks.0.norm1.weight",
    } <= no_decay_names
    assert "blocks.0.attn.pos_proj.weight" in {names[id(p)] for p in decay["params"]}
    cfg = TrainConfig(epochs=10, warmup_epochs=2, lr=1.0, warmup_lr=0.0, min_lr=0.0)
    assert [lr_at_epoch(cfg, e, 1.0) for e in (0, 1)] == [0.0, 0.5]
    assert lr_at_epoch(cfg, 5, 1.0) == pytest.approx(0.5 * (1 + math.cos(math.pi / 2)))
    frozen = build_model(micro_cfg("unused", freeze_gates=True), num_classes=10, in_chans=1)
    assert not frozen.blocks[0].attn.gating_param.requires_grad


def test_ema_and_frozen_gates_run(tmp_path):
    final = train(
        micro_cfg(
            tmp_path / "ema", epochs=1, ema=True, ema_decay=0.5, freeze_gates=True, gate_init=0.0
        )
    )
    assert final["ema_top1"] == pytest.approx(_hand_top1(tmp_path / "ema"), abs=1e-9)
    assert final["gates"] == [[0.5, 0.5, 0.5, 0.5]]  # frozen at lambda = 0
    state = torch.load(tmp_path / "ema" / "last.pt", weights_only=True)
    assert state["extra"]["ema"] is not None

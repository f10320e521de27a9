import json

import pytest
import torch
from typer.testing import CliRunner

import dltheory.querygen.train as trainer_module
from dltheory.core.errors import NonFiniteLossError
from dltheory.querygen.cli import app
from dltheory.querygen.config import TrainConfig
from dltheory.querygen.data import load_labelled_file
from dltheory.querygen.generation import GeneratorBundle

TINY = {
    "embedding_dim": 16,
    "hidden_size": 32,
    "latent_size": 4,
    "train_size": 40,
    "none_size": 20,
    "min_per_intent": 60,
    "cosine_threshold": 0.5,
    "checkpoint_every": 1,
    "lr": 0.01,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "tiny.yaml"
    path.write_text("\n".join(f"{k}: {v}" for k, v in TINY.items()) + "\n")
    return path


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_train_generate_evaluate_cli(tmp_path, tiny_config):
    run = tmp_path / "run"
    out = invoke("train", "--config", tiny_config, "--epochs", 2, "--out", run)
    assert "transferred" in out
    assert (run / "model.pt").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["epochs"] == 2
    assert cfg["hidden_size"] == 32
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert len(metrics[-1]["kl_per_dim"]) == 4
    assert 0 <= metrics[-1]["active_units"] <= 4
    assert 0 <= metrics[-1]["classifier_accuracy"] <= 1

    gen = tmp_path / "gen.jsonl"
    invoke(
        "generate",
        "--model",
        run,
        "--n-per-intent",
        6,
        "--seed",
        1,
        "--device",
        "cpu",
        "--out",
        gen,
    )
    rows = load_labelled_file(gen)
    bundle = GeneratorBundle.load(run)
    assert len(rows) == 6 * len(bundle.intents)
    assert {u.intent for u in rows} == set(bundle.intents)
    again = tmp_path / "again.jsonl"
    invoke(
        "generate",
        "--model",
        run,
        "--n-per-intent",
        6,
        "--seed",
        1,
        "--device",
        "cpu",
        "--out",
        again,
    )
    assert gen.read_text() == again.read_text()  # --seed makes it reproducible

    scores = tmp_path / "scores.json"
    out = invoke(
        "evaluate",
        "--model",
        run,
        "--generated",
        gen.with_suffix(".delex.jsonl"),
        "--out",
        scores,
        "--device",
        "cpu",
    )
    result = json.loads(scores.read_text())
    assert "intent_accuracy" in out
    assert result["n_generated"] == len(rows)
    for key in ("intent_accuracy", "distinct_1", "originality"):
        assert 0.0 <= result[key] <= 1.0 or result[key] != result[key]
    for lm in ("kneser_ney", "gru"):
        assert result["language_model"][lm]["perplexity_real"] > 1
    assert 0 <= result["augmentation"]["accuracy_augmented"] <= 1


def test_transfer_command_lists_groups(tmp_path):
    out = invoke(
        "transfer",
        "--train-size",
        40,
        "--cosine-threshold",
        0.5,
        "--none-size",
        15,
        "--out",
        tmp_path,
        "--json",
    )
    rows = json.loads(out[out.index("[") :])
    assert rows
    assert all(r["kept"] == (r["max_cosine"] > 0.5) for r in rows)
    sel = json.loads((tmp_path / "selection.json").read_text())
    assert sel["added"] == len((tmp_path / "transferred.jsonl").read_text().splitlines()) <= 15


def test_resume_continues_exactly(tmp_path):
    base = TrainConfig(**{**TINY, "method": "none", "epochs": 2})
    trainer_module.train(base, tmp_path / "a", quiet=True)
    resumed = trainer_module.train(
        TrainConfig(**{**TINY, "method": "none", "epochs": 3}),
        tmp_path / "a",
        resume=True,
        quiet=True,
    )
    straight = trainer_module.train(
        TrainConfig(**{**TINY, "method": "none", "epochs": 3}), tmp_path / "b", quiet=True
    )
    assert [m["epoch"] for m in resumed.run.read_metrics()] == [1, 2, 3]
    a, b = resumed.bundle.model.state_dict(), straight.bundle.model.state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_nan_stops_and_keeps_checkpoint(tmp_path, monkeypatch):
    real = trainer_module.cvae_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        parts = real(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] > 3:
            parts.total = parts.total * float("nan")
        return parts

    monkeypatch.setattr(trainer_module, "cvae_loss", poisoned)
    cfg = TrainConfig(
        **{**TINY, "method": "none", "epochs": 5, "batch_size": 16}
    )  # 3 steps per epoch
    with pytest.raises(NonFiniteLossError, match=r"last\.pt"):
        trainer_module.train(cfg, tmp_path / "nan", quiet=True)
    state = torch.load(tmp_path / "nan" / "last.pt", weights_only=False)
    assert state["extra"]["epoch"] == 1

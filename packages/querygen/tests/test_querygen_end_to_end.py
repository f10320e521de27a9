import json

import pytest
import torch
import yaml
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
    return result.stdout


def strict_json(text):
    """Parse RFC 8259 JSON: a bare NaN / Infinity fails the test."""

    def refuse(name):
        raise AssertionError(f"bare {name} in --json output")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_config):
    run = tmp_path_factory.mktemp("qg") / "run"
    out = invoke("train", "--config", tiny_config, "--epochs", 2, "--out", run, "--json")
    return run, strict_json(out)  # progress lines go to stderr: stdout is the JSON alone


def test_train_generate_evaluate_cli(tmp_path, tiny_run):
    run, summary = tiny_run
    assert summary["epoch"] == 2
    assert summary["transferred"] == 20  # none_size of the tiny config
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
    assert "intent_accuracy" in out
    result = strict_json(scores.read_text())
    assert result["n_generated"] == len(rows)
    for lm in ("kneser_ney", "gru"):
        assert result["language_model"][lm]["perplexity_real"] > 1
    printed = strict_json(
        invoke("eval", "--model", run, "--generated", gen, "--out", scores, "--json")
    )
    assert printed["n_generated"] == len(rows)
    assert printed["intent_accuracy"] == strict_json(scores.read_text())["intent_accuracy"]


def test_generate_format_from_the_suffix_and_json_summary(tmp_path, tiny_run):
    run, _ = tiny_run
    nlu = tmp_path / "nlu.yml"
    summary = strict_json(
        invoke("generate", "--model", run, "--n-per-intent", 3, "--out", nlu, "--json")
    )
    bundle = GeneratorBundle.load(run)
    assert summary["queries"] == 3 * len(bundle.intents)
    assert summary["out"] == str(nlu)
    doc = yaml.safe_load(nlu.read_text())  # Rasa NLU YAML, not JSONL
    assert doc["version"] == "3.1"
    assert {block["intent"] for block in doc["nlu"]} == set(bundle.intents)
    explicit = tmp_path / "nlu.txt"
    invoke("generate", "--model", run, "--n-per-intent", 3, "--format", "rasa", "--out", explicit)
    assert explicit.read_text() == nlu.read_text()
    dataset = tmp_path / "dataset.json"
    invoke("generate", "--model", run, "--n-per-intent", 3, "--set", f"out={dataset}")
    assert set(json.loads(dataset.read_text())) == {"language", "intents", "entities"}


def test_commands_options_come_from_their_config_dataclasses():
    import dataclasses

    import typer

    from dltheory.querygen.config import EvalConfig, GenerateConfig, TransferConfig

    group = typer.main.get_command(app)
    standard = {"config", "set_", "resume", "overwrite", "json_"}
    for verb, cls in (
        ("generate", GenerateConfig),
        ("transfer", TransferConfig),
        ("eval", EvalConfig),
        ("evaluate", EvalConfig),
        ("train", TrainConfig),
    ):
        params = {p.name for p in group.commands[verb].params}
        assert params == {f.name for f in dataclasses.fields(cls)} | standard, verb
    assert group.commands["evaluate"].hidden


def test_json_text_writes_no_bare_nan():
    import numpy as np

    from dltheory.querygen.cli import json_text

    value = {
        "nan": float("nan"),
        "inf": -float("inf"),
        "np": np.float32(0.5),
        "np_nan": np.float64("nan"),
        "nested": [1, float("nan"), {"b": np.bool_(True)}],
        "text": "x",
    }
    assert strict_json(json_text(value)) == {
        "nan": None,
        "inf": None,
        "np": 0.5,
        "np_nan": None,
        "nested": [1, None, {"b": True}],
        "text": "x",
    }


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
    # the same settings through --set (generated from TransferConfig) select the same queries
    other = tmp_path / "set"
    args = ("train_size=40", "cosine_threshold=0.5", "none_size=15", f"out={other}")
    invoke("transfer", *(x for a in args for x in ("--set", a)))
    assert (other / "transferred.jsonl").read_text() == (tmp_path / "transferred.jsonl").read_text()


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

"""Commands generated from a config dataclass: one declaration per field, --set, --config, resume."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
import typer
from typer.testing import CliRunner

from dltheory.cli.options import RunRequest, config_command
from dltheory.core.config import TrainerFields, mutable_keys, option, parse_set_overrides
from dltheory.core.errors import ConfigError


@dataclass
class ToyConfig(TrainerFields):
    lr: float = option(0.1, "Learning rate.")
    epochs: int = option(3, "Training epochs.", mutable=True)
    widths: list[int] = option([8, 8], "Hidden widths.")
    loss: Literal["hinge", "square"] = option("hinge", "Loss function.")
    bias: bool = option(True, "Use biases.")


def make_app(seen: list):
    app = typer.Typer()

    @config_command(app, ToyConfig, name="train", aliases=("fit",))
    def train(cfg: ToyConfig, request: RunRequest) -> None:
        """Train the toy."""
        seen.append((cfg, request))

    @app.command()
    def other() -> None:
        """Keep typer in group mode."""

    return app


def invoke(*args):
    seen: list = []
    result = CliRunner().invoke(make_app(seen), list(args), catch_exceptions=True)
    return result, seen


def test_flags_come_from_the_fields_with_their_help():
    result, _ = invoke("train", "--help")
    assert result.exit_code == 0
    for flag in (
        "--lr",
        "--epochs",
        "--widths",
        "--loss",
        "--bias",
        "--no-bias",
        "--device",
        "--precision",
        "--seed",
        "--out",
        "--threads",
        "--config",
        "--set",
        "--resume",
        "--overwrite",
        "--json",
    ):
        assert flag in result.output, flag
    assert "Learning rate." in result.output


def test_layers_defaults_file_set_flags(tmp_path):
    file = tmp_path / "c.yaml"
    file.write_text("lr: 0.5\nepochs: 7\nseed: 4\n")
    result, seen = invoke(
        "train",
        "--config",
        str(file),
        "--set",
        "epochs=9",
        "--set",
        "widths=[4, 5]",
        "--seed",
        "11",
        "--no-bias",
        "--loss",
        "square",
        "--json",
    )
    assert result.exit_code == 0, result.output
    cfg, request = seen[0]
    assert (cfg.lr, cfg.epochs, cfg.seed, cfg.widths, cfg.bias, cfg.loss) == (
        0.5,
        9,
        11,
        [4, 5],
        False,
        "square",
    )
    assert request == RunRequest(resume=False, overwrite=False, json=True)


def test_list_flag_and_alias():
    result, seen = invoke("fit", "--widths", "16,32")
    assert result.exit_code == 0, result.output
    assert seen[0][0].widths == [16, 32]


def test_bad_values_are_config_errors():
    result, _ = invoke("train", "--set", "lr=fast")
    assert isinstance(result.exception, ConfigError)
    assert "lr" in str(result.exception)
    result, _ = invoke("train", "--set", "nonsense=1")
    assert isinstance(result.exception, ConfigError)
    assert "unknown config key 'nonsense'" in str(result.exception)
    result, _ = invoke("train", "--loss", "l1")
    assert result.exit_code == 2


def test_resume_starts_from_the_saved_config(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"lr": 0.01, "epochs": 2, "out": str(out)}))
    result, seen = invoke("train", "--out", str(out), "--resume", "--epochs", "5")
    assert result.exit_code == 0, result.output
    cfg, request = seen[0]
    assert (cfg.lr, cfg.epochs) == (0.01, 5)  # lr from the saved run, epochs given now
    assert request.resume


def test_mutable_keys_and_set_parsing():
    assert set(mutable_keys(ToyConfig)) == {"epochs", "device", "threads", "out"}
    assert parse_set_overrides(["a.b=1", "c=x"]) == {"a": {"b": 1}, "c": "x"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_overrides(["novalue"])


def test_generated_help_imports_no_torch():
    code = (
        "import sys, typer\n"
        "from dltheory.cli.options import config_command\n"
        "from dltheory.core.config import TrainerFields\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent)


def test_a_command_without_a_run_folder_refuses_resume_and_overwrite():
    seen: list = []
    app = typer.Typer()

    @config_command(app, ToyConfig, name="theory", run_folder=False)
    def theory(cfg: ToyConfig, request: RunRequest) -> None:
        seen.append(request)

    @app.command()
    def other() -> None:
        """Keep typer in group mode."""

    runner = CliRunner()
    assert runner.invoke(app, ["theory", "--lr", "0.5"]).exit_code == 0
    assert seen[0].resume is False
    assert seen[0].overwrite is False
    for flag in ("--resume", "--overwrite"):
        res = runner.invoke(app, ["theory", flag])
        assert res.exit_code == 2  # click's usage error: no such option
        assert "No such option" in res.output
    assert len(seen) == 1

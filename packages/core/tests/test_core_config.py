from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dltheory.core.config import config_to_dict, resolve_config
from dltheory.core.errors import ConfigError


@dataclass
class Optim:
    lr: float = 0.1
    betas: tuple[float, ...] = (0.9, 0.999)


@dataclass
class TrainConfig:
    epochs: int = 10
    lr: float = 1e-3
    method: str = "dfa"
    data_root: Path | None = None
    amp: bool = False
    widths: list[int] = field(default_factory=lambda: [64, 64])
    optim: Optim = field(default_factory=Optim)


def test_defaults_then_file_then_flags(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("epochs: 3\nlr: 0.5\nwidths: [8, 16, 32]\noptim: {lr: 0.01}\n")
    cfg = resolve_config(TrainConfig, cfg_file, {"lr": 0.25})
    assert cfg.epochs == 3  # file over default
    assert cfg.lr == 0.25  # flag over file
    assert cfg.method == "dfa"  # default kept
    assert cfg.widths == [8, 16, 32]
    assert cfg.optim.lr == 0.01
    assert cfg.optim.betas == (0.9, 0.999)


def test_json_file_and_types(tmp_path):
    cfg_file = tmp_path / "c.json"
    cfg_file.write_text(json.dumps({"epochs": 4.0, "lr": 2, "data-root": "/data"}))
    cfg = resolve_config(TrainConfig, cfg_file)
    assert cfg.epochs == 4
    assert isinstance(cfg.epochs, int)
    assert cfg.lr == 2.0
    assert isinstance(cfg.lr, float)
    assert cfg.data_root == Path("/data")
    assert config_to_dict(cfg)["data_root"] == "/data"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("epoch: 3\n", "unknown config key 'epoch'"),
        ("epochs: three\n", "must be an integer"),
        ("amp: 1\n", "true or false"),
        ("optim: {lrr: 1}\n", "unknown config key 'lrr'"),
        ("- a\n- b\n", "must hold a mapping"),
        ("epochs: [1,\n", "cannot parse"),
    ],
)
def test_bad_files_are_rejected_clearly(tmp_path, content, message):
    cfg_file = tmp_path / "bad.yaml"
    cfg_file.write_text(content)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        resolve_config(TrainConfig, cfg_file)


def test_unknown_flag_suggests_the_close_key():
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        resolve_config(TrainConfig, None, {"epochz": 2})


def test_missing_file_and_bad_suffix(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        resolve_config(TrainConfig, tmp_path / "nope.yaml")
    (tmp_path / "c.toml").write_text("x = 1")
    with pytest.raises(ConfigError, match=r"\.json, \.yaml or \.yml"):
        resolve_config(TrainConfig, tmp_path / "c.toml")


def test_yaml_is_loaded_safely(tmp_path):
    cfg_file = tmp_path / "evil.yaml"
    cfg_file.write_text("method: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_config(TrainConfig, cfg_file)


def test_validate_hook_runs():
    @dataclass
    class Checked:
        width: int = 4

        def validate(self):
            if self.width <= 0:
                raise ConfigError("width must be positive")

    assert resolve_config(Checked).width == 4
    with pytest.raises(ConfigError, match="positive"):
        resolve_config(Checked, None, {"width": 0})

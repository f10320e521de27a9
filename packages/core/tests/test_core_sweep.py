from __future__ import annotations

import importlib
import importlib.util

import pytest

from dltheory.core.errors import ConfigError
from dltheory.core.sweep import grid, run_sweep


def square(config):
    return {"y": config["x"] ** 2 + config.get("offset", 0)}


def test_grid_product_and_base():
    configs = grid({"offset": 1}, x=[1, 2], w=["a", "b", "c"])
    assert len(configs) == 6
    assert configs[0] == {"offset": 1, "x": 1, "w": "a"}
    assert configs[-1] == {
        "offset": 1,
        "x": 2,
        "w": "c",
    }
    with pytest.raises(ConfigError, match="empty"):
        grid(x=[])


@pytest.fixture
def importable_square(tmp_path, monkeypatch):
    """``square`` from a plain module on sys.path: workers unpickle functions by module name, and a test
    module's name depends on pytest's import mode; spawned workers inherit sys.path."""
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "sweep_square_fn.py").write_text(
        "def square(config):\n    return {'y': config['x'] ** 2 + config.get('offset', 0)}\n"
    )
    monkeypatch.syspath_prepend(str(folder))
    return importlib.import_module("sweep_square_fn").square


def test_serial_and_local_pool_agree_and_keep_order(importable_square):
    pooled_fn = importable_square
    configs = grid(x=[3, 1, 2])
    serial = run_sweep(square, configs, executor="serial")
    pooled = run_sweep(pooled_fn, configs, executor="local", max_workers=2)
    assert serial == pooled == [{"x": 3, "y": 9}, {"x": 1, "y": 1}, {"x": 2, "y": 4}]
    with pytest.raises(ConfigError, match="unknown executor"):
        run_sweep(square, configs, executor="ray")


@pytest.mark.skipif(importlib.util.find_spec("submitit") is None, reason="submitit not installed")
def test_submitit_local_executor(tmp_path):
    results = run_sweep(
        square,
        grid(x=[2, 4]),
        executor="submitit",
        slurm={"cluster": "local", "timeout_min": 5},
        folder=tmp_path,
    )
    assert [r["y"] for r in results] == [4, 16]

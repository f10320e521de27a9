from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from dltheory.core.device import seed_everything
from dltheory.core.errors import CheckpointError, DltheoryError, NonFiniteLossError
from dltheory.core.runs import (
    RunDir,
    atomic_torch_save,
    check_finite,
    load_checkpoint,
    restore_train_state,
    train_state,
)


def _make(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 16), torch.nn.Dropout(0.2), torch.nn.ReLU(), torch.nn.Linear(16, 1)
    )
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=20)
    return model, opt, sched


def _train(model, opt, sched, steps):
    for _ in range(steps):
        x = (
            torch.randn(8, 5) + torch.from_numpy(np.random.randn(8, 5)).float()
        )  # drawn from the global RNG: resume must restore it
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        sched.step()


def test_resume_is_bit_identical(tmp_path):
    n = 6
    seed_everything(1)
    model_a, opt_a, sched_a = _make()
    _train(model_a, opt_a, sched_a, 2 * n)

    seed_everything(1)
    model_b, opt_b, sched_b = _make()
    run = RunDir(tmp_path / "run", config={"steps": 2 * n})
    _train(model_b, opt_b, sched_b, n)
    run.save_checkpoint(train_state(model_b, opt_b, sched_b, step=n))
    run.close()
    del model_b, opt_b, sched_b
    torch.manual_seed(999)  # disturb the RNG: the checkpoint must restore it

    model_c, opt_c, sched_c = _make(seed=5)  # different init: overwritten by the checkpoint
    resumed = RunDir(tmp_path / "run", resume=True)
    state = resumed.load_checkpoint()
    info = restore_train_state(state, model_c, opt_c, sched_c)
    assert info["step"] == n
    _train(model_c, opt_c, sched_c, n)
    for pa, pc in zip(model_a.parameters(), model_c.parameters()):
        assert torch.equal(pa, pc)
    # The run's own checkpoint (RNG states included) is also readable as weights-only data.
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == n


def test_metrics_config_and_refusal_to_overwrite(tmp_path):
    run = RunDir(tmp_path / "r", config={"lr": 0.1, "path": tmp_path})
    run.log(step=1, loss=torch.tensor(0.5), acc=0.25)
    run.log(step=2, loss=float("nan"))
    assert json.loads((tmp_path / "r" / "config.json").read_text())["lr"] == 0.1
    rows = run.read_metrics()
    assert rows[0] == {"step": 1, "loss": 0.5, "acc": 0.25}
    assert rows[1]["loss"] == "nan"
    run.close()
    with pytest.raises(DltheoryError, match="--resume"):
        RunDir(tmp_path / "r")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        RunDir(tmp_path / "fresh", resume=True)
    RunDir(tmp_path / "r", overwrite=True)
    assert not (tmp_path / "r" / "metrics.jsonl").exists()


def test_atomic_save_keeps_the_old_file_on_failure(tmp_path):
    path = tmp_path / "last.pt"
    atomic_torch_save({"w": torch.ones(2)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise pickle.PicklingError("boom")

    with pytest.raises(pickle.PicklingError):
        atomic_torch_save({"w": Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_nan_stops_and_names_the_kept_checkpoint(tmp_path):
    run = RunDir(tmp_path / "r")
    check_finite(torch.tensor(1.0), step=1, run=run)
    with pytest.raises(NonFiniteLossError, match=r"nan at step 3 \(try"):
        check_finite(torch.tensor(float("nan")), step=3, run=run)
    run.save_checkpoint({"step": 2})
    with pytest.raises(NonFiniteLossError, match=r"last good checkpoint .*last\.pt was kept"):
        check_finite(float("inf"), step=4, run=run)


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


def test_foreign_checkpoints_are_loaded_weights_only(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"weight": torch.zeros(3)}, good)
    assert torch.equal(load_checkpoint(good)["weight"], torch.zeros(3))
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, evil)
    with pytest.raises(CheckpointError, match="refusing to load"):
        load_checkpoint(evil)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(good.read_bytes()[:50])
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(corrupt)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_restore_into_a_mismatched_model_is_a_clear_error():
    model, opt, _ = _make()
    state = train_state(model, opt, step=3)
    with pytest.raises(CheckpointError, match="does not match the model"):
        restore_train_state(state, torch.nn.Linear(2, 2))

"""torchrun: two gloo processes train the CNN branch; the split batch gives the one-process run."""

from __future__ import annotations

import json

import pytest

from dltheory.core.testing import run_python, run_torchrun


@pytest.mark.distributed
def test_torchrun_two_processes_match_one(tmp_path):
    args = [
        "train",
        "--device",
        "cpu",
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
    ]
    proc = run_torchrun(["-m", "dltheory.efcn", *args, "--out", str(tmp_path / "two")], nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    one = run_python(["-m", "dltheory.efcn", *args, "--out", str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-3000:]

    def rows(name):
        text = (tmp_path / name / "metrics.jsonl").read_text()
        return [json.loads(x) for x in text.splitlines()]

    two, single = rows("two"), rows("one")
    assert [r["epoch"] for r in two] == [0, 1, 2]  # rank 0 alone wrote, once per epoch
    for a, b in zip(two, single):
        assert a["step"] == b["step"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert a["test_acc"] == b["test_acc"]
    assert sorted(p.name for p in (tmp_path / "two").glob("cnn_epoch*.pt")) == [
        "cnn_epoch0000.pt",
        "cnn_epoch0001.pt",
        "cnn_epoch0002.pt",
    ]

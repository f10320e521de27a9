"""torchrun: two gloo processes share the nets of one ensemble; rank 0 writes the same table."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


@pytest.mark.distributed
def test_torchrun_two_processes_match_one(tmp_path):
    args = [
        "train",
        "--device",
        "cpu",
        "--n-train",
        "30",
        "--set",
        "d=4",  # (torchrun's parser would take --d for one of its own options)
        "--widths",
        "3,9",
        "--n-seeds",
        "2",
        "--max-steps",
        "60",
        "--checkpoint-every",
        "30",
        "--threads",
        "1",
        "--json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run(
        [*ddp, "-m", "dltheory.jamming", *args, "--out", str(tmp_path / "two")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, "-m", "dltheory.jamming", *args, "--out", str(tmp_path / "one")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    single = json.loads(one.stdout[one.stdout.index("[") :])
    assert (tmp_path / "two" / "networks.md").exists()
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [30, 60]  # rank 0 alone wrote
    # both ranks print the gathered table: every net, in order, equal to the one-process run
    first = two.stdout.index("[")
    rows = json.loads(two.stdout[first : two.stdout.index("]\n", first) + 1])
    assert [r["net"] for r in rows] == [0, 1, 2, 3]
    for a, b in zip(rows, single):
        assert a["n_delta"] == b["n_delta"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-9)

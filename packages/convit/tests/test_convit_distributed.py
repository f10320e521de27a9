"""DDP: two gloo processes under torchrun train a micro ConViT end to end."""

import json
import os
import subprocess
import sys

import pytest
import torch


@pytest.mark.distributed
def test_torchrun_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "dltheory.convit",
        "train",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--epochs",
        "2",
        "--depth",
        "2",
        "--num-gpsa-layers",
        "1",
        "--embed-dim-per-head",
        "4",
        "--patch-size",
        "2",
        "--batch-size",
        "8",
        "--max-steps-per-epoch",
        "2",
        "--warmup-epochs",
        "1",
        "--threads",
        "1",
        "--sampling-ratio",
        "0.2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0  # the untrained model's locality, written once by rank 0
    rows = rows[1:]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(r["world_size"] == 2 for r in rows)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rows)
    state = torch.load(out / "model.pt", weights_only=True)
    assert "blocks.0.attn.gating_param" in state["model"]

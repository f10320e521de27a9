"""DDP: two gloo processes under torchrun train a micro ConViT end to end."""

import json

import pytest
import torch

from dltheory.core.testing import run_torchrun


@pytest.mark.distributed
def test_torchrun_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    args = [
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
    proc = run_torchrun(args, nproc=2, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 0  # the untrained model's locality, written once by rank 0
    rows = rows[1:]
    assert [r["step"] for r in rows] == [2, 4]
    assert all(r["world_size"] == 2 for r in rows)
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rows)
    state = torch.load(out / "model.pt", weights_only=True)
    assert "blocks.0.attn.gating_param" in state["model"]

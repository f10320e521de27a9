from __future__ import annotations

import json
import textwrap

import pytest

from dltheory.core.distributed import DistEnv
from dltheory.core.runs import RunDir
from dltheory.core.testing import run_torchrun

WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import torch
    from dltheory.core.device import resolve_device
    from dltheory.core.distributed import init_distributed, wrap_ddp, all_reduce_mean, cleanup_distributed
    from dltheory.core.runs import RunDir

    out = Path(sys.argv[1])
    device = resolve_device("cpu")
    env = init_distributed(device)
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    reference = torch.nn.Linear(3, 2)
    reference.load_state_dict(model.state_dict())
    ddp = wrap_ddp(model, env, device)
    data = [torch.randn(4, 3, generator=torch.Generator().manual_seed(10 + r)) for r in range(env.world_size)]
    ddp(data[env.rank]).pow(2).sum().backward()
    # Expected: the mean over ranks of each rank's local gradient, computed here without DDP.
    grads = []
    for x in data:
        reference.zero_grad()
        reference(x).pow(2).sum().backward()
        grads.append(reference.weight.grad.clone())
    expected = torch.stack(grads).mean(0)
    mean_rank = all_reduce_mean(torch.tensor(float(env.rank)))
    run = RunDir(out, config={"world_size": env.world_size}, env=env)
    run.log(rank=env.rank)
    result = {
        "rank": env.rank,
        "world_size": env.world_size,
        "max_err": float((model.weight.grad - expected).abs().max()),
        "differs_from_local": float((model.weight.grad - grads[env.rank]).abs().max()),
        "mean_rank": float(mean_rank),
    }
    # Reports go beside the run folder: only rank 0 creates the run folder itself.
    (out.parent / f"rank{env.rank}.json").write_text(json.dumps(result))
    cleanup_distributed()
    """
)


def test_env_from_torchrun_and_slurm():
    assert DistEnv.from_environ({}) == DistEnv(0, 0, 1)
    torchrun = DistEnv.from_environ({"RANK": "3", "LOCAL_RANK": "1", "WORLD_SIZE": "4"})
    assert (torchrun.rank, torchrun.local_rank, torchrun.world_size) == (3, 1, 4)
    assert torchrun.is_distributed
    assert not torchrun.is_main
    slurm = DistEnv.from_environ({"SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_NTASKS": "2"})
    assert slurm.world_size == 2
    assert slurm.is_main


@pytest.mark.distributed
def test_ddp_averages_gradients_over_two_gloo_processes(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    result = run_torchrun([str(script), str(out)], nproc=2, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["world_size"] == 2
        assert report["max_err"] < 1e-6  # DDP gradient == mean of the ranks' local gradients
        assert report["differs_from_local"] > 1e-3  # ... and not just the local one
        assert report["mean_rank"] == pytest.approx(0.5)
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["rank"] for line in lines] == [0]  # rank 0 alone writes


def test_child_env_drops_an_enclosing_torchrun_and_runs_one_thread(monkeypatch):
    from dltheory.core.testing import child_env, run_python

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")
    env = child_env({"EXTRA": "x"})
    assert "RANK" not in env
    assert "MASTER_PORT" not in env
    assert (env["OMP_NUM_THREADS"], env["EXTRA"]) == ("1", "x")
    code = "import os; print(os.environ.get('RANK'), os.environ['OMP_NUM_THREADS'])"
    proc = run_python(["-c", code], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None", "1"]


def test_a_non_writer_rank_does_not_judge_the_folder_rank_0_is_filling(tmp_path):
    # Rank 0 may already have logged when rank 1 opens the folder: rank 1 must not read that as
    # "the folder already holds a run" (the race a CI run hit), nor write anything.
    out = tmp_path / "run"
    first = RunDir(out, config={"a": 1})
    first.log(step=1)
    first.close()
    follower = RunDir(out, config={"a": 1}, env=DistEnv(rank=1, local_rank=1, world_size=2))
    follower.log(step=2)
    follower.close()
    assert [
        json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()
    ] == [1]


REFUSAL_WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dltheory.core.distributed import init_distributed, cleanup_distributed
    from dltheory.core.errors import DltheoryError
    from dltheory.core.runs import RunDir

    out = Path(sys.argv[1])
    env = init_distributed(None)
    try:
        RunDir(out, config={"a": 1}, env=env)
        outcome = {"refused": None}
    except DltheoryError as exc:
        outcome = {"refused": str(exc), "kind": type(exc).__name__}
    (out.parent / f"rank{env.rank}.json").write_text(json.dumps(outcome))
    cleanup_distributed()
    """
)


@pytest.mark.distributed
def test_rank_0s_refusal_reaches_every_rank(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 7}\n')
    script = tmp_path / "worker.py"
    script.write_text(REFUSAL_WORKER)
    result = run_torchrun([str(script), str(out)], nproc=2, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert "already holds a run" in reports[0]["refused"]
    assert reports[1] == reports[0]  # the same one-line error on the rank that never looked
    assert (out / "metrics.jsonl").read_text() == '{"step": 7}\n'  # nothing lost

"""Run safety, by attack and fault: malicious checkpoints, locks, config drift on resume, torn
metrics, full disks and signals. Each test names the defect it guards against."""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial

import pytest
import torch

from dltheory.core import files
from dltheory.core.errors import CheckpointError, ConfigError, DltheoryError
from dltheory.core.files import WriteError
from dltheory.core.locks import RunLockedError
from dltheory.core.runs import RunDir, train_state
from dltheory.core.session import Session
from dltheory.core.threads import default_threads, resolve_threads


class _Payload:
    """Unpickling this runs os.mkdir(marker): the code a crafted last.pt would run."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_malicious_checkpoint_is_refused_and_never_runs(tmp_path):
    run = RunDir(tmp_path / "run", config={"lr": 0.1})
    run.save_checkpoint({"step": 1})
    run.close()
    marker = tmp_path / "pwned"
    torch.save({"step": 2, "x": _Payload(marker)}, tmp_path / "run" / "last.pt")
    resumed = RunDir(tmp_path / "run", config={"lr": 0.1}, resume=True)
    with pytest.raises(CheckpointError, match="refusing to load") as info:
        resumed.load_checkpoint()
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_second_run_on_the_same_folder_refuses(tmp_path):
    first = RunDir(tmp_path / "run", config={"a": 1})
    with pytest.raises(RunLockedError, match=f"in use by pid {os.getpid()}"):
        RunDir(tmp_path / "run", config={"a": 1}, overwrite=True)
    first.log(step=1)
    first.close()
    RunDir(tmp_path / "run", config={"a": 1}, overwrite=True).close()


def test_the_lock_holds_across_processes(tmp_path):
    run = RunDir(tmp_path / "run", config={"a": 1})
    code = textwrap.dedent(f"""
        from dltheory.core.runs import RunDir
        RunDir({str(tmp_path / "run")!r}, config={{"a": 1}}, overwrite=True)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "RunLockedError" in result.stderr
    run.close()


def test_resume_refuses_a_changed_config_without_touching_the_folder(tmp_path):
    run = RunDir(tmp_path / "run", config={"lr": 0.1, "epochs": 5, "seed": 0})
    run.save_checkpoint({"step": 3})
    run.close()
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(ConfigError, match=r"differs in lr \(saved 0.1, now 0.2\), seed") as info:
        RunDir(tmp_path / "run", config={"lr": 0.2, "epochs": 5, "seed": 1}, resume=True)
    assert "\n" not in str(info.value)
    after = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert after == before
    # A key declared safe to change is accepted and recorded.
    RunDir(
        tmp_path / "run",
        config={"lr": 0.1, "epochs": 9, "seed": 0},
        resume=True,
        mutable_keys=("epochs",),
    ).close()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["epochs"] == 9


@dataclasses.dataclass
class _NewerConfig:
    lr: float = 0.1
    precision: str = "fp64"  # a setting this version added; its default keeps the old behaviour


def test_a_run_saved_before_a_setting_existed_resumes_at_its_default(tmp_path):
    run = RunDir(tmp_path / "run", config={"lr": 0.1})  # written by the older version
    run.save_checkpoint({"step": 3})
    run.close()
    RunDir(tmp_path / "run", config=_NewerConfig(), resume=True).close()
    # recorded at its default on that resume; another value would change the run: refused
    with pytest.raises(ConfigError, match=r"differs in precision \(saved 'fp64', now 'mixed'\)"):
        RunDir(tmp_path / "run", config=_NewerConfig(precision="mixed"), resume=True)


def test_resume_repairs_a_torn_and_duplicated_metrics_file(tmp_path):
    run = RunDir(tmp_path / "run")
    for step in (1, 2, 3, 4):
        run.log(step=step, loss=1.0 / step)
    run.close()
    with open(tmp_path / "run" / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 5, "lo')  # the process died mid-line
    torch.save({"step": 2}, tmp_path / "run" / "last.pt")
    resumed = RunDir(tmp_path / "run", resume=True)
    assert (
        resumed.repair_metrics(2) == 3
    )  # steps 3, 4 (logged after the checkpoint) and the torn line
    resumed.log(step=3, loss=0.3)
    assert [r["step"] for r in resumed.read_metrics()] == [1, 2, 3]


def test_resume_and_overwrite_exclude_each_other(tmp_path):
    with pytest.raises(DltheoryError, match="choose one"):
        RunDir(tmp_path / "run", resume=True, overwrite=True)


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_on_a_fresh_run_is_one_line_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(files.os, "replace", _disk_full)
    with pytest.raises(WriteError, match=r"cannot write .*config\.json: No space left on device"):
        RunDir(tmp_path / "run", config={"a": 1})
    assert not (tmp_path / "run").exists()


def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = RunDir(tmp_path / "run", config={"a": 1})
    run.save_checkpoint({"step": 1, "w": torch.ones(2)})
    monkeypatch.setattr(files.os, "replace", _disk_full)
    with pytest.raises(WriteError, match="No space left"):
        run.save_checkpoint({"step": 2, "w": torch.zeros(2)})
    monkeypatch.undo()
    run.close()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".lock",
        "config.json",
        "last.pt",
    ]
    resumed = RunDir(tmp_path / "run", config={"a": 1}, resume=True)
    assert resumed.load_checkpoint()["step"] == 1


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        run = RunDir(tmp_path / "run", config={"a": 1})
        run.save_checkpoint({"step": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "run" / "config.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "run" / "last.pt").stat().st_mode & 0o777 == 0o644


def test_thread_policy():
    assert default_threads(cpus=2, load=0.0) == 2
    assert default_threads(cpus=2, load=1.6) == 1  # one core already busy
    assert default_threads(cpus=2, load=7.0) == 1
    assert resolve_threads(3) == 3
    with pytest.raises(ConfigError, match="at least 1"):
        resolve_threads(0)


def test_cores_are_counted_physical_as_torch_counts_them(tmp_path):
    """A fake sysfs: 4 logical CPUs, two hyperthreads on each of 2 cores."""
    from dltheory.core.threads import physical_cores

    for cpu, core in enumerate([0, 1, 0, 1]):
        topology = tmp_path / f"cpu{cpu}" / "topology"
        topology.mkdir(parents=True)
        (topology / "physical_package_id").write_text("0\n")
        (topology / "core_id").write_text(f"{core}\n")
    assert physical_cores({0, 1, 2, 3}, sysfs=str(tmp_path)) == 2
    assert physical_cores({0, 2}, sysfs=str(tmp_path)) == 1  # one core's two hyperthreads
    assert physical_cores({0, 5}, sysfs=str(tmp_path)) is None  # unreadable: unknown


def test_threads_from_the_environment(monkeypatch):
    monkeypatch.setenv("DLTHEORY_THREADS", "2")
    assert resolve_threads(None) == 2
    monkeypatch.setenv("DLTHEORY_THREADS", "many")
    with pytest.raises(ConfigError, match="DLTHEORY_THREADS"):
        resolve_threads(None)


def test_session_checkpoints_on_a_step_cadence_and_resumes(tmp_path):
    def loop(resume, steps, folder="run"):
        with Session(
            {"steps": steps},
            out=tmp_path / folder,
            seed=0,
            threads=1,
            resume=resume,
            mutable_keys=("steps",),
            checkpoint_every_steps=2,
            checkpoint_every_seconds=None,
            handle_signals=False,
        ) as s:
            model = torch.nn.Linear(3, 1)
            opt = torch.optim.SGD(model.parameters(), lr=0.1)
            step = s.restore(model, opt)
            while step < steps:
                loss = model(torch.randn(4, 3)).pow(2).mean()
                loss.backward()
                opt.step()
                opt.zero_grad()
                step += 1
                s.log(step=step, loss=loss.item())
                s.maybe_checkpoint(step, partial(train_state, model, opt, step=step))
            return model.weight.detach().clone()

    loop(False, 3)  # checkpoint at step 2; step 3 logged but not checkpointed
    resumed = loop(True, 6)
    steps = [r["step"] for r in RunDir(tmp_path / "run", resume=True).read_metrics()]
    assert steps == [1, 2, 3, 4, 5, 6]
    # The interrupted-and-resumed run ends where one uninterrupted run does (RNG restored too).
    assert torch.equal(resumed, loop(False, 6, folder="straight"))


SIGNAL_SCRIPT = """
import sys, time, torch, typer
from functools import partial
from dltheory.cli.app import run_app
from dltheory.core.runs import train_state
from dltheory.core.session import Session

app = typer.Typer()

@app.command()
def train(out: str, resume: bool = False, steps: int = 80):
    with Session({"steps": steps}, out=out, threads=1, resume=resume, checkpoint_every_seconds=None) as s:
        model = torch.nn.Linear(3, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        step = s.restore(model, opt)
        while step < steps:
            loss = model(torch.randn(4, 3)).pow(2).mean()
            loss.backward(); opt.step(); opt.zero_grad()
            step += 1
            s.log(step=step, loss=loss.item())
            print(f"step {step}", flush=True)
            time.sleep(0.02)
            s.maybe_checkpoint(step, partial(train_state, model, opt, step=step))
        s.checkpoint(train_state(model, opt, step=step))

run_app(app)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_exits_with_a_message(tmp_path, signum):
    script = tmp_path / "train.py"
    script.write_text(SIGNAL_SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.time() + 60
    for line in proc.stdout:
        if line.startswith("step 5") or time.time() > deadline:
            break
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    message = stderr.strip().splitlines()
    assert len(message) == 1
    assert "continue with --resume" in message[0]
    saved = torch.load(out / "last.pt", weights_only=True)["step"]
    assert saved >= 5
    done = subprocess.run(
        [sys.executable, str(script), str(out), "--resume", "--steps", "80"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 81))


def test_session_from_config_takes_the_trainer_fields_and_kwargs_override(tmp_path):
    import dataclasses
    import json

    import torch

    from dltheory.core.config import TrainerFields

    @dataclasses.dataclass
    class Cfg(TrainerFields):
        lr: float = 0.5

    cfg = Cfg(device="cpu", seed=7, threads=1, out=tmp_path / "a")
    with Session.from_config(cfg, checkpoint_every_seconds=None) as s:
        assert s.device == torch.device("cpu")
        assert s.threads == 1
        assert s.run is not None
        assert s.run.path == tmp_path / "a"
        drawn = torch.rand(3)
    torch.manual_seed(7)  # seeded from cfg.seed (rank 0)
    assert torch.equal(drawn, torch.rand(3))
    assert json.loads((tmp_path / "a" / "config.json").read_text())["lr"] == 0.5
    with Session.from_config(cfg, out=tmp_path / "b", checkpoint_every_seconds=None) as s:
        assert s.run is not None
        assert s.run.path == tmp_path / "b"

"""Training branches of the switch-time protocol (reference notes A.4), on the core Session.

Four kinds of branch share one loop (plain SGD + cross-entropy, the authors' defaults):

* ``cnn``: train the CNN for ``epochs``, saving ``cnn_epoch{t}.pt`` at the log-spaced switch times;
* ``efcn``: embed the CNN checkpoint of epoch ``t_w`` and keep training in FCN space with a fresh
  SGD for the rest of the budget (``epochs - t_w``) or ``relax_epochs``; logs the deviation from
  the CNN subspace every epoch;
* ``elcn``: the same switch into the locally connected net (local, no weight sharing);
* ``fcn``: the FCN twin (eFCN layer sizes, dense default init) trained for ``epochs``.

Every branch is a :class:`~dltheory.core.session.Session` run folder (``config.json``,
``metrics.jsonl``, ``last.pt``; lock, resume with a config check, SIGINT save, NaN guard). Metrics
are logged against the *total* epoch (``t_w + k`` for a switched branch) so all branches share one
time axis; ``step`` counts the optimizer steps of the branch. Under torchrun every batch is split
over the processes (DistributedDataParallel averages the gradients), so a step is the same SGD
step as in one process.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dltheory.core.device import Precision, resolve_device
from dltheory.core.distributed import DistEnv, wrap_ddp
from dltheory.core.errors import CheckpointError, ConfigError
from dltheory.core.evaluation import evaluate_tensors
from dltheory.core.progress import ProgressLog
from dltheory.core.runs import atomic_torch_save, load_checkpoint, train_state
from dltheory.core.session import Session

from .config import SWITCH_MUTABLE, TRAIN_MUTABLE, SwitchConfig, TrainConfig
from .data import TensorData, load_data
from .embedding import check_fits, embed, embed_local, fcn_twin, plan_embedding
from .models import build_cnn, count_params
from .subspace import deviation

BRANCHES = ("cnn", "efcn", "elcn", "fcn")


def switch_epochs(epochs: int, n_saves: int) -> list[int]:
    """Epoch 0 plus ``unique(int(logspace(0, log10(epochs), n_saves)))`` (authors' main.py)."""
    if n_saves < 1:
        return [0]
    points = np.unique(np.logspace(0, math.log10(epochs), n_saves).astype(int))
    return sorted({0, *(int(p) for p in points if p <= epochs)})


def cnn_checkpoint_name(epoch: int) -> str:
    return f"cnn_epoch{epoch:04d}.pt"


def _batches(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int) -> list[torch.Tensor]:
    """The batches of one epoch, a pure function of (seed, epoch): resume lands on the same ones."""
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    else:
        order = torch.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _metrics(model, data: TensorData, cfg: TrainConfig, precision, with_deviation: bool) -> dict:
    # mean cross-entropy and accuracy, in eval mode
    batch = cfg.eval_batch_size
    train_loss, train_acc = evaluate_tensors(
        model, data.x_train, data.y_train, batch_size=batch, precision=precision
    )
    test_loss, test_acc = evaluate_tensors(
        model, data.x_test, data.y_test, batch_size=batch, precision=precision
    )
    row = {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
    }
    if with_deviation:
        row.update({f"dev_{k}": v for k, v in deviation(model)["all"].items()})
    return row


def _save_switch_checkpoint(session: Session, model, epoch: int) -> None:
    """Weights only (no RNG state), so that it loads with ``weights_only=True`` anywhere."""
    if session.run is not None and session.is_writer:
        state = {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "epoch": epoch,
        }
        atomic_torch_save(state, session.run.checkpoint_path(cnn_checkpoint_name(epoch)))


# --- the loop -------------------------------------------------------------------------------------
def fit(
    model: torch.nn.Module,
    data: TensorData,
    cfg: TrainConfig,
    session: Session,
    first_epoch: int,
    last_epoch: int,
    with_deviation: bool = False,
    save_epochs: tuple[int, ...] = (),
    description: str = "train",
) -> dict:
    """SGD from total epoch ``first_epoch`` to ``last_epoch``: metrics and last.pt every epoch,
    last.pt also on the session's step / wall-time cadence (resume lands mid-epoch exactly)."""
    env = session.env
    net = wrap_ddp(model, env, session.device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    n = data.x_train.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total_steps = (last_epoch - first_epoch) * steps_per_epoch

    def state(step: int) -> dict:
        return train_state(model, optimizer, precision=session.precision, step=step)

    step = session.restore(model, optimizer)  # 0 on a fresh run
    if session.resume_state is None:
        session.log(
            epoch=first_epoch,
            step=0,
            **_metrics(model, data, cfg, session.precision, with_deviation),
        )
        if first_epoch in save_epochs:
            _save_switch_checkpoint(session, model, first_epoch)
        session.checkpoint(state(0))
    log = ProgressLog(max(total_steps - step, 0), description)
    while step < total_steps:
        epoch, b = first_epoch + step // steps_per_epoch, step % steps_per_epoch
        idx = _batches(n, cfg.batch_size, cfg.shuffle, cfg.seed, epoch)[b]
        shard = idx[env.rank :: env.world_size]  # this process's part of the global batch
        net.train()
        with session.precision.autocast():
            out = net(data.x_train[shard])
        # sum over the shard / global batch size, times world size: DDP's gradient mean then
        # equals the gradient of the global batch mean, whatever the split.
        loss = F.cross_entropy(out.float(), data.y_train[shard], reduction="sum")
        loss = loss * (env.world_size / len(idx))
        session.check_finite(loss, step)
        session.precision.backward_and_step(loss, optimizer)  # zeroes the gradients after
        step += 1
        log.update(1, loss=float(loss.detach()) / env.world_size)
        if step % steps_per_epoch == 0:
            epoch += 1
            row = _metrics(model, data, cfg, session.precision, with_deviation)
            session.log(epoch=epoch, step=step, **row)
            if epoch in save_epochs:
                _save_switch_checkpoint(session, model, epoch)
            session.checkpoint(state(step))
        if step % steps_per_epoch or session.stop_requested:  # cadence, or SIGINT: save and stop
            session.maybe_checkpoint(step, partial(state, step))
    log.close()
    rows = session.run.read_metrics() if session.run is not None else []
    return rows[-1] if rows else {}


# --- branches -------------------------------------------------------------------------------------
def _data(cfg: TrainConfig) -> tuple[TensorData, torch.device, torch.dtype]:
    device = resolve_device(cfg.device)
    dtype = torch.float64 if cfg.double else torch.float32
    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size, cfg.download)
    return data, device, dtype


def make_cnn(cfg: TrainConfig, input_shape) -> torch.nn.Module:
    c, h, w = input_shape
    if h != w:
        raise ConfigError(f"square inputs expected, got {h}x{w}")
    num_classes = 100 if cfg.dataset == "cifar100" else 10
    return build_cnn(cfg.model, c, num_classes, h, cfg.channels)


def _training_copies(cfg: TrainConfig) -> int:
    return 3 + (1 if cfg.momentum else 0)  # weights, gradients, a transient copy (+ momentum)


def _announce_size(what: str, n_params: int, plan, cfg: TrainConfig, dtype, device) -> int:
    """Say how large the network will be, and refuse it if it cannot fit, before building."""
    needed = check_fits(
        n_params, dtype, device, cfg.max_params or None, _training_copies(cfg), what
    )
    if DistEnv.from_environ().is_main:
        print(
            f"{what}: {n_params:,} parameters (CNN {plan.cnn_params:,}), "
            f"~{needed / 2**30:.2f} GiB to train in {str(dtype).replace('torch.', '')} on {device}",
            file=sys.stderr,
            flush=True,
        )
    return needed


def _session(
    cfg: TrainConfig, config: dict, out: Path, resume: bool, overwrite: bool, seed: int, mutable
) -> Session:
    return Session(
        config,
        out=out,
        device=cfg.device,
        precision=cfg.precision,
        seed=seed,
        threads=cfg.threads,
        resume=resume,
        overwrite=overwrite,
        mutable_keys=mutable,
        checkpoint_every_steps=cfg.checkpoint_every or None,
        checkpoint_every_seconds=cfg.checkpoint_seconds,
    )


def train_cnn(
    cfg: TrainConfig, out: Path | None = None, resume: bool = False, overwrite: bool = False
) -> dict:
    """The CNN branch: checkpoints at the switch epochs, metrics every epoch."""
    cfg = replace(cfg, out=Path(out if out is not None else cfg.out), net="cnn")
    cfg.validate()
    data, _, dtype = _data(cfg)
    config = asdict(cfg)  # exactly the config: `--resume` rebuilds it from config.json
    with _session(cfg, config, cfg.out, resume, overwrite, cfg.seed, TRAIN_MUTABLE) as s:
        cnn = make_cnn(cfg, data.input_shape).to(s.device, dtype)
        saves = tuple(switch_epochs(cfg.epochs, cfg.n_saves))
        final = fit(cnn, data.to(s.device, dtype), cfg, s, 0, cfg.epochs, False, saves, "cnn")
    return {"branch": "cnn", "t_w": None, "params": count_params(cnn), **final}


def train_fcn(
    cfg: TrainConfig, out: Path | None = None, resume: bool = False, overwrite: bool = False
) -> dict:
    """The FCN baseline: eFCN layer sizes, dense default init, trained for ``epochs``."""
    cfg = replace(cfg, out=Path(out if out is not None else cfg.out), net="fcn")
    cfg.validate()
    data, device, dtype = _data(cfg)
    cnn = make_cnn(cfg, data.input_shape).to(dtype=dtype)
    plan = plan_embedding(cnn, data.input_shape, cfg.fold_padding)
    _announce_size("FCN twin", plan.dense_params, plan, cfg, dtype, device)
    config = asdict(cfg)
    with _session(cfg, config, cfg.out, resume, overwrite, cfg.seed, TRAIN_MUTABLE) as s:
        cnn = make_cnn(cfg, data.input_shape).to(s.device, dtype)
        twin = fcn_twin(cnn, data.input_shape, cfg.fold_padding, cfg.max_params or None)
        final = fit(twin, data.to(s.device, dtype), cfg, s, 0, cfg.epochs, True, (), "fcn")
    return {"branch": "fcn", "t_w": None, "params": plan.live_params, **final}


def load_cnn_checkpoint(cfg: TrainConfig, cnn_run: Path, t_w: int, input_shape) -> torch.nn.Module:
    """The CNN saved at epoch ``t_w`` by a CNN run (weights only, ``weights_only=True``)."""
    path = Path(cnn_run) / cnn_checkpoint_name(t_w)
    if not path.exists():
        saved = sorted(p.name for p in Path(cnn_run).glob("cnn_epoch*.pt"))
        raise CheckpointError(
            f"no CNN checkpoint for t_w={t_w} in {cnn_run} (have: {', '.join(saved) or 'none'})"
        )
    state = load_checkpoint(path, map_location="cpu")
    cnn = make_cnn(cfg, input_shape)
    try:
        cnn.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"{path} does not match model {cfg.model!r}: {exc}".splitlines()[0]
        ) from None
    return cnn


def switched_model(cfg: TrainConfig, cnn: torch.nn.Module, input_shape, to: str = "efcn"):
    """The eFCN (``to='efcn'``) or eLCN (``'elcn'``) of ``cnn``: the same function."""
    if to == "efcn":
        return embed(cnn, input_shape, cfg.fold_padding, cfg.max_params or None)
    if to == "elcn":
        return embed_local(cnn, input_shape, cfg.max_params or None)
    raise ConfigError(f"unknown switch target {to!r}; expected efcn or elcn")


def switch(
    cfg: TrainConfig,
    cnn_run: Path | None = None,
    t_w: int | None = None,
    out: Path | None = None,
    relax_epochs: int | None = None,
    resume: bool = False,
    to: str | None = None,
    overwrite: bool = False,
) -> dict:
    """The eFCN (or eLCN) branch: embed the CNN at epoch ``t_w`` and keep training it.

    ``cfg`` may be a :class:`SwitchConfig` (its ``cnn_run``, ``at``, ``to``, ``relax_epochs``) or a
    plain :class:`TrainConfig` with those given as arguments (arguments win).
    """
    base = {k: v for k, v in asdict(cfg).items() if k in SwitchConfig.__dataclass_fields__}
    scfg = SwitchConfig(**base)
    updates: dict = {}
    if cnn_run is not None:
        updates["cnn_run"] = str(cnn_run)
    if t_w is not None:
        updates["at"] = int(t_w)
    if out is not None:
        updates["out"] = Path(out)
    if relax_epochs is not None:
        updates["relax_epochs"] = int(relax_epochs)
    if to is not None:
        updates["to"] = to
    scfg = replace(scfg, **updates)
    scfg.validate()
    relax = scfg.epochs - scfg.at if scfg.relax_epochs < 0 else scfg.relax_epochs
    data, device, dtype = _data(scfg)
    cnn = load_cnn_checkpoint(scfg, Path(scfg.cnn_run), scfg.at, data.input_shape).to(dtype=dtype)
    plan = plan_embedding(cnn, data.input_shape, scfg.fold_padding)
    n_params = plan.dense_params if scfg.to == "efcn" else plan.local_params
    _announce_size({"efcn": "eFCN", "elcn": "eLCN"}[scfg.to], n_params, plan, scfg, dtype, device)
    config = asdict(scfg)
    seed = scfg.seed + 1 + scfg.at
    with _session(scfg, config, scfg.out, resume, overwrite, seed, SWITCH_MUTABLE) as s:
        model = switched_model(scfg, cnn.to(s.device), data.input_shape, scfg.to)
        final = fit(
            model,
            data.to(s.device, dtype),
            scfg,
            s,
            scfg.at,
            scfg.at + relax,
            True,
            (),
            f"{scfg.to} t_w={scfg.at}",
        )
    params = plan.live_params if scfg.to == "efcn" else plan.local_params
    return {"branch": scfg.to, "t_w": scfg.at, "params": params, **final}


def build_branch_model(cfg: TrainConfig, branch: str, input_shape) -> torch.nn.Module:
    """An untrained network of the right layout for a branch's ``last.pt`` (CPU, float32)."""
    cnn = make_cnn(cfg, input_shape)
    if branch == "cnn":
        return cnn
    if branch == "fcn":
        return fcn_twin(cnn, input_shape, cfg.fold_padding)
    if branch in ("efcn", "elcn"):
        return switched_model(cfg, cnn, input_shape, branch)
    raise ConfigError(f"unknown branch {branch!r}; expected one of {', '.join(BRANCHES)}")


def evaluate_run(run: Path, device: str = "auto", threads: int | None = None) -> dict:
    """Reload a run folder's ``last.pt`` (weights only) and measure it on its data."""
    import json

    from dltheory.core.threads import configure_threads

    run = Path(run)
    path = run / "config.json"
    if not path.is_file():
        raise CheckpointError(f"{run} is not an efcn run folder (no config.json)")
    try:
        saved = json.loads(path.read_text())
    except ValueError as exc:
        raise CheckpointError(f"cannot read {path}: {exc}") from None
    configure_threads(threads)
    fields = TrainConfig.__dataclass_fields__
    cfg = replace(TrainConfig(), **{k: v for k, v in saved.items() if k in fields and k != "out"})
    branch = saved.get("to") or saved.get("branch") or cfg.net  # switch runs save `to`
    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size, cfg.download)
    model = build_branch_model(cfg, branch, data.input_shape)
    state = load_checkpoint(run / "last.pt", map_location="cpu")
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"{run / 'last.pt'} does not match its config: {exc}".splitlines()[0]
        ) from None
    dev = resolve_device(device)
    dtype = torch.float64 if cfg.double else torch.float32
    model = model.to(dev, dtype)
    precision = Precision.create("fp32", dev)
    row = _metrics(model, data.to(dev, dtype), cfg, precision, branch != "cnn")
    return {
        "run": str(run),
        "branch": branch,
        "t_w": saved.get("at", saved.get("t_w")),
        "step": state.get("step"),
        **row,
    }


SUMMARY_KEYS = (
    "branch",
    "t_w",
    "params",
    "epoch",
    "test_acc",
    "train_acc",
    "test_loss",
    "dev_total",
    "dev_off_local",
    "dev_unshared",
)


def run_branch(job: dict) -> dict:
    """Pure, picklable entry point for :func:`dltheory.core.sweep.run_sweep`.

    ``job`` holds ``branch`` (cnn|efcn|elcn|fcn), ``out``, ``config`` (a TrainConfig as dict), and
    for a switched branch ``t_w``, ``cnn_run`` and optionally ``relax_epochs``.
    """
    fields = TrainConfig.__dataclass_fields__
    cfg = replace(TrainConfig(), **{k: v for k, v in job["config"].items() if k in fields})
    out, resume = Path(job["out"]), bool(job.get("resume", False))
    if job["branch"] == "cnn":
        result = train_cnn(cfg, out, resume)
    elif job["branch"] in ("efcn", "elcn"):
        relax = job.get("relax_epochs")
        result = switch(
            cfg,
            Path(job["cnn_run"]),
            int(job["t_w"]),
            out,
            None if relax is None or relax < 0 else relax,
            resume,
            to=job["branch"],
        )
    elif job["branch"] == "fcn":
        result = train_fcn(cfg, out, resume)
    else:
        raise ConfigError(
            f"unknown branch {job['branch']!r}; expected one of {', '.join(BRANCHES)}"
        )
    return {k: v for k, v in result.items() if k in SUMMARY_KEYS}

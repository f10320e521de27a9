"""Training branches of the switch-time protocol (reference notes A.4).

Three kinds of branch share one loop (plain SGD + cross-entropy, the authors' defaults):

* ``cnn``: train the CNN for ``epochs``, saving ``cnn_epoch{t}.pt`` at the log-spaced switch times;
* ``efcn``: embed the CNN checkpoint of epoch ``t_w`` and keep training in FCN space with a fresh
  SGD for the rest of the budget (``epochs - t_w``) or ``relax_epochs``; logs the deviation from
  the CNN subspace every epoch;
* ``fcn``: the FCN twin (eFCN layer sizes, dense default init) trained for ``epochs``.

Every branch writes a :class:`~dltheory.core.runs.RunDir` (``config.json``, ``metrics.jsonl``,
``last.pt`` for ``--resume``). Metrics are logged against the *total* epoch (``t_w + k`` for an
eFCN branch) so all branches share one time axis.
"""

from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dltheory.core.device import Precision, configure_backends, resolve_device, seed_everything
from dltheory.core.distributed import DistEnv
from dltheory.core.errors import CheckpointError, ConfigError
from dltheory.core.progress import ProgressLog
from dltheory.core.runs import (
    RunDir,
    atomic_torch_save,
    check_finite,
    load_checkpoint,
    restore_train_state,
    train_state,
)

from .data import TensorData, load_data
from .embedding import check_fits, embed, fcn_twin, plan_embedding
from .models import build_cnn, count_params
from .subspace import deviation

BRANCHES = ("cnn", "efcn", "fcn")


@dataclass
class TrainConfig:
    """Settings shared by every branch; defaults follow the authors' ``main.py`` where known."""

    dataset: str = "digits"
    data_root: str = ""
    data_size: int = 0
    download: bool = False
    model: str = "vanilla-small"
    channels: int = 64
    epochs: int = 100
    lr: float = 0.1
    momentum: float = 0.0
    weight_decay: float = 0.0
    batch_size: int = 250
    eval_batch_size: int = 1000
    shuffle: bool = False  # the authors' DataLoaders use shuffle=False
    n_saves: int = 20  # log-spaced CNN checkpoints = candidate switch times
    fold_padding: bool = True
    max_params: int = 0  # 0: only the memory check applies
    double: bool = False
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    threads: int = 0  # CPU threads for torch (0: torch's default); 1 is fastest on a busy machine

    def validate(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.lr <= 0:
            raise ConfigError("lr must be > 0")
        if self.double and self.precision != "fp32":
            raise ConfigError("--double needs --precision fp32")


def switch_epochs(epochs: int, n_saves: int) -> list[int]:
    """Epoch 0 plus ``unique(int(logspace(0, log10(epochs), n_saves)))`` (authors' main.py)."""
    if n_saves < 1:
        return [0]
    points = np.unique(np.logspace(0, math.log10(epochs), n_saves).astype(int))
    return sorted({0, *(int(p) for p in points if p <= epochs)})


def cnn_checkpoint_name(epoch: int) -> str:
    return f"cnn_epoch{epoch:04d}.pt"


# --- one loop for every branch --------------------------------------------------------------------
@torch.no_grad()
def evaluate(model, x, y, batch_size: int, precision: Precision) -> tuple[float, float]:
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, x.shape[0], batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        with precision.autocast():
            out = model(xb)
        loss_sum += float(F.cross_entropy(out.float(), yb, reduction="sum"))
        correct += int((out.argmax(1) == yb).sum())
    n = x.shape[0]
    return loss_sum / n, correct / n


def _batches(n: int, batch_size: int, shuffle: bool, seed: int, epoch: int):
    if shuffle:
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    else:
        order = torch.arange(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def _metrics(model, data: TensorData, cfg: TrainConfig, precision, with_deviation: bool) -> dict:
    train_loss, train_acc = evaluate(
        model, data.x_train, data.y_train, cfg.eval_batch_size, precision
    )
    test_loss, test_acc = evaluate(model, data.x_test, data.y_test, cfg.eval_batch_size, precision)
    row = {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
    }
    if with_deviation:
        dev = deviation(model)
        row.update({f"dev_{k}": v for k, v in dev["all"].items()})
    return row


def _save_switch_checkpoint(run: RunDir, model, epoch: int) -> None:
    """Weights only (no RNG state), so that it loads with ``weights_only=True`` anywhere."""
    if run.is_writer:
        state = {
            "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "epoch": epoch,
        }
        atomic_torch_save(state, run.checkpoint_path(cnn_checkpoint_name(epoch)))


def fit(
    model,
    data: TensorData,
    cfg: TrainConfig,
    run: RunDir,
    precision: Precision,
    first_epoch: int,
    last_epoch: int,
    resume: bool = False,
    with_deviation: bool = False,
    save_epochs: tuple[int, ...] = (),
    description: str = "train",
) -> dict:
    """SGD from total epoch ``first_epoch`` to ``last_epoch``; logs every epoch, last.pt each epoch."""
    optimizer = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    epoch = first_epoch
    if resume:
        state = run.load_checkpoint()
        if state is None:
            raise CheckpointError(f"cannot resume: no checkpoint in {run.path}")
        epoch = restore_train_state(state, model, optimizer, precision=precision)["epoch"]
    else:
        row = _metrics(model, data, cfg, precision, with_deviation)
        run.log(epoch=epoch, step=0, **row)
        if epoch in save_epochs:
            _save_switch_checkpoint(run, model, epoch)
        run.save_checkpoint(
            train_state(model, optimizer, precision=precision, step=epoch, epoch=epoch)
        )
    n = data.x_train.shape[0]
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    log = ProgressLog((last_epoch - epoch) * steps_per_epoch, description)
    while epoch < last_epoch:
        model.train()
        for idx in _batches(n, cfg.batch_size, cfg.shuffle, cfg.seed, epoch):
            with precision.autocast():
                out = model(data.x_train[idx])
            loss = F.cross_entropy(out.float(), data.y_train[idx])
            check_finite(loss, step=epoch * steps_per_epoch, run=run)
            precision.backward_and_step(loss, optimizer)
            log.update(1, loss=float(loss.detach()))
        epoch += 1
        row = _metrics(model, data, cfg, precision, with_deviation)
        run.log(epoch=epoch, step=(epoch - first_epoch) * steps_per_epoch, **row)
        if epoch in save_epochs:
            _save_switch_checkpoint(run, model, epoch)
        run.save_checkpoint(
            train_state(model, optimizer, precision=precision, step=epoch, epoch=epoch)
        )
    log.close()
    return run.read_metrics()[-1]


# --- branches -------------------------------------------------------------------------------------
@dataclass
class Setup:
    device: torch.device
    precision: Precision
    dtype: torch.dtype
    data: TensorData


def setup(cfg: TrainConfig) -> Setup:
    cfg.validate()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    configure_backends(device)  # TF32 matmuls on CUDA: dense eFCN layers are plain GEMMs
    precision = Precision.create(cfg.precision, device)
    dtype = torch.float64 if cfg.double else torch.float32
    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size, cfg.download).to(device, dtype)
    return Setup(device, precision, dtype, data)


def make_cnn(cfg: TrainConfig, data: TensorData):
    c, h, w = data.input_shape
    if h != w:
        raise ConfigError(f"square inputs expected, got {h}x{w}")
    return build_cnn(cfg.model, c, data.num_classes, h, cfg.channels)


def _training_copies(cfg: TrainConfig) -> int:
    return 3 + (1 if cfg.momentum else 0)  # weights, gradients, a transient copy (+ momentum)


def _announce_size(what: str, plan, cfg: TrainConfig, dtype: torch.dtype, device) -> None:
    """Say how large the dense network will be, and refuse it if it cannot fit, before building."""
    needed = check_fits(
        plan.dense_params, dtype, device, cfg.max_params or None, _training_copies(cfg), what
    )
    if DistEnv.from_environ().is_main:
        print(
            f"{what}: {plan.dense_params:,} parameters ({plan.live_params:,} live; CNN {plan.cnn_params:,}), "
            f"~{needed / 2**30:.2f} GiB to train in {str(dtype).replace('torch.', '')} on {device}",
            file=sys.stderr,
            flush=True,
        )


def train_cnn(cfg: TrainConfig, out: Path, resume: bool = False) -> dict:
    """The CNN branch: checkpoints at the switch epochs, metrics every epoch."""
    s = setup(cfg)
    seed_everything(cfg.seed)
    cnn = make_cnn(cfg, s.data).to(s.device, s.dtype)
    run = RunDir(out, config={**asdict(cfg), "branch": "cnn"}, resume=resume)
    saves = tuple(switch_epochs(cfg.epochs, cfg.n_saves))
    final = fit(cnn, s.data, cfg, run, s.precision, 0, cfg.epochs, resume, False, saves, "cnn")
    return {"branch": "cnn", "t_w": None, "params": count_params(cnn), **final}


def load_cnn_checkpoint(cfg: TrainConfig, cnn_run: Path, t_w: int, s: Setup):
    path = Path(cnn_run) / cnn_checkpoint_name(t_w)
    if not path.exists():
        saved = sorted(p.name for p in Path(cnn_run).glob("cnn_epoch*.pt"))
        raise CheckpointError(
            f"no CNN checkpoint for t_w={t_w} in {cnn_run} (have: {', '.join(saved) or 'none'})"
        )
    state = load_checkpoint(path, map_location="cpu")  # weights_only=True
    cnn = make_cnn(cfg, s.data)
    try:
        cnn.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"{path} does not match model {cfg.model!r}: {exc}".splitlines()[0]
        ) from None
    return cnn.to(s.device, s.dtype)


def switch(
    cfg: TrainConfig,
    cnn_run: Path,
    t_w: int,
    out: Path,
    relax_epochs: int | None = None,
    resume: bool = False,
) -> dict:
    """The eFCN branch: embed the CNN at epoch ``t_w`` and keep training in FCN space."""
    s = setup(cfg)
    if relax_epochs is None:
        relax_epochs = cfg.epochs - t_w
    if relax_epochs < 0 or t_w < 0:
        raise ConfigError(f"t_w={t_w} must lie in [0, epochs={cfg.epochs}]")
    cnn = load_cnn_checkpoint(cfg, cnn_run, t_w, s)
    plan = plan_embedding(cnn, s.data.input_shape, cfg.fold_padding)
    _announce_size("eFCN", plan, cfg, s.dtype, s.device)
    efcn = embed(cnn, s.data.input_shape, cfg.fold_padding, cfg.max_params or None)
    seed_everything(cfg.seed + 1 + t_w)
    config = {
        **asdict(cfg),
        "branch": "efcn",
        "t_w": t_w,
        "relax_epochs": relax_epochs,
        "cnn_run": str(cnn_run),
    }
    run = RunDir(out, config=config, resume=resume)
    final = fit(
        efcn,
        s.data,
        cfg,
        run,
        s.precision,
        t_w,
        t_w + relax_epochs,
        resume,
        True,
        (),
        f"efcn t_w={t_w}",
    )
    return {"branch": "efcn", "t_w": t_w, "params": plan.live_params, **final}


def train_fcn(cfg: TrainConfig, out: Path, resume: bool = False) -> dict:
    """The FCN baseline: eFCN layer sizes, dense default init, trained for ``epochs``."""
    s = setup(cfg)
    seed_everything(cfg.seed)
    cnn = make_cnn(cfg, s.data).to(s.device, s.dtype)
    plan = plan_embedding(cnn, s.data.input_shape, cfg.fold_padding)
    _announce_size("FCN twin", plan, cfg, s.dtype, s.device)
    twin = fcn_twin(cnn, s.data.input_shape, cfg.fold_padding, cfg.max_params or None)
    run = RunDir(out, config={**asdict(cfg), "branch": "fcn"}, resume=resume)
    final = fit(twin, s.data, cfg, run, s.precision, 0, cfg.epochs, resume, True, (), "fcn")
    return {"branch": "fcn", "t_w": None, "params": plan.live_params, **final}


def run_branch(job: dict) -> dict:
    """Pure, picklable entry point for :func:`dltheory.core.sweep.run_sweep`.

    ``job`` holds ``branch`` (cnn|efcn|fcn), ``out``, ``config`` (a TrainConfig as dict), and for
    eFCN ``t_w``, ``cnn_run`` and optionally ``relax_epochs``.
    """
    cfg = replace(TrainConfig(), **job["config"])
    out, resume = Path(job["out"]), bool(job.get("resume", False))
    if job["branch"] == "cnn":
        result = train_cnn(cfg, out, resume)
    elif job["branch"] == "efcn":
        result = switch(
            cfg, Path(job["cnn_run"]), int(job["t_w"]), out, job.get("relax_epochs"), resume
        )
    elif job["branch"] == "fcn":
        result = train_fcn(cfg, out, resume)
    else:
        raise ConfigError(
            f"unknown branch {job['branch']!r}; expected one of {', '.join(BRANCHES)}"
        )
    return {
        k: v
        for k, v in result.items()
        if k
        in (
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
    }

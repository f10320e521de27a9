"""The DFA / FA / BP training loop, on the core Session.

The Session does the start-up (threads, device, precision, seed, locked run folder, config check
on resume, metrics repair, SIGINT/SIGTERM save, NaN guard); the loop below stays readable:
one SGD step per batch, evaluation and alignment (WA, GA per layer) at log-spaced steps, a
checkpoint at every log point and on the step / wall-time cadence. Under torchrun each process
takes its share of every batch and DDP averages the gradients.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from dltheory.core.config import config_to_dict
from dltheory.core.distributed import wrap_ddp
from dltheory.core.errors import ConfigError
from dltheory.core.evaluation import evaluate_tensors
from dltheory.core.progress import ProgressLog
from dltheory.core.runs import train_state
from dltheory.core.session import Session

from .alignment import gradient_alignment, weight_alignment
from .config import TrainConfig, train_mutable_keys
from .data import SplitData, load_data
from .models import MarkedNetwork, build_model

__all__ = ["TrainConfig", "fit", "log_steps", "loss_function", "sweep_point", "train"]


def log_steps(total: int, n_points: int) -> list[int]:
    """Log-spaced step numbers in [0, total] (always 0 and total)."""
    pts = np.unique(np.round(np.geomspace(1, max(total, 1), max(n_points, 2))).astype(int))
    return sorted({0, total, *pts.tolist()})


def loss_function(classification: bool):
    """Mean cross-entropy, or half the summed squared error per sample (regression)."""
    if classification:
        return F.cross_entropy
    return lambda o, t: 0.5 * (o - t).square().sum(1).mean()


def load_config_data(cfg: TrainConfig) -> SplitData:
    return load_data(
        cfg.dataset,
        cfg.data_root,
        cfg.download,
        cfg.input_size,
        cfg.label_noise,
        cfg.test_fraction,
        cfg.seed,
        cfg.n_samples,
        cfg.input_dim,
        cfg.n_outputs,
    )


def measure(model, data: SplitData, loss_fn, method: str, device, precision, x_eval, y_eval):
    """Train/test loss and accuracy, and WA (not in FA) and GA (not in BP) per layer."""
    kw = dict(
        loss_fn=loss_fn, precision=precision, device=device, classification=data.classification
    )
    tr_loss, tr_acc = evaluate_tensors(model, x_eval, y_eval, **kw)
    te_loss, te_acc = evaluate_tensors(model, data.x_test, data.y_test, **kw)
    rec: dict[str, Any] = {"train_loss": tr_loss, "test_loss": te_loss}
    if data.classification:
        rec.update(train_acc=tr_acc, test_acc=te_acc)
    ga_x, ga_y = data.x_train[:256].to(device), data.y_train[:256].to(device)
    rec.update(weight_alignment(model, ga_x))
    if method != "bp":
        rec.update(gradient_alignment(model, ga_x, ga_y, loss_fn))
    return rec


def train(
    cfg: TrainConfig,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    precision: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> dict:
    """Train and log to ``cfg.out/metrics.jsonl``; returns the last logged record.

    ``out``, ``device`` and ``precision`` override the config's fields when given.
    """
    return fit(
        cfg,
        out,
        device=device,
        precision=precision,
        resume=resume,
        overwrite=overwrite,
        quiet=quiet,
    )[1]


def fit(
    cfg: TrainConfig,
    out: str | Path | None = None,
    *,
    device: str | None = None,
    precision: str | None = None,
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> tuple[MarkedNetwork, dict]:
    """Like :func:`train`, also returning the trained model."""
    updates: dict[str, Any] = {}
    if out is not None:
        updates["out"] = Path(out)
    if device is not None:
        updates["device"] = device
    if precision is not None:
        updates["precision"] = precision
    cfg = replace(cfg, **updates)
    cfg.validate()
    with Session.from_config(
        cfg,
        resume=resume,
        overwrite=overwrite,
        mutable_keys=train_mutable_keys(),
        checkpoint_every_steps=cfg.checkpoint_every or None,
        checkpoint_every_seconds=cfg.checkpoint_seconds or None,
    ) as s:
        dev, prec, env = s.device, s.precision, s.env
        data = load_config_data(cfg)
        loss_fn = loss_function(data.classification)
        model = build_model(cfg, data.input_shape, data.n_outputs, data.x_train[:64]).to(dev)
        params = list(model.parameters())
        opt = (
            torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
            if cfg.optimizer == "sgd"
            else torch.optim.Adam(params, lr=cfg.lr)
        )
        step = s.restore(model, opt)  # 0 on a fresh run
        net = wrap_ddp(model, env, dev)
        n_train = data.x_train.shape[0]
        per_epoch = math.ceil(n_train / cfg.batch_size)
        total = max(1, round(cfg.epochs * per_epoch))
        if step > total:
            raise ConfigError(
                f"the checkpoint is at step {step}, beyond the {total} steps of "
                f"--epochs {cfg.epochs:g}; resume with more epochs"
            )
        pending = [p for p in log_steps(total, cfg.log_points) if p > step]
        eval_idx = torch.randperm(n_train, generator=torch.Generator().manual_seed(cfg.seed))
        eval_idx = eval_idx[: cfg.eval_samples]
        x_eval, y_eval = data.x_train[eval_idx], data.y_train[eval_idx]

        def state() -> dict:
            return train_state(model, opt, precision=prec, step=step)

        record: dict = {}

        def log_now() -> dict:
            rec = {"step": step, "epoch": step / per_epoch}
            rec.update(measure(model, data, loss_fn, cfg.method, dev, prec, x_eval, y_eval))
            s.log(**rec)
            return rec

        if step == 0 and s.is_writer:
            record = log_now()
        bar = None if quiet or not s.is_writer else ProgressLog(total - step, f"dfa {cfg.method}")
        while step < total:
            epoch, within = divmod(step, per_epoch)
            order = torch.randperm(
                n_train, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            )
            idx = order[within * cfg.batch_size : (within + 1) * cfg.batch_size]
            idx = idx[env.rank :: env.world_size]  # this process's share of the batch
            xb, yb = data.x_train[idx].to(dev), data.y_train[idx].to(dev)
            with prec.autocast():
                loss = loss_fn(net(xb).float(), yb)
            s.check_finite(loss, step)
            opt.zero_grad(set_to_none=True)
            prec.backward_and_step(loss, opt)
            step += 1
            if bar is not None:
                bar.update(1, loss=float(loss.detach()))
            if pending and step == pending[0]:
                pending.pop(0)
                if s.is_writer:
                    record = log_now()
                s.checkpoint(state())
            if step < total:
                s.maybe_checkpoint(step, state)  # step / wall-time cadence; SIGINT saves, stops
        if bar is not None:
            bar.close()
        s.checkpoint(state())
        if not record and s.is_writer and s.run is not None:
            rows = s.run.read_metrics()
            record = rows[-1] if rows else log_now()
    return model, record | {"config": config_to_dict(cfg)}


def sweep_point(settings: dict) -> dict:
    """One sweep run (picklable): ``settings`` are TrainConfig fields plus ``_out``."""
    from dltheory.core.config import resolve_config

    settings = dict(settings)
    out = settings.pop("_out")
    cfg = resolve_config(TrainConfig, None, {**settings, "out": out})
    record = train(cfg, overwrite=True, quiet=True)
    shown = ("method", "lr", "model", "width", "feedback_init", "label_noise", "seed", "dataset")
    return {
        **{k: v for k, v in settings.items() if k in shown},
        **{k: v for k, v in record.items() if k != "config"},
    }


def evaluate_run(
    run: str | Path, device: str = "auto", threads: int | None = None
) -> dict[str, Any]:
    """Reload a run folder (config.json + last.pt, weights only) and measure it again:
    train/test loss and accuracy, WA and GA per layer."""
    from dltheory.core.config import resolve_config
    from dltheory.core.device import Precision, resolve_device
    from dltheory.core.errors import CheckpointError
    from dltheory.core.runs import RunDir, load_checkpoint, restore_train_state
    from dltheory.core.threads import configure_threads

    folder = Path(run)
    if not (folder / "config.json").is_file():
        raise CheckpointError(f"{folder} holds no config.json: not a `dfa train` run folder")
    if not (folder / RunDir.CHECKPOINT).is_file():
        raise CheckpointError(f"{folder} holds no {RunDir.CHECKPOINT}")
    configure_threads(threads)
    dev = resolve_device(device)
    import json

    saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    cfg = resolve_config(TrainConfig, None, None, base=saved)
    data = load_config_data(cfg)
    loss_fn = loss_function(data.classification)
    model = build_model(cfg, data.input_shape, data.n_outputs, data.x_train[:64]).to(dev)
    state = load_checkpoint(folder / RunDir.CHECKPOINT, map_location=dev)
    step = restore_train_state(state, model)["step"]
    prec = Precision.create("fp32", dev)
    n_eval = min(cfg.eval_samples, data.x_train.shape[0])
    order = torch.randperm(data.x_train.shape[0], generator=torch.Generator().manual_seed(cfg.seed))
    idx = order[:n_eval]
    rec = measure(model, data, loss_fn, cfg.method, dev, prec, data.x_train[idx], data.y_train[idx])
    return {"run": str(folder), "step": step, "method": cfg.method, **rec}

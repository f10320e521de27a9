"""Training loop for DFA / FA / BP through dltheory.core (runs, checkpoints, precision)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dltheory.core.config import config_to_dict
from dltheory.core.device import Precision, configure_backends, resolve_device, seed_everything
from dltheory.core.errors import ConfigError
from dltheory.core.progress import ProgressLog
from dltheory.core.runs import RunDir, check_finite, restore_train_state, train_state

from .alignment import gradient_alignment, weight_alignment
from .data import load_data
from .engine import MODES
from .models import MarkedNetwork, convnet, mlp
from .structured import STRUCTURED_INITS, set_aligned_feedback, set_factorised_conv_feedback


@dataclass
class TrainConfig:
    dataset: str = "digits"  # digits | mnist-t10k | mnist | fashion-mnist | cifar10 | random
    data_root: str = ""
    download: bool = False
    model: str = "mlp"  # mlp | cnn
    method: str = "dfa"  # dfa | fa | bp
    activation: str = "relu"
    width: int = 256  # MLP hidden width / CNN channels
    n_hidden: int = 2  # hidden layers (MLP) or conv layers (CNN)
    kernel_size: int = 3
    conv_feedback: str = "dense"  # dense | channel
    feedback_init: str = "gaussian"  # gaussian | uniform | orthogonal | aligned | nmf | svd
    feedback_seed: int = 0
    unit_norm: bool = False
    feedback_scale: float = 0.0  # MLP: multiplies B; 0 = 1/sqrt(width) (TinyDFA normalisation)
    bias: bool = False
    label_noise: float = 0.0
    input_size: int = 0  # resize images to input_size x input_size (0: keep)
    test_fraction: float = 0.2  # digits / mnist-t10k split
    optimizer: str = "sgd"  # sgd | adam
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int = 64
    epochs: float = 5.0
    log_points: int = 20  # log-spaced evaluation steps
    eval_samples: int = 2000  # training samples used for the logged train loss/accuracy
    n_samples: int = 1000  # random regression
    input_dim: int = 16
    n_outputs: int = 2
    seed: int = 0

    def validate(self) -> None:
        if self.method not in MODES:
            raise ConfigError(f"method must be one of {MODES}, got {self.method!r}")
        if self.model not in ("mlp", "cnn"):
            raise ConfigError(f"model must be mlp or cnn, got {self.model!r}")
        if self.optimizer not in ("sgd", "adam"):
            raise ConfigError(f"optimizer must be sgd or adam, got {self.optimizer!r}")
        if self.lr <= 0 or self.batch_size < 1 or self.epochs <= 0 or self.width < 1:
            raise ConfigError("lr, batch_size, epochs and width must be positive")
        if self.feedback_init in ("nmf", "svd") and self.model != "cnn":
            raise ConfigError(f"feedback_init {self.feedback_init} is for CNNs (--model cnn)")


def build_model(
    cfg: TrainConfig, input_shape: tuple[int, ...], n_outputs: int, example: torch.Tensor
) -> MarkedNetwork:
    base_init = "gaussian" if cfg.feedback_init in STRUCTURED_INITS else cfg.feedback_init
    weight_init = "zero" if cfg.activation == "linear" else "default"  # deep-linear theory
    if cfg.model == "mlp":
        net = mlp(
            int(np.prod(input_shape)),
            [cfg.width] * cfg.n_hidden,
            n_outputs,
            cfg.activation,
            cfg.method,
            base_init,
            cfg.feedback_seed,
            cfg.unit_norm,
            cfg.bias,
            weight_init,
            cfg.feedback_scale or cfg.width**-0.5,
        )
    else:
        if len(input_shape) != 3:
            raise ConfigError("--model cnn needs image inputs (not the random dataset)")
        net = convnet(
            input_shape,
            cfg.width,
            cfg.n_hidden,
            n_outputs,
            cfg.kernel_size,
            activation=cfg.activation,
            mode=cfg.method,
            feedback_init=base_init,
            feedback_seed=cfg.feedback_seed,
            unit_norm=True,
            conv_feedback=cfg.conv_feedback,
            bias=cfg.bias,
            weight_init=weight_init,
        )
    if cfg.feedback_init == "aligned":
        set_aligned_feedback(net, example)
    elif cfg.feedback_init in ("nmf", "svd"):
        set_factorised_conv_feedback(net, example, cfg.feedback_init, seed=cfg.feedback_seed)
    return net


def log_steps(total: int, n_points: int) -> list[int]:
    """Log-spaced step numbers in [0, total] (always 0 and total)."""
    pts = np.unique(np.round(np.geomspace(1, max(total, 1), max(n_points, 2))).astype(int))
    return sorted({0, total, *pts.tolist()})


@torch.no_grad()
def evaluate(model, x, y, loss_fn, classification, device, precision, batch=1000):
    model.eval()
    total_loss, correct = 0.0, 0
    for start in range(0, x.shape[0], batch):
        xb, yb = x[start : start + batch].to(device), y[start : start + batch].to(device)
        with precision.autocast():
            out = model(xb)
        total_loss += float(loss_fn(out.float(), yb)) * xb.shape[0]
        if classification:
            correct += int((out.argmax(1) == yb).sum())
    model.train()
    n = x.shape[0]
    return total_loss / n, (correct / n if classification else float("nan"))


def train(
    cfg: TrainConfig,
    out: Path,
    device: str = "auto",
    precision: str = "fp32",
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> dict:
    """Train and log to ``out/metrics.jsonl``; returns the last logged record."""
    return fit(cfg, out, device, precision, resume, overwrite, quiet)[1]


def fit(
    cfg: TrainConfig,
    out: Path,
    device: str = "auto",
    precision: str = "fp32",
    resume: bool = False,
    overwrite: bool = False,
    quiet: bool = False,
) -> tuple[MarkedNetwork, dict]:
    """Like :func:`train`, also returning the trained model."""
    cfg.validate()
    dev = resolve_device(device)
    configure_backends(dev)
    prec = Precision.create(precision, dev)
    seed_everything(cfg.seed)
    data = load_data(
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
    loss_fn = (
        F.cross_entropy
        if data.classification
        else (lambda o, t: 0.5 * (o - t).square().sum(1).mean())
    )
    model = build_model(cfg, data.input_shape, data.n_outputs, data.x_train[:64]).to(dev)
    params = list(model.parameters())
    opt = (
        torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
        if cfg.optimizer == "sgd"
        else torch.optim.Adam(params, lr=cfg.lr)
    )
    run = RunDir(out, config=cfg, resume=resume, overwrite=overwrite)
    n_train = data.x_train.shape[0]
    per_epoch = math.ceil(n_train / cfg.batch_size)
    total = max(1, round(cfg.epochs * per_epoch))
    step = 0
    if resume:
        step = restore_train_state(run.load_checkpoint(), model, opt, precision=prec)["step"]
    points = [s for s in log_steps(total, cfg.log_points) if s >= step]
    eval_idx = torch.randperm(n_train, generator=torch.Generator().manual_seed(cfg.seed))[
        : cfg.eval_samples
    ]
    x_eval, y_eval = data.x_train[eval_idx], data.y_train[eval_idx]
    ga_batch = (data.x_train[:256].to(dev), data.y_train[:256].to(dev))
    record: dict = {}
    bar = None if quiet else ProgressLog(total - step, f"dfa train ({cfg.method})")

    def log(step_now: int, epoch: float) -> dict:
        tr_loss, tr_acc = evaluate(model, x_eval, y_eval, loss_fn, data.classification, dev, prec)
        te_loss, te_acc = evaluate(
            model, data.x_test, data.y_test, loss_fn, data.classification, dev, prec
        )
        rec = {"step": step_now, "epoch": epoch, "train_loss": tr_loss, "test_loss": te_loss}
        if data.classification:
            rec.update(train_acc=tr_acc, test_acc=te_acc)
        if cfg.method != "fa":
            rec.update(weight_alignment(model, ga_batch[0]))
        if cfg.method != "bp":
            rec.update(gradient_alignment(model, *ga_batch, loss_fn))
        run.log(**rec)
        run.save_checkpoint(train_state(model, opt, precision=prec, step=step_now))
        return rec

    if step == 0 and points and points[0] == 0:
        record = log(0, 0.0)
        points = points[1:]
    while step < total:
        epoch, within = divmod(step, per_epoch)
        order = torch.randperm(
            n_train, generator=torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        )
        idx = order[within * cfg.batch_size : (within + 1) * cfg.batch_size]
        xb, yb = data.x_train[idx].to(dev), data.y_train[idx].to(dev)
        with prec.autocast():
            loss = loss_fn(model(xb).float(), yb)
        check_finite(loss, step=step, run=run)
        opt.zero_grad(set_to_none=True)
        prec.backward_and_step(loss, opt)
        step += 1
        if bar is not None:
            bar.update(1, loss=float(loss.detach()))
        if points and step == points[0]:
            record = log(step, step / per_epoch)
            points = points[1:]
    if bar is not None:
        bar.close()
    return model, record | {"config": config_to_dict(cfg)}


def sweep_point(settings: dict) -> dict:
    """One sweep run (picklable): ``settings`` are TrainConfig fields plus ``_out``."""
    settings = dict(settings)
    out = Path(settings.pop("_out"))
    cfg = TrainConfig(**settings)
    record = train(cfg, out, device="cpu", overwrite=True, quiet=True)
    return {
        **{
            k: v
            for k, v in settings.items()
            if k
            in ("method", "lr", "model", "width", "feedback_init", "label_noise", "seed", "dataset")
        },
        **{k: v for k, v in record.items() if k != "config"},
    }

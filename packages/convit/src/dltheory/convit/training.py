"""Training and evaluation of ConViT / DeiT with the DeiT recipe, through dltheory.core.

One ``TrainConfig`` holds the model, data and recipe; ``train(cfg)`` writes a run directory
(config.json, metrics.jsonl with loss, top-1/top-5, lr, img/s, nonlocality and gates per epoch,
last.pt) and resumes exactly from it. Works single-process or under torchrun (DDP).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from dltheory.convit.data import DATASET_DEFAULTS, AugmentConfig, RepeatedAugSampler, build_datasets
from dltheory.convit.model import VARIANTS, ConViT, ConViTSpec

MODEL_FILE = "model.pt"


@dataclass
class TrainConfig:
    # model (0 / -1 = the variant's or dataset's default)
    model: str = "convit_tiny"
    depth: int = 12
    num_heads: int = 0
    embed_dim_per_head: int = 0
    num_gpsa_layers: int = 10
    locality_strength: float = 1.0
    convolutional_init: bool = True
    gate_init: float = 1.0
    freeze_gates: bool = False
    img_size: int = 0
    patch_size: int = 0
    drop_path: float = 0.1
    pretrained: str = ""
    # data
    dataset: str = "digits"
    data_root: str = ""
    download: bool = False
    sampling_ratio: float = 1.0
    workers: int = 0
    # recipe (DeiT defaults)
    epochs: int = 300
    batch_size: int = 64
    lr: float = 5e-4  # for a total batch of 512; scaled linearly
    min_lr: float = 1e-5
    warmup_lr: float = 1e-6
    warmup_epochs: int = 5
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    mixup: float = 0.8
    cutmix: float = 1.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    repeated_aug: int = 3
    ema: bool = False
    ema_decay: float = 0.99996
    clip_grad: float = 0.0
    # runtime
    device: str = "auto"
    threads: int = 0  # torch intra-op CPU threads (0: torch's default)
    precision: str = "fp32"
    seed: int = 0
    compile: bool = False
    channels_last: bool = False
    max_steps_per_epoch: int = 0  # 0 = full epochs (a cap for smoke tests)
    eval_every: int = 1  # evaluate, log and checkpoint every k epochs (and after the last)
    analysis_images: int = 64  # nonlocality is measured on this many validation images per epoch
    out: str = "runs/convit"

    def validate(self) -> None:
        from dltheory.core.errors import ConfigError

        if self.model not in VARIANTS:
            raise ConfigError(f"unknown model {self.model!r}; choose from {', '.join(VARIANTS)}")
        if self.dataset not in DATASET_DEFAULTS:
            raise ConfigError(
                f"unknown dataset {self.dataset!r}; choose from {', '.join(DATASET_DEFAULTS)}"
            )
        if not 0 < self.sampling_ratio <= 1:
            raise ConfigError(f"sampling_ratio must be in (0, 1], got {self.sampling_ratio}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be positive")
        if not 0 <= self.num_gpsa_layers < self.depth:
            raise ConfigError(f"num_gpsa_layers must be in [0, depth={self.depth})")


def model_spec(cfg: TrainConfig, num_classes: int, in_chans: int) -> ConViTSpec:
    data = DATASET_DEFAULTS[cfg.dataset]
    variant = VARIANTS[cfg.model]
    img = cfg.img_size or data["img_size"]
    return ConViTSpec(
        img_size=(img, img),
        patch_size=cfg.patch_size or data["patch_size"],
        in_chans=in_chans,
        num_classes=num_classes,
        num_heads=cfg.num_heads or variant["num_heads"],
        embed_dim_per_head=cfg.embed_dim_per_head or variant["embed_dim_per_head"],
        depth=cfg.depth,
        num_gpsa_layers=cfg.num_gpsa_layers,
        locality_strength=cfg.locality_strength,
        convolutional_init=cfg.convolutional_init,
        gate_init=cfg.gate_init,
        drop_path_rate=cfg.drop_path,
    )


def param_groups(model: ConViT, weight_decay: float) -> list[dict]:
    """AdamW groups: no decay on 1-D parameters (norms, biases, gates) and on pos_embed/cls_token."""
    skip = model.no_weight_decay()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") or name in skip else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def lr_at_epoch(cfg: TrainConfig, epoch: float, base_lr: float) -> float:
    """Linear warm-up from warmup_lr, then cosine to min_lr over all epochs (timm's schedule,
    evaluated at the fractional epoch of every step)."""
    if epoch < cfg.warmup_epochs:
        return cfg.warmup_lr + (base_lr - cfg.warmup_lr) * epoch / cfg.warmup_epochs
    return cfg.min_lr + 0.5 * (base_lr - cfg.min_lr) * (1 + math.cos(math.pi * epoch / cfg.epochs))


class MixCriterion:
    """Mixup/CutMix (switch prob 0.5, whole batch) with label smoothing folded into soft targets."""

    def __init__(self, num_classes: int, mixup: float, cutmix: float, smoothing: float):
        from torchvision.transforms import v2

        self.num_classes, self.smoothing = num_classes, smoothing
        ops = []
        if mixup > 0:
            ops.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
        if cutmix > 0:
            ops.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
        self.mix = v2.RandomChoice(ops) if ops else None

    def prepare(self, images, labels):
        if self.mix is None:
            return images, labels
        return self.mix(images, labels)

    def __call__(self, logits, target):
        if target.ndim == 1:
            return F.cross_entropy(logits, target, label_smoothing=self.smoothing)
        target = target * (1 - self.smoothing) + self.smoothing / self.num_classes
        return torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()


@torch.no_grad()
def evaluate(model, loader, device, precision=None, max_batches: int = 0) -> dict:
    """Top-1 / top-5 accuracy and loss, summed over processes when distributed."""
    from dltheory.core.distributed import all_reduce_mean

    model.eval()
    totals = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top1, top5, n
    for i, (x, y) in enumerate(loader):
        if max_batches and i >= max_batches:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        ctx = (
            precision.autocast()
            if precision is not None
            else torch.autocast(device.type, enabled=False)
        )
        with ctx:
            logits = model(x)
        logits = logits.float()
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        hit = top.eq(y[:, None])
        totals += torch.tensor(
            [
                F.cross_entropy(logits, y, reduction="sum").item(),
                hit[:, 0].sum().item(),
                hit.any(1).sum().item(),
                len(y),
            ],
            dtype=torch.float64,
            device=device,
        )
    totals = all_reduce_mean(totals)
    n = max(totals[3].item(), 1.0)
    return {
        "loss": totals[0].item() / n,
        "top1": 100 * totals[1].item() / n,
        "top5": 100 * totals[2].item() / n,
    }


def _analysis_batch(val_set, n: int) -> torch.Tensor:
    n = min(n, len(val_set))
    return torch.stack([val_set[i][0] for i in range(n)])


def _epoch_metrics(cfg, net, model, ema, val_loader, analysis_x, device, precision) -> dict:
    from dltheory.convit.analysis import gate_values, nonlocality

    metrics = evaluate(net, val_loader, device, precision)
    out = {
        "val_loss": metrics["loss"],
        "top1": metrics["top1"],
        "top5": metrics["top5"],
        "nonlocality": nonlocality(model, analysis_x)["per_layer"].tolist(),
        "gates": gate_values(model).tolist(),
    }
    if ema is not None:
        out["ema_top1"] = evaluate(ema.module, val_loader, device, precision)["top1"]
    return out


def build_model(cfg: TrainConfig, num_classes: int, in_chans: int) -> ConViT:
    model = ConViT(model_spec(cfg, num_classes, in_chans))
    if cfg.pretrained:
        from dltheory.convit.weights import load_pretrained

        load_pretrained(cfg.pretrained, model=model, reset_head=True)
    if cfg.freeze_gates:
        model.freeze_gates()
    return model


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict:
    """Train ``cfg``; returns the final metrics. Run files go to ``cfg.out``."""
    from dltheory.core.device import Precision, configure_backends, resolve_device, seed_everything
    from dltheory.core.distributed import (
        cleanup_distributed,
        init_distributed,
        unwrap_model,
        wrap_ddp,
    )
    from dltheory.core.progress import ProgressLog
    from dltheory.core.runs import (
        RunDir,
        atomic_torch_save,
        check_finite,
        restore_train_state,
        train_state,
    )

    cfg.validate()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    env = init_distributed(device)
    if device.type == "cuda" and env.is_distributed:
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    configure_backends(device)
    seed_everything(cfg.seed + env.rank)
    precision = Precision.create(cfg.precision, device)
    run = RunDir(cfg.out, config=cfg, resume=resume, overwrite=overwrite, env=env)

    train_set, val_set, num_classes, in_chans = build_datasets(
        cfg.dataset,
        cfg.data_root,
        cfg.img_size,
        cfg.sampling_ratio,
        cfg.download,
        cfg.augment,
        cfg.seed,
    )
    torch.manual_seed(cfg.seed)  # same initial weights on every rank
    model = build_model(cfg, num_classes, in_chans).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    base_lr = cfg.lr * cfg.batch_size * env.world_size / 512
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=base_lr, eps=1e-8)
    ema = None
    if cfg.ema:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        ema = AveragedModel(
            model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
        )

    start_epoch, step = 0, 0
    if resume:
        state = run.load_checkpoint()
        extra = restore_train_state(state, model=model, optimizer=optimizer, precision=precision)
        start_epoch, step = extra["epoch"] + 1, extra["step"]
        if ema is not None and extra.get("ema") is not None:
            ema.load_state_dict(extra["ema"])

    sampler = RepeatedAugSampler(
        len(train_set), env.world_size, env.rank, cfg.repeated_aug, seed=cfg.seed
    )
    pin = device.type == "cuda"
    train_loader = torch.utils.data.DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.workers,
        pin_memory=pin,
        drop_last=len(sampler) >= 2 * cfg.batch_size,
        persistent_workers=cfg.workers > 0,
    )
    val_sampler = None
    if env.is_distributed:
        from dltheory.core.distributed import distributed_sampler

        val_sampler = distributed_sampler(val_set, env, shuffle=False)
    val_loader = torch.utils.data.DataLoader(
        val_set,
        batch_size=max(cfg.batch_size, 128),
        sampler=val_sampler,
        num_workers=cfg.workers,
        pin_memory=pin,
    )
    criterion = MixCriterion(num_classes, cfg.mixup, cfg.cutmix, cfg.label_smoothing)
    analysis_x = _analysis_batch(val_set, cfg.analysis_images).to(device)
    net = wrap_ddp(model, env, device)
    if cfg.compile:
        net = torch.compile(net)

    steps_per_epoch = (
        len(train_loader)
        if not cfg.max_steps_per_epoch
        else min(len(train_loader), cfg.max_steps_per_epoch)
    )
    log = ProgressLog((cfg.epochs - start_epoch) * steps_per_epoch, description="convit train")
    final = {}
    try:
        for epoch in range(start_epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            seed_everything(cfg.seed + env.rank + 1000 * epoch)  # per-epoch streams: exact resume
            net.train()
            seen, loss_sum, t0 = 0, 0.0, time.perf_counter()
            for i, (x, y) in enumerate(train_loader):
                if i >= steps_per_epoch:
                    break
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = lr_at_epoch(cfg, epoch + i / steps_per_epoch, base_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, target = criterion.prepare(x, y)
                with precision.autocast():
                    loss = criterion(net(x), target)
                check_finite(loss, step=step, run=run)
                optimizer.zero_grad(set_to_none=True)
                precision.backward_and_step(
                    loss,
                    optimizer,
                    clip_grad_norm=cfg.clip_grad or None,
                    parameters=model.parameters(),
                )
                if ema is not None:
                    ema.update_parameters(model)
                step += 1
                seen += len(x)
                loss_sum += loss.item() * len(x)
                log.update(loss=loss.item(), epoch=epoch)
            elapsed = time.perf_counter() - t0
            core_model = unwrap_model(model)
            if (epoch + 1) % cfg.eval_every and epoch + 1 < cfg.epochs:
                continue  # evaluation, logging and checkpoints every eval_every epochs
            final = _epoch_metrics(
                cfg, net, core_model, ema, val_loader, analysis_x, device, precision
            )
            final = {
                "epoch": epoch,
                "step": step,
                "lr": lr,
                "world_size": env.world_size,
                "train_loss": loss_sum / max(seen, 1),
                "img_per_s": seen * env.world_size / max(elapsed, 1e-9),
                **final,
            }
            run.log(**final)
            extra = {"epoch": epoch, "ema": ema.state_dict() if ema is not None else None}
            run.save_checkpoint(
                train_state(
                    model=model, optimizer=optimizer, precision=precision, step=step, **extra
                )
            )
            if (
                run.is_writer
            ):  # weights + spec only: loadable with weights_only=True by eval/analyze
                weights = ema.module if ema is not None else core_model
                atomic_torch_save(
                    {"model": weights.state_dict(), "spec": core_model.spec.to_dict()},
                    run.checkpoint_path(MODEL_FILE),
                )
    finally:
        log.close()
        cleanup_distributed()
    return final


def load_run_model(path: str | Path, device="cpu") -> ConViT:
    """Rebuild the model of a dltheory.convit checkpoint (its spec is stored inside)."""
    from dltheory.convit.weights import load_state_dict_checked, unwrap_state_dict
    from dltheory.core.errors import CheckpointError
    from dltheory.core.runs import load_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / MODEL_FILE
    state = load_checkpoint(path, map_location="cpu")
    spec = state.get("spec")
    if not isinstance(spec, dict):
        raise CheckpointError(
            f"{path} is not a dltheory.convit training checkpoint (no model spec inside); "
            "use load_pretrained for official/timm weights"
        )
    model = ConViT(ConViTSpec(**spec))
    return load_state_dict_checked(model, unwrap_state_dict(state["model"]), source=str(path)).to(
        device
    )

"""Training and evaluation of ConViT / DeiT with the DeiT recipe, through dltheory.core.

One ``TrainConfig`` (config.py) holds the model, data and recipe; ``train(cfg)`` runs on the core
``Session`` (threads, device, precision, locked run folder, config check on resume, checkpoints by
step or wall time, SIGINT/SIGTERM save, NaN guard) and writes config.json, metrics.jsonl (the
untrained model's nonlocality at step 0, then loss, top-1/top-5, lr, img/s, nonlocality and gates
per evaluation), last.pt and model.pt. Works single-process or under torchrun (DDP).
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dltheory.convit.config import DATASET_DEFAULTS, VARIANTS, TrainConfig
from dltheory.convit.data import RepeatedAugSampler, build_datasets
from dltheory.convit.models import ConViT, ConViTSpec

MODEL_FILE = "model.pt"


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
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
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


def build_model(cfg: TrainConfig, num_classes: int, in_chans: int) -> ConViT:
    model = ConViT(model_spec(cfg, num_classes, in_chans))
    if cfg.pretrained:
        from dltheory.convit.weights import load_pretrained

        load_pretrained(cfg.pretrained, model=model, reset_head=True)
    if cfg.freeze_gates:
        model.freeze_gates()
    return model


def build_loaders(cfg: TrainConfig, train_set, val_set, env, device: torch.device):
    """(sampler, train_loader, val_loader): repeated augmentation for training (DeiT's RASampler),
    the validation set split across processes when distributed."""
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
    return sampler, train_loader, val_loader


def build_optimizer(cfg: TrainConfig, model: ConViT, world_size: int):
    """AdamW at lr x (total batch)/512 (DeiT's linear scaling rule); returns (optimizer, base lr)."""
    base_lr = cfg.lr * cfg.batch_size * world_size / 512
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=base_lr, eps=1e-8)
    return optimizer, base_lr


def locality_metrics(model: ConViT, analysis_x: torch.Tensor) -> dict:
    """Nonlocality per layer (eq. 8) on real validation images and the gates sigma(lambda_h)."""
    from dltheory.convit.analysis import gate_values, nonlocality

    return {
        "nonlocality": nonlocality(model, analysis_x)["per_layer"].tolist(),
        "gates": gate_values(model).tolist(),
    }


def save_weights(model: torch.nn.Module, spec: ConViTSpec, path: Path) -> None:
    """Weights + spec only: loadable with weights_only=True by ``eval``/``analyze``."""
    from dltheory.core.runs import atomic_torch_save

    atomic_torch_save({"model": model.state_dict(), "spec": spec.to_dict()}, path)


def train(cfg: TrainConfig, resume: bool = False, overwrite: bool = False) -> dict:
    """Train ``cfg``; returns the last evaluation's metrics. Run files go to ``cfg.out``.

    A checkpoint holds the epoch and the number of batches done in it, so a resume (after a
    crash, a SIGINT/SIGTERM or a step/wall-time checkpoint) continues mid-epoch with the same
    batches and random streams (exact with ``workers=0``).
    """
    from dltheory.core.config import mutable_keys
    from dltheory.core.device import seed_everything
    from dltheory.core.distributed import cleanup_distributed, wrap_ddp
    from dltheory.core.progress import ProgressLog
    from dltheory.core.runs import restore_rng_state, train_state
    from dltheory.core.session import Session

    cfg.validate()
    # the data first: a missing or corrupt dataset is refused before the run folder is touched
    train_set, val_set, num_classes, in_chans = build_datasets(
        cfg.dataset,
        cfg.data_root,
        cfg.img_size,
        cfg.sampling_ratio,
        cfg.download,
        cfg.augment,
        cfg.seed,
    )
    session = Session.from_config(
        cfg,
        resume=resume,
        overwrite=overwrite,
        mutable_keys=mutable_keys(TrainConfig),
        checkpoint_every_steps=cfg.checkpoint_every_steps or None,
        checkpoint_every_seconds=cfg.checkpoint_every_seconds or None,
    )
    log = None
    try:
        device, env, precision = session.device, session.env, session.precision
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.manual_seed(cfg.seed)  # the same initial weights on every rank
        model = build_model(cfg, num_classes, in_chans).to(device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        optimizer, base_lr = build_optimizer(cfg, model, env.world_size)
        ema = None
        if cfg.ema:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            ema = AveragedModel(
                model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True
            )
        step = session.restore(model, optimizer)
        resumed = session.resume_extra
        epoch, done_in_epoch = int(resumed.get("epoch", 0)), int(resumed.get("batch", 0))
        if ema is not None and resumed.get("ema") is not None:
            ema.load_state_dict(resumed["ema"])

        sampler, train_loader, val_loader = build_loaders(cfg, train_set, val_set, env, device)
        criterion = MixCriterion(num_classes, cfg.mixup, cfg.cutmix, cfg.label_smoothing)
        analysis_x = torch.stack(
            [val_set[i][0] for i in range(min(cfg.analysis_images, len(val_set)))]
        ).to(device)
        net: Any = wrap_ddp(model, env, device)
        if cfg.compile:
            net = torch.compile(net)
        steps_per_epoch = len(train_loader)
        if cfg.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)

        if step == 0:  # the untrained model: where nonlocality starts (paper Figs. 4-5)
            session.log(epoch=0, step=0, **locality_metrics(model, analysis_x))

        def state(batches_done: int) -> dict:
            return train_state(
                model,
                optimizer,
                precision=precision,
                step=step,
                epoch=epoch,
                batch=batches_done,
                ema=ema.state_dict() if ema is not None else None,
            )

        remaining = (cfg.epochs - epoch) * steps_per_epoch - done_in_epoch
        log = ProgressLog(max(remaining, 0), description="convit train")
        final: dict = {}
        lr = lr_at_epoch(cfg, epoch, base_lr)
        while epoch < cfg.epochs:
            sampler.set_epoch(epoch, skip=done_in_epoch * cfg.batch_size)
            if done_in_epoch == 0:
                seed_everything(cfg.seed + env.rank + 1000 * epoch)  # per-epoch random streams
            batches = iter(train_loader)
            if done_in_epoch and session.resume_state is not None:
                restore_rng_state(session.resume_state["rng"])  # the streams at the checkpoint
            net.train()
            seen, loss_sum, t0 = 0, 0.0, time.perf_counter()
            for i in range(done_in_epoch, steps_per_epoch):
                x, y = next(batches)
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                if cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                lr = lr_at_epoch(cfg, epoch + i / steps_per_epoch, base_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, target = criterion.prepare(x, y)
                with precision.autocast():
                    loss = criterion(net(x), target)
                session.check_finite(loss, step)
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
                if i + 1 < steps_per_epoch:
                    session.maybe_checkpoint(step, functools.partial(state, i + 1))
            elapsed = time.perf_counter() - t0
            epoch, done_in_epoch = epoch + 1, 0
            if epoch % cfg.eval_every and epoch < cfg.epochs:
                session.maybe_checkpoint(step, lambda: state(0))
                continue
            metrics = evaluate(net, val_loader, device, precision)
            final = {
                "epoch": epoch,  # epochs completed
                "step": step,
                "lr": lr,
                "world_size": env.world_size,
                "train_loss": loss_sum / max(seen, 1),
                "img_per_s": seen * env.world_size / max(elapsed, 1e-9),
                "val_loss": metrics["loss"],
                "top1": metrics["top1"],
                "top5": metrics["top5"],
                **locality_metrics(model, analysis_x),
            }
            if ema is not None:
                final["ema_top1"] = evaluate(ema.module, val_loader, device, precision)["top1"]
            session.log(**final)
            session.checkpoint(state(0))
            if session.is_writer:
                weights = ema.module if ema is not None else model
                save_weights(weights, model.spec, Path(cfg.out) / MODEL_FILE)
            if session.stop_requested:  # a SIGINT/SIGTERM during evaluation: stop here
                session.maybe_checkpoint(step, lambda: state(0))
        return final
    finally:
        if log is not None:
            log.close()
        session.close()
        cleanup_distributed()


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

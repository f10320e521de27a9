"""Training loop for :class:`QueryCVAE` on the core :class:`~dltheory.core.session.Session`.

``metrics.jsonl`` holds one line per epoch: loss, reconstruction NLL, KL (total and per latent
dimension), KL weight, active units (Burda et al. 2016: dimensions with Var_x E_q[z_d] > 0.01),
the classifier's accuracy on the labelled training queries, and sentences per second.
``last.pt`` is the resumable checkpoint, ``model.pt`` the final weights-only bundle for ``generate``.
"""

from __future__ import annotations

import functools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dltheory.core.config import config_to_dict, mutable_keys
from dltheory.core.distributed import wrap_ddp
from dltheory.core.errors import ConfigError
from dltheory.core.runs import RunDir, train_state
from dltheory.core.session import Session

from .config import TrainConfig
from .data import NONE_INTENT
from .generation import GeneratorBundle
from .losses import cvae_loss, cyclical_kl_weight, logistic_kl_weight
from .models import CVAEConfig, QueryCVAE
from .pipeline import PreparedData, prepare_data
from .tokenization import QueryTokenizer


def encode_queries(tokenizer: QueryTokenizer, texts: list[str], max_len: int):
    """-> inputs (N, max_len) = <sos> w1..wk, targets (N, max_len) = w1..wk <eos>, lengths (N,)."""
    ids = [x[: max_len - 1] for x in tokenizer.encode_batch(texts)]
    n = len(ids)
    inputs = torch.full((n, max_len), tokenizer.pad_id, dtype=torch.long)
    targets = torch.full((n, max_len), tokenizer.pad_id, dtype=torch.long)
    lengths = torch.empty(n, dtype=torch.long)
    for i, x in enumerate(ids):
        k = len(x)
        inputs[i, 0] = tokenizer.sos_id
        inputs[i, 1 : k + 1] = torch.tensor(x, dtype=torch.long)
        targets[i, :k] = torch.tensor(x, dtype=torch.long)
        targets[i, k] = tokenizer.eos_id
        lengths[i] = k + 1
    return inputs, targets, lengths


def kl_weight(cfg: TrainConfig, step: int, total_steps: int) -> float:
    if cfg.kl_schedule == "logistic":
        return logistic_kl_weight(step, cfg.kl_k, cfg.kl_x0)
    if cfg.kl_schedule == "cyclical":
        return cyclical_kl_weight(step, total_steps, cfg.kl_cycles, cfg.kl_ratio)
    if cfg.kl_schedule == "constant":
        return 1.0
    raise ConfigError(
        f"kl_schedule must be logistic, cyclical or constant, not {cfg.kl_schedule!r}"
    )


@dataclass
class TrainResult:
    bundle: GeneratorBundle
    prepared: PreparedData
    run: RunDir | None
    history: list[dict]


@torch.no_grad()
def diagnostics(
    model: QueryCVAE, inputs, lengths, labels, labelled, device, batch_size: int = 512
) -> dict:
    model.eval()
    mus, preds = [], []
    for s in range(0, inputs.shape[0], batch_size):
        mu, _, log_q_y = model.encode(
            inputs[s : s + batch_size].to(device), lengths[s : s + batch_size]
        )
        mus.append(mu.float().cpu())
        preds.append(log_q_y.argmax(-1).cpu())
    model.train()
    mu, pred = torch.cat(mus), torch.cat(preds)
    var = mu.var(0) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    acc = (
        float((pred[labelled] == labels[labelled]).float().mean())
        if labelled.any()
        else float("nan")
    )
    return {"active_units": int((var > 0.01).sum()), "classifier_accuracy": acc}


MUTABLE_KEYS = mutable_keys(TrainConfig)


def train(
    cfg: TrainConfig,
    out: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    prepared: PreparedData | None = None,
    quiet: bool = False,
) -> TrainResult:
    """Train the CVAE on the few-shot subset plus the transferred queries (a core Session run).

    Resumes exactly from the last epoch checkpoint (model, optimiser, RNG state); ``epochs`` may be
    raised on ``--resume``. Runs under torchrun (DDP, gloo or nccl); rank 0 writes.
    """
    cfg.validate()
    out = Path(out if out is not None else cfg.out)
    if cfg.decoder == "transformer" and cfg.precision == "fp16":
        raise ConfigError("fp16 is not supported with the transformer decoder; use fp32 or bf16")
    with Session(
        cfg,
        out=out,
        device=cfg.device,
        precision=cfg.precision,
        seed=cfg.seed,
        threads=cfg.threads,
        resume=resume,
        overwrite=overwrite,
        mutable_keys=MUTABLE_KEYS,
        checkpoint_every_seconds=300.0,
    ) as s:
        return _train_loop(cfg, s, prepared, quiet)


def _train_loop(cfg: TrainConfig, s: Session, prepared: PreparedData | None, quiet: bool):
    device, precision, run = s.device, s.precision, s.run
    prepared = prepared or prepare_data(cfg)
    rows = prepared.training
    texts = [prepared.model_text(u) for u in rows]
    placeholders = [w for t in texts for w in t.split() if w.startswith("_") and w.endswith("_")]
    if cfg.tokenizer in ("word", "bpe"):
        tokenizer = QueryTokenizer.train(
            texts, cfg.tokenizer, cfg.vocab_size, keep_words=placeholders
        )
    else:  # a local tokenizer.json (never downloaded); its special tokens are found by name
        tokenizer = QueryTokenizer.from_file(cfg.tokenizer)
        tokenizer.add_words(placeholders)
    classes = prepared.intents + (
        [NONE_INTENT] if any(u.intent == NONE_INTENT for u in rows) else []
    )
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[u.intent] for u in rows])
    weights = torch.tensor([cfg.alpha if u.intent == NONE_INTENT else 1.0 for u in rows])
    labelled = torch.tensor([u.intent != NONE_INTENT for u in rows])
    inputs, targets, lengths = encode_queries(tokenizer, texts, cfg.max_len)

    mcfg = CVAEConfig(
        vocab_size=tokenizer.vocab_size,
        n_classes=len(classes),
        embedding_dim=cfg.embedding_dim,
        hidden_size=cfg.hidden_size,
        latent_size=cfg.latent_size,
        embedding_dropout=cfg.embedding_dropout,
        word_dropout=cfg.word_dropout,
        gumbel_tau=cfg.gumbel_tau,
        decoder=cfg.decoder,
        max_len=cfg.max_len,
        pad_id=tokenizer.pad_id,
        unk_id=tokenizer.unk_id,
        sos_id=tokenizer.sos_id,
        eos_id=tokenizer.eos_id,
    )
    model = QueryCVAE(mcfg).to(device)
    net = wrap_ddp(model, s.env, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # under torchrun each rank takes its share of every batch (the batch is the global batch)
    world, rank = s.env.world_size, s.env.rank
    n = len(rows)
    steps_per_epoch = (n + cfg.batch_size - 1) // cfg.batch_size
    total_steps = steps_per_epoch * cfg.epochs
    step = s.restore(model, opt)
    start_epoch = int(s.resume_extra.get("epoch", 0))
    if "rng" in s.resume_extra:
        torch.set_rng_state(s.resume_extra["rng"])
    gen = torch.Generator().manual_seed(cfg.seed + start_epoch)
    history = run.read_metrics() if (run is not None and start_epoch) else []

    def state(epoch: int) -> dict:
        return train_state(
            model, opt, precision=precision, step=step, epoch=epoch, rng=torch.get_rng_state()
        )

    for epoch in range(start_epoch, cfg.epochs):
        t0 = time.perf_counter()
        sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "label": 0.0}
        kl_dim = torch.zeros(cfg.latent_size)
        for b in torch.randperm(n, generator=gen).split(cfg.batch_size):
            w = kl_weight(cfg, step, total_steps)
            b = b[rank::world] if world > 1 else b
            if len(b) == 0:  # a last batch smaller than the world: keep the ranks in step
                b = torch.randperm(n, generator=torch.Generator().manual_seed(step))[:1]
            L = int(lengths[b].max())
            x, y = inputs[b, :L].to(device), targets[b, :L].to(device)
            with precision.autocast():
                o = net(x, lengths[b])
                parts = cvae_loss(
                    o["logits"],
                    y,
                    o["mu"],
                    o["logv"],
                    o["log_q_y"],
                    labels[b].to(device),
                    weights[b].to(device),
                    pad_id=tokenizer.pad_id,
                    kl_weight=w,
                    label_weight=cfg.label_weight,
                    free_bits=cfg.free_bits,
                )
            s.check_finite(parts.total, step)
            opt.zero_grad(set_to_none=True)
            precision.backward_and_step(
                parts.total,
                opt,
                clip_grad_norm=cfg.clip_grad_norm or None,
                parameters=model.parameters(),
            )
            step += 1
            k = len(b)
            for key, val in (
                ("loss", parts.total),
                ("reconstruction", parts.reconstruction),
                ("kl", parts.kl),
                ("label", parts.label),
            ):
                sums[key] += float(val.detach()) * k
            kl_dim += parts.kl_per_dim.cpu() * k
        seconds = time.perf_counter() - t0
        seen = n if world == 1 else max(sum(1 for _ in range(rank, n, world)), 1)
        record = {
            "epoch": epoch + 1,
            "step": step,
            **{k: v / seen for k, v in sums.items()},
            "kl_weight": kl_weight(cfg, step, total_steps),
            "kl_per_dim": (kl_dim / seen).tolist(),
            **diagnostics(model, inputs, lengths, labels, labelled, device),
            "sentences_per_s": n / seconds,
            "world_size": world,
        }
        s.log(**record)
        history.append(record)
        if not quiet and s.is_writer and (epoch + 1) % max(cfg.epochs // 10, 1) == 0:
            print(
                f"epoch {epoch + 1}/{cfg.epochs} loss {record['loss']:.3f} rec {record['reconstruction']:.3f} "
                f"kl {record['kl']:.3f} acc {record['classifier_accuracy']:.3f}",
                file=sys.stderr,  # progress: stdout stays the result (pure JSON with --json)
                flush=True,
            )
        gen = torch.Generator().manual_seed(cfg.seed + epoch + 1)
        if (epoch + 1) % max(cfg.checkpoint_every, 1) == 0 or epoch + 1 == cfg.epochs:
            s.checkpoint(state(epoch + 1))
        else:
            s.maybe_checkpoint(step, functools.partial(state, epoch + 1))
    bundle = GeneratorBundle(
        model, tokenizer, classes, prepared.intents, prepared.realiser, config_to_dict(cfg)
    )
    if s.is_writer and run is not None:
        bundle.save(run.path / "model.pt")
    return TrainResult(bundle, prepared, run, history)


train_cvae = train

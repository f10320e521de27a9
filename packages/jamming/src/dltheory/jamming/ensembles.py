"""Configurations and the pieces every experiment shares: data, ensembles, one training run."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch

from dltheory.core.errors import ConfigError

from .data import BinaryDataset, make_dataset
from .models import NetSpec, StackedFC, count_weights
from .train import EnsembleTrainer, OptimConfig, TrainResult


@dataclass
class EnsembleConfig:
    """Data, architecture and optimiser of one ensemble of fully connected nets."""

    dataset: str = "random"  # random | mnist | cifar2
    source: str = "digits"  # MNIST source: digits | idx | torchvision
    data_root: str | None = None
    download: bool = False
    n_train: int = 200  # P
    n_test: int = 500
    d: int = 10
    depth: int = 2  # L hidden layers
    widths: list[float] = field(default_factory=lambda: [8.0])
    n_seeds: int = 4
    seed: int = 0
    parametrisation: str = "standard"
    init: str = "orthogonal"
    gain: float = 1.0
    optimizer: str = "adam"  # adam | flow | lm (Adam warm start, then Levenberg-Marquardt decides)
    lr: float = 3e-2
    lr_decay_every: int = 0
    max_steps: int = 5000
    loss: str = "qhinge"
    nd_stop: int = 0
    subtract_init: bool = False  # train and measure f = f_w - f_w0
    device: str = "cpu"
    lm_max_iter: int = 2000
    lm_slack: float = 1e-3
    lm_escape_rounds: int = 4
    # one N* definition for nstar, phase and scaling (see nstar.decide_width)
    sat_rule: str = "any"  # any | majority over the seeds of a width
    sat_criterion: str = "exact"  # exact: N_Delta = 0 / converged UNSAT; authors: N_Delta <= 0.1 N
    unsat_fraction: float = 0.1  # the authors' rule: UNSAT when N_Delta > unsat_fraction * N

    def minimiser(self):
        from .minimiser import MinimiserConfig

        cfg = MinimiserConfig(
            slack=self.lm_slack, max_iter=self.lm_max_iter, escape_rounds=self.lm_escape_rounds
        )
        cfg.validate()
        return cfg

    def optim(self) -> OptimConfig:
        if self.optimizer not in ("adam", "flow", "lm"):
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; choose one of adam, flow, lm")
        cfg = OptimConfig(
            optimizer="adam" if self.optimizer == "lm" else self.optimizer,
            lr=self.lr,
            lr_decay_every=self.lr_decay_every,
            max_steps=self.max_steps,
            loss=self.loss,
            nd_stop=self.nd_stop,
        )
        cfg.validate()
        return cfg

    def seeds(self) -> list[int]:
        return [1000 * self.seed + k for k in range(self.n_seeds)]


def config_from_dict(cls, values: dict):
    """Build a config dataclass from a dict, ignoring keys that are not fields (sweep extras)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def load_data(cfg: EnsembleConfig) -> BinaryDataset:
    if cfg.n_train < 2:
        raise ConfigError(f"n_train (P) must be >= 2, got {cfg.n_train}")
    root = Path(cfg.data_root) if cfg.data_root else None
    return make_dataset(
        cfg.dataset,
        cfg.n_train,
        cfg.d,
        cfg.n_test,
        seed=cfg.seed,
        source=cfg.source,
        root=root,
        download=cfg.download,
    )


def build_ensemble(cfg: EnsembleConfig, d: int, widths: list[float], device) -> StackedFC:
    specs = [NetSpec(float(h), s) for h in widths for s in cfg.seeds()]
    return StackedFC(d, specs, cfg.depth, cfg.parametrisation, cfg.init, cfg.gain, device=device)


def initial_outputs(net: StackedFC, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return net.forward(x.to(device=net.device, dtype=net.dtype))


def train_widths(
    cfg: EnsembleConfig, data: BinaryDataset, widths: list[float], device="cpu"
) -> tuple[StackedFC, TrainResult, list[dict]]:
    """Train n_seeds nets at each width in one batched ensemble; one record per network."""
    net = build_ensemble(cfg, data.dim, widths, device)
    data = data.to(device)
    offset = initial_outputs(net, data.x_train) if cfg.subtract_init else None
    result = EnsembleTrainer(net, data.x_train, data.y_train, cfg.optim(), offset).run()
    # outcome per net: "sat" when N_Delta = 0 was reached; a first-order run that did not fit
    # within the cap is "unconverged" (it cannot tell "not yet" from "never"); the minimiser
    # turns those into "sat" or a converged "unsat" (or says it could not)
    outcome = ["sat" if s >= 0 else "unconverged" for s in result.stop_step]
    lm_iters = [0] * net.n_nets
    if cfg.optimizer == "lm":
        todo = [e for e, o in enumerate(outcome) if o != "sat"]
        if todo:
            from .minimiser import copy_rows, minimise_ensemble

            sub = net.subset(todo)
            off = None if offset is None else offset[todo]
            res = minimise_ensemble(sub, data.x_train, data.y_train, cfg.minimiser(), off)
            copy_rows(net, sub, todo)
            for j, e in enumerate(todo):
                outcome[e] = res.outcome[j]
                result.n_delta[e], result.loss[e] = res.n_delta[j], res.loss[j] / data.n_train
                lm_iters[e] = res.iterations[j]
    records = []
    for e, spec in enumerate(net.specs):
        records.append(
            {
                "h": spec.h,
                "seed": spec.seed,
                "n_params": count_weights(data.dim, spec.h, cfg.depth),
                "n_delta": result.n_delta[e],
                "stop_step": result.stop_step[e],
                "outcome": outcome[e],
                "fitted": outcome[e] == "sat",
                "loss": result.loss[e],
                "lm_iterations": lm_iters[e],
            }
        )
    return net, result, records


def to_json(obj, indent=None) -> str:
    """JSON with NaN/inf written as null (strict JSON readers reject NaN)."""

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), indent=indent, default=str)


def resolve_torch_device(name: str) -> torch.device:
    from dltheory.core.device import resolve_device

    return resolve_device(name)

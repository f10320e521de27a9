"""The pieces every experiment shares: data, ensembles of nets, one training run per width."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import fields
from pathlib import Path

import torch

from dltheory.core.errors import ConfigError
from dltheory.core.progress import ProgressLog

from .config import EnsembleConfig
from .data import BinaryDataset, make_dataset
from .models import NetSpec, StackedFC, count_weights
from .train import EnsembleTrainer, TrainResult, escape_lr_after


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


STOP_CHECK_STEPS = 500
PROGRESS_SECONDS = 60.0


def _progress_log(label: str | None, max_steps: int) -> ProgressLog | None:
    """Plain time-throttled lines (never a live bar: width workers share one terminal)."""
    if not label:
        return None
    return ProgressLog(
        max_steps, label, every_fraction=2.0, every_seconds=PROGRESS_SECONDS, interactive=False
    )


def _report(log: ProgressLog | None, trainer: EnsembleTrainer) -> None:
    if log is not None:
        n_delta = ",".join(str(n) for n in trainer.n_delta.tolist())
        fitted = int((trainer.stop_step >= 0).sum())
        log.update(trainer.iteration - log.count, N_Delta=n_delta, fitted=fitted)


def train_widths(
    cfg: EnsembleConfig,
    data: BinaryDataset,
    widths: list[float],
    device="cpu",
    stop_on_sat: bool = False,
    progress_label: str | None = None,
) -> tuple[StackedFC, TrainResult, list[dict]]:
    """Train n_seeds nets at each width in one batched ensemble; one record per network.

    ``stop_on_sat`` (one width, the N* search's any-seed rule): once one net is SAT (after Adam
    or in the minimiser) the others are not run to a decision (outcome ``stopped``, undecided).
    ``progress_label``: print a line with that label on stderr every ``PROGRESS_SECONDS`` of the
    first-order phase (step and each net's N_Delta) and one when the minimiser starts.
    """
    if stop_on_sat and len(widths) != 1:
        raise ConfigError("stop_on_sat decides one width at a time")
    cfg.check_precision()
    net = build_ensemble(cfg, data.dim, widths, device)
    data = data.to(device)
    offset = initial_outputs(net, data.x_train) if cfg.subtract_init else None
    net.to(dtype=cfg.first_order_dtype())  # mixed: float32 until promoted (train.py)
    t0 = time.perf_counter()
    trainer = EnsembleTrainer(net, data.x_train, data.y_train, cfg.optim(), offset)
    log = _progress_log(progress_label, cfg.max_steps)
    if stop_on_sat:
        # the any-seed rule needs one SAT net: stop the width's first-order phase at the first
        # (checked every STOP_CHECK_STEPS steps; the others end "stopped", undecided)
        while True:
            result = trainer.run(max_steps=min(trainer.iteration + STOP_CHECK_STEPS, cfg.max_steps))
            _report(log, trainer)
            if any(s >= 0 for s in result.stop_step) or trainer.iteration >= cfg.max_steps:
                break
            if not bool(trainer.active.any()):
                break
    else:
        result = trainer.run(
            log_every=STOP_CHECK_STEPS if log else 0,
            callback=lambda _row: _report(log, trainer),
        )
        _report(log, trainer)  # N_Delta at the cap, on the final weights
    seconds_adam = time.perf_counter() - t0
    seconds_lm = 0.0
    # outcome per net: "sat" when N_Delta = 0 was reached; a first-order run that did not fit
    # within the cap is "unconverged" (it cannot tell "not yet" from "never"); the minimiser
    # turns those into "sat" or a converged "unsat" (or says it could not)
    outcome = ["sat" if s >= 0 else "unconverged" for s in result.stop_step]
    lm_iters = [0] * net.n_nets
    n_dead = [0] * net.n_nets
    trap_unsat = [False] * net.n_nets
    trap_gap = [math.nan] * net.n_nets
    # why a net is unconverged (minimiser.REASONS): the minimiser's reason, or the step cap
    reason = ["" if o == "sat" else "step_cap" for o in outcome]
    if cfg.optimizer == "lm":
        todo = [e for e, o in enumerate(outcome) if o != "sat"]
        if stop_on_sat and len(todo) < len(outcome):
            for e in todo:
                outcome[e], reason[e] = "stopped", ""
            todo = []
        if todo:
            from .minimiser import copy_rows, minimise_ensemble

            if progress_label:
                print(
                    f"{progress_label}: Levenberg-Marquardt on {len(todo)} of {net.n_nets} nets "
                    f"after {trainer.iteration} first-order steps",
                    file=sys.stderr,
                    flush=True,
                )
            sub = net.subset(todo)
            off = None if offset is None else offset[todo]
            mcfg = cfg.minimiser()
            mcfg.stop_on_first_sat = stop_on_sat
            mcfg.escape_lr = escape_lr_after(mcfg, trainer.cfg, trainer.iteration)
            t0 = time.perf_counter()
            res = minimise_ensemble(sub, data.x_train, data.y_train, mcfg, off)
            seconds_lm = time.perf_counter() - t0
            copy_rows(net, sub, todo)
            for j, e in enumerate(todo):
                outcome[e] = res.outcome[j]
                result.n_delta[e], result.loss[e] = res.n_delta[j], res.loss[j] / data.n_train
                lm_iters[e] = res.iterations[j]
                n_dead[e] = res.n_dead[j]
                trap_unsat[e] = res.trap_unsat[j]
                trap_gap[e] = res.trap_gap[j]
                reason[e] = res.reason[j]
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
                "n_dead": n_dead[e],
                "trap_unsat": trap_unsat[e],
                "trap_gap": trap_gap[e],
                "unconverged_reason": reason[e],
                # wall time of this call's first-order phase and minimiser (shared by its nets)
                "steps_adam": trainer.iteration,  # first-order steps run for this width
                "seconds_adam": round(seconds_adam, 3),
                "seconds_lm": round(seconds_lm, 3),
            }
        )
    return net, result, records


def to_json(obj, indent=None) -> str:
    """JSON with NaN/inf written as null (strict JSON readers reject NaN)."""
    from dltheory.core.jsonio import dumps

    return dumps(obj, indent=indent, default=str)


def resolve_torch_device(name: str) -> torch.device:
    from dltheory.core.device import resolve_device

    return resolve_device(name)

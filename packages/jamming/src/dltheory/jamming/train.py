"""Full-batch training of a whole ensemble of stacked networks at once.

Protocol of arXiv:1809.09349 section III (``nn_jamming`` ``make_a_step``): full batch, loss
(1/P) sum_mu l(Delta_mu), gradients taken on the unsatisfied points only (for the hinge losses
this is exactly the full-batch gradient), and each network stops for good once N_Delta <= nd_stop
or at the step cap.  Two optimisers act on the stacked tensors row by row:

* ``adam``: Adam with per-network step counts and PyTorch's update rule, optionally with the
  authors' decay (lr / 10 every ``lr_decay_every`` steps, floored at ``lr_min``);
* ``flow``: adaptive-step gradient flow (``gradientflow``): a trial Euler step of size dt is
  accepted when the gradient and the outputs change little (dt *= 1.1 when well inside), else
  rejected and dt /= 10.  Every network has its own dt.  Once dt <= ``flow_min_dt`` the gradient
  test is waived (a ReLU kink makes the gradient jump for any dt), the output test is kept.

A frozen network is removed from the computation: its rows are neither evaluated nor updated.

Mixed precision (``fp64_below``): a trainer built on float32 nets runs its steps in float32 while
every net has N_Delta > ``fp64_below``; at the first step where one has not, and at the step cap,
it promotes everything (nets, data, optimiser state) to float64 and goes on there. No net is frozen
in float32, so every N_Delta, loss and stop step it reports is measured in float64 (float32 makes
the precision problems near jamming worse: arXiv:1809.09349 and its code work in float64).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import torch

from dltheory.core.errors import ConfigError, NonFiniteLossError

from .losses import HINGE_LOSSES, LOSSES, pointwise_loss
from .models import StackedFC

OPTIMIZERS = ("adam", "flow")


@dataclass
class OptimConfig:
    """Optimiser, loss and stopping rule of the ensemble trainer."""

    optimizer: str = "adam"
    lr: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_decay_every: int = 0  # 0: constant lr; authors: 250_000
    lr_decay_factor: float = 0.1
    lr_min: float = 1e-7
    loss: str = "qhinge"
    kappa: float = 1.0
    softhinge_beta: float = 20.0
    max_steps: int = 10_000
    nd_stop: int = 0  # a network stops once N_Delta <= nd_stop
    only_unsatisfied: bool = True
    flow_dt: float = 1.0
    flow_max_dgrad: float = 1e-4
    flow_max_dout: float = 0.1
    flow_min_dt: float = 1e-6  # below this dt a step is accepted on the output test alone
    # float32 nets: promote to float64 once a net has N_Delta <= this (None: stay in float32)
    fp64_below: int | None = None

    def lr_of_steps(self, steps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """The Adam lr of each step count in ``steps`` (1-based), the authors' adam0 decay:
        lr / 10 every ``lr_decay_every`` steps, >= lr_min."""
        lr = torch.full(steps.shape, self.lr, dtype=dtype, device=steps.device)
        if self.lr_decay_every:
            n_decays = torch.div(steps - 1, self.lr_decay_every, rounding_mode="floor")
            lr = (lr * self.lr_decay_factor ** n_decays.to(dtype)).clamp_min(self.lr_min)
        return lr

    def lr_at(self, step: int) -> float:
        """The Adam lr of step ``step`` (1-based; steps below 1 count as the first)."""
        return float(self.lr_of_steps(torch.tensor([max(step, 1)]), torch.float64)[0])

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.loss not in LOSSES:
            raise ConfigError(f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        if self.lr <= 0 or self.max_steps < 0 or self.flow_dt <= 0:
            raise ConfigError("lr and flow_dt must be > 0 and max_steps >= 0")
        if self.fp64_below is not None and self.fp64_below < self.nd_stop:
            raise ConfigError(
                f"fp64_below ({self.fp64_below}) must be >= nd_stop ({self.nd_stop}): a net is "
                "never frozen in float32"
            )


@dataclass
class TrainResult:
    """Per-network outcome: N_Delta, loss and the step at which each network stopped."""

    n_delta: list[int]
    loss: list[float]
    stop_step: list[int]  # step at which N_Delta <= nd_stop was first seen; -1 if never
    steps: int
    history: list[dict] = field(default_factory=list)

    @property
    def fitted(self) -> list[bool]:
        return [s >= 0 for s in self.stop_step]


def _row_norm_sq(ts: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([t.pow(2).flatten(1).sum(1) for t in ts]).sum(0)


class EnsembleTrainer:
    """Trains every network of a :class:`StackedFC` on (x, y) until it fits or hits the step cap."""

    def __init__(
        self,
        net: StackedFC,
        x: torch.Tensor,
        y: torch.Tensor,
        cfg: OptimConfig,
        output_offset: torch.Tensor | None = None,
    ):
        """``output_offset`` [E, P] is subtracted from the outputs, e.g. f_w0(x) to train
        f = f_w - f_w0 (``nn_jamming`` ``subtract_init``, ``feature_lazy`` ``--f0 1``)."""
        cfg.validate()
        from .minimiser import check_labels

        check_labels(y)
        self.net, self.cfg = net, cfg
        # the mixed-precision trainer keeps the data as given (float64) for its promotion
        self._source = (x, y, output_offset) if self.mixed else None
        self.x = x.to(device=net.device, dtype=net.dtype)
        self.y = y.to(device=net.device, dtype=net.dtype)
        self.offset = (
            None if output_offset is None else output_offset.to(device=net.device, dtype=net.dtype)
        )
        self._promote_pending = False
        E, dev = net.n_nets, net.device
        self.step_count = torch.zeros(E, dtype=torch.long, device=dev)
        self.active = torch.ones(E, dtype=torch.bool, device=dev)
        self.stop_step = torch.full((E,), -1, dtype=torch.long, device=dev)
        self.n_delta = torch.full((E,), len(y), dtype=torch.long, device=dev)
        self.loss = torch.full((E,), float("nan"), dtype=net.dtype, device=dev)
        self.iteration = 0
        self._union_fraction = 1.0
        zeros = [torch.zeros_like(p) for p in net.parameters()]
        if cfg.optimizer == "adam":
            self.exp_avg = [z.clone() for z in zeros]
            self.exp_avg_sq = [z.clone() for z in zeros]
        else:
            self.dt = torch.full((E,), cfg.flow_dt, dtype=net.dtype, device=dev)
            self.grad: list[torch.Tensor] | None = None  # gradient at the current point
            self.time = torch.zeros(E, dtype=net.dtype, device=dev)

    # -- precision -------------------------------------------------------------------------
    @property
    def mixed(self) -> bool:
        """True while the nets are float32 and due to be promoted to float64 (``fp64_below``)."""
        return self.cfg.fp64_below is not None and self.net.dtype == torch.float32

    def promote(self) -> None:
        """Move nets, data and optimiser state to float64 (a no-op when already there)."""
        if self.net.dtype == torch.float64:
            return
        f64, dev = torch.float64, self.net.device
        x, y, offset = self._source if self._source is not None else (self.x, self.y, self.offset)
        self.net.to(dtype=f64)
        self.x, self.y = x.to(device=dev, dtype=f64), y.to(device=dev, dtype=f64)
        self.offset = None if offset is None else offset.to(device=dev, dtype=f64)
        self.loss = self.loss.to(f64)
        if self.cfg.optimizer == "adam":
            self.exp_avg = [t.to(f64) for t in self.exp_avg]
            self.exp_avg_sq = [t.to(f64) for t in self.exp_avg_sq]
        else:
            self.dt, self.time = self.dt.to(f64), self.time.to(f64)
            self.grad = None  # the gradient and outputs of the float32 point: remeasured
        self._promote_pending = False

    # -- one evaluation ---------------------------------------------------------------------
    def outputs_and_grads(self, params: list[torch.Tensor], rows: torch.Tensor):
        """Outputs on all training points, per-net loss and masked gradients for networks ``rows``.

        The gradient uses only points unsatisfied for at least one of those networks (a second,
        smaller pass) when that saves work; for hinge losses the result is the full gradient.
        """
        cfg, net, x, y = self.cfg, self.net, self.x, self.y
        P = x.shape[0]
        params = [p.detach().requires_grad_(True) for p in params]
        subset = cfg.only_unsatisfied and cfg.loss in HINGE_LOSSES and self._union_fraction < 2 / 3
        offset = None if self.offset is None else self.offset[rows]
        if subset:
            with torch.no_grad():
                f = net.forward(x, params, rows)
                f = f if offset is None else f - offset
            unsat = (cfg.kappa - y * f) > 0
            cols = torch.nonzero(unsat.any(dim=0)).flatten()
            self._union_fraction = len(cols) / P
            f_sub = net.forward(x[cols], params, rows)
            f_sub = f_sub if offset is None else f_sub - offset[:, cols]
            per_point = pointwise_loss(f_sub, y[cols], cfg.loss, cfg.kappa, cfg.softhinge_beta)
            loss = per_point.sum(dim=1) / P
        else:
            f = net.forward(x, params, rows)
            f = f if offset is None else f - offset
            per_point = pointwise_loss(f, y, cfg.loss, cfg.kappa, cfg.softhinge_beta)
            if cfg.only_unsatisfied and cfg.loss in HINGE_LOSSES:
                unsat = (cfg.kappa - y * f.detach()) > 0
                self._union_fraction = unsat.any(dim=0).float().mean().item()
                per_point = per_point * unsat
            loss = per_point.sum(dim=1) / P
        raw = torch.autograd.grad(loss.sum(), params)
        masks = [m[rows] for m in net.parameter_masks()]
        grads = [g * m for g, m in zip(raw, masks)]
        return f.detach(), loss.detach(), grads

    # -- stopping --------------------------------------------------------------------------
    def _record(self, rows: torch.Tensor, f: torch.Tensor, loss: torch.Tensor) -> torch.Tensor:
        """Store N_Delta and loss of ``rows``; freeze the ones that fit. Returns still-active mask."""
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(f"non-finite loss at step {self.iteration}; training stopped")
        nd = ((self.cfg.kappa - self.y * f) > 0).sum(dim=1)
        self.n_delta[rows] = nd
        self.loss[rows] = loss
        below = self.cfg.fp64_below
        if below is not None and self.mixed:  # never freeze in float32: promote near a fit
            if bool((nd <= below).any()):
                self._promote_pending = True
            return torch.ones_like(nd, dtype=torch.bool)
        fit = nd <= self.cfg.nd_stop
        if fit.any():
            done = rows[fit]
            self.active[done] = False
            self.stop_step[done] = self.step_count[done]
        return ~fit

    # -- steps -----------------------------------------------------------------------------
    def _adam_step(self, rows: torch.Tensor) -> None:
        cfg = self.cfg
        everyone = len(rows) == self.net.n_nets  # fast path: no gather / scatter of the rows
        params = self.net.parameters() if everyone else [p[rows] for p in self.net.parameters()]
        f, loss, grads = self.outputs_and_grads(params, rows)
        keep = self._record(rows, f, loss)
        if not keep.any():
            return
        if not keep.all():
            everyone = False
            rows, grads = rows[keep], [g[keep] for g in grads]
        self.step_count[rows] += 1
        t = self.step_count[rows].to(self.net.dtype)
        b1, b2 = cfg.betas
        lr = cfg.lr_of_steps(self.step_count[rows], t.dtype)
        step_size, bc2_sqrt = lr / (1 - b1**t), (1 - b2**t).sqrt()
        with torch.no_grad():
            for p, m, v, g in zip(self.net.parameters(), self.exp_avg, self.exp_avg_sq, grads):
                shape = (-1,) + (1,) * (g.dim() - 1)
                if everyone:  # PyTorch's Adam: p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
                    m.mul_(b1).add_(g, alpha=1 - b1)
                    v.mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v.sqrt() / bc2_sqrt.view(shape)).add_(cfg.eps)
                    p.sub_(step_size.view(shape) * m / denom)
                else:
                    m_r = m[rows].mul_(b1).add_(g, alpha=1 - b1)
                    v_r = v[rows].mul_(b2).addcmul_(g, g, value=1 - b2)
                    denom = (v_r.sqrt() / bc2_sqrt.view(shape)).add_(cfg.eps)
                    p[rows] = p[rows] - step_size.view(shape) * m_r / denom
                    m[rows], v[rows] = m_r, v_r

    def _flow_step(self, rows: torch.Tensor) -> None:
        cfg = self.cfg
        params = [p[rows] for p in self.net.parameters()]
        if self.grad is None:  # first call: gradient at the initial point of every network
            all_rows = torch.arange(self.net.n_nets, device=self.net.device)
            f0, loss0, g0 = self.outputs_and_grads(self.net.parameters(), all_rows)
            self.grad, self.f = g0, f0
            keep = self._record(all_rows, f0, loss0)
            rows = rows[keep[rows]]
            if len(rows) == 0:
                return
            params = [p[rows] for p in self.net.parameters()]
        assert self.grad is not None
        g = [gr[rows] for gr in self.grad]
        dt = self.dt[rows]
        shape = [(-1,) + (1,) * (p.dim() - 1) for p in params]
        trial = [p - dt.view(s) * gi for p, gi, s in zip(params, g, shape)]
        f_new, loss_new, g_new = self.outputs_and_grads(trial, rows)
        norm_g, norm_new = _row_norm_sq(g).sqrt(), _row_norm_sq(g_new).sqrt()
        dgrad = _row_norm_sq([a - b for a, b in zip(g, g_new)]) / (norm_g * norm_new).clamp_min(
            1e-300
        )
        dout = (f_new - self.f[rows]).abs().amax(dim=1)
        r_grad, r_out = dgrad / cfg.flow_max_dgrad, dout / cfg.flow_max_dout
        # a ReLU kink makes the gradient jump however small dt is: past flow_min_dt, accept on dout
        accept = (r_out < 1) & ((r_grad < 1) | (dt <= cfg.flow_min_dt))
        grow = accept & (r_grad < 0.5) & (r_out < 0.5)
        self.dt[rows] = torch.where(accept, torch.where(grow, dt * 1.1, dt), dt / 10)
        if not accept.any():
            return
        acc = rows[accept]
        self.step_count[acc] += 1
        self.time[acc] += dt[accept]
        with torch.no_grad():
            for p, q in zip(self.net.parameters(), trial):
                p[acc] = q[accept].detach()
        for gr, gn in zip(self.grad, g_new):
            gr[acc] = gn[accept]
        self.f[acc] = f_new[accept]
        self._record(acc, f_new[accept], loss_new[accept])

    def step(self) -> None:
        """One iteration for every still-active network."""
        rows = torch.nonzero(self.active).flatten()
        if len(rows) == 0:
            return
        if self._promote_pending:
            self.promote()
        (self._adam_step if self.cfg.optimizer == "adam" else self._flow_step)(rows)
        self.iteration += 1

    def finish_check(self) -> None:
        """Measure N_Delta of the networks still active (at the step cap) on their final weights.

        A mixed-precision trainer at its step cap is promoted first (decisions in float64)."""
        if self.mixed and (self._promote_pending or self.iteration >= self.cfg.max_steps):
            self.promote()
        rows = torch.nonzero(self.active).flatten()
        if len(rows):
            with torch.no_grad():
                f = self.net.forward(self.x, [p[rows] for p in self.net.parameters()], rows)
                f = f if self.offset is None else f - self.offset[rows]
                loss = pointwise_loss(
                    f, self.y, self.cfg.loss, self.cfg.kappa, self.cfg.softhinge_beta
                ).mean(dim=1)
            self._record(rows, f, loss)

    def run(self, max_steps: int | None = None, log_every: int = 0, callback=None) -> TrainResult:
        """Iterate until every network stopped or ``max_steps`` iterations; returns the outcome."""
        max_steps = self.cfg.max_steps if max_steps is None else max_steps
        history = []
        while self.iteration < max_steps and bool(self.active.any()):
            self.step()
            if log_every and (self.iteration % log_every == 0 or not self.active.any()):
                row = self.summary()
                history.append(row)
                if callback is not None:
                    callback(row)
        self.finish_check()
        return self.result(history)

    def summary(self) -> dict:
        nd = self.n_delta.to(torch.float64)
        return {
            "step": self.iteration,
            "n_active": int(self.active.sum()),
            "mean_loss": float(self.loss.nanmean()) if self.loss.numel() else math.nan,
            "mean_n_delta": float(nd.mean()),
            "max_n_delta": int(self.n_delta.max()),
            "n_fitted": int((self.stop_step >= 0).sum()),
        }

    def result(self, history: list[dict] | None = None) -> TrainResult:
        return TrainResult(
            self.n_delta.tolist(),
            self.loss.tolist(),
            self.stop_step.tolist(),
            self.iteration,
            history or [],
        )

    # -- checkpoints -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        state: dict[str, Any] = {
            "net": self.net.state_dict(),
            "step_count": self.step_count.cpu(),
            "active": self.active.cpu(),
            "stop_step": self.stop_step.cpu(),
            "n_delta": self.n_delta.cpu(),
            "loss": self.loss.cpu(),
            "iteration": self.iteration,
            "union_fraction": self._union_fraction,
            "float64": self.net.dtype == torch.float64,
        }
        if self.cfg.optimizer == "adam":
            state["exp_avg"] = [t.cpu() for t in self.exp_avg]
            state["exp_avg_sq"] = [t.cpu() for t in self.exp_avg_sq]
        else:
            state["dt"], state["time"] = self.dt.cpu(), self.time.cpu()
            state["grad"] = None if self.grad is None else [g.cpu() for g in self.grad]
            state["f"] = None if self.grad is None else self.f.cpu()
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (copied: the trainer never shares tensors with it)."""
        dev = self.net.device
        if self.mixed and state.get("float64", False):  # saved after the promotion
            self.promote()
        dtype = self.net.dtype

        def own(t: torch.Tensor, float_like: bool = True) -> torch.Tensor:
            return t.to(dev, dtype if float_like else t.dtype, copy=True)

        loaded = StackedFC.from_state_dict(state["net"], device=dev)
        with torch.no_grad():
            for p, q in zip(self.net.parameters(), loaded.parameters()):
                p.copy_(q)
        for name in ("step_count", "active", "stop_step", "n_delta"):
            setattr(self, name, own(state[name], float_like=False))
        self.loss = own(state["loss"])
        self.iteration, self._union_fraction = state["iteration"], state["union_fraction"]
        if self.cfg.optimizer == "adam":
            self.exp_avg = [own(t) for t in state["exp_avg"]]
            self.exp_avg_sq = [own(t) for t in state["exp_avg_sq"]]
        else:
            self.dt, self.time = own(state["dt"]), own(state["time"])
            grad = state["grad"]
            self.grad = None if grad is None else [own(g) for g in grad]
            if state["f"] is not None:
                self.f = own(state["f"])


def train_ensemble(
    net: StackedFC,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: OptimConfig,
    log_every: int = 0,
    callback=None,
) -> TrainResult:
    """Convenience wrapper: build an :class:`EnsembleTrainer` and run it to the end."""
    return EnsembleTrainer(net, x, y, cfg).run(log_every=log_every, callback=callback)


# ------------------------------------------------------------------------------ the train verb


def _gather(obj, env) -> list:
    """obj of every process (rank order); [obj] in a single process."""
    if not env.is_distributed:
        return [obj]
    import torch.distributed as dist

    out: list = [None] * env.world_size
    dist.all_gather_object(out, obj)
    return out


def escape_lr_after(mcfg, opt: OptimConfig, steps: int) -> float:
    """The minimiser's Adam excursions after ``steps`` first-order steps: at most the lr those
    steps ended with. Measured (README, "Outcomes"): a net that decayed Adam left at N_Delta = 3
    (P = 4,000, lr 10^-4 at the cap) was kicked to N_Delta = 327 by an excursion at 10^-3 and
    ended unconverged; at 10^-4 the minimiser fitted it."""
    return min(mcfg.escape_lr, opt.lr_at(steps))


def _rows(cfg, net: StackedFC, trainer: EnsembleTrainer, data, f0_test, index) -> list[dict]:
    from .losses import classification_error

    with torch.no_grad():
        f_test = net.forward(data.x_test.to(net.dtype)) - f0_test
        test_err = classification_error(f_test, data.y_test.to(net.dtype)).tolist()
    return [
        {
            "net": e,
            "h": s.h,
            "seed": s.seed,
            "N": n,
            "n_delta": nd,
            "stop_step": st,
            "train_loss": lo,
            "test_error": te,
        }
        for e, s, n, nd, st, lo, te in zip(
            index,
            net.specs,
            net.n_weights(),
            trainer.n_delta.tolist(),
            trainer.stop_step.tolist(),
            trainer.loss.tolist(),
            test_err,
        )
    ]


def train(cfg, *, resume: bool = False, overwrite: bool = False) -> list[dict]:
    """``dltheory jamming train``: the ensemble of ``cfg`` (a :class:`config.TrainConfig`) trained
    on the core Session (run folder with lock, config check on resume with ``max_steps`` and the
    other ``mutable=True`` keys allowed to change, step-cadence checkpoints, SIGINT/SIGTERM save,
    NaN guard). Under torchrun, rank r trains the nets e with e % world_size == r; rank 0 writes.
    Returns one row per network (N_Delta, stop step, train loss, test error)."""
    from dltheory.core.config import mutable_keys
    from dltheory.core.errors import CheckpointError
    from dltheory.core.plotting import save_table
    from dltheory.core.session import Session

    from .config import TrainConfig
    from .ensembles import build_ensemble, initial_outputs, load_data

    cfg.validate()
    dtype = cfg.first_order_dtype()
    session = Session(
        cfg,
        out=cfg.out,
        device=cfg.device,
        precision="fp32",  # the nets' dtype is set here (fp64 / fp32), not by autocast
        seed=cfg.seed,
        threads=cfg.threads,
        resume=resume,
        overwrite=overwrite,
        mutable_keys=mutable_keys(TrainConfig),
        checkpoint_every_steps=cfg.checkpoint_every,
        checkpoint_every_seconds=None,  # step cadence only: every rank must join the gather
    )
    with session as s:
        env = s.env
        data = load_data(cfg)
        everyone = build_ensemble(cfg, data.dim, cfg.widths, s.device)
        index = [e for e in range(everyone.n_nets) if e % env.world_size == env.rank]
        if not index:
            raise ConfigError(f"{env.world_size} processes for {everyone.n_nets} networks")
        net = everyone.subset(index)
        data = data.to(s.device)
        # fp32 runs in float32 throughout; a mixed run gets float64 data and offsets (the trainer
        # casts them for its float32 phase and keeps them for its promotion)
        data_dtype = dtype if cfg.precision == "fp32" else torch.float64
        net.to(dtype=data_dtype)
        x, y = data.x_train.to(data_dtype), data.y_train.to(data_dtype)
        f0_train = initial_outputs(net, x) if cfg.subtract_init else None
        x_test = data.x_test.to(data_dtype)
        f0_test = initial_outputs(net, x_test) if cfg.subtract_init else 0.0
        net.to(dtype=dtype)
        trainer = EnsembleTrainer(net, x, y, cfg.optim(), f0_train)
        step = 0
        if s.resume_state is not None:
            states = s.resume_state.get("trainers") or []
            if len(states) != env.world_size:
                raise CheckpointError(
                    f"the checkpoint holds {len(states)} process shards, this run has "
                    f"{env.world_size}: resume with the same number of processes"
                )
            trainer.load_state_dict(states[env.rank])
            step = int(s.resume_state["step"])
            if s.run is not None:
                s.run.repair_metrics(step)
        while True:
            active = sum(_gather(int(trainer.active.sum()), env))
            if step >= cfg.max_steps or active == 0:
                break
            step = min(step + cfg.checkpoint_every, cfg.max_steps)
            trainer.run(max_steps=step)
            s.check_finite(float(trainer.loss.nansum()), step)
            parts = _gather(trainer.summary(), env)
            s.log(
                step=step,
                n_active=sum(p["n_active"] for p in parts),
                n_fitted=sum(p["n_fitted"] for p in parts),
                max_n_delta=max(p["max_n_delta"] for p in parts),
            )
            state = {"step": step, "trainers": _gather(trainer.state_dict(), env)}
            s.maybe_checkpoint(step, functools.partial(dict, state))
        trainer.finish_check()
        outcomes = ["sat" if st >= 0 else "unconverged" for st in trainer.stop_step.tolist()]
        # why the minimiser left a net unconverged (minimiser.REASONS); a first-order run that
        # ends unfitted at its cap, with no minimiser after it, is "step_cap"
        reasons = ["" if o == "sat" else "step_cap" for o in outcomes]
        if cfg.optimizer == "lm":  # the minimiser decides the nets Adam did not fit
            from .minimiser import copy_rows, minimise_ensemble

            todo = [i for i, o in enumerate(outcomes) if o != "sat"]
            if todo:
                sub = net.subset(todo)
                off = None if f0_train is None else f0_train[todo]
                mcfg = cfg.minimiser()
                mcfg.escape_lr = escape_lr_after(mcfg, cfg.optim(), step)
                res = minimise_ensemble(sub, x, y, mcfg, off)
                copy_rows(net, sub, todo)
                for j, i in enumerate(todo):
                    outcomes[i], reasons[i] = res.outcome[j], res.reason[j]
                    trainer.n_delta[i] = res.n_delta[j]
                    trainer.loss[i] = res.loss[j] / len(y)
        shards = _gather(trainer.state_dict(), env)
        s.checkpoint({"step": step, "trainers": shards})
        rows = sorted(
            (
                {**r, "outcome": o, "unconverged_reason": why}
                for part in _gather(
                    list(zip(_rows(cfg, net, trainer, data, f0_test, index), outcomes, reasons)),
                    env,
                )
                for r, o, why in part
            ),
            key=lambda r: r["net"],
        )
        if s.is_writer and s.run is not None:
            save_table(
                rows, s.run.path / "networks", title=f"ensemble on {data.name}, P={cfg.n_train}"
            )
        return rows


def evaluate(out) -> list[dict]:
    """``dltheory jamming eval``: per-network N_Delta and test error of a train run's last.pt."""
    import json
    from pathlib import Path

    from dltheory.core.config import resolve_config
    from dltheory.core.errors import CheckpointError
    from dltheory.core.runs import load_checkpoint

    from .config import TrainConfig
    from .ensembles import build_ensemble, initial_outputs, load_data

    folder = Path(out)
    if not (folder / "config.json").is_file() or not (folder / "last.pt").is_file():
        raise CheckpointError(f"{folder} holds no jamming train run (config.json and last.pt)")
    cfg = resolve_config(TrainConfig, None, base=json.loads((folder / "config.json").read_text()))
    state = load_checkpoint(folder / "last.pt")
    # a mixed run ends in float64 (promoted at its cap or on fitting)
    dtype = torch.float32 if cfg.precision == "fp32" else torch.float64
    data = load_data(cfg)
    everyone = build_ensemble(cfg, data.dim, cfg.widths, "cpu")
    rows = []
    shards = state["trainers"]
    for rank, shard in enumerate(shards):
        index = [e for e in range(everyone.n_nets) if e % len(shards) == rank]
        init = everyone.subset(index).to(dtype=dtype)
        net = StackedFC.from_state_dict(shard["net"]).to(dtype=dtype)
        x = data.x_train.to(dtype)
        f0_train = initial_outputs(init, x) if cfg.subtract_init else None
        f0_test = initial_outputs(init, data.x_test.to(dtype)) if cfg.subtract_init else 0.0
        trainer = EnsembleTrainer(net, x, data.y_train.to(dtype), cfg.optim(), f0_train)
        trainer.load_state_dict(shard)
        trainer.active[:] = True
        trainer.finish_check()
        rows += _rows(cfg, net, trainer, data, f0_test, index)
    return sorted(rows, key=lambda r: r["net"])

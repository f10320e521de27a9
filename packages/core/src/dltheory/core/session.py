"""The start-up every trainer shares, so that each package's loop stays short and visible.

A :class:`Session` resolves the device and precision, sets the thread count and seeds, joins the
process group under torchrun, opens the run folder (locked, config checked on resume), loads the
checkpoint to resume from, saves checkpoints on a step or wall-time cadence, turns SIGINT/SIGTERM
into "save a checkpoint, then stop with a message", and guards against NaN losses. The training
loop itself stays in the package::

    with Session.from_config(cfg, resume=resume, overwrite=overwrite) as s:
        model = build(cfg).to(s.device)
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        step = s.restore(model, opt)                  # 0 on a fresh run
        while step < cfg.steps:
            with s.precision.autocast():
                loss = model(x).pow(2).mean()
            s.check_finite(loss, step)
            s.precision.backward_and_step(loss, opt)
            step += 1
            s.log(step=step, loss=loss.item())         # rank 0 only
            s.maybe_checkpoint(step, lambda: train_state(model, opt, step=step))
        s.checkpoint(train_state(model, opt, step=step))
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from dltheory.core.device import Precision, configure_backends, resolve_device, seed_everything
from dltheory.core.distributed import DistEnv, init_distributed
from dltheory.core.errors import RunInterrupted
from dltheory.core.runs import RunDir, check_finite, restore_rng_state, restore_train_state
from dltheory.core.threads import configure_threads


def _dist_initialized() -> bool:
    import torch.distributed as dist

    return bool(dist.is_available() and dist.is_initialized())


class Session:
    """Device, precision, threads, seed, run folder, resume, checkpoints, signals, NaN guard."""

    TRAINER_FIELDS = ("out", "device", "precision", "seed", "threads")

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> Session:
        """A session for ``config`` (saved and checked on resume) that takes ``out``, ``device``,
        ``precision``, ``seed`` and ``threads`` from its fields (a
        :class:`dltheory.core.config.TrainerFields` config); ``kwargs`` override them and give the
        rest (``resume``, ``overwrite``, ``mutable_keys``, the checkpoint cadence, ...)."""
        fields = {name: getattr(config, name) for name in cls.TRAINER_FIELDS}
        return cls(config, **{**fields, **kwargs})

    def __init__(
        self,
        config: Any = None,
        *,
        out: str | Path | None = None,
        device: str = "auto",
        precision: str = "fp32",
        seed: int = 0,
        threads: int | None = None,
        resume: bool = False,
        overwrite: bool = False,
        mutable_keys: Sequence[str] = (),
        checkpoint_every_steps: int | None = None,
        checkpoint_every_seconds: float | None = 300.0,
        step_key: str = "step",
        handle_signals: bool = True,
    ) -> None:
        self.threads = configure_threads(threads)
        self.device = resolve_device(device)
        configure_backends(self.device)
        self.precision = Precision.create(precision, self.device)
        self._owns_process_group = DistEnv.from_environ().is_distributed and not _dist_initialized()
        self.env: DistEnv = init_distributed(self.device)
        seed_everything(seed + self.env.rank)
        self.run: RunDir | None = None
        if out is not None:
            self.run = RunDir(
                out,
                config,
                resume=resume,
                overwrite=overwrite,
                env=self.env,
                mutable_keys=mutable_keys,
            )
        self.resume_state: dict[str, Any] | None = None
        if resume and self.run is not None:
            self.resume_state = self.run.load_checkpoint(map_location=self.device)
        self.step_key = step_key
        self.checkpoint_every_steps = checkpoint_every_steps
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self._last_checkpoint = time.monotonic()
        self._stop_signal: int | None = None
        self._previous_handlers: dict[int, Any] = {}
        if handle_signals:
            self._install_signal_handlers()

    # ------------------------------------------------------------------ resume and checkpoints
    @property
    def is_writer(self) -> bool:
        return self.env.is_main

    def restore(self, model: torch.nn.Module, optimizer: Any = None, scheduler: Any = None) -> int:
        """Load the resume checkpoint into live objects, repair metrics and restore the RNG
        streams of the checkpoint; returns the step.

        The RNG states are restored here, after the model was built (building it draws random
        numbers), so the data and dropout streams continue exactly where the checkpoint left them.
        """
        if self.resume_state is None:
            return 0
        info = restore_train_state(self.resume_state, model, optimizer, scheduler, self.precision)
        if "rng" in self.resume_state:
            restore_rng_state(self.resume_state["rng"])
        step = int(info["step"])
        if self.run is not None:
            self.run.repair_metrics(step, step_key=self.step_key)
        return step

    @property
    def resume_extra(self) -> dict[str, Any]:
        """The ``extra`` entries of the resume checkpoint ({} on a fresh run)."""
        return dict((self.resume_state or {}).get("extra") or {})

    def checkpoint(self, state: dict[str, Any]) -> Path | None:
        """Save ``state`` (a ``train_state`` dict) as last.pt now."""
        self._last_checkpoint = time.monotonic()
        return self.run.save_checkpoint(state) if self.run is not None else None

    def checkpoint_due(self, step: int) -> bool:
        if self._stop_signal is not None:
            return True
        if self.checkpoint_every_steps and step % self.checkpoint_every_steps == 0:
            return True
        elapsed = time.monotonic() - self._last_checkpoint
        return (
            self.checkpoint_every_seconds is not None and elapsed >= self.checkpoint_every_seconds
        )

    def maybe_checkpoint(self, step: int, state_fn: Callable[[], dict[str, Any]]) -> None:
        """Checkpoint when the cadence says so; after a SIGINT/SIGTERM, save and stop."""
        if not self.checkpoint_due(step):
            return
        path = self.checkpoint(state_fn())
        if self._stop_signal is not None:
            name = signal.Signals(self._stop_signal).name
            where = f"; checkpoint saved to {path}, continue with --resume" if path else ""
            raise RunInterrupted(f"{name} received: stopped at {self.step_key} {step}{where}")

    @property
    def stop_requested(self) -> bool:
        return self._stop_signal is not None

    # ----------------------------------------------------------------------------- logging
    def log(self, **metrics: Any) -> None:
        if self.run is not None:
            self.run.log(**metrics)

    def check_finite(self, loss: torch.Tensor | float, step: int | None = None) -> None:
        check_finite(loss, step=step, run=self.run)

    # ---------------------------------------------------------------------------- signals
    def _install_signal_handlers(self) -> None:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous_handlers[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: stop at once
            raise KeyboardInterrupt
        self._stop_signal = signum

    def close(self) -> None:
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers.clear()
        if self.run is not None:
            self.run.close()
        if self._owns_process_group and _dist_initialized():
            # A process group left alive at exit aborts the process ("terminate called without
            # an active exception") under torchrun: the session that made it destroys it.
            import torch.distributed as dist

            dist.destroy_process_group()
            self._owns_process_group = False

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Run directories: resolved config, metrics.jsonl, atomic checkpoints and exact resume."""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from dltheory.core.config import config_to_dict
from dltheory.core.distributed import DistEnv
from dltheory.core.errors import CheckpointError, ConfigError, DltheoryError, NonFiniteLossError
from dltheory.core.files import (
    WriteError,
    atomic_write,
    atomic_write_bytes,
    atomic_write_text,
    write_error,
)
from dltheory.core.locks import RunLock, RunLockedError

__all__ = [
    "RunDir",
    "atomic_torch_save",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_finite",
    "config_differences",
    "load_checkpoint",
    "restore_train_state",
    "train_state",
]


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` that never leaves a half-written file at ``path`` (one-line write errors)."""
    return atomic_write(path, lambda tmp: torch.save(obj, tmp))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint from elsewhere safely (``weights_only=True``) with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        # Never retried with the unsafe loader: unpickling arbitrary objects can run code.
        raise CheckpointError(
            f"refusing to load {path}: it holds Python objects other than tensors and plain "
            "containers, which could run code when loaded"
        ) from None
    except Exception as exc:  # corrupt zip, truncated file, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {path} does not hold a dict (found {type(state).__name__})"
        )
    return state


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (CUDA too when available)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        # NumPy's key array as a tensor keeps the checkpoint loadable with weights_only=True.
        "numpy": (
            kind,
            torch.from_numpy(np.asarray(keys).astype(np.int64)),
            pos,
            has_gauss,
            cached,
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((kind, keys.astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


_REFUSALS: dict[str, type[DltheoryError]] = {
    cls.__name__: cls
    for cls in (DltheoryError, ConfigError, CheckpointError, RunLockedError, WriteError)
}


def _share_writer_verdict(refusal: DltheoryError | None, env: DistEnv) -> tuple[str, str] | None:
    """Rank 0's refusal to start (its class name and message), broadcast to every rank of an
    initialised process group; without one, each process keeps its own (None off rank 0)."""
    verdict = None if refusal is None else (type(refusal).__name__, str(refusal))
    if not (env.is_distributed and dist.is_available() and dist.is_initialized()):
        return verdict
    payload = [verdict]
    dist.broadcast_object_list(payload, src=0)
    return payload[0]


class RunDir:
    """A run's folder: ``config.json``, ``metrics.jsonl``, checkpoints and figures.

    Only the main process (rank 0) writes, and it holds an exclusive lock on the folder while the
    object lives (a second run on the same folder refuses with one line). A fresh run refuses a
    folder that already holds metrics or checkpoints; ``resume=True`` continues it after checking
    that ``config`` equals the saved config (keys in ``mutable_keys`` may change, e.g. the total
    number of epochs) and repairing ``metrics.jsonl``; ``overwrite=True`` starts afresh
    deliberately (the old metrics, config and checkpoints are removed first).
    A refused start leaves the folder exactly as it was. Under DDP only rank 0 judges the folder
    and its refusal is broadcast, so every rank stops with the same one-line error.
    """

    CHECKPOINT = "last.pt"

    def __init__(
        self,
        path: str | Path,
        config: Any = None,
        resume: bool = False,
        overwrite: bool = False,
        env: DistEnv | None = None,
        mutable_keys: Sequence[str] = (),
    ) -> None:
        self.path = Path(path)
        self.env = env or DistEnv.from_environ()
        self.metrics_path = self.path / "metrics.jsonl"
        self.config_path = self.path / "config.json"
        self.lock = RunLock(self.path)
        if resume and overwrite:
            raise DltheoryError("--resume and --overwrite exclude each other: choose one")
        if self.path.exists() and not self.path.is_dir():
            raise DltheoryError(f"run directory {self.path} exists and is not a folder")
        created = not self.path.exists()
        refusal: DltheoryError | None = None
        try:
            if self.is_writer:
                self.lock.acquire()
                try:
                    self._start(config, resume, overwrite, mutable_keys)
                except DltheoryError as exc:
                    refusal = exc
            # Only rank 0 judges the folder: another rank looking at it races rank 0's first
            # writes. Its verdict reaches every rank, so all stop with the same line or none does.
            verdict = _share_writer_verdict(refusal, self.env)
            if refusal is not None:
                raise refusal
            if verdict is not None:
                kind, message = verdict
                raise _REFUSALS.get(kind, DltheoryError)(message)
        except BaseException:
            self.close()
            if created and self.is_writer:
                _remove_if_empty(self.path)
            raise

    def _start(
        self, config: Any, resume: bool, overwrite: bool, mutable_keys: Sequence[str]
    ) -> None:
        existing = self.metrics_path.exists() or self.checkpoint_path().exists()
        if existing and not resume and not overwrite:
            raise DltheoryError(
                f"{self.path} already holds a run; pass --resume to continue it, "
                "--overwrite to start afresh, or choose another --out"
            )
        if resume and not self.checkpoint_path().exists():
            raise CheckpointError(f"cannot resume: no checkpoint {self.checkpoint_path()}")
        new_config = config_to_dict(config) if config is not None else None
        if resume and new_config is not None and self.config_path.exists():
            saved = self.saved_config()
            changed = config_differences(saved, new_config, config_defaults(config))
            frozen = [k for k in changed if k not in set(mutable_keys)]
            if frozen:
                detail = ", ".join(
                    f"{k} (saved {saved.get(k)!r}, now {new_config.get(k)!r})" for k in frozen
                )
                allowed = (
                    f"; only {', '.join(mutable_keys)} may change on resume" if mutable_keys else ""
                )
                raise ConfigError(
                    f"cannot resume {self.path}: the config differs in {detail}{allowed}"
                )
        if overwrite and existing:
            for stale in [self.metrics_path, self.config_path, *self.path.glob("*.pt")]:
                stale.unlink(missing_ok=True)
        if new_config is not None:
            atomic_write_text(
                self.config_path, json.dumps(new_config, indent=2, sort_keys=True) + "\n"
            )

    def saved_config(self) -> dict[str, Any]:
        try:
            data = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"cannot read {self.config_path}: {str(exc).splitlines()[0]}"
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{self.config_path} does not hold a mapping")
        return data

    @property
    def is_writer(self) -> bool:
        return self.env.is_main

    def close(self) -> None:
        """Release the folder's lock (also done when the process ends)."""
        self.lock.release()

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log(self, **metrics: Any) -> None:
        """Append one JSON object to metrics.jsonl (rank 0 only)."""
        if not self.is_writer:
            return
        line = json.dumps(_to_jsonable(metrics), sort_keys=False)
        try:
            with open(self.metrics_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise write_error(self.metrics_path, exc) from None

    def read_metrics(self) -> list[dict[str, Any]]:
        """The logged records; a torn (unparsable) line, as a crash leaves at the end, is skipped."""
        if not self.metrics_path.exists():
            return []
        records = []
        with open(self.metrics_path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def repair_metrics(self, resume_step: int | None, step_key: str = "step") -> int:
        """Prepare metrics.jsonl for a resume from ``resume_step``.

        Drops torn lines and the records logged after the checkpoint (they will be logged again),
        and keeps one record per step (the last). Returns how many records were dropped.
        """
        if not self.is_writer or not self.metrics_path.exists():
            return 0
        raw = [
            line
            for line in self.metrics_path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        records = self.read_metrics()
        kept: list[dict[str, Any]] = []
        index: dict[Any, int] = {}
        for record in records:
            step = record.get(step_key) if isinstance(record, dict) else None
            if (
                step is not None
                and resume_step is not None
                and isinstance(step, (int, float))
                and step > resume_step
            ):
                continue
            if step is not None and step in index:
                kept[index[step]] = record
                continue
            if step is not None:
                index[step] = len(kept)
            kept.append(record)
        dropped = len(raw) - len(kept)
        if dropped:
            text = "".join(json.dumps(r) + "\n" for r in kept)
            atomic_write_text(self.metrics_path, text)
        return dropped

    def checkpoint_path(self, name: str = CHECKPOINT) -> Path:
        return self.path / name

    def save_checkpoint(self, state: dict[str, Any], name: str = CHECKPOINT) -> Path | None:
        """Atomically save ``state`` plus the RNG states (rank 0 only)."""
        if not self.is_writer:
            return None
        return atomic_torch_save({**state, "rng": capture_rng_state()}, self.checkpoint_path(name))

    def load_checkpoint(
        self, name: str = CHECKPOINT, map_location: Any = "cpu", restore_rng: bool = True
    ) -> dict[str, Any] | None:
        """Load one of this run's checkpoints (``weights_only=True``, never anything else) and
        restore the RNG states; None if absent."""
        path = self.checkpoint_path(name)
        if not path.exists():
            return None
        state = load_checkpoint(path, map_location=map_location)
        if restore_rng and "rng" in state:
            restore_rng_state(state["rng"])
        return state


def config_differences(
    saved: dict[str, Any], requested: dict[str, Any], defaults: dict[str, Any] | None = None
) -> list[str]:
    """Top-level keys whose values differ between two config dicts (JSON-normalised).

    A key missing from ``saved`` (a setting added after that run was written) is no difference
    when the requested value is its default in ``defaults``: the run was made with the behaviour
    that default keeps."""
    a, b, dflt = (
        json.loads(json.dumps(c or {}, default=str)) for c in (saved, requested, defaults)
    )
    return sorted(
        k
        for k in set(a) | set(b)
        if a.get(k) != b.get(k) and not (k not in a and k in dflt and b.get(k) == dflt[k])
    )


def config_defaults(config: Any) -> dict[str, Any]:
    """The default of every field of a config dataclass (an empty dict for anything else)."""
    if not dataclasses.is_dataclass(config):
        return {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return config_to_dict(out)


def _remove_if_empty(folder: Path) -> None:
    """Remove a folder this run created if it holds nothing but its lock file."""
    try:
        (folder / ".lock").unlink(missing_ok=True)
        folder.rmdir()
    except OSError:
        pass


def train_state(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    precision: Any = None,
    step: int = 0,
    **extra: Any,
) -> dict[str, Any]:
    """Everything needed to continue training exactly."""
    from dltheory.core.distributed import unwrap_model

    return {
        "model": unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "precision": precision.state_dict() if precision is not None else None,
        "step": step,
        "extra": extra,
    }


def restore_train_state(
    state: dict[str, Any],
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    precision: Any = None,
) -> dict[str, Any]:
    """Load a ``train_state`` dict into live objects; returns ``{"step": ..., **extra}``."""
    from dltheory.core.distributed import unwrap_model

    try:
        unwrap_model(model).load_state_dict(state["model"])
    except (RuntimeError, KeyError) as exc:
        raise CheckpointError(
            f"checkpoint does not match the model: {exc}".splitlines()[0]
        ) from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if precision is not None and state.get("precision") is not None:
        precision.load_state_dict(state["precision"])
    return {"step": state.get("step", 0), **state.get("extra", {})}


def check_finite(
    loss: torch.Tensor | float, step: int | None = None, run: RunDir | None = None
) -> None:
    """Stop training on a NaN/inf loss, saying which checkpoint was kept."""
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if math.isfinite(value):
        return
    where = f" at step {step}" if step is not None else ""
    kept = ""
    if run is not None and run.checkpoint_path().exists():
        kept = f"; the last good checkpoint {run.checkpoint_path()} was kept"
    raise NonFiniteLossError(f"loss became {value}{where}{kept} (try a lower learning rate)")

"""Run directories: resolved config, metrics.jsonl, atomic checkpoints and exact resume."""

from __future__ import annotations

import json
import math
import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dltheory.core.config import config_to_dict
from dltheory.core.distributed import DistEnv
from dltheory.core.errors import CheckpointError, DltheoryError, NonFiniteLossError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(Path(path), text.encode("utf-8"))


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save`` that never leaves a half-written file at ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint from elsewhere safely (``weights_only=True``) with a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt zip, pickle with disallowed globals, truncated file, ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a dict (found {type(state).__name__})")
    return state


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch RNG states (CUDA too when available)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        # NumPy's key array as a tensor keeps the checkpoint loadable with weights_only=True.
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
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


class RunDir:
    """A run's folder: ``config.json``, ``metrics.jsonl``, checkpoints and figures.

    Only the main process (rank 0) writes. A fresh run refuses a folder that already holds
    metrics or checkpoints, so that nothing is overwritten by accident; pass ``resume=True`` to
    continue it, or ``overwrite=True`` to start over (old files are removed first).
    """

    def __init__(
        self,
        path: str | Path,
        config: Any = None,
        resume: bool = False,
        overwrite: bool = False,
        env: DistEnv | None = None,
    ) -> None:
        self.path = Path(path)
        self.env = env or DistEnv.from_environ()
        self.metrics_path = self.path / "metrics.jsonl"
        if self.path.exists() and not self.path.is_dir():
            raise DltheoryError(f"run directory {self.path} exists and is not a folder")
        existing = self.metrics_path.exists() or (self.path / "last.pt").exists()
        if existing and not resume and not overwrite:
            raise DltheoryError(
                f"{self.path} already holds a run; pass --resume to continue it or choose another --out"
            )
        if resume and not (self.path / "last.pt").exists():
            raise CheckpointError(f"cannot resume: no checkpoint {self.path / 'last.pt'}")
        if self.is_writer:
            self.path.mkdir(parents=True, exist_ok=True)
            if overwrite and existing and not resume:
                self.metrics_path.unlink(missing_ok=True)
                (self.path / "last.pt").unlink(missing_ok=True)
            if config is not None:
                atomic_write_text(
                    self.path / "config.json",
                    json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n",
                )

    @property
    def is_writer(self) -> bool:
        return self.env.is_main

    def log(self, **metrics: Any) -> None:
        """Append one JSON object to metrics.jsonl (rank 0 only)."""
        if not self.is_writer:
            return
        line = json.dumps(_to_jsonable(metrics), sort_keys=False)
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_path.exists():
            return []
        with open(self.metrics_path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]

    def checkpoint_path(self, name: str = "last.pt") -> Path:
        return self.path / name

    def save_checkpoint(self, state: dict[str, Any], name: str = "last.pt") -> Path | None:
        """Atomically save ``state`` plus the RNG states (rank 0 only)."""
        if not self.is_writer:
            return None
        return atomic_torch_save({**state, "rng": capture_rng_state()}, self.checkpoint_path(name))

    def load_checkpoint(self, name: str = "last.pt", map_location: Any = "cpu", restore_rng: bool = True):
        """Load one of this run's own checkpoints and restore the RNG states; None if absent."""
        path = self.checkpoint_path(name)
        if not path.exists():
            return None
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            # A run's own file whose extra state holds other Python objects: trusted, we wrote it.
            state = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as exc:
            raise CheckpointError(f"cannot read checkpoint {path}: {exc}".splitlines()[0]) from None
        if restore_rng and "rng" in state:
            restore_rng_state(state["rng"])
        return state

    def figure_path(self, name: str) -> Path:
        folder = self.path / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name


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
        raise CheckpointError(f"checkpoint does not match the model: {exc}".splitlines()[0]) from None
    if optimizer is not None and state.get("optimizer") is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None and state.get("scheduler") is not None:
        scheduler.load_state_dict(state["scheduler"])
    if precision is not None and state.get("precision") is not None:
        precision.load_state_dict(state["precision"])
    return {"step": state.get("step", 0), **state.get("extra", {})}


def check_finite(loss: torch.Tensor | float, step: int | None = None, run: RunDir | None = None) -> None:
    """Stop training on a NaN/inf loss, saying which checkpoint was kept."""
    value = float(loss.detach()) if isinstance(loss, torch.Tensor) else float(loss)
    if math.isfinite(value):
        return
    where = f" at step {step}" if step is not None else ""
    kept = ""
    if run is not None and run.checkpoint_path().exists():
        kept = f"; the last good checkpoint {run.checkpoint_path()} was kept"
    raise NonFiniteLossError(f"loss became {value}{where}{kept} (try a lower learning rate)")

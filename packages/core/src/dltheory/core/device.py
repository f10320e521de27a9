"""Device and precision selection, backend flags and seeding."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dltheory.core.errors import DeviceError

PRECISIONS = ("fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str | torch.device = "auto") -> torch.device:
    """Turn ``auto|cpu|cuda|cuda:N|mps`` into a device, failing clearly when it is unavailable.

    ``auto`` picks CUDA, then MPS, then the CPU. Under torchrun, plain ``cuda`` means the
    process's ``LOCAL_RANK`` device.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = spec.strip().lower()
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif _mps_available():
            return torch.device("mps")
        else:
            return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not _mps_available():
            raise DeviceError("device 'mps' requested but MPS is not available on this machine")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device '{spec}' requested but CUDA is not available (try --device cpu)"
            )
        if spec == "cuda":
            index = int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count()
        else:
            try:
                index = int(spec.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"invalid device '{spec}': expected cuda:N") from None
            if not 0 <= index < torch.cuda.device_count():
                raise DeviceError(
                    f"device '{spec}' requested but only {torch.cuda.device_count()} CUDA device(s) exist"
                )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    raise DeviceError(f"unknown device '{spec}': expected auto, cpu, cuda, cuda:N or mps")


def configure_backends(
    device: torch.device, tf32: bool = True, cudnn_benchmark: bool = False
) -> None:
    """TF32 matmuls/convolutions on CUDA (on by default) and the cuDNN autotuner switch."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cudnn.benchmark = cudnn_benchmark


@dataclass
class Precision:
    """Mixed precision through ``torch.autocast``; a GradScaler only for fp16 on CUDA."""

    name: str
    device: torch.device
    scaler: torch.amp.GradScaler | None = None

    @classmethod
    def create(cls, name: str, device: torch.device) -> Precision:
        name = name.lower()
        if name not in PRECISIONS:
            raise DeviceError(
                f"unknown precision '{name}': expected one of {', '.join(PRECISIONS)}"
            )
        if name == "fp16" and device.type == "cpu":
            raise DeviceError("precision fp16 needs a GPU; use bf16 or fp32 on the CPU")
        if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise DeviceError("this GPU does not support bf16; use fp16 or fp32")
        scaler = torch.amp.GradScaler("cuda") if name == "fp16" and device.type == "cuda" else None
        return cls(name=name, device=device, scaler=scaler)

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return _AUTOCAST_DTYPES.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Context for the forward pass; a no-op in fp32."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def backward_and_step(
        self,
        loss: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        clip_grad_norm: float | None = None,
        parameters: Iterable[torch.nn.Parameter] | None = None,
    ) -> None:
        """Backward, optional gradient clipping (after unscaling), optimizer step, zero grads."""
        if self.scaler is not None:
            self.scaler.scale(loss).backward()  # type: ignore[no-untyped-call]
            if clip_grad_norm is not None:
                self.scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(_params(optimizer, parameters), clip_grad_norm)
            self.scaler.step(optimizer)
            self.scaler.update()
        else:
            loss.backward()  # type: ignore[no-untyped-call]
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(_params(optimizer, parameters), clip_grad_norm)
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "scaler": self.scaler.state_dict() if self.scaler else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])


def _params(
    optimizer: torch.optim.Optimizer, parameters: Iterable[torch.nn.Parameter] | None
) -> Iterator[torch.nn.Parameter]:
    if parameters is not None:
        return iter(list(parameters))
    return (p for group in optimizer.param_groups for p in group["params"])


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices); optionally force deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True

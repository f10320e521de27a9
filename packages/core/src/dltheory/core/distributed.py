"""Distributed helpers: torchrun / SLURM environments, process groups, DDP, rank-0 writing."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in a (possibly single-process) job."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> DistEnv:
        """torchrun's RANK/LOCAL_RANK/WORLD_SIZE, else SLURM's PROCID/LOCALID/NTASKS, else single."""
        env = os.environ if environ is None else environ
        if "WORLD_SIZE" in env and "RANK" in env:
            return cls(
                rank=int(env["RANK"]),
                local_rank=int(env.get("LOCAL_RANK", 0)),
                world_size=int(env["WORLD_SIZE"]),
            )
        if "SLURM_NTASKS" in env and "SLURM_PROCID" in env:
            return cls(
                rank=int(env["SLURM_PROCID"]),
                local_rank=int(env.get("SLURM_LOCALID", 0)),
                world_size=int(env["SLURM_NTASKS"]),
            )
        return cls()


def init_distributed(device: torch.device | None = None, env: DistEnv | None = None) -> DistEnv:
    """Initialise the default process group when the job has several processes.

    NCCL on CUDA, gloo otherwise. Under SLURM without torchrun, MASTER_ADDR/MASTER_PORT must be
    set by the job script (they are read by ``init_process_group``).
    """
    env = env or DistEnv.from_environ()
    if env.is_distributed and not dist.is_initialized():
        backend = "nccl" if device is not None and device.type == "cuda" else "gloo"
        os.environ.setdefault("RANK", str(env.rank))
        os.environ.setdefault("WORLD_SIZE", str(env.world_size))
        os.environ.setdefault("LOCAL_RANK", str(env.local_rank))
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size)
    return env


def wrap_ddp(
    model: torch.nn.Module, env: DistEnv, device: torch.device, **kwargs: Any
) -> torch.nn.Module:
    """DistributedDataParallel when distributed, the model itself otherwise."""
    if not env.is_distributed:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **kwargs)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside DDP / torch.compile wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod  # type: ignore[assignment]
        else:
            return model


def distributed_sampler(dataset: Any, env: DistEnv, shuffle: bool = True, seed: int = 0) -> Any:
    """A DistributedSampler when distributed, else None (let the DataLoader shuffle)."""
    if not env.is_distributed:
        return None
    from torch.utils.data.distributed import DistributedSampler

    return DistributedSampler(
        dataset, num_replicas=env.world_size, rank=env.rank, shuffle=shuffle, seed=seed
    )


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of a tensor over all processes (the tensor itself when not distributed)."""
    if not dist.is_initialized():
        return tensor
    out = tensor.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

"""Benchmark helpers: robust timings and a table of ratios written as JSON and markdown."""

from __future__ import annotations

import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dltheory.core.plotting import markdown_table


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_callable(
    fn: Callable[[], Any],
    repeats: int = 5,
    warmup: int = 1,
    number: int = 1,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median and min seconds per call of ``fn`` over ``repeats`` rounds of ``number`` calls."""
    for _ in range(warmup):
        fn()
    _sync(device)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        _sync(device)
        samples.append((time.perf_counter() - start) / number)
    return {"median_s": statistics.median(samples), "min_s": min(samples), "repeats": repeats}


def peak_memory_mb(fn: Callable[[], Any], device: torch.device | str = "cpu") -> float | None:
    """Peak CUDA memory of one call in MiB (None on the CPU, where torch keeps no such counter)."""
    if torch.device(device).type != "cuda":
        return None
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() / 2**20


def git_commit(start: str | Path | None = None) -> str | None:
    """The commit of the checkout holding ``start`` (default: this file), '+dirty' when the tree
    has uncommitted changes; None outside a git checkout."""
    import subprocess

    folder = Path(start) if start is not None else Path(__file__).resolve().parent

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )

    try:
        commit = git("rev-parse", "--short", "HEAD")
        if commit.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.TimeoutExpired):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def environment() -> dict[str, Any]:
    """Where a benchmark ran: versions, machine, the thread count in force, load, commit."""
    import os

    from dltheory.core.threads import usable_cpus

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "usable_cpus": usable_cpus(),
        "load_1min": load,
        "cpu": platform.processor() or platform.machine(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "commit": git_commit(),
    }


def write_bench(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> str:
    """Write benchmark rows with the environment to ``path`` (JSON) and return a markdown table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {"title": title, "environment": environment(), "rows": rows}, indent=2, default=str
        )
        + "\n",
        encoding="utf-8",
    )
    table = markdown_table(rows)
    return f"### {title}\n\n{table}" if title else table

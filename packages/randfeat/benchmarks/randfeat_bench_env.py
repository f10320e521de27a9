"""Shared by the randfeat benchmarks: default output path (git-ignored) and the run's environment
(machine, threads, torch, git commit) written beside the rows. Should move to dltheory.core.bench."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def default_out(name: str) -> Path:
    """``benchmarks/results/local-<name>.json``: untracked, so a run never overwrites tracked results."""
    return RESULTS / f"local-{name}.json"


def add_environment(path: Path, threads: int) -> None:
    """Add machine, load, thread count and git commit to the JSON written by ``write_bench``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    data["environment"].update(
        machine=platform.node(),
        cpus=os.cpu_count(),
        load_average=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        threads=threads,
        git_commit=commit,
    )
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")

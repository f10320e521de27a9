"""Sweeps: map a pure ``run(config) -> dict`` over a grid of configs.

Executors: ``serial`` (in this process), ``local`` (a process pool) and ``submitit`` (SLURM job
arrays through the optional ``dltheory-core[slurm]`` extra; ``slurm={"cluster": "local"}`` runs
the same jobs as local processes, which is how it is tested).
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from dltheory.core.errors import ConfigError, DltheoryError
from dltheory.core.progress import ProgressLog

EXECUTORS = ("serial", "local", "submitit")


def grid(base: dict[str, Any] | None = None, **axes: Iterable[Any]) -> list[dict[str, Any]]:
    """The cartesian product of ``axes`` over ``base`` (later axes vary fastest)."""
    base = dict(base or {})
    names = list(axes)
    values = [list(v) for v in axes.values()]
    for name, vals in zip(names, values):
        if not vals:
            raise ConfigError(f"sweep axis '{name}' is empty")
    return [{**base, **dict(zip(names, combo))} for combo in itertools.product(*values)]


def run_sweep(
    fn: Callable[[dict[str, Any]], dict[str, Any]],
    configs: list[dict[str, Any]],
    executor: str = "local",
    max_workers: int = 2,
    slurm: dict[str, Any] | None = None,
    folder: str | Path = "sweep-logs",
    description: str = "sweep",
) -> list[dict[str, Any]]:
    """Run ``fn`` on each config and return the results in the order of ``configs``.

    Each result is ``fn(config)`` merged over the config itself, so a row is self-describing.
    """
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor '{executor}': expected one of {', '.join(EXECUTORS)}")
    if executor == "serial" or (executor == "local" and (max_workers <= 1 or len(configs) <= 1)):
        log = ProgressLog(len(configs), description)
        results = []
        for config in configs:
            results.append({**config, **fn(config)})
            log.update(1)
        log.close()
        return results
    if executor == "local":
        return _run_local(fn, configs, max_workers, description)
    return _run_submitit(fn, configs, slurm or {}, Path(folder))


Row = dict[str, Any]
RunFn = Callable[[Row], Row]


def _run_local(fn: RunFn, configs: list[Row], max_workers: int, description: str) -> list[Row]:
    results: list[dict[str, Any] | None] = [None] * len(configs)
    context = multiprocessing.get_context("spawn")  # fork is unsafe once torch has started threads
    log = ProgressLog(len(configs), description)
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=context) as pool:
        futures = {pool.submit(fn, config): i for i, config in enumerate(configs)}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = {**configs[i], **future.result()}
            log.update(1)
    log.close()
    return [r for r in results if r is not None]


def _run_submitit(fn: RunFn, configs: list[Row], slurm: dict[str, Any], folder: Path) -> list[Row]:
    try:
        import submitit
    except ImportError:
        raise DltheoryError(
            "the submitit executor needs the optional extra: pip install 'dltheory-core[slurm]'"
        ) from None
    options = dict(slurm)
    cluster = options.pop("cluster", None)
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    if options:
        executor.update_parameters(**options)
    jobs = executor.map_array(fn, configs)
    return [{**config, **job.result()} for config, job in zip(configs, jobs)]

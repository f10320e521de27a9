"""Progress reporting: a rich bar on a terminal, periodic plain lines otherwise, silent off rank 0."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any, TextIO, TypeVar

from dltheory.core.distributed import DistEnv

T = TypeVar("T")


def _format_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.4g}")
        else:
            parts.append(f"{key}={value}")
    return " ".join(parts)


class ProgressLog:
    """Step-based progress with optional metrics.

    On an interactive terminal this draws a rich progress bar; otherwise it prints one plain line
    every ``every_fraction`` of the total or every ``every_seconds``, whichever comes first, and a
    final line. Processes other than rank 0 print nothing.
    """

    def __init__(
        self,
        total: int | None,
        description: str = "",
        stream: TextIO | None = None,
        every_fraction: float = 0.1,
        every_seconds: float = 30.0,
        interactive: bool | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.total = total
        self.description = description
        self.stream = stream or sys.stderr
        self.count = 0
        self.metrics: dict[str, Any] = {}
        self.every_fraction = every_fraction
        self.every_seconds = every_seconds
        self.start = time.perf_counter()
        self._last_print = self.start
        self._last_fraction = 0.0
        self.enabled = DistEnv.from_environ().is_main if enabled is None else enabled
        is_tty = getattr(self.stream, "isatty", lambda: False)()
        self.interactive = is_tty if interactive is None else interactive
        self._bar = None
        if self.enabled and self.interactive:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(description, total=total, metrics="")

    def update(self, n: int = 1, **metrics: Any) -> None:
        self.count += n
        self.metrics.update(metrics)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, advance=n, metrics=_format_metrics(self.metrics))
            return
        now = time.perf_counter()
        fraction = self.count / self.total if self.total else 0.0
        due_fraction = self.total and fraction - self._last_fraction >= self.every_fraction
        if due_fraction or now - self._last_print >= self.every_seconds:
            self._print_line(now)
            self._last_print = now
            self._last_fraction = fraction

    def _print_line(self, now: float) -> None:
        total = f"/{self.total}" if self.total else ""
        elapsed = now - self.start
        text = f"[{self.description}] {self.count}{total} ({elapsed:.1f}s) {_format_metrics(self.metrics)}"
        print(text.rstrip(), file=self.stream, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        elif self.count and self._last_fraction < 1.0:
            self._print_line(time.perf_counter())
            self._last_fraction = 1.0

    def __enter__(self) -> ProgressLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    description: str = "",
    **kwargs: Any,
) -> Iterator[T]:
    """Wrap an iterable with a ProgressLog."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with ProgressLog(total, description, **kwargs) as log:
        for item in iterable:
            yield item
            log.update(1)

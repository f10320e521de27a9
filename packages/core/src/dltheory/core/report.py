"""The manifest each subpackage's ``reproduce`` writes, read by ``dltheory reproduce``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


class ReproduceReport:
    """Collects a reproduction's figures, tables, metrics and notes into ``out/manifest.json``.

    Paths are stored relative to ``out`` so that the report folder can be moved.
    """

    def __init__(self, out: str | Path, title: str) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.title = title
        self.figures: list[dict[str, str]] = []
        self.tables: list[dict[str, str]] = []
        self.metrics: dict[str, Any] = {}
        self.notes: list[str] = []
        self.started = time.time()

    def _relative(self, path: str | Path) -> str:
        path = Path(path)
        try:
            return str(path.resolve().relative_to(self.out.resolve()))
        except ValueError:
            return str(path)

    def add_figure(self, path: str | Path, caption: str = "") -> None:
        self.figures.append({"path": self._relative(path), "caption": caption})

    def add_table(self, path: str | Path, caption: str = "") -> None:
        self.tables.append({"path": self._relative(path), "caption": caption})

    def add_metric(self, name: str, value: Any) -> None:
        self.metrics[name] = value

    def add_note(self, text: str) -> None:
        self.notes.append(text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "figures": self.figures,
            "tables": self.tables,
            "metrics": self.metrics,
            "notes": self.notes,
            "seconds": round(time.time() - self.started, 2),
        }

    def write(self) -> Path:
        path = self.out / MANIFEST
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
        return path

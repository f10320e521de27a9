"""Plot helpers: matplotlib with the Agg backend; every figure also saves its data."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def new_figure(
    ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (5.0, 4.0), **kwargs: Any
) -> tuple[Any, Any]:
    """A figure and its axes; ``size`` is per panel (inches)."""
    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), **kwargs)
    return fig, axes


def _column_values(values: Any) -> list[Any]:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    if hasattr(values, "tolist"):
        values = values.tolist()
    return list(values)


def write_columns_csv(path: Path, data: dict[str, Sequence[Any]]) -> Path:
    """Write named columns (possibly of different lengths) as CSV; short columns are padded empty."""
    columns = {str(k): _column_values(v) for k, v in data.items()}
    length = max((len(v) for v in columns.values()), default=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns.keys())
        for i in range(length):
            writer.writerow([col[i] if i < len(col) else "" for col in columns.values()])
    return path


def save_figure(
    fig: Any, path_stem: str | Path, data: dict[str, Sequence[Any]] | None = None, dpi: int = 120
) -> Path:
    """Save ``fig`` as ``<stem>.png`` and, with ``data``, its numbers as ``<stem>.csv``.

    Returns the PNG path. The figure is closed afterwards.
    """
    stem = Path(path_stem)
    if stem.suffix in {".png", ".csv"}:
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.with_suffix(".png")
    fig.tight_layout()
    fig.savefig(png, dpi=dpi)
    plt.close(fig)
    if data is not None:
        write_columns_csv(stem.with_suffix(".csv"), data)
    return png


def markdown_table(rows: list[dict[str, Any]], float_format: str = "{:.4g}") -> str:
    """Render dict rows (shared keys in first-seen order) as a GitHub markdown table."""
    if not rows:
        return ""
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)

    def fmt(value: Any) -> str:
        if isinstance(value, float):
            return float_format.format(value)
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    lines += ["| " + " | ".join(fmt(row.get(k)) for k in keys) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def save_table(rows: list[dict[str, Any]], path_stem: str | Path, title: str | None = None) -> str:
    """Write rows as ``<stem>.csv``, ``<stem>.md`` and ``<stem>.json``; return the markdown."""
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    markdown = markdown_table(rows)
    if title:
        markdown = f"### {title}\n\n{markdown}"
    stem.with_suffix(".md").write_text(markdown, encoding="utf-8")
    stem.with_suffix(".json").write_text(
        json.dumps(rows, indent=2, default=str) + "\n", encoding="utf-8"
    )
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row if k not in keys)
    with open(stem.with_suffix(".csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    return markdown

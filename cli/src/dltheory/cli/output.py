"""One way to print a command's result: JSON (``--json``, strict: NaN as null) or text.

Text: a list of records is a markdown table (under an optional title); a record is one
``key: value`` line per field, floats to four significant digits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import typer


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def echo_result(result: Any, as_json: bool, *, title: str = "", hide: Iterable[str] = ()) -> None:
    """Print ``result`` (a dict or a list of dicts) for the user, or as JSON for a program.

    ``hide`` names fields left out of the text form only (e.g. a nested config).
    """
    from dltheory.core.jsonio import dumps

    if as_json:
        typer.echo(dumps(result, default=str))  # one line: the last line of the output parses
        return
    hidden = set(hide)
    if isinstance(result, Mapping):
        if title:
            typer.echo(f"## {title}")
        width = max((len(str(k)) for k in result if k not in hidden), default=0)
        for key, value in result.items():
            if key not in hidden:
                typer.echo(f"{key!s:>{width}}: {_fmt(value)}")
        return
    from dltheory.core.plotting import markdown_table

    rows = [{k: v for k, v in row.items() if k not in hidden} for row in result]
    if title:
        typer.echo(f"## {title}")
    typer.echo(markdown_table(rows).rstrip("\n"))

"""A tiny plugin used by the CLI tests: a command, a user error, and a reproduce."""

import json
from pathlib import Path

import typer

app = typer.Typer(help="A working test plugin", no_args_is_help=True)


@app.command()
def hello(name: str = "world") -> None:
    """Print a greeting."""
    typer.echo(f"hello {name}")


@app.command()
def fail() -> None:
    """Raise a user-facing error."""

    class BadInput(Exception):
        dltheory_user_error = True

    raise BadInput("the input is wrong\nsecond line is not shown")


@app.command()
def reproduce(
    out: Path = typer.Option(..., "--out"), scale: str = typer.Option("quick", "--scale")
) -> None:
    """Write a tiny figure, a manifest and claims.json (the slope measured from FAKE_SLOPE)."""
    import os

    from dltheory.core.claims import ClaimBoard

    from .claims import CLAIMS

    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (out / "table.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    manifest = {
        "title": "Fake reproduction",
        "figures": [{"path": "curve.png", "caption": "a curve"}],
        "tables": [{"path": "table.md", "caption": "a table"}],
        "metrics": {"scale": scale},
        "notes": ["ran"],
    }
    if os.environ.get("FAKE_BAD_MANIFEST"):
        (out / "manifest.json").write_text("{not json")
    else:
        (out / "manifest.json").write_text(json.dumps(manifest))
    board = ClaimBoard(CLAIMS, scale)
    board.measure("fakegood.slope", float(os.environ.get("FAKE_SLOPE", "0.51")), 0.01, seeds=3)
    board.write(out)
    if os.environ.get("FAKE_FAIL"):
        raise SystemExit("fake failure after writing")
    typer.echo("reproduced")

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
def reproduce(out: Path = typer.Option(..., "--out"), quick: bool = typer.Option(False, "--quick")) -> None:
    """Write a tiny figure and a manifest."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (out / "table.md").write_text("| a | b |\n|---|---|\n| 1 | 2 |\n")
    manifest = {
        "title": "Fake reproduction",
        "figures": [{"path": "curve.png", "caption": "a curve"}],
        "tables": [{"path": "table.md", "caption": "a table"}],
        "metrics": {"quick": quick},
        "notes": ["ran"],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))
    typer.echo("reproduced")

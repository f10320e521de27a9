"""The root ``dltheory`` command.

``dltheory --help`` lists built-in commands and installed plugins from metadata alone; a plugin is
imported only when its subcommand is resolved for running.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import click
import typer
from typer.core import TyperGroup

from dltheory.cli.plugins import Plugin, discover_plugins, load_plugin


class PluginGroup(TyperGroup):
    """A Typer group whose plugin subcommands are loaded lazily."""

    def _plugins(self) -> dict[str, Plugin]:
        if not hasattr(self, "_plugin_cache"):
            self._plugin_cache = discover_plugins()
        return self._plugin_cache

    def list_commands(self, ctx: click.Context) -> list[str]:
        builtins = super().list_commands(ctx)
        return builtins + sorted(n for n in self._plugins() if n not in builtins)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None:
            return builtin
        plugin = self._plugins().get(cmd_name)
        if plugin is None:
            return None
        # Help listings only need the name and summary: don't import the plugin for them.
        return click.Command(cmd_name, help=plugin.summary, short_help=plugin.summary)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = click.utils.make_str(args[0]) if args else None
        plugin = self._plugins().get(name) if name else None
        if plugin is not None and name is not None and super().get_command(ctx, name) is None:
            return name, load_plugin(plugin), args[1:]
        return super().resolve_command(ctx, args)


app = typer.Typer(
    cls=PluginGroup,
    name="dltheory",
    help="Reproduce and extend deep-learning theory papers. Each subcommand is an installed subpackage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def info() -> None:
    """Versions of the installed dltheory distributions, Python, torch, and the accelerators."""
    from dltheory.cli.info import print_info

    print_info()


SCALE_HELP = (
    "quick: minutes on a CPU; full: the largest setting one 2-core CPU runs in about 30 minutes per "
    "package; paper: the paper's own setting (checks its data and devices first)."
)


@app.command()
def reproduce(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the report and each subpackage's figures.")
    ] = Path("reproduce-out"),
    scale: Annotated[str, typer.Option("--scale", help=SCALE_HELP)] = "quick",
    quick: Annotated[bool, typer.Option("--quick", help="Same as --scale quick.")] = False,
    only: Annotated[
        str | None, typer.Option("--only", help="Comma-separated subpackages to run.")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="Passed to each subpackage.")
    ] = None,
) -> None:
    """Run every installed subpackage's `reproduce`; write claims.json, index.html and README.md."""
    from dltheory.cli.reproduce import reproduce_all

    if scale not in ("quick", "full", "paper"):
        raise click.BadParameter(
            f"must be quick, full or paper, not {scale!r}", param_hint="--scale"
        )
    if quick and scale != "quick":
        raise click.BadParameter(
            "--quick means --scale quick; give one of them", param_hint="--quick"
        )
    code = reproduce_all(out=out, scale=scale, only=only, device=device)
    raise typer.Exit(code)


@app.command()
def claims(
    only: Annotated[str | None, typer.Option("--only", help="Comma-separated subpackages.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON records (measured is null).")
    ] = False,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from", help="Show the verdicts of an earlier `dltheory reproduce --out DIR`."
        ),
    ] = None,
) -> None:
    """List every declared paper claim of the installed subpackages, without running anything."""
    from dltheory.cli.claims import print_declared, print_verdicts

    if from_dir is not None:
        raise typer.Exit(print_verdicts(from_dir, only, as_json))
    raise typer.Exit(print_declared(only, as_json))


def _debug() -> bool:
    return os.environ.get("DLTHEORY_DEBUG", "") not in ("", "0", "false", "no")


def run_app(
    command: typer.Typer | click.Command,
    prog_name: str | None = None,
    args: list[str] | None = None,
) -> NoReturn:
    """Run a Typer app or click command with dltheory's error handling, then exit.

    Errors meant for the user (exception classes with ``dltheory_user_error = True``) print one
    line and exit 2; ``DLTHEORY_DEBUG=1`` re-raises them with their traceback.
    """
    if isinstance(command, typer.Typer):
        command = typer.main.get_command(command)
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except Exception as exc:
        if getattr(type(exc), "dltheory_user_error", False) and not _debug():
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            click.echo(f"error: {message}", err=True)
            sys.exit(getattr(exc, "exit_code", 2))
        raise
    sys.exit(result if isinstance(result, int) else 0)


def main() -> None:
    run_app(app, prog_name="dltheory")

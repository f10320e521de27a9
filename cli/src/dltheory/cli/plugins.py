"""Discovery of subcommands through the ``dltheory.commands`` entry-point group.

Listing plugins reads only distribution metadata; a plugin module is imported by ``load_plugin``
alone, i.e. when its subcommand runs.
"""

from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass
from importlib import metadata

import click

GROUP = "dltheory.commands"


@dataclass(frozen=True)
class Plugin:
    name: str
    entry_point: metadata.EntryPoint
    distribution: str
    version: str
    summary: str


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=GROUP))


def discover_plugins() -> dict[str, Plugin]:
    """Installed plugins by name, restricted by ``DLTHEORY_PLUGINS=a,b`` when set."""
    allowed = os.environ.get("DLTHEORY_PLUGINS")
    wanted = {n.strip() for n in allowed.split(",") if n.strip()} if allowed else None
    plugins: dict[str, Plugin] = {}
    for ep in sorted(_entry_points(), key=lambda e: e.name):
        if wanted is not None and ep.name not in wanted:
            continue
        if ep.name in plugins:
            continue  # first distribution providing a name wins
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "unknown"
        version = dist.version if dist is not None else "?"
        summary = (dist.metadata["Summary"] or "") if dist is not None else ""
        plugins[ep.name] = Plugin(ep.name, ep, dist_name, version, summary)
    return plugins


def selected_plugins(plugins: dict[str, Plugin], only: str | None) -> dict[str, Plugin]:
    """``plugins`` restricted to ``--only a,b``; names that are not installed are a usage error,
    in ``--only`` and in ``DLTHEORY_PLUGINS`` alike (a typo must not silently select nothing)."""
    installed = {ep.name for ep in _entry_points()}
    allowed = os.environ.get("DLTHEORY_PLUGINS")
    if allowed:
        typos = sorted(
            n.strip() for n in allowed.split(",") if n.strip() and n.strip() not in installed
        )
        if typos:
            raise click.UsageError(
                f"DLTHEORY_PLUGINS names {', '.join(typos)}, not installed "
                f"(installed: {', '.join(sorted(installed)) or 'none'})"
            )
    if not only:
        return plugins
    wanted = [n.strip() for n in only.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in plugins]
    if unknown:
        raise click.UsageError(
            f"--only names {', '.join(unknown)}, not installed (installed: {', '.join(plugins) or 'none'})"
        )
    return {n: plugins[n] for n in wanted}


def _debug() -> bool:
    return os.environ.get("DLTHEORY_DEBUG", "") not in ("", "0", "false", "no")


def failed_plugin_command(plugin: Plugin, exc: BaseException) -> click.Command:
    """A stand-in command that explains why the plugin could not be imported, and exits 1."""
    reason = f"{type(exc).__name__}: {exc}".strip()
    details = traceback.format_exception(type(exc), exc, exc.__traceback__)

    def explain() -> None:
        click.echo(
            f"error: the '{plugin.name}' command from {plugin.distribution} {plugin.version} "
            f"failed to import: {reason}",
            err=True,
        )
        if _debug():
            click.echo("".join(details), err=True)
        else:
            click.echo("set DLTHEORY_DEBUG=1 to see the traceback", err=True)
        sys.exit(1)

    command = click.Command(
        plugin.name,
        callback=explain,
        help=f"(broken) {plugin.summary}",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
    )
    command.import_error = reason  # type: ignore[attr-defined]
    return command


def load_plugin(plugin: Plugin) -> click.Command:
    """Import a plugin and return its click command (a failing stand-in if the import fails)."""
    try:
        obj = plugin.entry_point.load()
        return as_click_command(obj, plugin.name)
    except Exception as exc:
        return failed_plugin_command(plugin, exc)


def as_click_command(obj: object, name: str) -> click.Command:
    import typer

    if isinstance(obj, typer.Typer):
        command = typer.main.get_command(obj)
    elif isinstance(obj, click.Command):
        command = obj
    else:
        raise TypeError(f"entry point '{name}' is neither a typer.Typer nor a click command")
    command.name = name
    return command

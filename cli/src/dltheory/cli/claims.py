"""``dltheory claims``: the declared claims of the installed subpackages, and earlier verdicts.

A subpackage declares its claims in ``<package>.claims`` (the package of its ``dltheory.commands``
entry point) as ``CLAIMS``, data only: listing them imports neither torch nor the package's code.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import click

from dltheory.cli.plugins import Plugin, discover_plugins, selected_plugins


def claims_module_name(plugin: Plugin) -> str:
    """``dltheory.dfa.cli:app`` -> ``dltheory.dfa.claims``."""
    module = plugin.entry_point.value.split(":", 1)[0]
    package = module.rsplit(".", 1)[0] if "." in module else module
    return f"{package}.claims"


def declared_claims(plugin: Plugin) -> list[Any]:
    """The plugin's ``CLAIMS`` ([] when it declares none); ImportError-free failures propagate."""
    name = claims_module_name(plugin)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return []
        raise
    return list(getattr(module, "CLAIMS", ()))


def collect_declared(only: str | None) -> tuple[dict[str, list[Any]], dict[str, str]]:
    """Claims per plugin name, and a one-line error per plugin whose claims cannot be read."""
    plugins = selected_plugins(discover_plugins(), only)
    found: dict[str, list[Any]] = {}
    errors: dict[str, str] = {}
    for name, plugin in plugins.items():
        try:
            found[name] = declared_claims(plugin)
        except Exception as exc:
            errors[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return found, errors


def _short(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def print_declared(only: str | None, as_json: bool) -> int:
    found, errors = collect_declared(only)
    records = [claim.declared_record() for claims in found.values() for claim in claims]
    if as_json:
        click.echo(json.dumps(records, indent=2))
    else:
        for name, claims in found.items():
            click.echo(f"{name} ({len(claims)} claims)")
            for claim in claims:
                click.echo(
                    f"  {claim.id:38s} {claim.paper:11s} {_short(claim.where, 14):14s} "
                    f"{_short(claim.statement, 70)}"
                )
                click.echo(f"  {'':38s} paper: {_short(claim.expected, 90)}")
    for name, message in errors.items():
        click.echo(f"error: the claims of '{name}' cannot be read: {message}", err=True)
    return 1 if errors else 0


def print_verdicts(folder: Path, only: str | None, as_json: bool) -> int:
    from dltheory.core.claims import ClaimError, format_measured, read_claims, verdict_counts

    merged = folder / "claims.json"
    try:
        if merged.exists():
            records = read_claims(merged)
        else:
            files = sorted(folder.glob("*/claims.json"))
            if not files and (folder.parent / "claims.json").exists():
                files = [folder / "claims.json"]
            if not files:
                raise click.UsageError(
                    f"{folder} holds no claims.json: run `dltheory reproduce --out {folder}` first"
                )
            records = [r for f in files for r in read_claims(f)]
    except ClaimError as exc:
        raise click.UsageError(str(exc)) from None
    if only:
        wanted = {n.strip() for n in only.split(",") if n.strip()}
        records = [r for r in records if r["id"].split(".", 1)[0] in wanted]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return 0
    counts = verdict_counts(records)
    click.echo(", ".join(f"{v} {n}" for v, n in counts.items()))
    for r in records:
        click.echo(
            f"{r['verdict']:10s} {r['id']:38s} {format_measured(r):24s} {_short(r['reason'] or '', 60)}"
        )
    return 0

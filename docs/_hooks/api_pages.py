"""mkdocs hook: one API reference page per distribution, from the modules found at build time.

Nothing is hard-coded: every `packages/<name>/` with a `pyproject.toml` (and `cli/`) gets a page
`api/<name>.md` that documents the package docstring and each public module (files and
subpackages not starting with `_`, except `__main__`), so a renamed or added module appears on
the next build without editing the docs. CONTRIBUTING.md and CHANGELOG.md are
published as they are. Each page opens with the command-line reference, read
from the Typer app's click commands (torch-free), and the navigation is built here too.
"""

from __future__ import annotations

import importlib
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import click
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.api_pages")

REPO = Path(__file__).resolve().parents[2]
ORDER = ["core", "cli"]  # then the paper subpackages, alphabetically


def _distributions() -> dict[str, Path]:
    """Short name -> the folder holding src/dltheory/<name>/."""
    found = {"cli": REPO / "cli"}
    for pyproject in sorted((REPO / "packages").glob("*/pyproject.toml")):
        found[pyproject.parent.name] = pyproject.parent
    ordered = [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER)
    return {name: found[name] for name in ordered}


def _project_field(folder: Path, field: str) -> str:
    match = re.search(rf'^{field}\s*=\s*"([^"]*)"', (folder / "pyproject.toml").read_text(), re.M)
    return match[1] if match else ""


def _modules(package_dir: Path, dotted: str) -> list[str]:
    """Public modules and subpackages under package_dir, depth first, in name order."""
    names: list[str] = []
    for entry in sorted(package_dir.iterdir()):
        if entry.name.startswith("_"):
            continue
        if entry.suffix == ".py":
            names.append(f"{dotted}.{entry.stem}")
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            names.append(f"{dotted}.{entry.name}")
            names.extend(_modules(entry, f"{dotted}.{entry.name}"))
    return names


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _option_rows(command: click.Command) -> list[str]:
    rows = ["| option | type | default | help |", "|---|---|---|---|"]
    for param in command.params:
        if not isinstance(param, click.Option) or param.hidden:
            continue
        flags = " / ".join(f"`{opt}`" for opt in (*param.opts, *param.secondary_opts))
        kind = "flag" if param.is_flag else param.type.name.upper()
        default = param.default
        shown = "" if default is None or callable(default) or default == () else f"`{default}`"
        rows.append(f"| {flags} | {kind} | {_cell(shown)} | {_cell(param.help or '')} |")
    return rows


def _command_sections(command: click.Command, path: str, level: int) -> list[str]:
    lines = [f"{'#' * level} `{path}`", ""]
    if command.help:
        lines += [command.help.strip(), ""]
    args = [p for p in command.params if isinstance(p, click.Argument)]
    if args:
        usage = " ".join(a.make_metavar(click.Context(command)) for a in args)
        lines += [f"Arguments: `{usage}`", ""]
    rows = _option_rows(command)
    if len(rows) > 2:
        lines += [*rows, ""]
    if isinstance(command, click.Group):
        for sub_name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                lines += _command_sections(sub, f"{path} {sub_name}", level + 1)
    return lines


def _cli_reference(name: str) -> list[str]:
    """The command-line reference of `dltheory <name>` (or of the root command for cli)."""
    with warnings.catch_warnings():  # typer's imports of deprecated click helpers
        warnings.simplefilter("ignore", DeprecationWarning)
        import typer

    try:
        if name == "cli":
            app = importlib.import_module("dltheory.cli.app").app
            prog = "dltheory"
        else:
            app = importlib.import_module(f"dltheory.{name}.cli").app
            prog = f"dltheory {name}"
        group = typer.main.get_command(app)
    except Exception as exc:  # a broken CLI must not pass unnoticed: --strict fails on this
        log.warning("api_pages: cannot load the command line of %s: %s", name, exc)
        return []
    lines = ["## Command line", ""]
    if name == "cli":
        lines += [
            "`dltheory --help` lists the installed subpackages; the commands below are the "
            "root command's own.",
            "",
        ]
    if isinstance(group, click.Group):
        if group.help and name != "cli":
            lines += [group.help.strip(), ""]
        for sub_name, sub in sorted(group.commands.items()):
            if not sub.hidden:
                lines += _command_sections(sub, f"{prog} {sub_name}", 3)
    else:
        lines += _command_sections(group, prog, 3)
    return lines


def _page(name: str, folder: Path) -> str:
    dotted = f"dltheory.{name}"
    package_dir = folder / "src" / "dltheory" / name
    distribution = _project_field(folder, "name")
    lines = [
        f"# {distribution}",
        "",
        _project_field(folder, "description"),
        "",
        f"`pip install {distribution}` ([installing](../install.md)); source in "
        f"`{folder.relative_to(REPO)}/src/dltheory/{name}/`.",
        "",
        f"::: {dotted}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "",
    ]
    if (package_dir / "cli.py").is_file():
        lines += _cli_reference(name)
        lines += ["## Library", ""]
    for module in _modules(package_dir, dotted):
        if name != "cli" and module == f"{dotted}.cli":
            continue  # a Typer app: its reference is `--help`
        lines += [f"::: {module}", ""]
    return "\n".join(lines)


def on_config(config: Any) -> Any:
    api = [{f"dltheory.{name}": f"api/{name}.md"} for name in _distributions()]
    config["nav"] = [
        {"Home": "index.md"},
        {"Installing": "install.md"},
        {"Threads": "threads.md"},
        {"Contributing": "contributing.md"},
        {"Changelog": "changelog.md"},
        {"API reference": api},
    ]
    return config


def on_files(files: Files, config: Any) -> Files:
    for page, source in (("contributing.md", "CONTRIBUTING.md"), ("changelog.md", "CHANGELOG.md")):
        files.append(File.generated(config, page, content=(REPO / source).read_text()))
    for name, folder in _distributions().items():
        files.append(File.generated(config, f"api/{name}.md", content=_page(name, folder)))
    return files

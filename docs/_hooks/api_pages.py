"""mkdocs hook: one API reference page per distribution, from the modules found at build time.

Nothing is hard-coded: every `packages/<name>/` with a `pyproject.toml` (and `cli/`) gets a page
`api/<name>.md` that documents the package docstring and each public module (files and
subpackages not starting with `_`, except `__main__`), so a renamed or added module appears on
the next build without editing the docs. The navigation is built here too.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

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
    if name != "cli":
        lines += [f"The command line: `dltheory {name} --help` (module `{dotted}.cli`).", ""]
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
        {"API reference": api},
    ]
    return config


def on_files(files: Files, config: Any) -> Files:
    for name, folder in _distributions().items():
        files.append(File.generated(config, f"api/{name}.md", content=_page(name, folder)))
    return files

"""nox sessions: tests, demo, lint, typecheck, bench, build, docs, examples, isolation.

Every session runs in the shared development environment made by `dev/run setup` (.venv, torch
installed once, every distribution editable, the dev tools), so nothing is downloaded and each
session works offline. `isolation` builds, for each subpackage, an environment holding only
cli + core + that subpackage (third-party packages linked, not reinstalled) and runs its tests.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
REPO = Path(__file__).parent
VENV_BIN = REPO / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python")
PLUGINS = sorted(
    p.name
    for p in (REPO / "packages").iterdir()
    if (p / "pyproject.toml").is_file() and p.name != "core"
)


def _tool(name: str, session: nox.Session | None = None) -> str:
    path = VENV_BIN / name
    if session is not None and not path.exists():
        session.error(f"{path} missing: .venv/bin/python -m pip install -r dev/requirements.txt")
    return str(path)


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite (what CI runs)."""
    session.run("./dev/run", "test", *session.posargs, external=True)


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """`dltheory reproduce --quick` into reproduce-out/."""
    session.run("./dev/run", "demo", *session.posargs, external=True)


@nox.session(venv_backend="none")
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole repository."""
    session.run(_tool("ruff"), "check", ".", external=True)
    session.run(_tool("ruff"), "format", "--check", ".", external=True)


@nox.session(venv_backend="none")
def typecheck(session: nox.Session) -> None:
    """mypy: strict on dltheory.core and dltheory.cli, basic on the subpackages."""
    mypy = _tool("mypy", session)
    if session.posargs:
        session.run(mypy, *session.posargs, external=True)
        return
    session.run(mypy, "--strict", "-p", "dltheory.core", "-p", "dltheory.cli", external=True)
    packages = [arg for name in PLUGINS for arg in ("-p", f"dltheory.{name}")]
    session.run(mypy, *packages, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Every subpackage's benchmarks (tables printed; JSON only where --out is given)."""
    session.run("./dev/run", "bench", external=True)


@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """A wheelhouse: one wheel per distribution in dist/ (offline, no build isolation).

    `pip install --no-index --find-links dist dltheory-dfa` then installs dfa with core and cli.
    """
    session.run(PYTHON, "dev/build-wheelhouse", "--out", "dist", *session.posargs, external=True)


@nox.session(venv_backend="none")
def docs(session: nox.Session) -> None:
    """The API reference site (mkdocs + mkdocstrings) into site/, offline and --strict."""
    shutil.rmtree(REPO / "site", ignore_errors=True)
    session.run(_tool("mkdocs", session), "build", "--strict", *session.posargs, external=True)


@nox.session(venv_backend="none")
def examples(session: nox.Session) -> None:
    """Every examples/*.py at its smallest setting (DLTHEORY_EXAMPLE_SMOKE=1)."""
    session.run(PYTHON, "dev/run-examples", *session.posargs, external=True)


@nox.session(venv_backend="none")
def isolation(session: nox.Session) -> None:
    """Each subpackage's tests in an environment holding only cli + core + it."""
    session.run("./dev/run", "setup", external=True)
    names = session.posargs or PLUGINS
    for name in names:
        python = f".iso/{name}/bin/python"
        session.run(PYTHON, "dev/isolated_env.py", name, external=True)
        session.run(python, "-m", "dltheory.cli", "--help", external=True)
        session.run(python, "-m", "pytest", "-q", f"packages/{name}/tests", external=True)

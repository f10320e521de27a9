"""nox sessions: tests, demo, lint, bench, build, isolation.

`tests`, `demo` and `bench` run in the shared development environment made by `dev/run setup`
(.venv, torch installed once). `isolation` builds, for each subpackage, an environment holding only
cli + core + that subpackage (third-party packages linked, not reinstalled) and runs its tests.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
REPO = Path(__file__).parent
PLUGINS = sorted(
    p.name
    for p in (REPO / "packages").iterdir()
    if (p / "pyproject.toml").is_file() and p.name != "core"
)
DISTRIBUTIONS = ["cli", "packages/core", *[f"packages/{name}" for name in PLUGINS]]


@nox.session(venv_backend="none")
def tests(session: nox.Session) -> None:
    """The whole test suite (what CI runs)."""
    session.run("./dev/run", "test", *session.posargs, external=True)


@nox.session(venv_backend="none")
def demo(session: nox.Session) -> None:
    """`dltheory reproduce --quick` into reproduce-out/."""
    session.run("./dev/run", "demo", *session.posargs, external=True)


@nox.session(venv_backend="none")
def bench(session: nox.Session) -> None:
    """Every subpackage's benchmarks (tables printed, JSON written)."""
    session.run("./dev/run", "bench", external=True)


@nox.session(venv_backend="none")
def isolation(session: nox.Session) -> None:
    """Each subpackage's tests in an environment holding only cli + core + it."""
    session.run("./dev/run", "setup", external=True)
    names = session.posargs or PLUGINS
    for name in names:
        python = f".iso/{name}/bin/python"
        session.run(".venv/bin/python", "dev/isolated_env.py", name, external=True)
        session.run(python, "-m", "dltheory.cli", "--help", external=True)
        session.run(python, "-m", "pytest", "-q", f"packages/{name}/tests", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the whole repository."""
    session.install("ruff")
    session.run("ruff", "check", ".")


@nox.session
def build(session: nox.Session) -> None:
    """Wheels and sdists for every distribution into dist/."""
    session.install("build")
    for dist in DISTRIBUTIONS:
        session.run("python", "-m", "build", "--outdir", "dist", dist)

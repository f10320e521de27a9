"""Fixtures for the cross-package tests: real installs of fake plugins into a folder on PYTHONPATH."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FAKE_PLUGINS = Path(__file__).resolve().parent / "fake_plugins"


def pip_install_target(target: Path, *projects: Path) -> None:
    """Build and install projects into ``target`` with pip (no network: no deps, no build isolation)."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
    ]
    subprocess.run(cmd + [str(p) for p in projects], check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def fake_plugin_site(tmp_path_factory) -> Path:
    """A folder holding the installed good and broken fake plugins (dist-info and all)."""
    target = tmp_path_factory.mktemp("fake-site")
    pip_install_target(target, FAKE_PLUGINS / "good", FAKE_PLUGINS / "broken")
    return target


@pytest.fixture
def run_cli(fake_plugin_site):
    """Run ``python -m dltheory.cli ...`` with the fake plugins installed, only them enabled by default."""

    def run(
        *args: str, env: dict[str, str] | None = None, plugins: str | None = "fakegood,fakebroken"
    ):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("DLTHEORY_")}
        full_env["PYTHONPATH"] = os.pathsep.join(
            [str(fake_plugin_site), full_env.get("PYTHONPATH", "")]
        )
        if plugins is not None:
            full_env["DLTHEORY_PLUGINS"] = plugins
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "dltheory.cli", *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=300,
        )

    return run

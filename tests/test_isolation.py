"""Each subpackage alone: an environment with only cli + core + that plugin.

Here the check is that `dltheory --help` lists only that plugin and that its test modules import
(collection). `nox -s isolation` runs each plugin's full test suite in the same environments.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PLUGINS = sorted(
    p.name
    for p in (REPO / "packages").iterdir()
    if (p / "pyproject.toml").is_file() and p.name != "core"
)
sys.path.insert(0, str(REPO / "dev"))
from isolated_env import build  # noqa: E402


@pytest.mark.parametrize("name", PLUGINS)
def test_plugin_alone(name, tmp_path):
    python = build(name, tmp_path / "iso")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("DLTHEORY_") and k != "PYTHONPATH"
    }
    env["COLUMNS"] = "200"
    listing = subprocess.run(
        [str(python), "-m", "dltheory.cli", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    listed = {
        line.split()[1]
        for line in listing.stdout.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2
    }
    assert listed - {"info", "reproduce", "claims", "--help"} == {name}
    collect = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            str(REPO / "packages" / name / "tests"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=REPO,
    )
    assert collect.returncode == 0, collect.stdout[-3000:] + collect.stderr[-3000:]

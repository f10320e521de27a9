"""The install story: one version, compatible internal pins, and a wheelhouse that installs.

The wheelhouse test builds the wheels of cli, core and dfa offline, installs `dltheory-dfa` from
them with `pip install --no-index --find-links` into a fresh environment that has torch but no
dltheory distribution, and runs `dltheory dfa --help` and a one-epoch `dltheory dfa train` there.
"""

from __future__ import annotations

import json
import os
import re
import site
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[1]
DISTS = ("cli", "core", "dfa")
PYPROJECTS = [REPO / "cli" / "pyproject.toml", *sorted(REPO.glob("packages/*/pyproject.toml"))]


def _projects() -> dict[str, dict]:
    return {p.parent.name: tomllib.loads(p.read_text())["project"] for p in PYPROJECTS}


def test_every_distribution_has_the_same_static_version():
    projects = _projects()
    versions = {name: project.get("version") for name, project in projects.items()}
    assert None not in versions.values(), f"a distribution has no static version: {versions}"
    assert len(set(versions.values())) == 1, f"versions differ: {versions}"


def test_internal_dependencies_are_pinned_compatibly_with_the_version():
    projects = _projects()
    internal = {project["name"] for project in projects.values()}
    version = Version(next(iter(projects.values()))["version"])
    checked = 0
    for project in projects.values():
        for line in project.get("dependencies", []):
            req = Requirement(line)
            if req.name not in internal:
                continue
            checked += 1
            assert str(req.specifier), f"{project['name']}: {req.name} is unpinned"
            assert version in req.specifier, f"{project['name']}: {line} excludes {version}"
            # The pin admits no incompatible release: the next minor (0.x) or major (>=1).
            bump = (
                Version(f"0.{version.minor + 1}.0")
                if version.major == 0
                else Version(f"{version.major + 1}.0.0")
            )
            assert bump not in req.specifier, f"{project['name']}: {line} admits {bump}"
    # Every paper subpackage depends on core and cli.
    assert checked == 2 * (len(projects) - 2)


def test_dev_version_agrees():
    result = subprocess.run(
        [sys.executable, str(REPO / "dev" / "version")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _projects()["core"]["version"]


def _site_dirs() -> list[Path]:
    """This interpreter's site-packages folders, its own first (a venv made with
    --system-site-packages also sees the base interpreter's)."""
    dirs = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    dirs += site.getsitepackages()
    unique = dict.fromkeys(Path(d).resolve() for d in dirs)
    return [d for d in unique if d.is_dir()]


def _torch_base_env(root: Path) -> Path:
    """A fresh environment with this interpreter's third-party packages (torch) and no dltheory.

    The development environment is a virtual environment, and `venv --system-site-packages`
    made from it would see the base interpreter (without torch), not it. So the new
    environment's site-packages links every entry of ours except the dltheory ones (dist-info,
    editable .pth files and finders): torch is shared, never reinstalled, and nothing of the
    editable checkout leaks in. pip is shared the same way.
    """
    venv.EnvBuilder(with_pip=False, symlinks=True).create(root)
    python = root / "bin" / "python"
    target = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    for source in _site_dirs():
        for entry in source.iterdir():
            if "dltheory" in entry.name.lower() or entry.name == "__pycache__":
                continue
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry)
    return python


def _clean_env(env_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PIP_"))}
    env.pop("DLTHEORY_PLUGINS", None)
    env["VIRTUAL_ENV"] = str(env_dir)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    # No configured index, find-links or constraints: the wheelhouse is the only source, so an
    # unsatisfied requirement fails the resolution instead of replacing a linked (shared) package.
    env["PIP_CONFIG_FILE"] = os.devnull
    env["DLTHEORY_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = "1"
    return env


def _installed(python: Path, env: dict[str, str], cwd: Path) -> dict[str, dict]:
    out = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "-v"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    ).stdout
    return {row["name"].lower(): row for row in json.loads(out)}


def test_wheelhouse_installs_dfa_with_core_and_cli_in_a_fresh_env(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    subprocess.run(
        [sys.executable, str(REPO / "dev" / "build-wheelhouse"), "--out", str(wheelhouse), *DISTS],
        check=True,
        capture_output=True,
    )
    wheels = sorted(p.name for p in wheelhouse.glob("*.whl"))
    assert [re.sub(r"-.*", "", w) for w in wheels] == [f"dltheory_{d}" for d in DISTS]
    for typed in ("core", "cli"):  # typed packages ship their marker (PEP 561)
        wheel = next(wheelhouse.glob(f"dltheory_{typed}-*.whl"))
        with zipfile.ZipFile(wheel) as zf:
            assert f"dltheory/{typed}/py.typed" in zf.namelist(), f"{wheel.name} lacks py.typed"
    dfa_wheel = next(wheelhouse.glob("dltheory_dfa-*.whl"))
    with zipfile.ZipFile(dfa_wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = [
        Requirement(line.split(":", 1)[1])
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]
    internal = {r.name: r for r in requires if r.name.startswith("dltheory-")}
    assert set(internal) == {"dltheory-core", "dltheory-cli"}
    assert all(str(r.specifier) for r in internal.values()), internal
    assert "dltheory/__init__.py" not in names  # PEP 420 namespace

    env_dir = tmp_path / "env"
    python = _torch_base_env(env_dir)
    env = _clean_env(env_dir)
    work = tmp_path / "work"
    work.mkdir()
    before = _installed(python, env, work)
    assert "torch" in before
    assert not [name for name in before if name.startswith("dltheory")], before
    probe = subprocess.run([str(python), "-c", "import dltheory"], env=env, cwd=work)
    assert probe.returncode != 0, "dltheory importable before the install: the checkout leaks in"

    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            "dltheory-dfa",
        ],
        check=True,
        env=env,
        cwd=work,
    )
    after = _installed(python, env, work)
    for name in (f"dltheory-{d}" for d in DISTS):
        assert name in after, sorted(after)
        assert "editable_project_location" not in after[name], after[name]
        assert Path(after[name]["location"]).resolve().is_relative_to(env_dir.resolve())
    assert sorted(n for n in after if n.startswith("dltheory")) == [f"dltheory-{d}" for d in DISTS]

    dltheory = env_dir / "bin" / "dltheory"
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import dltheory.dfa, dltheory.core; print(dltheory.dfa.__file__);"
            " print(dltheory.core.__file__)",
        ],
        env=env,
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(Path(p).resolve().is_relative_to(env_dir.resolve()) for p in where), where

    helped = subprocess.run(
        [str(dltheory), "dfa", "--help"], env=env, cwd=work, capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert "train" in helped.stdout

    run = work / "run"
    trained = subprocess.run(
        [str(dltheory), "dfa", "train", "--out", str(run), "--epochs", "1", "--device", "cpu"],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert trained.returncode == 0, trained.stdout[-2000:] + trained.stderr[-2000:]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert metrics, "the run logged nothing"


def test_dev_version_set_rewrites_versions_and_pins_only(tmp_path):
    (tmp_path / "dev").mkdir()
    script = tmp_path / "dev" / "version"
    script.write_text((REPO / "dev" / "version").read_text())
    originals = {}
    for path in PYPROJECTS:
        copy = tmp_path / path.relative_to(REPO)
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(path.read_text())
        originals[copy] = path.read_text()
    result = subprocess.run(
        [sys.executable, str(script), "set", "1.2.3"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1.2.3"
    for copy, before in originals.items():
        project = tomllib.loads(copy.read_text())["project"]
        assert project["version"] == "1.2.3"
        for line in project.get("dependencies", []):
            if line.startswith("dltheory-"):
                assert str(Requirement(line).specifier) == "<2,>=1.2"
        changed = [
            (a, b)
            for a, b in zip(before.splitlines(), copy.read_text().splitlines(), strict=True)
            if a != b
        ]
        assert all("version" in a or "dltheory-" in a for a, _ in changed), changed

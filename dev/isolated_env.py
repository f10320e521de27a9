"""Build an environment that holds only dltheory-cli, dltheory-core and one subpackage.

Third-party packages (torch above all) are not reinstalled: the new environment's site-packages
links to every third-party entry of the development environment, and the three dltheory
distributions are built as wheels and installed for real. So ``dltheory --help`` there lists
only that subpackage, and its tests run without any other dltheory distribution.

    python dev/isolated_env.py NAME [--root .iso]     # prints the new environment's python
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _is_dltheory_entry(name: str) -> bool:
    lowered = name.lower()
    return "dltheory" in lowered and not lowered.startswith("dltheory_fake")


def build(name: str, root: Path) -> Path:
    package = REPO / "packages" / name
    if not (package / "pyproject.toml").is_file():
        raise SystemExit(f"error: no subpackage '{name}' under {REPO / 'packages'}")
    env_dir = root / name
    if env_dir.exists():
        shutil.rmtree(env_dir)
    venv.EnvBuilder(with_pip=False, symlinks=True).create(env_dir)
    python = env_dir / "bin" / "python"
    target_site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    source_site = Path(sysconfig.get_paths()["purelib"])
    for entry in source_site.iterdir():
        if _is_dltheory_entry(entry.name) or entry.name == "__pycache__":
            continue
        link = target_site / entry.name
        if not link.exists():
            link.symlink_to(entry)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            str(REPO / "cli"),
            str(REPO / "packages" / "core"),
            str(package),
        ],
        check=True,
    )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--root", type=Path, default=REPO / ".iso")
    args = parser.parse_args()
    print(build(args.name, args.root))


if __name__ == "__main__":
    main()

"""``dltheory info``: what is installed and which accelerators torch can see."""

from __future__ import annotations

import platform
from importlib import metadata

from rich.console import Console
from rich.table import Table


def dltheory_distributions() -> list[tuple[str, str]]:
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith("dltheory-"):
            found.setdefault(name, dist.version)
    return sorted(found.items())


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def accelerators() -> list[str]:
    try:
        import torch
    except ImportError:
        return ["torch not installed"]
    lines = []
    if torch.cuda.is_available():
        lines.append(f"CUDA {torch.version.cuda}, {torch.cuda.device_count()} device(s)")
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            lines.append(f"  cuda:{i} {props.name}, {props.total_memory / 2**30:.1f} GiB")
    else:
        lines.append("CUDA: not available")
    mps = getattr(torch.backends, "mps", None)
    lines.append(
        "MPS: available" if mps is not None and mps.is_available() else "MPS: not available"
    )
    return lines


def print_info() -> None:
    console = Console()
    table = Table(title="dltheory", show_header=True)
    table.add_column("component")
    table.add_column("version")
    for name, version in dltheory_distributions():
        table.add_row(name, version)
    table.add_row("python", platform.python_version())
    table.add_row("torch", _version("torch"))
    table.add_row("torchvision", _version("torchvision"))
    console.print(table)
    for line in accelerators():
        console.print(line)

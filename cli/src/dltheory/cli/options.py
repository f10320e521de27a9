"""Option aliases shared by every subpackage's commands (torch-free), and config layering help."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer

DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
PrecisionOpt = Annotated[
    str, typer.Option("--precision", help="fp32, bf16 or fp16 (fp16 needs CUDA).")
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Output folder.")]
ResumeOpt = Annotated[
    bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="YAML or JSON file of settings; flags override it.")
]
QuickOpt = Annotated[bool, typer.Option("--quick", help="Small scale: minutes on a CPU.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
DownloadOpt = Annotated[bool, typer.Option("--download", help="Allow downloading the dataset.")]

_EXPLICIT_SOURCES = {click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT}


def explicit_params(ctx: click.Context, exclude: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    """The parameters the user actually gave (on the command line or through the environment).

    These are the overrides that sit on top of the dataclass defaults and the --config file.
    """
    return {
        name: value
        for name, value in ctx.params.items()
        if name not in exclude and ctx.get_parameter_source(name) in _EXPLICIT_SOURCES
    }

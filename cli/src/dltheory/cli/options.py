"""Option aliases shared by every subpackage's commands (torch-free), and config layering help."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable
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


# ---------------------------------------------------------------------------------------------
# Commands generated from a config dataclass: one declaration per field.


@dataclasses.dataclass(frozen=True)
class RunRequest:
    """What the user asked of the run, besides the config itself."""

    resume: bool = False
    overwrite: bool = False
    json: bool = False


_SIMPLE = (bool, int, float, str, Path)


def _cli_type(annotation: Any) -> tuple[Any, Any] | None:
    """(python type for typer, click type or None) of a field, or None when it has no flag."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _cli_type(args[0])
    if origin is typing.Literal:
        return str, click.Choice([str(a) for a in args])
    if origin in (list, tuple):
        return str, None  # "a,b,c": parsed and checked by the config layer
    if annotation in _SIMPLE:
        return annotation, None
    return None


def _flag_name(field: dataclasses.Field[Any]) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def _config_parameters(cls: type) -> list[inspect.Parameter]:
    hints = typing.get_type_hints(cls)
    params = []
    for field in dataclasses.fields(cls):
        spec = _cli_type(hints[field.name])
        if spec is None:
            continue  # nested or exotic values: through --set or --config
        py_type, click_type = spec
        help_text = field.metadata.get("help", "")
        default = field.default if field.default is not dataclasses.MISSING else None
        if default is not None and default != "":
            help_text = f"{help_text} [default: {default}]".strip()
        if py_type is bool:
            name = field.name.replace("_", "-")
            decl = f"--{name}/--no-{name}"
            info = typer.Option(decl, help=help_text, show_default=False)
        else:
            kwargs = {"click_type": click_type} if click_type is not None else {}
            info = typer.Option(_flag_name(field), help=help_text, show_default=False, **kwargs)
        annotation = Annotated[py_type | None, info]  # type: ignore[valid-type]
        params.append(
            inspect.Parameter(
                field.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
            )
        )
    return params


_STANDARD = {
    "config": Annotated[
        Path | None,
        typer.Option("--config", help="YAML or JSON file of settings; flags override it."),
    ],
    "set_": Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="KEY=VALUE override (repeatable; nested keys with dots, values parsed as YAML).",
        ),
    ],
    "resume": Annotated[
        bool, typer.Option("--resume", help="Continue the run in --out from last.pt.")
    ],
    "overwrite": Annotated[
        bool, typer.Option("--overwrite", help="Start afresh in --out, removing its run.")
    ],
    "json_": Annotated[bool, typer.Option("--json", help="Print the result as JSON.")],
}
_STANDARD_DEFAULTS = {
    "config": None,
    "set_": None,
    "resume": False,
    "overwrite": False,
    "json_": False,
}


def _saved_config(out: Any) -> dict[str, Any] | None:
    import json

    path = Path(out) / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        from dltheory.core.errors import ConfigError

        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    return data if isinstance(data, dict) else None


def build_config(
    cls: type, config_file: Path | None, sets: list[str] | None, flags: dict[str, Any], resume: bool
) -> Any:
    """defaults (or, on --resume, the run folder's saved config) < --config file < --set < flags."""
    from dltheory.core.config import parse_set_overrides, read_config_file, resolve_config

    overrides = {**parse_set_overrides(sets), **flags}
    base = None
    if resume:
        file_values = read_config_file(config_file) if config_file is not None else {}
        default_out = getattr(cls(), "out", None)
        out = overrides.get("out", file_values.get("out", default_out))
        base = _saved_config(out) if out is not None else None
    return resolve_config(cls, config_file, overrides, base=base)


def config_command(
    app: typer.Typer,
    cls: type,
    *,
    name: str | None = None,
    hidden: bool = False,
    aliases: tuple[str, ...] = (),
    run_folder: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register ``fn(cfg, request)`` as a command whose options come from ``cls``'s fields.

    Every field with a simple type gets a flag (``--lr``; help from ``option(..., "help")``);
    ``--config``, ``--set KEY=VALUE``, ``--resume``, ``--overwrite`` and ``--json`` are added. Only
    values the user gave override the defaults, the config file or (on ``--resume``) the saved
    config. ``aliases`` registers hidden synonyms (for renamed verbs). ``run_folder=False`` (a
    command that keeps no resumable run in ``--out``) omits ``--resume`` and ``--overwrite``, so
    they are refused rather than silently ignored.
    """
    folder_flags = ("resume", "overwrite")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        field_params = _config_parameters(cls)
        standard = [
            inspect.Parameter(
                k, inspect.Parameter.KEYWORD_ONLY, default=_STANDARD_DEFAULTS[k], annotation=a
            )
            for k, a in _STANDARD.items()
            if run_folder or k not in folder_flags
        ]

        def command(**kwargs: Any) -> Any:
            config_file = kwargs.pop("config")
            sets = kwargs.pop("set_")
            request = RunRequest(
                resume=kwargs.pop("resume", False),
                overwrite=kwargs.pop("overwrite", False),
                json=kwargs.pop("json_"),
            )
            flags = {k: v for k, v in kwargs.items() if v is not None}
            cfg = build_config(cls, config_file, sets, flags, request.resume)
            return fn(cfg, request)

        params = field_params + standard
        command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        command.__doc__ = fn.__doc__
        command.__name__ = fn.__name__
        verb = name or fn.__name__.replace("_", "-")
        app.command(name=verb, hidden=hidden)(command)
        for alias in aliases:
            app.command(name=alias, hidden=True)(command)
        return fn

    return decorate

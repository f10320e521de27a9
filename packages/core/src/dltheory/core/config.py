"""Layered configuration: dataclass defaults < YAML/JSON file < command-line flags.

One dataclass per command. ``resolve_config`` merges the layers, rejects unknown keys with a
message that lists the valid ones, checks value types, and returns a new dataclass instance.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from dltheory.core.errors import ConfigError

T = TypeVar("T")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (safe loader) or JSON mapping; a clear ConfigError for anything else."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    if suffix not in {".json", ".yaml", ".yml"}:
        raise ConfigError(f"config file {path} must end in .json, .yaml or .yml")
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"cannot parse config file {path}: {first_line}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    return data


def _unknown_key_message(cls: type, key: str, where: str) -> str:
    names = [f.name for f in dataclasses.fields(cls)]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown config key '{key}' in {where}{hint}; valid keys: {', '.join(names)}"


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a (simple) type annotation, converting where it is lossless."""
    if annotation is Any or (value is None and _allows_none(annotation)):
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}': {value!r} is not a valid {annotation}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"config key '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            if isinstance(value, str):
                value = [_scalar(v.strip()) for v in value.split(",") if v.strip()]
            else:
                raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"config key '{key}' must be a mapping")
        return _merge(annotation(), value, where=f"'{key}'")
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"config key '{key}' must be a number, got {value!r}")
        return float(value)
    if annotation is str:
        if isinstance(value, Path):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"config key '{key}' must be a string, got {value!r}")
        return value
    if annotation is Path:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"config key '{key}' must be a path, got {value!r}")
        return Path(value)
    return value


def _scalar(text: str) -> Any:
    """A list item given as text ("64", "0.5", "relu") parsed as a YAML scalar."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _allows_none(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _merge(instance: T, values: dict[str, Any], where: str) -> T:
    cls = type(instance)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    updates = {}
    for key, value in values.items():
        key_norm = key.replace("-", "_")
        if key_norm not in names:
            raise ConfigError(_unknown_key_message(cls, key, where))
        updates[key_norm] = _coerce(value, hints[key_norm], key_norm)
    return dataclasses.replace(instance, **updates)  # type: ignore[type-var]


def resolve_config(
    cls: type[T],
    config_file: str | Path | None = None,
    overrides: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> T:
    """Build ``cls`` from its defaults (or ``base``, e.g. a saved run's config), then a config
    file, then explicit overrides (flags)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    config = cls()
    if base:
        config = _merge(config, base, where="the saved config.json")
    if config_file is not None:
        config = _merge(config, read_config_file(config_file), where=str(config_file))
    if overrides:
        config = _merge(config, overrides, where="command-line flags")
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (possibly nested) dataclass; Paths become strings."""

    def convert(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: convert(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    result = convert(config)
    if not isinstance(result, dict):
        raise TypeError(f"expected a dataclass instance or a dict, got {type(config).__name__}")
    return result


def save_config(config: Any, path: str | Path) -> Path:
    """Write the resolved config as pretty JSON (atomically)."""
    from dltheory.core.runs import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
    return path


def option(default: Any, help: str, *, mutable: bool = False, flag: str | None = None) -> Any:
    """A config field with its command-line help, declared once.

    ``mutable`` marks a key that may change when a run is resumed (e.g. the total number of
    epochs); ``flag`` overrides the generated ``--name`` (``None``: from the field name). Mutable
    defaults (lists, dicts) are copied per instance.
    """
    metadata = {"help": help, "mutable": mutable, "flag": flag}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def mutable_keys(cls: type) -> tuple[str, ...]:
    """The fields declared ``option(..., mutable=True)``: safe to change on ``--resume``."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("mutable"))


@dataclasses.dataclass
class TrainerFields:
    """The settings every trainer shares; a package's train config inherits them."""

    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.", mutable=True)
    precision: str = option("fp32", "fp32, bf16 or fp16 (fp16 needs CUDA).")
    seed: int = option(0, "Random seed.")
    threads: int | None = option(
        None,
        "CPU threads (default: DLTHEORY_THREADS, else the cores not already busy).",
        mutable=True,
    )
    out: Path = option(
        Path("runs/run"), "Run folder: config.json, metrics.jsonl, last.pt, figures.", mutable=True
    )


def parse_set_overrides(items: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["lr=0.1", "model.depth=3", "widths=[64,64]"]`` -> nested dict; values parsed as YAML
    scalars/lists (safe loader), so types are checked afterwards like any config value."""
    result: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        target = result
        parts = key.split(".")
        for part in parts[:-1]:
            nested = target.setdefault(part, {})
            if not isinstance(nested, dict):
                raise ConfigError(f"--set {key}: {part} is not a mapping")
            target = nested
        target[parts[-1]] = value
    return result

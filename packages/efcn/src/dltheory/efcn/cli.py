"""``dltheory efcn``: train a CNN, switch it to its eFCN/eLCN, sweep switch times, reproduce.

Module level imports only typer, the standard library, dltheory.cli and the torch-free config
(torch is imported inside command bodies). The options of ``train``, ``switch`` and ``sweep`` are
generated from the config dataclasses in :mod:`dltheory.efcn.config`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import DeviceOpt, JsonOpt, OutOpt, RunRequest, config_command

from .config import SweepConfig, SwitchConfig, TrainConfig

app = typer.Typer(
    help="eFCN (arXiv:1906.06766): embed a CNN in FCN space at switch time t_w and keep training.",
    no_args_is_help=True,
)


def _print_result(result, as_json: bool) -> None:
    from dltheory.cli.output import echo_result

    echo_result(result, as_json)


@config_command(app, TrainConfig, name="train")
def train(cfg: TrainConfig, request: RunRequest) -> None:
    """Train the CNN (checkpoints at log-spaced epochs = switch times) or its FCN twin."""
    from .train import train_cnn, train_fcn

    run = train_cnn if cfg.net == "cnn" else train_fcn
    _print_result(run(cfg, resume=request.resume, overwrite=request.overwrite), request.json)


@config_command(app, SwitchConfig, name="switch")
def switch_cmd(cfg: SwitchConfig, request: RunRequest) -> None:
    """Embed the CNN checkpoint of epoch t_w (--at) as an eFCN (or eLCN) and keep training it.

    Settings the user does not give are taken from the CNN run's config.json (--from).
    """
    from dataclasses import fields, replace

    from dltheory.core.config import resolve_config

    from .train import switch

    saved = Path(cfg.cnn_run) / "config.json"
    if cfg.cnn_run and saved.exists() and not request.resume:
        # a setting left at its default is taken from the CNN run (same data, model, sizes)
        inherited = json.loads(saved.read_text())
        defaults = SwitchConfig()
        keep = {
            f.name: inherited[f.name]
            for f in fields(TrainConfig)
            if f.name in inherited
            and f.name not in ("out", "net")
            and getattr(cfg, f.name) == getattr(defaults, f.name)
        }
        typed = resolve_config(SwitchConfig, None, {**keep, "cnn_run": cfg.cnn_run})
        cfg = replace(cfg, **{k: getattr(typed, k) for k in keep})
    result = switch(cfg, resume=request.resume, overwrite=request.overwrite)
    _print_result(result, request.json)


@config_command(app, SweepConfig, name="sweep")
def sweep_cmd(cfg: SweepConfig, request: RunRequest) -> None:
    """CNN + FCN twin + one eFCN (and eLCN) per switch time, the landscape paths, the figures."""
    from .figures import summary_rows
    from .protocol import sweep

    sweep(cfg, resume=request.resume)
    _print_result(summary_rows(cfg.out), request.json)


@app.command(name="eval")
def eval_(
    run: Annotated[
        Path, typer.Option("--run", help="Run folder written by train or switch.")
    ] = Path("runs/efcn/cnn"),
    device: DeviceOpt = "auto",
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: DLTHEORY_THREADS).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Reload a run's last.pt (weights only) and report train/test loss, accuracy and deviation."""
    from .train import evaluate_run

    _print_result(evaluate_run(run, device=device, threads=threads), as_json)


@app.command()
def plot(out: OutOpt = Path("runs/efcn/sweep")) -> None:
    """Redraw the figures of a finished sweep folder (OUT/figures)."""
    from .figures import draw_all

    for name, path in draw_all(out, out / "figures").items():
        typer.echo(f"{name}: {path}")


@app.command()
def size(
    model: Annotated[str, typer.Option(help="vanilla | vanilla-small | alexnet.")] = "vanilla",
    input_shape: Annotated[str, typer.Option(help="C,H,W of one input.")] = "3,32,32",
    classes: Annotated[int, typer.Option(help="Number of classes.")] = 10,
    channels: Annotated[int, typer.Option(help="Channels of the vanilla CNN.")] = 64,
    max_params: Annotated[
        int | None, typer.Option(help="Refuse (exit 2) an eFCN with more parameters.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Parameter counts of the CNN, its eLCN and eFCN, computed without building them."""
    from dltheory.core.errors import ConfigError

    from .embedding import EmbeddingError
    from .protocol import size_rows

    try:
        shape = tuple(int(v) for v in input_shape.split(","))
    except ValueError:
        raise ConfigError("--input-shape must be C,H,W") from None
    if len(shape) != 3:
        raise ConfigError("--input-shape must be C,H,W")
    rows = size_rows([(model, model, shape, classes, channels)])
    _print_result(rows, as_json)
    if max_params is not None and rows[0]["dense_params"] > max_params:
        raise EmbeddingError(
            f"the eFCN has {rows[0]['dense_params']:,} parameters, more than --max-params {max_params:,}"
        )


@app.command()
def reproduce(
    out: OutOpt = Path("reproduce-out/efcn"),
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="quick (digits, ~2 min of one core), full (MNIST-t10k 28x28, vanilla CNN, "
            "~10-20 min), paper (CIFAR-10; refused without a GPU and --data-root).",
        ),
    ] = "quick",
    quick: Annotated[bool, typer.Option("--quick", hidden=True)] = False,
    device: DeviceOpt = "auto",
    seeds: Annotated[
        str, typer.Option(help="Comma-separated seeds, at least 2 [quick: 0,1,2; full: 0,1].")
    ] = "",
    data_root: Annotated[
        str, typer.Option(help="Dataset folder (MNIST-t10k IDX for full, CIFAR-10 for paper).")
    ] = "",
    executor: Annotated[str, typer.Option(help="serial | local | submitit.")] = "serial",
    workers: Annotated[int, typer.Option(help="Parallel branches for --executor local.")] = 2,
) -> None:
    """The paper's figures and claims: accuracy vs switch time (CNN, FCN, eFCN, eLCN), deviation,
    the interpolation paths and barriers, parameter counts; writes claims.json and manifest.json."""
    from dltheory.core.errors import ConfigError

    from .reproduce import reproduce as run

    if quick and scale != "quick":
        raise ConfigError("--quick means --scale quick; give one of them")
    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    manifest = run(
        out,
        scale=scale,
        device=device,
        seeds=seed_list,
        data_root=data_root,
        executor=executor,
        workers=workers,
    )
    typer.echo(f"wrote {manifest}")

"""``dltheory efcn``: train a CNN, switch it to its eFCN, sweep switch times, reproduce the figures.

Module level imports only typer, the standard library and dltheory.cli (torch is imported inside
command bodies). Settings layer as defaults < ``--config`` file < flags (``TrainConfig``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import (
    ConfigOpt,
    DeviceOpt,
    DownloadOpt,
    JsonOpt,
    OutOpt,
    PrecisionOpt,
    QuickOpt,
    ResumeOpt,
    SeedOpt,
    explicit_params,
)

app = typer.Typer(
    help="eFCN (arXiv:1906.06766): embed a CNN in FCN space at switch time t_w and keep training.",
    no_args_is_help=True,
)

# Options that map onto TrainConfig fields; None means "from the defaults / --config file".
Dataset = Annotated[
    str | None, typer.Option(help="digits | mnist-t10k | mnist | cifar10 | cifar100 [digits].")
]
DataRoot = Annotated[
    str | None, typer.Option(help="Dataset folder (torchvision root or MNIST IDX folder).")
]
DataSize = Annotated[
    int | None, typer.Option(help="Keep the first n train and n test examples (0: all).")
]
Model = Annotated[
    str | None, typer.Option(help="vanilla | vanilla-small | alexnet [vanilla-small].")
]
Channels = Annotated[int | None, typer.Option(help="Channels of the vanilla CNN [64].")]
Epochs = Annotated[int | None, typer.Option(help="Training budget in epochs [100].")]
Lr = Annotated[float | None, typer.Option(help="SGD learning rate [0.1].")]
Momentum = Annotated[float | None, typer.Option(help="SGD momentum [0].")]
WeightDecay = Annotated[float | None, typer.Option(help="SGD weight decay [0].")]
BatchSize = Annotated[int | None, typer.Option(help="Training batch size [250].")]
EvalBatchSize = Annotated[int | None, typer.Option(help="Evaluation batch size [1000].")]
Shuffle = Annotated[
    bool | None, typer.Option("--shuffle/--no-shuffle", help="Shuffle batches (authors: no).")
]
NSaves = Annotated[int | None, typer.Option(help="Log-spaced CNN checkpoints = switch times [20].")]
FoldPadding = Annotated[
    bool | None,
    typer.Option(
        "--fold-padding/--padded-columns",
        help="Dense layers act on unpadded inputs (default) or on padded ones as in the authors' code.",
    ),
]
MaxParams = Annotated[
    int | None, typer.Option(help="Refuse an eFCN with more parameters than this.")
]
Double = Annotated[bool | None, typer.Option("--double/--single", help="float64 training.")]
Threads = Annotated[int | None, typer.Option(help="CPU threads for torch (0: default).")]
Executor = Annotated[str, typer.Option(help="serial | local (processes) | submitit (SLURM).")]
Workers = Annotated[int, typer.Option(help="Parallel branches for the local executor.")]
RelaxEpochs = Annotated[
    int | None,
    typer.Option(help="eFCN epochs after the switch [rest of the budget: epochs - t_w]."),
]

_NOT_CONFIG = (
    "config",
    "out",
    "resume",
    "at",
    "cnn_run",
    "relax_epochs",
    "switch_times",
    "executor",
    "workers",
    "net",
    "as_json",
)


def _config(ctx: typer.Context, config: Path | None):
    from dltheory.core.config import resolve_config

    from .training import TrainConfig

    return resolve_config(TrainConfig, config, explicit_params(ctx, exclude=_NOT_CONFIG))


def _print_result(result, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2, default=str))
    elif isinstance(result, list):
        from dltheory.core.plotting import markdown_table

        typer.echo(markdown_table(result))
    else:
        typer.echo(
            "  ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()
            )
        )


@app.command()
def train(
    ctx: typer.Context,
    out: OutOpt = Path("runs/efcn/cnn"),
    net: Annotated[
        str, typer.Option(help="cnn (with switch checkpoints) or fcn (dense-init twin).")
    ] = "cnn",
    config: ConfigOpt = None,
    resume: ResumeOpt = False,
    dataset: Dataset = None,
    data_root: DataRoot = None,
    data_size: DataSize = None,
    download: DownloadOpt = False,
    model: Model = None,
    channels: Channels = None,
    epochs: Epochs = None,
    lr: Lr = None,
    momentum: Momentum = None,
    weight_decay: WeightDecay = None,
    batch_size: BatchSize = None,
    eval_batch_size: EvalBatchSize = None,
    shuffle: Shuffle = None,
    n_saves: NSaves = None,
    fold_padding: FoldPadding = None,
    max_params: MaxParams = None,
    double: Double = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: Threads = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the CNN (checkpoints at log-spaced epochs = switch times) or its FCN twin."""
    from .training import train_cnn, train_fcn

    cfg = _config(ctx, config)
    if net not in ("cnn", "fcn"):
        raise typer.BadParameter("--net must be cnn or fcn")
    result = (train_cnn if net == "cnn" else train_fcn)(cfg, out, resume)
    _print_result(result, as_json)


@app.command("switch")
def switch_cmd(
    ctx: typer.Context,
    cnn_run: Annotated[Path, typer.Option("--from", help="Run folder of `efcn train` (the CNN).")],
    at: Annotated[
        int, typer.Option("--at", help="Switch time t_w: the CNN checkpoint epoch to embed.")
    ],
    out: OutOpt = Path("runs/efcn/switch"),
    relax_epochs: RelaxEpochs = None,
    config: ConfigOpt = None,
    resume: ResumeOpt = False,
    dataset: Dataset = None,
    data_root: DataRoot = None,
    data_size: DataSize = None,
    download: DownloadOpt = False,
    model: Model = None,
    channels: Channels = None,
    epochs: Epochs = None,
    lr: Lr = None,
    momentum: Momentum = None,
    weight_decay: WeightDecay = None,
    batch_size: BatchSize = None,
    eval_batch_size: EvalBatchSize = None,
    shuffle: Shuffle = None,
    fold_padding: FoldPadding = None,
    max_params: MaxParams = None,
    double: Double = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: Threads = None,
    as_json: JsonOpt = False,
) -> None:
    """Embed the CNN checkpoint of epoch t_w as an eFCN and keep training it in FCN space.

    Settings default to those of the CNN run (its config.json); --config and flags override them.
    """
    import dataclasses

    from dltheory.core.config import resolve_config

    from .training import TrainConfig, switch

    inherited = {}
    if config is None and (cnn_run / "config.json").exists():
        fields = {f.name for f in dataclasses.fields(TrainConfig)}
        saved = json.loads((cnn_run / "config.json").read_text())
        inherited = {k: v for k, v in saved.items() if k in fields}
    cfg = resolve_config(
        TrainConfig, config, {**inherited, **explicit_params(ctx, exclude=_NOT_CONFIG)}
    )
    _print_result(switch(cfg, cnn_run, at, out, relax_epochs, resume), as_json)


@app.command("sweep")
def sweep_cmd(
    ctx: typer.Context,
    out: OutOpt = Path("runs/efcn/sweep"),
    switch_times: Annotated[
        str | None, typer.Option(help="Comma-separated t_w (default: every CNN checkpoint epoch).")
    ] = None,
    relax_epochs: RelaxEpochs = None,
    executor: Executor = "serial",
    workers: Workers = 2,
    config: ConfigOpt = None,
    resume: ResumeOpt = False,
    dataset: Dataset = None,
    data_root: DataRoot = None,
    data_size: DataSize = None,
    download: DownloadOpt = False,
    model: Model = None,
    channels: Channels = None,
    epochs: Epochs = None,
    lr: Lr = None,
    momentum: Momentum = None,
    weight_decay: WeightDecay = None,
    batch_size: BatchSize = None,
    eval_batch_size: EvalBatchSize = None,
    shuffle: Shuffle = None,
    n_saves: NSaves = None,
    fold_padding: FoldPadding = None,
    max_params: MaxParams = None,
    double: Double = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    threads: Threads = None,
    as_json: JsonOpt = False,
) -> None:
    """CNN + FCN baseline + one eFCN per switch time; figures and a summary under OUT/figures."""
    from dltheory.core.errors import ConfigError

    from .figures import summary_rows
    from .protocol import sweep

    cfg = _config(ctx, config)
    times = None
    if switch_times:
        try:
            times = [int(t) for t in switch_times.split(",") if t.strip()]
        except ValueError:
            raise ConfigError(
                f"--switch-times must be comma-separated integers, got {switch_times!r}"
            ) from None
    sweep(cfg, out, times, relax_epochs, executor, workers, resume)
    _print_result(summary_rows(out), as_json)


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
    channels: Channels = 64,
    max_params: MaxParams = None,
    as_json: JsonOpt = False,
) -> None:
    """Parameter counts of the CNN, its eLCN and eFCN, computed without building them."""
    from .embedding import EmbeddingError
    from .protocol import size_rows

    try:
        shape = tuple(int(v) for v in input_shape.split(","))
        assert len(shape) == 3
    except (ValueError, AssertionError):
        raise typer.BadParameter("--input-shape must be C,H,W") from None
    rows = size_rows([(model, model, shape, classes, channels or 64)])
    _print_result(rows, as_json)
    if max_params is not None and rows[0]["dense_params"] > max_params:
        raise EmbeddingError(
            f"the eFCN has {rows[0]['dense_params']:,} parameters, more than --max-params {max_params:,}"
        )


@app.command()
def reproduce(
    quick: QuickOpt = False,
    out: OutOpt = Path("reproduce-out/efcn"),
    device: DeviceOpt = "auto",
    data_root: Annotated[str, typer.Option(help="CIFAR-10 folder for the full run.")] = "",
    download: DownloadOpt = False,
    executor: Executor = "local",
    workers: Workers = 2,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds; one full sweep each.")] = "0,1",
) -> None:
    """The paper's figures: accuracy vs switch time, deviation over training, parameter counts.

    --quick: sklearn digits on CPU in a few minutes. Without it: CIFAR-10, the authors' vanilla CNN,
    100 epochs (a GPU is advised; --data-root, --download).
    """
    from dltheory.core.errors import ConfigError

    from .reproduce import reproduce as run

    try:
        seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
    if not seed_list:
        raise ConfigError("--seeds is empty")
    manifest = run(quick, out, device, data_root, download, executor, workers, seed_list)
    typer.echo(f"wrote {manifest}")

"""`dltheory convit ...`: train, eval, analyze, reproduce. Torch is imported inside commands;
the train options are generated from ``config.TrainConfig`` (one declaration per field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import (
    DeviceOpt,
    DownloadOpt,
    JsonOpt,
    OutOpt,
    PrecisionOpt,
    RunRequest,
    config_command,
)
from dltheory.convit.config import TrainConfig

app = typer.Typer(
    help="ConViT: gated positional self-attention (d'Ascoli et al. 2021).", no_args_is_help=True
)


def _opt(help_text: str, *names: str):
    return typer.Option(*names, help=help_text)


@config_command(app, TrainConfig, name="train")
def train(cfg: TrainConfig, request: RunRequest) -> None:
    """Train ConViT (or DeiT with --num-gpsa-layers 0) with the DeiT recipe; torchrun for DDP."""
    from dltheory.convit.train import train as run_train

    final = run_train(cfg, resume=request.resume, overwrite=request.overwrite)
    _print(final, request.json)


@app.command("eval")
def evaluate_cmd(
    checkpoint: Annotated[
        Path, typer.Argument(help="A run folder or its model.pt, or official/timm weights.")
    ],
    model: Annotated[str, _opt("Variant, for official/timm weights.")] = "convit_tiny",
    dataset: Annotated[
        str, _opt("digits | mnist-t10k | cifar10 | cifar100 | imagefolder (default: the run's).")
    ] = "",
    data_root: Annotated[str, _opt("Dataset folder (default: the run's).")] = "",
    download: DownloadOpt = False,
    img_size: Annotated[int, _opt("Image size (0: the checkpoint's).")] = 0,
    batch_size: Annotated[int, _opt("Batch size.")] = 128,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    as_json: JsonOpt = False,
):
    """Top-1 / top-5 of a checkpoint on a dataset's validation split."""
    import torch

    from dltheory.convit.data import build_datasets
    from dltheory.convit.train import evaluate
    from dltheory.core.device import Precision, resolve_device

    dev = resolve_device(device)
    net = _load_any(checkpoint, model, img_size)
    dataset, data_root = _run_data(checkpoint, dataset, data_root)
    _, val, _, _ = build_datasets(
        dataset, data_root, img_size or net.spec.img_size[0], 1.0, download
    )
    loader = torch.utils.data.DataLoader(val, batch_size=batch_size)
    metrics = evaluate(net.to(dev), loader, dev, Precision.create(precision, dev))
    _print({"checkpoint": str(checkpoint), "dataset": dataset, **metrics}, as_json)


@app.command()
def analyze(
    checkpoint: Annotated[
        Path, typer.Argument(help="A run folder or its model.pt, or official/timm weights.")
    ],
    model: Annotated[str, _opt("Variant, for official/timm weights.")] = "convit_tiny",
    dataset: Annotated[
        str,
        _opt(
            "Images: digits | mnist-t10k | cifar10 | cifar100 | imagefolder (default: the run's)."
        ),
    ] = "",
    data_root: Annotated[str, _opt("Dataset folder (default: the run's).")] = "",
    images: Annotated[int, _opt("Number of validation images averaged over.")] = 64,
    out: OutOpt = Path("runs/convit-analysis"),
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
):
    """Nonlocality (eq. 8) per layer/head over a real batch, gates, head centres; figures + JSON.
    For a run folder, also the nonlocality-over-training figure from its metrics."""
    import torch

    from dltheory.convit.analysis import gate_values, head_centres, nonlocality
    from dltheory.convit.data import build_datasets
    from dltheory.convit.figures import plot_gates, plot_nonlocality_history
    from dltheory.core.device import resolve_device
    from dltheory.core.plotting import new_figure, save_figure

    dev = resolve_device(device)
    net = _load_any(checkpoint, model, 0).to(dev)
    dataset, data_root = _run_data(checkpoint, dataset, data_root)
    _, val, _, _ = build_datasets(dataset, data_root, net.spec.img_size[0], 1.0, False)
    batch = torch.stack([val[i][0] for i in range(min(images, len(val)))])
    out.mkdir(parents=True, exist_ok=True)
    nl = nonlocality(net, batch)
    gates = gate_values(net)
    centres = head_centres(net)
    fig, ax = new_figure(size=(5, 3.6))
    layers = list(range(1, len(nl["per_layer"]) + 1))
    for h in range(nl["per_head"].shape[1]):
        ax.scatter(layers, nl["per_head"][:, h].tolist(), s=10, alpha=0.6)
    ax.plot(layers, nl["per_layer"].tolist(), "k-", label="mean over heads")
    ax.set_xlabel("layer")
    ax.set_ylabel("nonlocality (patches)")
    ax.legend()
    save_figure(
        fig,
        out / "nonlocality_per_layer",
        data={
            "layer": layers,
            **{f"head{h}": nl["per_head"][:, h].tolist() for h in range(nl["per_head"].shape[1])},
        },
    )
    if gates.numel():
        plot_gates(gates, out / "gates")
    metrics_file = (checkpoint if checkpoint.is_dir() else checkpoint.parent) / "metrics.jsonl"
    if metrics_file.exists():
        rows = [json.loads(x) for x in metrics_file.read_text().splitlines() if x.strip()]
        rows = [r for r in rows if "nonlocality" in r]
        if rows:
            plot_nonlocality_history(rows, out / "nonlocality_history")
    result = {
        "nonlocality_per_layer": nl["per_layer"].tolist(),
        "nonlocality_per_head": nl["per_head"].tolist(),
        "gates": gates.tolist(),
        "head_centres": centres["centres"].tolist(),
        "head_spans": centres["spans"].tolist(),
    }
    (out / "analysis.json").write_text(json.dumps(result, indent=2) + "\n")
    _print(
        {
            "out": str(out),
            "nonlocality_per_layer": [round(v, 3) for v in result["nonlocality_per_layer"]],
        },
        as_json,
    )


@app.command()
def reproduce(
    out: OutOpt = Path("reproduce-out/convit"),
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="quick (about 2.5 min of one core: digits, 2 fractions x 3 seeds), full (about "
            "7 min: MNIST-t10k at 28x28, 3 fractions x 3 seeds), paper (ImageNet on 8 GPUs; "
            "refused without them).",
        ),
    ] = "quick",
    quick: Annotated[bool, typer.Option("--quick", hidden=True, help="= --scale quick")] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Sample efficiency of ConViT vs DeiT (Table 2), locality (Figs. 4-6), parameter counts
    (Table 1): figures, tables, manifest.json and claims.json."""
    from dltheory.convit.reproduce import reproduce as run_reproduce
    from dltheory.core.errors import ConfigError

    if quick and scale != "quick":
        raise ConfigError("--quick means --scale quick; give one of them")
    result = run_reproduce(out, scale=scale, device=device)
    for record in result["claims"].values():
        typer.echo(f"{record['id']}: {record['verdict']} ({record['reason']})")
    typer.echo(f"wrote {out / 'manifest.json'} and {out / 'claims.json'}")


def _run_data(checkpoint: Path, dataset: str, data_root: str) -> tuple[str, str]:
    """The dataset and root given, else the ones in the run folder's config.json, else digits."""
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    saved = {}
    if (folder / "config.json").is_file():
        try:
            saved = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except ValueError:
            saved = {}
    return dataset or saved.get("dataset", "digits"), data_root or saved.get("data_root", "")


def _load_any(checkpoint: Path, model: str, img_size: int):
    """Our run folder / model.pt (spec inside), else official/timm weights for ``model``."""
    from dltheory.convit.train import MODEL_FILE, load_run_model
    from dltheory.convit.weights import load_pretrained, resize_model_grid
    from dltheory.core.runs import load_checkpoint

    path = checkpoint / MODEL_FILE if checkpoint.is_dir() else checkpoint
    state = load_checkpoint(path)
    net = (
        load_run_model(path)
        if isinstance(state.get("spec"), dict)
        else load_pretrained(path, variant=model)
    )
    if img_size and img_size != net.spec.img_size[0]:
        resize_model_grid(net, img_size)
    return net.eval()


def _print(result: dict, as_json: bool) -> None:
    from dltheory.cli.output import echo_result

    echo_result(result, as_json)

"""`dltheory convit ...`: train, eval, analyze, reproduce. Torch is imported inside commands."""

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
    help="ConViT: gated positional self-attention (d'Ascoli et al. 2021).", no_args_is_help=True
)

_AUGMENT_FLAGS = {"randaugment", "random_erasing", "crop"}


def _opt(help_text: str, *names: str):
    return typer.Option(*names, help=help_text)


@app.command()
def train(
    ctx: typer.Context,
    model: Annotated[str, _opt("Variant: convit_tiny|small|base[_plus].")] = "convit_tiny",
    depth: Annotated[int, _opt("Number of blocks.")] = 12,
    num_heads: Annotated[int, _opt("Heads (0: the variant's).")] = 0,
    embed_dim_per_head: Annotated[int, _opt("Width per head (0: the variant's).")] = 0,
    num_gpsa_layers: Annotated[int, _opt("GPSA blocks before the class token (0 = DeiT).")] = 10,
    locality_strength: Annotated[float, _opt("alpha of the convolutional init.")] = 1.0,
    convolutional_init: Annotated[
        bool, _opt("Convolutional (local) init of GPSA.", "--conv-init/--no-conv-init")
    ] = True,
    gate_init: Annotated[float, _opt("Initial lambda_h (sigma(1)=0.73 to position).")] = 1.0,
    freeze_gates: Annotated[bool, _opt("Keep the gates at their initial value.")] = False,
    img_size: Annotated[int, _opt("Image size (0: the dataset's).")] = 0,
    patch_size: Annotated[int, _opt("Patch size (0: the dataset's).")] = 0,
    drop_path: Annotated[float, _opt("Stochastic depth rate.")] = 0.1,
    pretrained: Annotated[str, _opt("Initialise from this checkpoint (official/timm/ours).")] = "",
    dataset: Annotated[str, _opt("digits | cifar10 | cifar100 | imagefolder.")] = "digits",
    data_root: Annotated[str, _opt("Dataset folder (ImageNet layout for imagefolder).")] = "",
    download: DownloadOpt = False,
    sampling_ratio: Annotated[
        float, _opt("Keep the first floor(f n_c) training images per class.")
    ] = 1.0,
    workers: Annotated[int, _opt("DataLoader workers.")] = 0,
    epochs: Annotated[int, _opt("Epochs.")] = 300,
    batch_size: Annotated[int, _opt("Batch size per process.")] = 64,
    lr: Annotated[float, _opt("Learning rate for a total batch of 512 (scaled linearly).")] = 5e-4,
    min_lr: Annotated[float, _opt("Final cosine learning rate.")] = 1e-5,
    warmup_epochs: Annotated[int, _opt("Linear warm-up epochs.")] = 5,
    weight_decay: Annotated[float, _opt("AdamW weight decay.")] = 0.05,
    label_smoothing: Annotated[float, _opt("Label smoothing.")] = 0.1,
    mixup: Annotated[float, _opt("Mixup alpha (0: off).")] = 0.8,
    cutmix: Annotated[float, _opt("CutMix alpha (0: off).")] = 1.0,
    randaugment: Annotated[
        bool, _opt("RandAugment m9 n2.", "--randaugment/--no-randaugment")
    ] = True,
    random_erasing: Annotated[float, _opt("Random erasing probability.")] = 0.25,
    crop: Annotated[bool, _opt("Random(-resized) crops.", "--crop/--no-crop")] = True,
    repeated_aug: Annotated[int, _opt("Repeated augmentation count (1: off).")] = 3,
    ema: Annotated[bool, _opt("Keep an EMA of the weights.")] = False,
    ema_decay: Annotated[float, _opt("EMA decay.")] = 0.99996,
    clip_grad: Annotated[float, _opt("Gradient-norm clipping (0: off).")] = 0.0,
    compile: Annotated[bool, _opt("torch.compile the model.")] = False,
    channels_last: Annotated[bool, _opt("Channels-last inputs.")] = False,
    max_steps_per_epoch: Annotated[int, _opt("Cap steps per epoch (0: full).")] = 0,
    eval_every: Annotated[int, _opt("Evaluate/log every k epochs.")] = 1,
    device: DeviceOpt = "auto",
    threads: Annotated[int, _opt("CPU threads for torch (0: torch's default).")] = 0,
    precision: PrecisionOpt = "fp32",
    seed: SeedOpt = 0,
    out: OutOpt = Path("runs/convit"),
    resume: ResumeOpt = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
):
    """Train ConViT (or DeiT with --num-gpsa-layers 0) with the DeiT recipe; torchrun for DDP."""
    from dltheory.convit.training import TrainConfig
    from dltheory.convit.training import train as run_train
    from dltheory.core.config import resolve_config

    overrides = explicit_params(ctx, exclude=("config", "resume", "as_json"))
    augment = {k: overrides.pop(k) for k in list(overrides) if k in _AUGMENT_FLAGS}
    if augment:
        overrides["augment"] = augment
    if "out" in overrides:
        overrides["out"] = str(overrides["out"])
    cfg = resolve_config(TrainConfig, config, overrides)
    final = run_train(cfg, resume=resume)
    _print(final, as_json)


@app.command("eval")
def evaluate_cmd(
    checkpoint: Annotated[
        Path, typer.Argument(help="A run folder or its model.pt, or official/timm weights.")
    ],
    model: Annotated[str, _opt("Variant, for official/timm weights.")] = "convit_tiny",
    dataset: Annotated[str, _opt("digits | cifar10 | cifar100 | imagefolder.")] = "digits",
    data_root: Annotated[str, _opt("Dataset folder.")] = "",
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
    from dltheory.convit.training import evaluate
    from dltheory.core.device import Precision, resolve_device

    dev = resolve_device(device)
    net = _load_any(checkpoint, model, img_size)
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
        str, _opt("Images to analyse: digits | cifar10 | cifar100 | imagefolder.")
    ] = "digits",
    data_root: Annotated[str, _opt("Dataset folder.")] = "",
    images: Annotated[int, _opt("Number of validation images averaged over.")] = 64,
    out: OutOpt = Path("runs/convit-analysis"),
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
):
    """Nonlocality (eq. 8) per layer/head over a real batch, gates, head centres; figures + JSON.
    For a run folder, also the nonlocality-over-training figure from its metrics."""
    import torch

    from dltheory.convit.analysis import (
        gate_values,
        head_centres,
        nonlocality,
        plot_gates,
        plot_nonlocality_history,
    )
    from dltheory.convit.data import build_datasets
    from dltheory.core.device import resolve_device
    from dltheory.core.plotting import new_figure, save_figure

    dev = resolve_device(device)
    net = _load_any(checkpoint, model, 0).to(dev)
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
    quick: QuickOpt = False,
    out: OutOpt = Path("runs/convit-reproduce"),
    device: DeviceOpt = "cpu",
    steps: Annotated[int, _opt("Optimisation steps per quick run.")] = 400,
):
    """--quick: ConViT vs DeiT sample efficiency + locality figures on digits (CPU, minutes).
    Without --quick: writes/prints the multi-GPU ImageNet commands and the paper's numbers."""
    from dltheory.convit.reproduce import run_full_note, run_quick

    if quick:
        result = run_quick(out, device=device, steps=steps)
        typer.echo(result["table"])
        typer.echo(f"wrote {out / 'manifest.json'}")
    else:
        run_full_note(out)


def _load_any(checkpoint: Path, model: str, img_size: int):
    """Our run folder / model.pt (spec inside), else official/timm weights for ``model``."""
    from dltheory.convit.training import MODEL_FILE, load_run_model
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
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            if isinstance(value, float):
                value = f"{value:.4g}"
            typer.echo(f"{key}: {value}")

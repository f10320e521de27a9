"""``dltheory querygen train|generate|transfer|eval|reproduce`` (torch imported inside commands).

``evaluate`` stays as a hidden alias of ``eval``; ``reproduce --quick`` of ``--scale quick``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dltheory.cli.options import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    OutOpt,
    RunRequest,
    SeedOpt,
    config_command,
    explicit_params,
)

from .config import TrainConfig

app = typer.Typer(
    help="Conditional VAE query generation with query transfer (arXiv:1911.03698).",
    no_args_is_help=True,
)

DataOpt = Annotated[
    str,
    typer.Option(
        "--data",
        help="chatterbot (offline default), a SNIPS 2017-06 folder, "
        "or a .csv/.jsonl of text,intent[,slots].",
    ),
]
MethodOpt = Annotated[str, typer.Option("--method", help="none | query_transfer | pseudo_label.")]
TrainSizeOpt = Annotated[
    int, typer.Option("--train-size", help="Few-shot training queries (balanced, seeded).")
]
ReservoirOpt = Annotated[
    str,
    typer.Option(
        "--reservoir",
        help="JSONL {text, group} or folder of <group>.txt; "
        "default: held-out queries + chatterbot.",
    ),
]
ThresholdOpt = Annotated[
    float, typer.Option("--cosine-threshold", help="Keep reservoir groups above this cosine.")
]
NoneSizeOpt = Annotated[int, typer.Option("--none-size", help="Transferred reservoir queries.")]


def _print_rows(rows: list[dict], as_json: bool, title: str = "") -> None:
    if as_json:
        typer.echo(json.dumps(rows, indent=1, default=float))
        return
    from dltheory.core.plotting import markdown_table

    if title:
        typer.echo(f"## {title}")
    typer.echo(markdown_table(rows))


@config_command(app, TrainConfig, name="train")
def train(cfg: TrainConfig, request: RunRequest) -> None:
    """Train the CVAE (few-shot subset + transferred reservoir queries); writes model.pt in --out."""
    import warnings

    from .data import QueryGenWarning
    from .train import train as run_train

    cfg.validate()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", QueryGenWarning)
        result = run_train(cfg, cfg.out, resume=request.resume, overwrite=request.overwrite)
    for w in caught:
        if issubclass(w.category, QueryGenWarning):
            typer.echo(f"warning: {w.message}", err=True)
    last = result.history[-1] if result.history else {}
    summary: dict[str, Any] = {
        "out": str(cfg.out),
        "model": str(cfg.out / "model.pt"),
        "training_queries": len(result.prepared.training),
        "transferred": len(result.prepared.selection.added),
        "target_intents": result.prepared.intents,
        **{k: last.get(k) for k in ("epoch", "loss", "classifier_accuracy", "active_units")},
    }
    if request.json:
        typer.echo(json.dumps(summary, indent=1, default=float))
        return
    typer.echo(
        f"trained {cfg.epochs} epochs on {summary['training_queries']} queries "
        f"({summary['transferred']} transferred; targets {', '.join(summary['target_intents'])}): "
        f"loss {last.get('loss', float('nan')):.3f}, classifier accuracy "
        f"{last.get('classifier_accuracy', float('nan')):.3f}, active units {last.get('active_units')}"
    )
    typer.echo(f"model: {summary['model']}")


@app.command()
def generate(
    ctx: typer.Context,
    model: Annotated[Path, typer.Option("--model", help="Run folder or model.pt.")],
    n_per_intent: Annotated[int, typer.Option("--n-per-intent")] = 100,
    intents: Annotated[str, typer.Option("--intents", help="Comma-separated; default all.")] = "",
    strategy: Annotated[
        str, typer.Option("--strategy", help="greedy (paper) | sample.")
    ] = "greedy",
    temperature: Annotated[float, typer.Option("--temperature")] = 1.0,
    top_p: Annotated[float, typer.Option("--top-p")] = 1.0,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 1024,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    config: ConfigOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="jsonl | csv | rasa (Rasa NLU YAML) | snips (snips-nlu dataset JSON)."
        ),
    ] = "jsonl",
    slot_values: Annotated[
        Path | None,
        typer.Option(
            "--slot-values",
            help="JSON {slot: [values]} / {intent: {slot: [values]}} or CSV [intent,]slot,value.",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="File to write.")] = Path("generated.jsonl"),
):
    """Generate queries (z ~ N(0, I), chosen intents), refill slots per intent, write them as
    JSONL/CSV with BIO tags, Rasa NLU YAML or a snips-nlu dataset (original casing of values)."""
    from dltheory.core.config import resolve_config
    from dltheory.core.device import resolve_device
    from dltheory.core.errors import ConfigError

    from .config import GenerateConfig
    from .data import Utterance, write_jsonl
    from .export import FORMATS, export_queries
    from .generation import GeneratorBundle
    from .slots import load_slot_values

    cfg = resolve_config(
        GenerateConfig,
        config,
        explicit_params(ctx, exclude=("config", "out", "model", "fmt", "slot_values")),
    ).validate()
    if fmt not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    bundle = GeneratorBundle.load(model, resolve_device(cfg.device))
    if slot_values is not None:
        load_slot_values(slot_values, bundle.realiser)
    chosen = [i.strip() for i in cfg.intents.split(",") if i.strip()] or bundle.intents
    queries = bundle.generate(
        {i: cfg.n_per_intent for i in chosen},
        strategy=cfg.strategy,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
    )
    export_queries([q.realised for q in queries], out, fmt)
    write_jsonl(
        [Utterance.plain(q.words, q.intent) for q in queries], out.with_suffix(".delex.jsonl")
    )
    typer.echo(
        f"wrote {len(queries)} queries to {out} (model output in {out.with_suffix('.delex.jsonl')})"
    )


@app.command()
def transfer(
    data: DataOpt = "chatterbot",
    train_size: TrainSizeOpt = 200,
    reservoir: ReservoirOpt = "",
    method: MethodOpt = "query_transfer",
    cosine_threshold: ThresholdOpt = 0.15,
    none_size: NoneSizeOpt = 200,
    folds: Annotated[int, typer.Option("--folds", help="Leave-intents-out folds (1 = none).")] = 2,
    fold: Annotated[int, typer.Option("--fold", help="Which fold.")] = 0,
    seed: SeedOpt = 0,
    as_json: JsonOpt = False,
    out: OutOpt = Path("runs/querygen-transfer"),
):
    """Show which reservoir groups the selection keeps; write selection.json and transferred.jsonl."""
    from .config import TrainConfig
    from .data import write_jsonl
    from .pipeline import prepare_data

    cfg = TrainConfig(
        data=data,
        train_size=train_size,
        reservoir=reservoir,
        method=method,
        cosine_threshold=cosine_threshold,
        none_size=none_size,
        folds=folds,
        fold=fold,
        seed=seed,
    )
    sel = prepare_data(cfg).selection
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(json.dumps(sel.summary(), indent=1) + "\n")
    write_jsonl(sel.added, out / "transferred.jsonl")
    rows = [
        {
            "group": g,
            "best_intent": max(c, key=lambda k: c[k]),
            "max_cosine": max(c.values()),
            "kept": g in sel.kept,
        }
        for g, c in sorted(sel.cosines.items(), key=lambda kv: -max(kv[1].values()))
    ]
    _print_rows(
        rows,
        as_json,
        f"reservoir groups (threshold {cosine_threshold}); {len(sel.added)} queries added",
    )


@app.command("eval")
def evaluate(
    model: Annotated[
        Path, typer.Option("--model", help="Run folder (its config.json gives the data).")
    ],
    generated: Annotated[
        Path | None,
        typer.Option(
            "--generated",
            help="JSONL from generate (.delex.jsonl preferred); default: generate now.",
        ),
    ] = None,
    n_per_intent: Annotated[int, typer.Option("--n-per-intent")] = 100,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    as_json: JsonOpt = False,
    out: Annotated[Path, typer.Option("--out", help="JSON file for the scores.")] = Path(
        "evaluation.json"
    ),
):
    """Intent accuracy, BLEU quality, 1 - self-BLEU, originality, novelty, transfer, augmentation, LM perplexity."""
    from dltheory.core.config import resolve_config
    from dltheory.core.device import resolve_device
    from dltheory.core.errors import DltheoryError

    from .config import TrainConfig
    from .data import load_labelled_file
    from .evaluation import Evaluator
    from .generation import GeneratedQuery, GeneratorBundle
    from .pipeline import prepare_data

    run_dir = model if model.is_dir() else model.parent
    if not (run_dir / "config.json").is_file():
        raise DltheoryError(f"{run_dir} has no config.json: pass the run folder written by `train`")
    cfg = resolve_config(TrainConfig, run_dir / "config.json", {})
    bundle = GeneratorBundle.load(run_dir, resolve_device(device))
    prepared = prepare_data(cfg)
    if generated is None:
        queries = bundle.generate({i: n_per_intent for i in bundle.intents}, seed=seed)
    else:
        import random

        rng = random.Random(seed)
        rows = load_labelled_file(generated)
        queries = [
            GeneratedQuery(
                prepared.model_text(u),
                u.intent,
                u if u.slots else bundle.realiser.realise(u.tokens, u.intent, rng),
            )
            for u in rows
        ]
    scores = Evaluator(prepared, seed).score(queries)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(scores, indent=1, default=float) + "\n")
    table = [{"metric": k, "value": v} for k, v in scores.items() if isinstance(v, (int, float))]
    table += [
        {"metric": f"augmentation.{m}", "value": v} for m, v in scores["augmentation"].items()
    ]
    table += [
        {"metric": f"language_model.{lm}.{m}", "value": v}
        for lm, parts in scores["language_model"].items()
        for m, v in parts.items()
    ]
    _print_rows(table, as_json, f"evaluation of {len(queries)} queries")
    typer.echo(f"scores: {out}")


app.command("evaluate", hidden=True)(evaluate)  # the verb's former name


@app.command()
def reproduce(
    out: OutOpt = Path("runs/querygen-reproduce"),
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="quick (minutes, one fold and seed) | full (SNIPS leave-intents-out folds, "
            "several seeds) | paper (the paper's 5 seeds; refused here when too slow).",
        ),
    ] = "quick",
    quick: Annotated[
        bool, typer.Option("--quick", hidden=True, help="Same as --scale quick.")
    ] = False,
    device: DeviceOpt = "auto",
    data: Annotated[
        str,
        typer.Option(
            "--data", help="SNIPS 2017-06 folder (default: the shared copy, else chatterbot)."
        ),
    ] = "",
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated; default by scale.")] = "",
):
    """No transfer / query transfer / pseudo-labelling, the alpha trade-off and the LM augmentation
    over leave-intents-out folds and seeds; figures, tables, manifest.json, claims.json."""
    from dltheory.core.errors import ConfigError

    from .reproduce import run_reproduction

    if quick and scale != "quick":
        raise ConfigError("--quick means --scale quick; give one of them")
    try:
        chosen = tuple(int(s) for s in seeds.split(",") if s.strip()) or None
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers (got {seeds!r})") from None
    manifest = run_reproduction(
        out, scale=scale, device=device, data=data or None, seeds=chosen, log=typer.echo
    )
    typer.echo(f"manifest: {manifest}")

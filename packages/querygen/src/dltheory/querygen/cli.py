"""``dltheory querygen train|generate|transfer|evaluate|reproduce`` (torch imported inside commands)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    OutOpt,
    PrecisionOpt,
    QuickOpt,
    ResumeOpt,
    SeedOpt,
    explicit_params,
)

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


@app.command()
def train(
    ctx: typer.Context,
    data: DataOpt = "chatterbot",
    train_size: TrainSizeOpt = 200,
    method: MethodOpt = "query_transfer",
    alpha: Annotated[
        float, typer.Option("--alpha", help="Classifier-loss weight of None queries.")
    ] = 0.2,
    none_size: NoneSizeOpt = 200,
    cosine_threshold: ThresholdOpt = 0.9,
    reservoir: ReservoirOpt = "",
    input_type: Annotated[
        str, typer.Option("--input-type", help="delexicalised | utterance.")
    ] = "delexicalised",
    tokenizer: Annotated[
        str, typer.Option("--tokenizer", help="word | bpe (trained offline).")
    ] = "word",
    decoder: Annotated[str, typer.Option("--decoder", help="gru (paper) | transformer.")] = "gru",
    epochs: Annotated[int, typer.Option("--epochs")] = 50,
    batch_size: Annotated[int, typer.Option("--batch-size")] = 32,
    lr: Annotated[float, typer.Option("--lr")] = 0.01,
    hidden_size: Annotated[int, typer.Option("--hidden-size")] = 256,
    latent_size: Annotated[int, typer.Option("--latent-size")] = 8,
    kl_schedule: Annotated[
        str, typer.Option("--kl-schedule", help="logistic | cyclical | constant.")
    ] = "logistic",
    free_bits: Annotated[
        float, typer.Option("--free-bits", help="Per-dimension KL floor (0 = off).")
    ] = 0.0,
    word_dropout: Annotated[float, typer.Option("--word-dropout")] = 0.0,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    precision: PrecisionOpt = "fp32",
    out: OutOpt = Path("runs/querygen"),
    resume: ResumeOpt = False,
    config: ConfigOpt = None,
):
    """Train the CVAE (few-shot subset + transferred reservoir queries); writes model.pt in --out."""
    from dltheory.core.config import resolve_config

    from .config import TrainConfig
    from .train import train as run_train

    cfg = resolve_config(
        TrainConfig, config, explicit_params(ctx, exclude=("config", "out", "resume"))
    )
    result = run_train(cfg, out, resume=resume)
    last = result.history[-1]
    typer.echo(
        f"trained {cfg.epochs} epochs on {len(result.prepared.training)} queries "
        f"({len(result.prepared.selection.added)} transferred): loss {last['loss']:.3f}, "
        f"classifier accuracy {last['classifier_accuracy']:.3f}, active units {last['active_units']}"
    )
    typer.echo(f"model: {out / 'model.pt'}")


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
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write.")] = Path(
        "generated.jsonl"
    ),
):
    """Generate queries (z ~ N(0, I), chosen intents), refill slots, write JSONL (text, intent, slots)."""
    from dltheory.core.config import resolve_config
    from dltheory.core.device import resolve_device

    from .config import GenerateConfig
    from .data import Utterance, write_jsonl
    from .generation import GeneratorBundle

    cfg = resolve_config(
        GenerateConfig, config, explicit_params(ctx, exclude=("config", "out", "model"))
    )
    bundle = GeneratorBundle.load(model, resolve_device(cfg.device))
    chosen = [i.strip() for i in cfg.intents.split(",") if i.strip()] or bundle.intents
    queries = bundle.generate(
        {i: cfg.n_per_intent for i in chosen},
        strategy=cfg.strategy,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
    )
    write_jsonl([q.realised for q in queries], out)
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
    cosine_threshold: ThresholdOpt = 0.9,
    none_size: NoneSizeOpt = 200,
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
        seed=seed,
    )
    sel = prepare_data(cfg).selection
    out.mkdir(parents=True, exist_ok=True)
    (out / "selection.json").write_text(json.dumps(sel.summary(), indent=1) + "\n")
    write_jsonl(sel.added, out / "transferred.jsonl")
    rows = [
        {
            "group": g,
            "best_intent": max(c, key=c.get),
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


@app.command()
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
    """Intent accuracy, BLEU quality, 1 - self-BLEU, originality, transfer, distinct-n, augmentation, LM perplexity."""
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
        {"metric": f"{k}.{m}", "value": v}
        for k in ("augmentation", "language_model")
        for m, v in scores[k].items()
    ]
    _print_rows(table, as_json, f"evaluation of {len(queries)} queries")
    typer.echo(f"scores: {out}")


@app.command()
def reproduce(
    quick: QuickOpt = False,
    out: OutOpt = Path("runs/querygen-reproduce"),
    device: DeviceOpt = "auto",
    data: DataOpt = "chatterbot",
    seeds: Annotated[
        str, typer.Option("--seeds", help="Comma-separated; default 0 (quick) or 0-4.")
    ] = "",
    alphas: Annotated[
        str,
        typer.Option(
            "--alphas",
            help="Comma-separated alpha sweep (besides 0.2); "
            "'none' skips it; default 0,1 (quick) or 0,0.1,0.5,1,2,5.",
        ),
    ] = "",
):
    """No transfer / query transfer / pseudo-labelling and the alpha sweep; figures, tables, manifest.json."""
    from .reproduce import reproduce as run_reproduce

    chosen = tuple(int(s) for s in seeds.split(",") if s.strip()) or None
    sweep = (
        None
        if not alphas
        else ()
        if alphas == "none"
        else tuple(float(a) for a in alphas.split(","))
    )
    manifest = run_reproduce(
        out, quick, device, data=data, seeds=chosen, alphas=sweep, log=typer.echo
    )
    typer.echo(f"manifest: {manifest}")

"""``dltheory querygen train|generate|transfer|eval|reproduce`` (torch imported inside commands).

The options of train, generate, transfer and eval are generated from their config dataclasses
(:mod:`dltheory.querygen.config`, one declaration per field) by ``config_command``, with
``--config FILE`` and ``--set KEY=VALUE``. ``evaluate`` stays as a hidden alias of ``eval``;
``reproduce --quick`` of ``--scale quick``. ``--json`` prints strict JSON (NaN as null).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dltheory.cli.options import DeviceOpt, OutOpt, RunRequest, config_command

from .config import EvalConfig, GenerateConfig, TrainConfig, TransferConfig

app = typer.Typer(
    help="Conditional VAE query generation with query transfer (arXiv:1911.03698).",
    no_args_is_help=True,
)


def json_text(value: Any) -> str:
    """Strict JSON (RFC 8259): NaN and infinities are written as null."""
    from dltheory.core.jsonio import dumps

    return dumps(value, indent=1, default=str)


def _print_rows(rows: list[dict], as_json: bool, title: str = "") -> None:
    from dltheory.cli.output import echo_result

    echo_result(rows, as_json, title=title)


def _no_run_folder(request: RunRequest, verb: str) -> None:
    """--resume / --overwrite concern `train`'s run folders; refuse them elsewhere in one line."""
    from dltheory.core.errors import ConfigError

    for flag in ("resume", "overwrite"):
        if getattr(request, flag):
            raise ConfigError(f"--{flag} applies to `train` run folders; `{verb}` rewrites --out")


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
        typer.echo(json_text(summary))
        return
    typer.echo(
        f"trained {cfg.epochs} epochs on {summary['training_queries']} queries "
        f"({summary['transferred']} transferred; targets {', '.join(summary['target_intents'])}): "
        f"loss {last.get('loss', float('nan')):.3f}, classifier accuracy "
        f"{last.get('classifier_accuracy', float('nan')):.3f}, active units {last.get('active_units')}"
    )
    typer.echo(f"model: {summary['model']}")


@config_command(app, GenerateConfig, name="generate")
def generate(cfg: GenerateConfig, request: RunRequest) -> None:
    """Generate queries (z ~ N(0, I), chosen intents), refill slots per intent, write them as
    JSONL/CSV with BIO tags, Rasa NLU YAML or a snips-nlu dataset (original casing of values)."""
    _no_run_folder(request, "generate")
    from dltheory.core.device import resolve_device
    from dltheory.core.threads import configure_threads

    from .data import Utterance, write_jsonl
    from .export import export_queries
    from .generation import GeneratorBundle
    from .slots import load_slot_values

    configure_threads(cfg.threads)
    bundle = GeneratorBundle.load(cfg.model, resolve_device(cfg.device))
    if cfg.slot_values:
        load_slot_values(cfg.slot_values, bundle.realiser)
    chosen = [i.strip() for i in cfg.intents.split(",") if i.strip()] or bundle.intents
    queries = bundle.generate(
        {i: cfg.n_per_intent for i in chosen},
        strategy=cfg.strategy,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        seed=cfg.seed,
        batch_size=cfg.batch_size,
    )
    path = export_queries([q.realised for q in queries], cfg.out, cfg.format or None)
    delex = cfg.out.with_suffix(".delex.jsonl")
    write_jsonl([Utterance.plain(q.words, q.intent) for q in queries], delex)
    if request.json:
        summary = {"out": path, "delexicalised": delex, "queries": len(queries), "intents": chosen}
        typer.echo(json_text(summary))
        return
    typer.echo(f"wrote {len(queries)} queries to {path} (model output in {delex})")


@config_command(app, TransferConfig, name="transfer")
def transfer(cfg: TransferConfig, request: RunRequest) -> None:
    """Show which reservoir groups the selection keeps; write selection.json and transferred.jsonl."""
    _no_run_folder(request, "transfer")
    from dltheory.core.files import atomic_write_text

    from .data import write_jsonl
    from .pipeline import prepare_data

    sel = prepare_data(cfg).selection
    cfg.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg.out / "selection.json", json_text(sel.summary()) + "\n")
    write_jsonl(sel.added, cfg.out / "transferred.jsonl")
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
        request.json,
        f"reservoir groups (threshold {cfg.cosine_threshold}); {len(sel.added)} queries added",
    )


@config_command(app, EvalConfig, name="eval", aliases=("evaluate",))  # `evaluate`: former name
def evaluate(cfg: EvalConfig, request: RunRequest) -> None:
    """Intent accuracy, BLEU quality, 1 - self-BLEU, originality, novelty, transfer, augmentation, LM perplexity."""
    _no_run_folder(request, "eval")
    from dltheory.core.config import resolve_config
    from dltheory.core.device import resolve_device
    from dltheory.core.errors import DltheoryError
    from dltheory.core.files import atomic_write_text
    from dltheory.core.threads import configure_threads

    from .data import load_labelled_file
    from .evaluation import Evaluator
    from .generation import GeneratedQuery, GeneratorBundle
    from .pipeline import prepare_data

    run_dir = cfg.model if cfg.model.is_dir() else cfg.model.parent
    if not (run_dir / "config.json").is_file():
        raise DltheoryError(f"{run_dir} has no config.json: pass the run folder written by `train`")
    configure_threads(cfg.threads)
    train_cfg = resolve_config(TrainConfig, run_dir / "config.json", {})
    bundle = GeneratorBundle.load(run_dir, resolve_device(cfg.device))
    prepared = prepare_data(train_cfg)
    if cfg.generated is None:
        queries = bundle.generate({i: cfg.n_per_intent for i in bundle.intents}, seed=cfg.seed)
    else:
        import random

        rng = random.Random(cfg.seed)
        rows = load_labelled_file(cfg.generated)
        queries = [
            GeneratedQuery(
                prepared.model_text(u),
                u.intent,
                u if u.slots else bundle.realiser.realise(u.tokens, u.intent, rng),
            )
            for u in rows
        ]
    scores = Evaluator(prepared, cfg.seed).score(queries)
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg.out, json_text(scores) + "\n")
    table = [{"metric": k, "value": v} for k, v in scores.items() if isinstance(v, (int, float))]
    table += [
        {"metric": f"augmentation.{m}", "value": v} for m, v in scores["augmentation"].items()
    ]
    table += [
        {"metric": f"language_model.{lm}.{m}", "value": v}
        for lm, parts in scores["language_model"].items()
        for m, v in parts.items()
    ]
    if request.json:
        typer.echo(json_text(scores))
        return
    _print_rows(table, False, f"evaluation of {len(queries)} queries")
    typer.echo(f"scores: {cfg.out}")


@app.command()
def reproduce(
    out: OutOpt = Path("runs/querygen-reproduce"),
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="quick (minutes: 2 folds x 1 seed, 15 epochs) | full (2 folds x 2 seeds, "
            "50 epochs) | paper (the paper's setting: 5 seeds, 50 epochs, 200 + 200 queries; "
            "prints its time estimate first, refused only when SNIPS is absent).",
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

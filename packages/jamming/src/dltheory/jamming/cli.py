"""`dltheory jamming ...`: train ensembles, find N*, sweep N*(P), the N-scaling, reproduce.

Every verb's options are generated from its config dataclass in ``config.py`` (one declaration
per setting, ``config_command``), with ``--config FILE`` and ``--set KEY=VALUE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import DeviceOpt, JsonOpt, OutOpt, RunRequest, config_command

from .config import NStarConfig, PhaseConfig, ScalingConfig, TrainConfig

app = typer.Typer(
    help="Jamming transition N*, phase diagram and N-scaling of FC nets.", no_args_is_help=True
)


def _json(obj, indent=None) -> str:
    from .ensembles import to_json

    return to_json(obj, indent)


def _print_rows(rows: list[dict], as_json: bool) -> None:
    from dltheory.cli.output import echo_result

    echo_result(rows, as_json)


def _threads(cfg) -> None:
    from dltheory.core.threads import configure_threads

    configure_threads(cfg.threads)


@config_command(app, TrainConfig, name="train")
def train(cfg: TrainConfig, request: RunRequest) -> None:
    """Train an ensemble (n_seeds nets per width) until each fits (N_Delta = 0) or hits the cap."""
    from .train import train as run_train

    rows = run_train(cfg, resume=request.resume, overwrite=request.overwrite)
    _print_rows(rows, request.json)


@app.command("eval")
def eval_cmd(
    out: OutOpt = Path("runs/jamming-train"),
    json_out: JsonOpt = False,
):
    """Per-network N_Delta and test error of a train run (its config.json and last.pt)."""
    from .train import evaluate

    _print_rows(evaluate(out), json_out)


@config_command(app, NStarConfig, name="nstar")
def nstar(cfg: NStarConfig, request: RunRequest) -> None:
    """Find N* at fixed P: descend a width grid, then bisect on the fractional width.

    Each decided width is saved in --out as it finishes (last.pt, metrics.jsonl): an interrupted
    search continues with --resume and does not train those widths again."""
    _threads(cfg)
    import json

    from dltheory.core.config import mutable_keys
    from dltheory.core.files import atomic_write_text
    from dltheory.core.plotting import save_table
    from dltheory.core.runs import RunDir

    from .nstar import decide_width, find_nstar

    with RunDir(
        cfg.out,
        config=cfg,
        resume=request.resume,
        overwrite=request.overwrite,
        mutable_keys=mutable_keys(NStarConfig),
    ) as run:
        state = run.load_checkpoint(restore_rng=False) if request.resume else None
        # saved as JSON text (NaN kept, numpy scalars as numbers), which weights_only loads
        decided = {int(n): r for n, r in json.loads(state["decided"]).items()} if state else {}

        def save(n_params: int, records: list[dict]) -> None:
            text = json.dumps(decided, default=lambda v: v.item() if hasattr(v, "item") else str(v))
            run.save_checkpoint({"decided": text})
            run.log(
                n_params=n_params,
                decision=decide_width(records, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction),
                n_delta=[r["n_delta"] for r in records],
                outcome=[r["outcome"] for r in records],
            )

        result = find_nstar(cfg, decided=decided, on_decided=save)
        out = Path(cfg.out)
        save_table(result["records"], out / "nstar_runs", title=f"N* search, P={cfg.n_train}")
        summary = {k: v for k, v in result.items() if k != "records"}
        atomic_write_text(out / "nstar.json", _json(result, indent=1))
    if request.json:
        typer.echo(_json(summary))
    else:
        typer.echo(
            f"P={summary['n_train']}  status={summary['status']}  N*={summary['n_star']:.1f} "
            f"(bracket {summary['n_star_low']}..{summary['n_star_high']}, lower end "
            f"{summary['low_decision']})  N*/P={summary['n_star_over_p']:.3f}"
        )


@config_command(app, PhaseConfig, name="sweep", aliases=("phase",), run_folder=False)
def sweep(cfg: PhaseConfig, request: RunRequest) -> None:
    """Phase diagram N*(P): one N* search per P, run through the core sweep executor."""
    from dltheory.core.plotting import save_table

    from .figures import nstar_slope, plot_phase
    from .nstar import phase_diagram

    rows = phase_diagram(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    table = save_table(
        [{k: v for k, v in r.items() if k not in ("records", "decisions")} for r in rows],
        out / "phase",
    )
    plot_phase(rows, out / "phase_diagram")
    (out / "phase.json").write_text(_json(rows, indent=1))
    typer.echo(_json(rows) if request.json else table)
    typer.echo(f"fitted N*/P = {nstar_slope(rows):.3f}")


@config_command(app, ScalingConfig, name="scaling", run_folder=False)
def scaling(cfg: ScalingConfig, request: RunRequest) -> None:
    """Ensembles across N: test error, ensemble error, fluctuations, norm, NTK; fitted exponents."""
    from dltheory.core.plotting import save_table

    from .figures import plot_scaling
    from .scaling import run_scaling

    result = run_scaling(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    table = save_table(result["rows"], out / "scaling")
    plot_scaling(result, out / "scaling", title=f"{cfg.dataset}, P={cfg.n_train}, L={cfg.depth}")
    (out / "scaling.json").write_text(_json(result, indent=1))
    typer.echo(_json(result["fits"], indent=1) if request.json else table)
    for name, fit in result["fits"].items():
        if "exponent" in fit:
            typer.echo(
                f"{name}: exponent {fit['exponent']:+.3f} "
                f"[{fit['ci_low']:+.3f}, {fit['ci_high']:+.3f}]"
            )
        else:
            typer.echo(f"{name}: no result ({fit.get('error', 'fit failed')})")


@app.command()
def reproduce(
    out: OutOpt = Path("runs/jamming-reproduce"),
    scale: Annotated[
        str, typer.Option("--scale", help="quick (minutes, CPU), full (<= ~20 min) or paper.")
    ] = "quick",
    quick: Annotated[bool, typer.Option("--quick", hidden=True)] = False,
    device: DeviceOpt = "auto",
):
    """The papers' results with a claims scoreboard: N*(P), the cusp, the exponents, ensembles."""
    from .reproduce import reproduce as run_reproduce

    path = run_reproduce(out, scale="quick" if quick else scale, device=device)
    typer.echo(f"wrote {path}")

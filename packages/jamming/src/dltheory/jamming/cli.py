"""`dltheory jamming ...`: train ensembles, find N*, draw the phase diagram and the N-scaling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import (
    ConfigOpt,
    DeviceOpt,
    DownloadOpt,
    JsonOpt,
    OutOpt,
    RunRequest,
    SeedOpt,
    config_command,
    explicit_params,
)

from .config import TrainConfig

app = typer.Typer(
    help="Jamming transition N*, phase diagram and N-scaling of FC nets.", no_args_is_help=True
)

DatasetOpt = Annotated[str, typer.Option("--dataset", help="random, mnist (parity) or cifar2.")]
SourceOpt = Annotated[
    str, typer.Option("--source", help="MNIST source: digits (offline), idx, torchvision.")
]
RootOpt = Annotated[
    str | None, typer.Option("--data-root", help="Dataset folder (idx/torchvision/cifar2).")
]
POpt = Annotated[int, typer.Option("--n-train", "-P", help="P, the number of training points.")]
NTestOpt = Annotated[
    int, typer.Option("--n-test", help="Test points (random data; cap for others).")
]
DimOpt = Annotated[int, typer.Option("--d", help="Input dimension (PCA components for MNIST).")]
DepthOpt = Annotated[int, typer.Option("--depth", "-L", help="Number of hidden layers L.")]
SeedsOpt = Annotated[int, typer.Option("--n-seeds", help="Networks (initialisations) per width.")]
ParamOpt = Annotated[str, typer.Option("--parametrisation", help="standard or ntk.")]
InitOpt = Annotated[str, typer.Option("--init", help="orthogonal or normal.")]
OptimOpt = Annotated[
    str,
    typer.Option(
        "--optimizer",
        help="adam, flow (adaptive gradient flow) or lm (Adam for --max-steps, then the "
        "Levenberg-Marquardt minimiser decides SAT / converged UNSAT).",
    ),
]
SatRuleOpt = Annotated[
    str, typer.Option("--sat-rule", help="A width is SAT when any / the majority of seeds are.")
]
SatCritOpt = Annotated[
    str,
    typer.Option(
        "--sat-criterion",
        help="exact: N_Delta = 0 (SAT) / converged minimum (UNSAT); authors: N_Delta <= "
        "unsat-fraction * N at the cap.",
    ),
]
UnsatFracOpt = Annotated[
    float,
    typer.Option("--unsat-fraction", help="authors' criterion: UNSAT when N_Delta > this * N."),
]
LmIterOpt = Annotated[int, typer.Option("--lm-max-iter", help="Minimiser iteration cap.")]
LmSlackOpt = Annotated[
    float, typer.Option("--lm-slack", help="Minimiser margin slack (kappa + slack is minimised).")
]
MaxFactorOpt = Annotated[float, typer.Option("--max-factor", help="Grid top: N = factor * P.")]
MinFactorOpt = Annotated[float, typer.Option("--min-factor", help="Grid bottom: N = factor * P.")]
GridOpt = Annotated[int, typer.Option("--n-grid", help="Widths on the descending N grid.")]
BisectOpt = Annotated[int, typer.Option("--n-bisect", help="Bisection refinements.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Adam learning rate.")]
DecayOpt = Annotated[
    int, typer.Option("--lr-decay-every", help="Divide lr by 10 every this many steps (0: off).")
]
StepsOpt = Annotated[int, typer.Option("--max-steps", help="Step cap per network.")]
LossOpt = Annotated[str, typer.Option("--loss", help="qhinge, hinge, softhinge or crossentropy.")]
ExecOpt = Annotated[
    str, typer.Option("--executor", help="Sweep executor: serial, local or submitit.")
]
WorkersOpt = Annotated[int, typer.Option("--max-workers", help="Parallel sweep processes.")]
SubInitOpt = Annotated[
    bool, typer.Option("--subtract-init", help="Train and measure f = f_w - f_w0.")
]
ThreadsOpt = Annotated[
    int, typer.Option("--threads", help="torch CPU threads (tiny nets: 1 is fastest).")
]

_NOT_CONFIG = ("config", "out", "resume", "json_out", "threads", "quick", "checkpoint_every")


def _resolve(ctx: typer.Context, cls, config_file, renames: dict | None = None):
    from dltheory.core.config import resolve_config

    overrides = explicit_params(ctx, exclude=_NOT_CONFIG)
    for old, new in (renames or {}).items():
        if old in overrides:
            overrides[new] = overrides.pop(old)
    return resolve_config(cls, config_file, overrides)


def _json(obj, indent=None) -> str:
    from .ensembles import to_json

    return to_json(obj, indent)


def _setup_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(max(threads, 1))


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


def _print_rows(rows: list[dict], as_json: bool) -> None:
    if as_json:
        typer.echo(_json(rows, indent=1))
    else:
        from dltheory.core.plotting import markdown_table

        typer.echo(markdown_table(rows))


@app.command()
def nstar(
    ctx: typer.Context,
    dataset: DatasetOpt = "random",
    source: SourceOpt = "digits",
    data_root: RootOpt = None,
    download: DownloadOpt = False,
    n_train: POpt = 200,
    d: DimOpt = 10,
    depth: DepthOpt = 2,
    n_seeds: SeedsOpt = 2,
    seed: SeedOpt = 0,
    optimizer: OptimOpt = "adam",
    lr: LrOpt = 3e-2,
    lr_decay_every: DecayOpt = 0,
    max_steps: StepsOpt = 5000,
    loss: LossOpt = "qhinge",
    n_grid: GridOpt = 8,
    max_factor: MaxFactorOpt = 1.0,
    min_factor: MinFactorOpt = 0.05,
    n_bisect: BisectOpt = 3,
    sat_rule: SatRuleOpt = "any",
    sat_criterion: SatCritOpt = "exact",
    unsat_fraction: UnsatFracOpt = 0.1,
    lm_max_iter: LmIterOpt = 2000,
    lm_slack: LmSlackOpt = 1e-3,
    device: DeviceOpt = "cpu",
    out: OutOpt = Path("runs/jamming-nstar"),
    config: ConfigOpt = None,
    threads: ThreadsOpt = 1,
    json_out: JsonOpt = False,
):
    """Find N* at fixed P: descend a width grid, then bisect on the fractional width."""
    _setup_threads(threads)
    from dltheory.core.plotting import save_table

    from .nstar import NStarConfig, find_nstar

    cfg = _resolve(ctx, NStarConfig, config)
    result = find_nstar(cfg)
    out.mkdir(parents=True, exist_ok=True)
    save_table(result["records"], out / "nstar_runs", title=f"N* search, P={cfg.n_train}")
    summary = {k: v for k, v in result.items() if k != "records"}
    (out / "nstar.json").write_text(_json(result, indent=1))
    if json_out:
        typer.echo(_json(summary))
    else:
        typer.echo(
            f"P={summary['n_train']}  status={summary['status']}  N*={summary['n_star']:.1f} "
            f"(bracket {summary['n_star_low']}..{summary['n_star_high']})  "
            f"N*/P={summary['n_star_over_p']:.3f}"
        )


@app.command("sweep")
@app.command("phase", hidden=True)
def phase(
    ctx: typer.Context,
    dataset: DatasetOpt = "random",
    source: SourceOpt = "digits",
    data_root: RootOpt = None,
    d: DimOpt = 10,
    depth: DepthOpt = 2,
    train_sizes: Annotated[
        list[int] | None, typer.Option("--train-sizes", help="P values (repeatable).")
    ] = None,
    n_seeds: SeedsOpt = 2,
    seed: SeedOpt = 0,
    optimizer: OptimOpt = "adam",
    loss: LossOpt = "qhinge",
    lr: LrOpt = 3e-2,
    lr_decay_every: DecayOpt = 0,
    max_steps: StepsOpt = 5000,
    n_grid: GridOpt = 8,
    max_factor: MaxFactorOpt = 1.0,
    min_factor: MinFactorOpt = 0.05,
    n_bisect: BisectOpt = 3,
    sat_rule: SatRuleOpt = "any",
    sat_criterion: SatCritOpt = "exact",
    unsat_fraction: UnsatFracOpt = 0.1,
    lm_max_iter: LmIterOpt = 2000,
    lm_slack: LmSlackOpt = 1e-3,
    executor: ExecOpt = "local",
    max_workers: WorkersOpt = 2,
    device: DeviceOpt = "cpu",
    out: OutOpt = Path("runs/jamming-phase"),
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
):
    """Phase diagram N*(P): one N* search per P, run through the core sweep executor."""
    from dltheory.core.plotting import save_table

    from .figures import nstar_slope, plot_phase
    from .nstar import PhaseConfig, phase_diagram

    cfg = _resolve(ctx, PhaseConfig, config)
    rows = phase_diagram(cfg)
    out.mkdir(parents=True, exist_ok=True)
    table = save_table(
        [{k: v for k, v in r.items() if k != "records"} for r in rows], out / "phase"
    )
    plot_phase(rows, out / "phase_diagram")
    (out / "phase.json").write_text(_json(rows, indent=1))
    typer.echo(table)
    typer.echo(f"fitted N*/P = {nstar_slope(rows):.3f}")


@app.command()
def scaling(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Option("--dataset")] = "mnist",
    source: SourceOpt = "digits",
    data_root: RootOpt = None,
    download: DownloadOpt = False,
    n_train: POpt = 200,
    n_test: NTestOpt = 500,
    d: DimOpt = 10,
    depth: DepthOpt = 2,
    n_seeds: SeedsOpt = 8,
    seed: SeedOpt = 0,
    parametrisation: ParamOpt = "standard",
    init: InitOpt = "orthogonal",
    subtract_init: SubInitOpt = False,
    optimizer: OptimOpt = "adam",
    lr: LrOpt = 3e-2,
    lr_decay_every: DecayOpt = 0,
    max_steps: StepsOpt = 5000,
    sat_rule: SatRuleOpt = "any",
    sat_criterion: SatCritOpt = "exact",
    unsat_fraction: UnsatFracOpt = 0.1,
    lm_max_iter: LmIterOpt = 2000,
    n_points: Annotated[int, typer.Option("--n-points", help="N values on the grid.")] = 8,
    n_min_factor: Annotated[float, typer.Option("--n-min-factor")] = 0.05,
    n_max_factor: Annotated[float, typer.Option("--n-max-factor")] = 8.0,
    executor: ExecOpt = "local",
    max_workers: WorkersOpt = 2,
    device: DeviceOpt = "cpu",
    out: OutOpt = Path("runs/jamming-scaling"),
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
):
    """Ensembles across N: test error, ensemble error, fluctuations, norm, NTK; fitted exponents."""
    from dltheory.core.plotting import save_table

    from .figures import plot_scaling
    from .scaling import ScalingConfig, run_scaling

    cfg = _resolve(ctx, ScalingConfig, config)
    result = run_scaling(cfg)
    out.mkdir(parents=True, exist_ok=True)
    table = save_table(result["rows"], out / "scaling")
    plot_scaling(result, out / "scaling", title=f"{cfg.dataset}, P={cfg.n_train}, L={cfg.depth}")
    (out / "scaling.json").write_text(_json(result, indent=1))
    typer.echo(_json(result["fits"], indent=1) if json_out else table)
    for name, fit in result["fits"].items():
        if "exponent" in fit:
            typer.echo(
                f"{name}: exponent {fit['exponent']:+.3f} [{fit['ci_low']:+.3f}, {fit['ci_high']:+.3f}]"
            )


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

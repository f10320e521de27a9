"""``dltheory randfeat``: theory | simulate | phase | reproduce (torch imported inside commands only)."""

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
    QuickOpt,
    SeedOpt,
    explicit_params,
)

app = typer.Typer(
    help="Random-features theory (double/triple descent, ensembles, data structure) and simulations.",
    no_args_is_help=True,
)

ModelOpt = Annotated[
    str, typer.Option("--model", help="ridge | ensemble | block (simulate also: network).")
]
Psi1Opt = Annotated[float, typer.Option("--psi1", help="P / D (features per input dimension).")]
Psi2Opt = Annotated[float, typer.Option("--psi2", help="N / D (samples per input dimension).")]
RidgeOpt = Annotated[float, typer.Option("--ridge", help="Ridge strength in --ridge-convention.")]
ConventionOpt = Annotated[
    str,
    typer.Option("--ridge-convention", help="mm (lam_rep = psi1 psi2 lam_MM) | replica | jacot."),
]
ActivationOpt = Annotated[
    str, typer.Option("--activation", help="relu | tanh | erf | sign | linear | r=<0..1>.")
]
NoiseOpt = Annotated[
    float, typer.Option("--noise", help="Label-noise variance (regression) or flip probability.")
]
TaskOpt = Annotated[str, typer.Option("--task", help="regression | classification.")]
LossOpt = Annotated[str, typer.Option("--loss", help="square | logistic (block model).")]
StructureOpt = Annotated[
    str, typer.Option("--structure", help="isotropic | aligned | misaligned (block model).")
]
CurveOpt = Annotated[
    str,
    typer.Option("--curve", help="Sweep psi1 | psi2 | ridge log-spaced from --start to --stop."),
]
StartOpt = Annotated[float, typer.Option("--start")]
StopOpt = Annotated[float, typer.Option("--stop")]
NumOpt = Annotated[int, typer.Option("--num")]


def _print_rows(rows: list[dict], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(rows if len(rows) > 1 else rows[0], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key, justify="right")
    for row in rows:
        table.add_row(*(f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()))
    Console().print(table)


@app.command()
def theory(
    ctx: typer.Context,
    model: ModelOpt = "ridge",
    psi1: Psi1Opt = 2.0,
    psi2: Psi2Opt = 1.0,
    ridge: RidgeOpt = 0.01,
    ridge_convention: ConventionOpt = "mm",
    activation: ActivationOpt = "relu",
    noise: NoiseOpt = 0.0,
    k: Annotated[float, typer.Option("--k", help="Ensemble size K (inf allowed).")] = 1.0,
    task: TaskOpt = "regression",
    loss: LossOpt = "square",
    structure: StructureOpt = "isotropic",
    curve: CurveOpt = "",
    start: StartOpt = 0.1,
    stop: StopOpt = 10.0,
    num: NumOpt = 20,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Evaluate the asymptotic theory at one point or along a curve."""
    from dltheory.core.config import resolve_config
    from dltheory.randfeat.commands import evaluate_theory
    from dltheory.randfeat.configs import TheoryConfig

    overrides = explicit_params(ctx, exclude=("config", "json_out"))
    cfg = resolve_config(TheoryConfig, config, overrides)
    _print_rows(evaluate_theory(cfg), json_out, f"random-features theory ({cfg.model})")


@app.command()
def simulate(
    ctx: typer.Context,
    model: ModelOpt = "ridge",
    d: Annotated[int, typer.Option("--d", help="Input dimension D.")] = 200,
    psi1: Psi1Opt = 2.0,
    psi2: Psi2Opt = 1.0,
    ridge: RidgeOpt = 0.01,
    ridge_convention: ConventionOpt = "mm",
    activation: ActivationOpt = "relu",
    noise: NoiseOpt = 0.0,
    k: Annotated[int, typer.Option("--k", help="Ensemble size K.")] = 1,
    loss: LossOpt = "square",
    structure: StructureOpt = "isotropic",
    n_seeds: Annotated[int, typer.Option("--n-seeds")] = 5,
    n_test: Annotated[int, typer.Option("--n-test")] = 2000,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    curve: CurveOpt = "",
    start: StartOpt = 0.1,
    stop: StopOpt = 10.0,
    num: NumOpt = 8,
    optimizer: Annotated[
        str, typer.Option("--optimizer", help="network: gd | adam (full batch).")
    ] = "adam",
    lr: Annotated[float, typer.Option("--lr", help="network: learning rate.")] = 0.01,
    steps: Annotated[
        int, typer.Option("--steps", help="network: full-batch training steps.")
    ] = 2000,
    frozen_first_layer: Annotated[
        bool,
        typer.Option(
            "--frozen-first-layer", help="network: keep W = F (random features trained by GD)."
        ),
    ] = False,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Finite-size simulation (mean and standard error over seeds) with the theory's conventions.

    --model network trains two-layer networks f(x) = a . sigma(W x / sqrt D) / sqrt D with P = psi1 D
    hidden units by full-batch gradient descent (ridge on the readout); --k averages K networks."""
    from dltheory.core.config import resolve_config
    from dltheory.core.device import resolve_device
    from dltheory.randfeat.commands import run_simulation
    from dltheory.randfeat.configs import SimulateConfig

    overrides = explicit_params(ctx, exclude=("config", "json_out"))
    cfg = resolve_config(SimulateConfig, config, overrides)
    rows = run_simulation(cfg, resolve_device(cfg.device))
    _print_rows(rows, json_out, f"random-features simulation ({cfg.model}, D = {cfg.d})")


@app.command()
def phase(
    ctx: typer.Context,
    task: TaskOpt = "regression",
    activation: ActivationOpt = "tanh",
    ridge: RidgeOpt = 0.1,
    ridge_convention: ConventionOpt = "replica",
    noise: NoiseOpt = 0.0,
    loss: LossOpt = "square",
    structure: StructureOpt = "isotropic",
    lo: Annotated[float, typer.Option("--lo", help="Smallest N/D and P/D.")] = 0.1,
    hi: Annotated[float, typer.Option("--hi", help="Largest N/D and P/D.")] = 100.0,
    num: Annotated[int, typer.Option("--num", help="Grid points per axis.")] = 40,
    out: OutOpt = Path("runs/randfeat_phase"),
    config: ConfigOpt = None,
) -> None:
    """Draw the generalisation phase space over (N/D, P/D) with the N = D and N = P lines."""
    from dltheory.core.config import resolve_config, save_config
    from dltheory.randfeat.commands import draw_phase, phase_grid
    from dltheory.randfeat.configs import PhaseConfig

    overrides = explicit_params(ctx, exclude=("config", "out"))
    cfg = resolve_config(PhaseConfig, config, overrides)
    out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, out / "config.json")
    grid = phase_grid(cfg)
    path = draw_phase(
        grid,
        out / "phase_space",
        title=f"{cfg.activation}, lam = {cfg.ridge:g}, noise = {cfg.noise:g}",
    )
    typer.echo(
        f"wrote {path} ({int(grid['converged'].sum())}/{grid['converged'].size} points converged)"
    )


@app.command()
def reproduce(
    quick: QuickOpt = False,
    out: OutOpt = Path("runs/randfeat_reproduce"),
    device: DeviceOpt = "auto",
) -> None:
    """Draw each paper's main figure (theory lines, simulation points) and a phase space."""
    from dltheory.core.device import resolve_device
    from dltheory.randfeat.reproduce import reproduce as run_reproduce

    rep = run_reproduce(out, quick=quick, device=resolve_device(device))
    typer.echo(f"wrote {out / 'manifest.json'}")
    for key, value in rep.metrics.items():
        typer.echo(f"  {key}: {value}")

"""``dltheory randfeat``: theory | simulate | networks | phase | reproduce.

Options are generated from the config dataclasses in :mod:`dltheory.randfeat.config`; torch is
imported inside command bodies only (``dltheory randfeat --help`` stays light).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from dltheory.cli.options import DeviceOpt, OutOpt, RunRequest, config_command
from dltheory.randfeat.config import NetworksConfig, PhaseConfig, SimulateConfig, TheoryConfig

app = typer.Typer(
    help="Random-features theory (double/triple descent, ensembles, data structure) and simulations.",
    no_args_is_help=True,
)


def _print_rows(rows: list[dict], as_json: bool, title: str) -> None:
    from dltheory.cli.output import echo_result

    echo_result(rows if len(rows) > 1 or not as_json else rows[0], as_json, title=title)


@config_command(app, TheoryConfig, name="theory", run_folder=False)
def theory(cfg: TheoryConfig, request: RunRequest) -> None:
    """Evaluate the asymptotic theory at one point or along a curve (numpy only)."""
    from dltheory.randfeat.evaluate import evaluate_theory

    _print_rows(evaluate_theory(cfg), request.json, f"random-features theory ({cfg.model})")


@config_command(app, SimulateConfig, name="simulate", run_folder=False)
def simulate(cfg: SimulateConfig, request: RunRequest) -> None:
    """Finite-size simulation (mean and standard error over seeds) with the theory's conventions.

    --model ensemble trains K feature maps on the same data and averages their outputs (two such
    ensembles per data set give the bias / variance split); --model network trains two-layer nets."""
    from dltheory.core.device import resolve_device
    from dltheory.core.threads import configure_threads
    from dltheory.randfeat.evaluate import run_simulation

    configure_threads(cfg.threads)
    rows = run_simulation(cfg, resolve_device(cfg.device))
    _print_rows(rows, request.json, f"random-features simulation ({cfg.model}, D = {cfg.d})")


@config_command(app, NetworksConfig, name="networks", run_folder=False)
def networks(cfg: NetworksConfig, request: RunRequest) -> None:
    """Two-layer networks with both layers trained, single and K-ensembles, versus N (teacher, digits
    or MNIST-t10k parity), beside random features of the same width."""
    from dltheory.core.device import resolve_device
    from dltheory.core.threads import configure_threads
    from dltheory.randfeat.evaluate import network_curve

    configure_threads(cfg.threads)
    rows, path = network_curve(cfg, resolve_device(cfg.device))
    _print_rows(rows, request.json, f"trained two-layer networks ({cfg.data}, P = {cfg.width})")
    if path is not None and not request.json:
        typer.echo(f"wrote {path}")


@config_command(app, PhaseConfig, name="phase", run_folder=False)
def phase(cfg: PhaseConfig, request: RunRequest) -> None:
    """Draw the generalisation phase space over (N/D, P/D) with the N = D and N = P lines; any block
    parameter (--structure, --r-x, --r-beta, --r-phi) gives the two-block phase space of 2103.05524."""
    from dltheory.core.config import save_config
    from dltheory.randfeat.figures import draw_phase
    from dltheory.randfeat.phase import phase_grid

    grid = phase_grid(cfg)
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_config(cfg, cfg.out / "config.json")
    path = draw_phase(
        grid,
        cfg.out / "phase_space",
        title=f"{cfg.activation}, lam = {cfg.ridge:g}, noise = {cfg.noise:g}",
    )
    done = int(grid["converged"].sum())
    if request.json:
        typer.echo(
            json.dumps({"figure": str(path), "converged": done, "points": grid["converged"].size})
        )
    else:
        typer.echo(f"wrote {path} ({done}/{grid['converged'].size} points converged)")


@app.command()
def reproduce(
    out: OutOpt = Path("runs/randfeat_reproduce"),
    scale: Annotated[
        str, typer.Option("--scale", help="quick (minutes on a CPU) | full | paper.")
    ] = "quick",
    quick: Annotated[
        bool, typer.Option("--quick", hidden=True, help="Same as --scale quick.")
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """The three papers' figures (theory lines, simulation points), the trained networks, phase
    spaces and the claims scoreboard (claims.json)."""
    from dltheory.randfeat.errors import require
    from dltheory.randfeat.reproduce import reproduce as run_reproduce

    require(
        scale in ("quick", "full", "paper"), f"--scale must be quick, full or paper, not {scale!r}"
    )
    require(not quick or scale == "quick", "--quick means --scale quick; give one of them")
    rep = run_reproduce(out, scale=scale, device=device)
    typer.echo(f"wrote {out / 'manifest.json'} and {out / 'claims.json'}")
    for key, value in rep.metrics.items():
        typer.echo(f"  {key}: {value}")

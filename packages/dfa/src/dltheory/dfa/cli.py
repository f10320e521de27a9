"""`dltheory dfa`: train, eval, theory, linear, sweep, reproduce. Torch only inside commands."""

from __future__ import annotations

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
)

from .config import TrainConfig

app = typer.Typer(
    help="Direct Feedback Alignment: fast engine, alignment, align-then-memorise.",
    no_args_is_help=True,
)


def _print(record: dict, as_json: bool) -> None:
    from dltheory.cli.output import echo_result

    echo_result(record, as_json, hide=("config",))


@config_command(app, TrainConfig, name="train")
def train(cfg: TrainConfig, request: RunRequest) -> None:
    """Train an MLP or CNN with DFA, FA or BP; log loss, accuracy, WA and GA per layer."""
    from .train import train as run_train

    record = run_train(cfg, resume=request.resume, overwrite=request.overwrite)
    _print(record, request.json)


@app.command(name="eval")
def eval_(
    run: Annotated[Path, typer.Option("--run", help="Run folder written by `dfa train`.")] = Path(
        "runs/dfa-train"
    ),
    device: DeviceOpt = "auto",
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads (default: DLTHEORY_THREADS).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Reload a trained run (weights only) and report loss, accuracy, WA and GA per layer."""
    from .train import evaluate_run

    _print(evaluate_run(run, device=device, threads=threads), json_out)


@app.command()
def theory(
    n_inputs: Annotated[int, typer.Option("--N", help="Input dimension N.")] = 1000,
    teacher_hidden: Annotated[int, typer.Option("--M", help="Teacher hidden units.")] = 2,
    student_hidden: Annotated[int, typer.Option("--K", help="Student hidden units.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate eta.")] = 1.0,
    method: Annotated[str, typer.Option(help="dfa | bp")] = "dfa",
    feedback: Annotated[
        str, typer.Option(help="random | matched | orthogonal | positive")
    ] = "random",
    time: Annotated[float, typer.Option(help="Training time in steps/N.")] = 50.0,
    noise: Annotated[float, typer.Option(help="Teacher output noise std.")] = 0.0,
    simulate_too: Annotated[
        bool, typer.Option("--simulate/--ode-only", help="Also run the SGD simulation.")
    ] = True,
    seed: SeedOpt = 0,
    out: OutOpt = Path("runs/dfa-theory"),
    json_out: JsonOpt = False,
) -> None:
    """Shallow teacher-student: integrate the ODEs (and simulate SGD from the same start)."""
    import numpy as np

    from dltheory.core.plotting import new_figure, save_figure

    from .teacher_student import TeacherStudentConfig, initial_state, integrate_ode, simulate

    cfg = TeacherStudentConfig(
        n_inputs, teacher_hidden, student_hidden, lr, method, feedback, time, noise=noise, seed=seed
    )
    state = initial_state(cfg)
    ode = integrate_ode(cfg, state)
    out.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"ode_t": ode["t"], "ode_eg": ode["eg"], "ode_cos_vb": ode["cos_vb"]}
    fig, (ax1, ax2) = new_figure(ncols=2, size=(5, 4))
    ax1.loglog(ode["t"][1:], ode["eg"][1:], label="ODE")
    ax2.semilogx(ode["t"][1:], ode["cos_vb"][1:], label="ODE")
    record: dict[str, Any] = {
        "final_eg_ode": float(ode["eg"][-1]),
        "final_cos_vb_ode": float(ode["cos_vb"][-1]),
    }
    if simulate_too:
        sim = simulate(cfg, state)
        data.update(sim_t=sim["t"], sim_eg=sim["eg"], sim_cos_vb=sim["cos_vb"])
        ax1.loglog(sim["t"][1:], sim["eg"][1:], "o", ms=3, label=f"simulation N={n_inputs}")
        ax2.semilogx(sim["t"][1:], sim["cos_vb"][1:], "o", ms=3)
        ode_eg = np.interp(sim["t"], ode["t"], ode["eg"])
        record["final_eg_sim"] = float(sim["eg"][-1])
        record["max_rel_err_sim_vs_ode"] = float(np.max(np.abs(sim["eg"] - ode_eg) / ode_eg))
    ax1.set(xlabel="t", ylabel="eps_g")
    ax2.set(xlabel="t", ylabel="cos(v, b)")
    ax1.legend()
    record["figure"] = str(save_figure(fig, out / f"theory_{method}", data=data))
    _print(record, json_out)


@app.command()
def linear(
    grid: Annotated[
        str, typer.Option(help="Comma-separated alpha = beta grid values.")
    ] = "0.2,0.4,0.6,0.8,1.0",
    label_noise: Annotated[
        str, typer.Option(help="Comma-separated label-noise values.")
    ] = "0,0.3,0.6,0.9",
    width: Annotated[int, typer.Option(help="Hidden width.")] = 100,
    n_layers: Annotated[int, typer.Option(help="Weight layers.")] = 3,
    steps: Annotated[int, typer.Option(help="Full-batch gradient steps.")] = 400,
    lr: Annotated[float, typer.Option(help="Learning rate (divided by the width).")] = 1.0,
    seed: SeedOpt = 0,
    out: OutOpt = Path("runs/dfa-linear"),
) -> None:
    """Deep linear DFA: alignment matrices, conditioning and WA over alpha-beta and label noise."""
    from dataclasses import replace

    from dltheory.core.errors import ConfigError
    from dltheory.core.plotting import save_table

    from .deep_linear import LinearDFAConfig, run_linear_dfa

    try:
        values = [float(v) for v in grid.split(",")]
        noises = [float(v) for v in label_noise.split(",")] if label_noise else []
    except ValueError:
        raise ConfigError("--grid and --label-noise take comma-separated numbers") from None
    base = LinearDFAConfig(width=width, n_layers=n_layers, steps=steps, lr=lr, seed=seed)
    rows = [run_linear_dfa(replace(base, alpha=a, beta=b)) for a in values for b in values]
    rows += [run_linear_dfa(replace(base, task="labelnoise", label_noise=p)) for p in noises]
    out.mkdir(parents=True, exist_ok=True)
    typer.echo(save_table(rows, out / "linear", title="Deep linear DFA"))


@app.command()
def sweep(
    param: Annotated[
        list[str], typer.Option(help="NAME=V1,V2,... (repeatable): a train setting and its values.")
    ],
    config: ConfigOpt = None,
    executor: Annotated[str, typer.Option(help="serial | local | submitit")] = "serial",
    max_workers: Annotated[int, typer.Option(help="Parallel workers (local).")] = 2,
    out: OutOpt = Path("runs/dfa-sweep"),
) -> None:
    """Grid of `train` runs (each in OUT/<index>); prints and saves a table of final metrics."""
    from dltheory.core.config import config_to_dict, parse_set_overrides, resolve_config
    from dltheory.core.errors import ConfigError, choice_error
    from dltheory.core.plotting import save_table
    from dltheory.core.sweep import grid, run_sweep

    from .train import sweep_point

    base = config_to_dict(resolve_config(TrainConfig, config, {}))
    axes: dict[str, list] = {}
    for item in param:
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not name or not values:
            raise ConfigError(f"--param expects NAME=V1,V2,..., got {item!r}")
        if name not in base:
            raise choice_error("train setting", name, sorted(base))
        axes[name] = [parse_set_overrides([f"{name}={v}"])[name] for v in values.split(",")]
    points = grid(base, **axes)
    for point in points:  # types and choices checked before anything runs
        resolve_config(TrainConfig, None, {k: point[k] for k in axes})
    configs = [dict(c, _out=str(out / str(i))) for i, c in enumerate(points)]
    results = run_sweep(
        sweep_point, configs, executor=executor, max_workers=max_workers, folder=out / "submitit"
    )
    typer.echo(save_table(results, out / "sweep", title="DFA sweep"))


@app.command()
def reproduce(
    out: OutOpt = Path("reproduce-out/dfa"),
    scale: Annotated[
        str,
        typer.Option(
            "--scale",
            help="quick (about a minute on one core), full (about 10 min: MNIST-t10k, seeds), "
            "paper (the paper's setting; refused without a GPU and the datasets).",
        ),
    ] = "quick",
    quick: Annotated[bool, typer.Option("--quick", hidden=True)] = False,
    device: DeviceOpt = "cpu",
) -> None:
    """The paper's figures and claims (align-then-memorise, layer-wise alignment and its
    bottom-to-top order, degeneracy breaking, conditioning, CNNs, MNIST) with claims.json."""
    from dltheory.core.errors import ConfigError

    if scale not in ("quick", "full", "paper"):
        raise ConfigError(f"--scale must be quick, full or paper, got {scale!r}")
    if quick and scale != "quick":
        raise ConfigError("--quick means --scale quick; give one of them")
    from .reproduce import reproduce as run_reproduce

    manifest = run_reproduce(out, scale=scale, device=device)
    typer.echo(f"wrote {manifest}")

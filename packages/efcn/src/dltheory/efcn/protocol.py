"""The whole switch-time experiment: CNN, FCN baseline and one eFCN branch per switch time."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dltheory.core.errors import ConfigError
from dltheory.core.sweep import run_sweep

from .embedding import plan_embedding
from .figures import draw_all, parameter_count_figure
from .models import build_cnn
from .training import TrainConfig, run_branch, switch_epochs


def _job(branch: str, cfg: TrainConfig, out: Path, resume: bool, **extra) -> dict:
    return {
        "branch": branch,
        "config": asdict(cfg),
        "out": str(out),
        "resume": resume and (out / "last.pt").exists(),
        **extra,
    }


def sweep(
    cfg: TrainConfig,
    out: Path,
    switch_times: list[int] | None = None,
    relax_epochs: int | None = None,
    executor: str = "serial",
    max_workers: int = 2,
    resume: bool = False,
    figures_dir: Path | None = None,
) -> list[dict]:
    """Train the CNN (checkpoints at the switch times), then the FCN and every eFCN branch.

    Branch folders: ``out/cnn``, ``out/fcn``, ``out/efcn_tw{t_w:04d}``; figures and the summary
    table go to ``out/figures``. Returns the summary rows of every branch.
    """
    out = Path(out)
    saves = switch_epochs(cfg.epochs, cfg.n_saves)
    times = saves if switch_times is None else sorted(set(switch_times))
    bad = [t for t in times if t not in saves]
    if bad:
        raise ConfigError(
            f"switch times {bad} are not CNN checkpoint epochs {saves} (see --n-saves)"
        )
    cnn_run = out / "cnn"
    run_branch(_job("cnn", cfg, cnn_run, resume))
    jobs = [_job("fcn", cfg, out / "fcn", resume)]
    jobs += [
        _job(
            "efcn",
            cfg,
            out / f"efcn_tw{t:04d}",
            resume,
            t_w=t,
            cnn_run=str(cnn_run),
            relax_epochs=relax_epochs,
        )
        for t in times
    ]
    results = run_sweep(
        run_branch,
        jobs,
        executor=executor,
        max_workers=max_workers,
        folder=out / "submitit",
        description="branches",
    )
    draw_all(out, Path(figures_dir) if figures_dir else out / "figures")
    return [{k: v for k, v in r.items() if k not in ("config", "resume")} for r in results]


def size_rows(configs: list[tuple[str, str, tuple[int, int, int], int, int]]) -> list[dict]:
    """Parameter counts of (label, model, input shape, classes, channels) without building eFCNs."""
    rows = []
    for label, model, shape, classes, channels in configs:
        cnn = build_cnn(model, shape[0], classes, shape[1], channels)
        authors = plan_embedding(cnn, shape, fold_padding=False)
        rows.append(
            {
                "model": label,
                "cnn_params": authors.cnn_params,
                "local_params": authors.local_params,
                "live_params": authors.live_params,
                "dense_params": authors.dense_params,
                "efcn_fp32_gib": round(authors.dense_params * 4 / 2**30, 3),
            }
        )
    return rows


def parameter_counts(out_stem: Path, cfg: TrainConfig, input_shape, num_classes: int) -> list[dict]:
    rows = size_rows(
        [
            (
                f"{cfg.model} ({'x'.join(map(str, input_shape))})",
                cfg.model,
                tuple(input_shape),
                num_classes,
                cfg.channels,
            ),
            ("vanilla (CIFAR 3x32x32)", "vanilla", (3, 32, 32), 10, 64),
            ("alexnet (CIFAR 3x32x32)", "alexnet", (3, 32, 32), 10, 64),
        ]
    )
    parameter_count_figure(rows, out_stem)
    return rows

"""The whole switch-time experiment: CNN, FCN baseline, one eFCN (and eLCN) branch per switch
time, and the landscape between their solutions."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from dltheory.core.errors import ConfigError
from dltheory.core.runs import load_checkpoint
from dltheory.core.sweep import run_sweep

from .config import SweepConfig, TrainConfig
from .data import load_data
from .embedding import embed_local, fcn_twin, plan_embedding
from .figures import draw_all, landscape_figure, parameter_count_figure
from .landscape import interpolate, path_barriers
from .models import build_cnn
from .train import load_cnn_checkpoint, make_cnn, run_branch, switch_epochs, switched_model


def _job(branch: str, cfg: TrainConfig, out: Path, resume: bool, **extra) -> dict:
    return {
        "branch": branch,
        "config": asdict(cfg),
        "out": str(out),
        "resume": resume and (out / "last.pt").exists(),
        **extra,
    }


def as_sweep_config(cfg: TrainConfig, **updates) -> SweepConfig:
    """A :class:`SweepConfig` from any train config (its extra keys keep their defaults)."""
    fields = SweepConfig.__dataclass_fields__
    base = {k: v for k, v in asdict(cfg).items() if k in fields}
    return replace(SweepConfig(**base), **updates)


def branch_folder(out: Path, branch: str, t_w: int | None = None) -> Path:
    """``out/cnn``, ``out/fcn``, ``out/efcn_tw0004``, ``out/elcn_tw0004``."""
    return Path(out) / (branch if t_w is None else f"{branch}_tw{t_w:04d}")


def sweep(
    cfg: TrainConfig,
    out: Path | None = None,
    *,
    resume: bool = False,
    figures_dir: Path | None = None,
) -> list[dict]:
    """Train the CNN (checkpoints at the switch times), then the FCN twin, every eFCN branch and
    the eLCN branches, then (``cfg.landscape``) the interpolation paths between the solutions.

    Branch folders: ``out/cnn``, ``out/fcn``, ``out/efcn_tw{t_w:04d}``, ``out/elcn_tw{t_w:04d}``;
    ``out/landscape.json``; figures and the summary table go to ``out/figures``. Returns the
    summary rows of every branch.
    """
    scfg = cfg if isinstance(cfg, SweepConfig) else as_sweep_config(cfg)
    out = Path(out if out is not None else scfg.out)
    scfg = replace(scfg, out=out)
    scfg.validate()
    saves = switch_epochs(scfg.epochs, scfg.n_saves)
    times = sorted(set(scfg.switch_times)) if scfg.switch_times else saves
    local = times if scfg.local_all else sorted(set(scfg.local_times))
    bad = [t for t in [*times, *local] if t not in saves]
    if bad:
        raise ConfigError(
            f"switch times {bad} are not CNN checkpoint epochs {saves} (see --n-saves)"
        )
    train_cfg = TrainConfig(
        **{k: v for k, v in asdict(scfg).items() if k in TrainConfig.__dataclass_fields__}
    )
    cnn_run = branch_folder(out, "cnn")
    run_branch(_job("cnn", train_cfg, cnn_run, resume))
    jobs = [_job("fcn", train_cfg, branch_folder(out, "fcn"), resume)]
    for branch, branch_times in (("efcn", times), ("elcn", local)):
        jobs += [
            _job(
                branch,
                train_cfg,
                branch_folder(out, branch, t),
                resume,
                t_w=t,
                cnn_run=str(cnn_run),
                relax_epochs=scfg.relax_epochs,
            )
            for t in branch_times
        ]
    results = run_sweep(
        run_branch,
        jobs,
        executor=scfg.executor,
        max_workers=scfg.workers,
        folder=out / "submitit",
        description="branches",
    )
    figures = Path(figures_dir) if figures_dir else out / "figures"
    if scfg.landscape:
        rows = landscape(out, train_cfg, times, scfg.landscape_points, scfg.landscape_examples)
        landscape_figure(rows, figures / "landscape")
    draw_all(out, figures)
    return [{k: v for k, v in r.items() if k not in ("config", "resume")} for r in results]


# --- the landscape between the solutions of one sweep ---------------------------------------------
def _final_model(cfg: TrainConfig, folder: Path, kind: str, input_shape) -> torch.nn.Module:
    """The network saved in ``folder/last.pt`` (kind efcn, elcn or fcn), on the CPU."""
    cnn = make_cnn(cfg, input_shape)
    if kind == "fcn":
        model = fcn_twin(cnn, input_shape, cfg.fold_padding)
    elif kind == "elcn":
        model = embed_local(cnn, input_shape)
    else:
        model = switched_model(cfg, cnn, input_shape, "efcn")
    state = load_checkpoint(folder / "last.pt", map_location="cpu")
    model.load_state_dict(state["model"])
    return model


def landscape(
    sweep_dir: Path, cfg: TrainConfig, times: list[int], points: int = 11, examples: int = 1000
) -> list[dict]:
    """Loss and accuracy along the paths between the solutions of a finished sweep.

    For each switch time t_w whose eFCN branch trained (t_w < epochs): the path from the CNN at
    the switch (as its eFCN) to the final eFCN (``switch``), and from the final eFCN to the final
    FCN twin (``to_fcn``); each as a linear path in weights and as output averaging; plus the
    linear ``switch`` path of every eLCN branch. Written to ``sweep_dir/landscape.json``.
    """
    sweep_dir = Path(sweep_dir)
    data = load_data(cfg.dataset, cfg.data_root, cfg.data_size, cfg.download)
    n = examples or None
    splits = {
        "train": (data.x_train[:n], data.y_train[:n]),
        "test": (data.x_test[:n], data.y_test[:n]),
    }
    shape = data.input_shape
    fcn = _final_model(cfg, branch_folder(sweep_dir, "fcn"), "fcn", shape)
    rows: list[dict] = []

    def add(t_w: int, path: str, mode: str, a, b) -> None:
        for r in interpolate(a, b, splits, points, mode, cfg.eval_batch_size):
            rows.append({"t_w": t_w, "path": path, "mode": mode, **r})

    for t_w in times:
        for kind in ("efcn", "elcn"):
            folder = branch_folder(sweep_dir, kind, t_w)
            if not (folder / "last.pt").exists() or t_w >= cfg.epochs:
                continue
            start = switched_model(
                cfg, load_cnn_checkpoint(cfg, sweep_dir / "cnn", t_w, shape), shape, kind
            )
            final = _final_model(cfg, folder, kind, shape)
            prefix = "" if kind == "efcn" else "elcn_"
            add(t_w, f"{prefix}switch", "linear", start, final)
            if kind == "efcn":
                add(t_w, "switch", "output", start, final)
                add(t_w, "to_fcn", "linear", final, fcn)
                add(t_w, "to_fcn", "output", final, fcn)
    (sweep_dir / "landscape.json").write_text(json.dumps(rows, indent=1) + "\n")
    return rows


def barrier_rows(rows: list[dict]) -> list[dict]:
    """One row per (t_w, path, mode): the loss and accuracy barriers (train and test)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["t_w"], r["path"], r["mode"]), []).append(r)
    out = []
    for (t_w, path, mode), members in sorted(
        groups.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
    ):
        members.sort(key=lambda r: r["alpha"])
        out.append({"t_w": t_w, "path": path, "mode": mode, **path_barriers(members)})
    return out


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

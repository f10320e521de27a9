"""One configuration dataclass per command: the single declaration of every option (torch-free).

Layering (``dltheory.cli.options.config_command``): defaults < ``--config`` file < ``--set`` < flags.
Fields left at ``""`` / ``None`` take the model's own default (see :func:`model_defaults`), so the
command line and the Python API agree: ``--model block`` defaults to tanh, classification and the
replica ridge convention exactly as :func:`dltheory.randfeat.theory.block_rf` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dltheory.core.config import option

# the API's defaults per model (rf_ridge / ensemble_error, and block_rf)
MODEL_DEFAULTS = {
    "ridge": {"activation": "relu", "task": "regression", "ridge_convention": "mm"},
    "ensemble": {"activation": "relu", "task": "regression", "ridge_convention": "mm"},
    "block": {"activation": "tanh", "task": "classification", "ridge_convention": "replica"},
    "network": {"activation": "relu", "task": "regression", "ridge_convention": "mm"},
}

_ACT = "relu | tanh | erf | sign | abs | linear | r=<degree of linearity in [0, 1]>"
_DEF = " (default: the model's, as in the Python API: relu/regression/mm; block: tanh/classification/replica)"


def model_defaults(cfg):
    """``cfg`` with its empty activation / task / ridge_convention filled from the model's API defaults."""
    import dataclasses

    defaults = MODEL_DEFAULTS.get(cfg.model, MODEL_DEFAULTS["ridge"])
    values = {k: v for k, v in defaults.items() if hasattr(cfg, k) and not getattr(cfg, k)}
    return dataclasses.replace(cfg, **values)


@dataclass
class BlockFields:
    """The two-block data model of 2103.05524: a preset, each parameter overridable."""

    structure: str = option(
        "isotropic", "Block-data preset: isotropic | aligned | misaligned (block model)."
    )
    r_x: float | None = option(
        None, "Input saliency r_x = c1/c2 (overrides the preset; aligned/misaligned: 100)."
    )
    r_beta: float | None = option(
        None,
        "Teacher alignment r_beta = b1/b2 (overrides the preset; aligned 100, misaligned 0.01).",
    )
    r_phi: float | None = option(
        None, "Inverse fraction of salient coordinates r_phi (overrides the preset; 10)."
    )


@dataclass
class TheoryConfig(BlockFields):
    model: str = option("ridge", "ridge | ensemble | block.")
    psi1: float = option(2.0, "P / D (features per input dimension).")
    psi2: float = option(1.0, "N / D (samples per input dimension).")
    ridge: float = option(0.01, "Ridge strength in --ridge-convention.")
    ridge_convention: str = option("", "mm (lam_rep = psi1 psi2 lam_MM) | replica | jacot" + _DEF)
    activation: str = option("", _ACT + _DEF)
    noise: float = option(
        0.0, "Label-noise variance (regression) or flip probability (classification)."
    )
    k: float = option(1.0, "Ensemble size K (inf allowed; model ensemble).")
    task: str = option("", "regression | classification" + _DEF)
    loss: str = option("square", "square | logistic (block model).")
    curve: str = option("", "Sweep psi1 | psi2 | ridge | r_beta log-spaced from --start to --stop.")
    start: float = option(0.1, "First value of the curve.")
    stop: float = option(10.0, "Last value of the curve.")
    num: int = option(20, "Points on the curve.")


@dataclass
class SimulateConfig(BlockFields):
    model: str = option(
        "ridge",
        "ridge | ensemble (real K-member ensembles and their split) | block (classification) "
        "| network (trained two-layer nets).",
    )
    d: int = option(200, "Input dimension D.")
    psi1: float = option(2.0, "P / D.")
    psi2: float = option(1.0, "N / D.")
    ridge: float = option(0.01, "Ridge strength in --ridge-convention.")
    ridge_convention: str = option("", "mm | replica | jacot" + _DEF)
    activation: str = option("", _ACT + _DEF)
    noise: float = option(
        0.0, "Label-noise variance (regression) or flip probability (classification)."
    )
    k: int = option(1, "Ensemble size K (members trained on the same data, outputs averaged).")
    loss: str = option("square", "square | logistic (block model).")
    inputs: str = option("gaussian", "gaussian | sphere (radius sqrt D; ridge, ensemble, network).")
    n_seeds: int = option(5, "Independent data sets (seeds); mean and standard error over them.")
    n_test: int = option(2000, "Test points.")
    seed: int = option(0, "Random seed.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = option(
        None, "CPU threads (default: DLTHEORY_THREADS, else the cores not already busy)."
    )
    curve: str = option("", "Sweep psi1 | psi2 | ridge log-spaced from --start to --stop.")
    start: float = option(0.1, "First value of the curve.")
    stop: float = option(10.0, "Last value of the curve.")
    num: int = option(8, "Points on the curve.")
    optimizer: str = option("adam", "network: gd | adam (full batch).")
    lr: float = option(0.01, "network: learning rate.")
    steps: int = option(2000, "network: full-batch training steps.")
    frozen_first_layer: bool = option(
        False, "network: keep W = F (the random-features model, trained by GD)."
    )


@dataclass
class PhaseConfig(BlockFields):
    """The block solver is used when the loss is logistic or the data are not isotropic."""

    task: str = option("regression", "regression | classification.")
    activation: str = option("tanh", _ACT)
    ridge: float = option(0.1, "Ridge strength in --ridge-convention.")
    ridge_convention: str = option("replica", "mm | replica | jacot.")
    noise: float = option(
        0.0, "Label-noise variance (regression) or flip probability (classification)."
    )
    loss: str = option("square", "square | logistic (block model).")
    lo: float = option(0.1, "Smallest N/D and P/D.")
    hi: float = option(100.0, "Largest N/D and P/D.")
    num: int = option(40, "Grid points per axis.")
    out: Path = option(Path("runs/randfeat_phase"), "Output folder.")


@dataclass
class NetworksConfig:
    data: str = option(
        "teacher",
        "teacher (noisy linear teacher of 2006.03509) | digits | mnist (parity after PCA, 2103.05524).",
    )
    root: Path | None = option(
        None,
        "Folder with t10k-images-idx3-ubyte(.gz) and labels for --data mnist "
        "(default: $DLTHEORY_DATA/mnist-t10k or ../shared/data/mnist-t10k).",
    )
    d: int = option(10, "Input dimension D (teacher) or PCA dimension (real data).")
    width: int = option(100, "Hidden units P.")
    activation: str = option("r=0.9", _ACT)
    whiten_pow: float = option(
        1.0, "Real data: PCA whitening power (1 isotropic, 0 aligned, 1.25 misaligned)."
    )
    noise: float = option(5.0, "Teacher: label-noise variance Delta.")
    n_min: int = option(3, "Smallest number of training samples N.")
    n_max: int = option(1000, "Largest N.")
    num: int = option(9, "Log-spaced values of N.")
    k: int = option(4, "Ensemble size K (averaged outputs) besides single nets.")
    optimizer: str = option("adam", "gd | adam (full batch).")
    lr: float = option(0.01, "Learning rate.")
    steps: int = option(1000, "Full-batch training steps.")
    ridge: float = option(0.1, "Ridge on the readout (replica convention).")
    frozen_first_layer: bool = option(
        False, "Keep W = F: the random-features model, trained by GD."
    )
    n_seeds: int = option(2, "Seeds; mean and standard error over them.")
    n_test: int = option(1000, "Test points.")
    seed: int = option(0, "Random seed.")
    device: str = option("auto", "auto, cpu, cuda, cuda:N or mps.")
    threads: int | None = option(
        None, "CPU threads (default: DLTHEORY_THREADS, else the cores not already busy)."
    )
    out: Path | None = option(None, "Optional folder for a figure (networks.png and its data).")

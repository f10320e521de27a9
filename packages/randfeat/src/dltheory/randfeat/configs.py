"""One configuration dataclass per command (layered: defaults < --config file < flags)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TheoryConfig:
    model: str = "ridge"  # ridge | ensemble | block
    psi1: float = 2.0  # P / D
    psi2: float = 1.0  # N / D
    ridge: float = 0.01
    ridge_convention: str = "mm"  # mm | replica | jacot
    activation: str = "relu"  # relu | tanh | erf | sign | linear | r=<degree of linearity>
    noise: float = 0.0  # label-noise variance (regression) or flip probability (classification)
    k: float = 1.0  # ensemble size (inf allowed)
    task: str = "regression"  # regression | classification
    loss: str = "square"  # square | logistic (block model)
    structure: str = "isotropic"  # isotropic | aligned | misaligned (block model)
    curve: str = ""  # optional log-spaced sweep of psi1 | psi2 | ridge from start to stop
    start: float = 0.1
    stop: float = 10.0
    num: int = 20


@dataclass
class SimulateConfig:
    model: str = (
        "ridge"  # ridge (regression, ensembles) | block (classification) | network (two-layer, GD)
    )
    d: int = 200
    psi1: float = 2.0
    psi2: float = 1.0
    ridge: float = 0.01
    ridge_convention: str = "mm"
    activation: str = "relu"
    noise: float = 0.0
    k: int = 1
    loss: str = "square"
    structure: str = "isotropic"
    n_seeds: int = 5
    n_test: int = 2000
    seed: int = 0
    device: str = "auto"
    curve: str = ""  # optional log-spaced sweep of psi1 | psi2 | ridge from start to stop
    start: float = 0.1
    stop: float = 10.0
    num: int = 20
    # model = network: full-batch training of f(x) = a . sigma(W x / sqrt D) / sqrt D
    optimizer: str = "adam"  # gd | adam
    lr: float = 0.01
    steps: int = 2000
    frozen_first_layer: bool = (
        False  # True: W stays at F (the random-features model, trained by GD)
    )


@dataclass
class PhaseConfig:
    task: str = "regression"
    activation: str = "tanh"
    ridge: float = 0.1
    ridge_convention: str = "replica"
    noise: float = 0.0
    loss: str = "square"
    structure: str = "isotropic"
    lo: float = 0.1
    hi: float = 100.0
    num: int = 40

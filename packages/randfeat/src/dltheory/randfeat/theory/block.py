"""Random features on block-structured data (arXiv 2103.05524).

Inputs have two blocks: a fraction d1 = 1/r_phi of the D coordinates with variance c1 and the rest
with variance c2 (saliency r_x = c1/c2), normalised so that sum_i d_i c_i = 1. The teacher weights
have block variances b_i with alignment r_beta = b1/b2, normalised so that rho = sum_i c_i b_i d_i = 1.
The replica equations are those of :mod:`ridge` written block-wise (reference notes section 5); the
output channel (square regression, square or logistic classification) is any of :mod:`channels`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dltheory.randfeat.errors import require, require_choice
from dltheory.randfeat.theory.activations import GETCoefficients, resolve_coefficients
from dltheory.randfeat.theory.channels import (
    classification_channel,
    square_classification,
    square_regression,
)
from dltheory.randfeat.theory.conventions import to_replica_ridge
from dltheory.randfeat.theory.numerics import anderson_fixed_point, damped_fixed_point
from dltheory.randfeat.theory.ridge import check_ratios
from dltheory.randfeat.theory.spectra import block_resolvent

_STATE = ("m", "q", "v", "qw", "vw")


@dataclass(frozen=True)
class BlockStructure:
    """Two-block data model: saliency r_x, teacher alignment r_beta, salient fraction 1/r_phi."""

    r_x: float = 1.0
    r_beta: float = 1.0
    r_phi: float = 10.0

    def __post_init__(self):
        require(self.r_x > 0 and self.r_beta >= 0, "r_x must be positive and r_beta non-negative")
        require(self.r_phi >= 1, "r_phi (inverse fraction of salient coordinates) must be >= 1")

    @property
    def fractions(self) -> np.ndarray:
        return np.array([1.0 / self.r_phi, 1.0 - 1.0 / self.r_phi])

    @property
    def input_variances(self) -> np.ndarray:
        d = self.fractions
        return np.array([self.r_x, 1.0]) / (self.r_x * d[0] + d[1])

    @property
    def teacher_variances(self) -> np.ndarray:
        d, c = self.fractions, self.input_variances
        return np.array([self.r_beta, 1.0]) / (self.r_beta * d[0] * c[0] + d[1] * c[1])


CASES = {
    "isotropic": BlockStructure(1.0, 1.0, 10.0),
    "aligned": BlockStructure(100.0, 100.0, 10.0),
    "misaligned": BlockStructure(100.0, 0.01, 10.0),
}


@dataclass
class BlockTheory:
    test_error: np.ndarray
    m: np.ndarray
    q: np.ndarray
    v: np.ndarray
    converged: np.ndarray
    state: dict


def _hat_variables(task, loss, m, q, v, psi2, noise):
    if task == "regression":
        require(loss == "square", "regression is solved with the square loss only")
        return square_regression(m, q, v, psi2, 1.0, noise)
    if loss == "square":
        return square_classification(m, q, v, psi2, 1.0, noise)
    return classification_channel(m, q, v, psi2, np.ones_like(m), noise, loss)


def block_rf(
    psi1,
    psi2,
    ridge,
    *,
    structure: BlockStructure | str = "isotropic",
    activation: str | float | tuple | GETCoefficients = "tanh",
    task: str = "classification",
    loss: str = "square",
    noise=0.0,
    ridge_convention: str = "replica",
    init: dict | None = None,
    damping: float = 0.5,
    tol: float = 1e-9,
    max_iter: int = 20_000,
    anderson: int | None = None,
) -> BlockTheory:
    """Replica theory of random features on two-block data (vectorised over psi1, psi2, ridge, noise).

    ``task="regression"``: linear teacher with noise variance ``noise``, test error rho + Q - 2M.
    ``task="classification"``: sign teacher with flip probability ``noise``; ``loss`` is ``square`` or
    ``logistic``; test error arccos(M/sqrt Q)/pi on clean labels. Ridge defaults to the replica
    convention a = argmin sum loss + lam/2 ||a||^2 (sklearn ``C = 1/lam``). ``init`` warm-starts.
    ``anderson``: memory of the Anderson-accelerated iteration (0: plain adaptive damping); by default
    5 for the logistic loss, whose damped iteration contracts slowly at small ridge (rate ~0.994 per
    step at lam = 1e-3, N >> P), and 0 otherwise.
    """
    require(task in ("regression", "classification"), f"unknown task {task!r}")
    require(loss in ("square", "logistic"), f"unknown loss {loss!r}; use 'square' or 'logistic'")
    if isinstance(structure, str):
        require_choice("structure", structure, CASES)
        structure = CASES[structure]
    coef = resolve_coefficients(activation)
    require(coef.mu1 > 0, "block theory needs mu1 > 0")
    mu1, mus = coef.mu1, coef.mustar
    psi1, psi2, noise = np.broadcast_arrays(*(np.asarray(a, float) for a in (psi1, psi2, noise)))
    check_ratios(psi1, psi2)
    if task == "regression":
        require(bool(np.all(noise >= 0)), "noise (label-noise variance) must be non-negative")
    else:  # the same domain as rf_ridge's classification channel
        require(
            bool(np.all((noise >= 0) & (noise < 0.5))),
            "label flip probability must lie in [0, 0.5)",
        )
    lam = to_replica_ridge(ridge, psi1, psi2, ridge_convention)
    psi1, psi2, noise, lam = np.broadcast_arrays(psi1, psi2, noise, lam)
    d, c, b = structure.fractions, structure.input_variances, structure.teacher_variances
    gamma = 1.0 / psi1

    def overlaps(st):
        m_ = mu1 * np.sum(c * st["m"], axis=-1)
        q_ = mu1**2 * np.sum(c * st["q"], axis=-1) + mus**2 * st["qw"]
        v_ = mu1**2 * np.sum(c * st["v"], axis=-1) + mus**2 * st["vw"]
        return m_, q_, v_

    def update(st):
        m_, q_, v_ = overlaps(st)
        hm, hq, hv = _hat_variables(task, loss, m_, q_, v_, psi2, noise)
        hm_i = c * mu1 * hm[..., None]
        hv_i = c * mu1**2 * hv[..., None]
        hq_i = c * mu1**2 * hq[..., None]
        hvw, hqw = mus**2 * hv, mus**2 * hq
        zb = lam + hvw
        G, Gp = block_resolvent(hv_i, d, zb, gamma)
        zb_, hqw_ = zb[..., None], hqw[..., None]
        lead = b * hm_i**2 + hq_i
        cross = zb_**2 * Gp - zb_ * G
        return dict(
            v=(d - zb_ * G) / hv_i,
            m=b * hm_i * (d - zb_ * G) / hv_i,
            q=lead * (d - 2 * zb_ * G + zb_**2 * Gp) / hv_i**2 - hqw_ * cross / (zb_ * hv_i),
            vw=(1 / gamma - 1 + zb * G.sum(-1)) / zb,
            qw=hqw * (1 / gamma - 1 + zb**2 * Gp.sum(-1)) / zb**2
            - np.sum(lead * cross / (hv_i * zb_), axis=-1),
        )

    shape = psi1.shape
    if init is None:
        init = dict(
            m=np.full((*shape, 2), 0.1),
            q=np.full((*shape, 2), 0.5),
            v=np.full((*shape, 2), 1.0),
            qw=np.full(shape, 0.5),
            vw=np.full(shape, 1.0),
        )
    init = {
        k: np.broadcast_to(
            np.asarray(init[k], float), shape + ((2,) if k in ("m", "q", "v") else ())
        )
        for k in _STATE
    }
    if anderson is None:
        anderson = 5 if (task == "classification" and loss == "logistic") else 0

    def physical(st):  # Cauchy-Schwarz for the overlaps (rho = 1), positive variances
        m_, q_, v_ = overlaps(st)
        return (m_**2 < q_) & (v_ > 0) & np.all(st["v"] > 0, axis=-1) & (st["vw"] > 0)

    st, ok, _ = _solve(update, init, damping, tol, max_iter, anderson, physical)
    m_, q_, v_ = overlaps(st)
    if task == "regression":
        test = 1.0 + q_ - 2 * m_
    else:
        test = np.arccos(np.clip(m_ / np.sqrt(np.maximum(q_, 1e-300)), -1, 1)) / np.pi
    return BlockTheory(test, m_, q_, v_, ok, st)


def _solve(update, init, damping, tol, max_iter, anderson, physical):
    """Fixed point on (per-block m, q, V; q_w, V_w), flattened to a common point axis; Anderson-accelerated
    with memory ``anderson`` > 0, else damped."""
    blocks = {k: init[k] for k in ("m", "q", "v")}
    flat = {f"{k}{i}": blocks[k][..., i] for k in blocks for i in range(2)}
    flat.update(qw=init["qw"], vw=init["vw"])

    def unflatten(fl):
        st = {k: np.stack([fl[f"{k}0"], fl[f"{k}1"]], axis=-1) for k in ("m", "q", "v")}
        st.update(qw=fl["qw"], vw=fl["vw"])
        return st

    def flat_update(fl):
        new = update(unflatten(fl))
        out = {f"{k}{i}": new[k][..., i] for k in ("m", "q", "v") for i in range(2)}
        out.update(qw=new["qw"], vw=new["vw"])
        return out

    what = "block random-features fixed point"
    if anderson > 0:
        fl, ok, it = anderson_fixed_point(
            flat_update,
            flat,
            memory=anderson,
            damping=damping,
            tol=tol,
            max_iter=max_iter,
            what=what,
            valid=lambda fl: physical(unflatten(fl)),
        )
    else:
        fl, ok, it = damped_fixed_point(
            flat_update, flat, damping=damping, tol=tol, max_iter=max_iter, what=what
        )
    return unflatten(fl), ok, it


def block_curve(psi1, psi2, ridge, *, warm_start: bool = True, **kwargs) -> BlockTheory:
    """Evaluate :func:`block_rf` along a 1-D curve; with ``warm_start`` each point starts from the last."""
    psi1, psi2, ridge = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, float)) for a in (psi1, psi2, ridge))
    )
    if not warm_start:
        return block_rf(psi1, psi2, ridge, **kwargs)
    results, state = [], None
    for p1, p2, lam in zip(psi1, psi2, ridge):
        res = block_rf(p1, p2, lam, init=state, **kwargs)
        state = res.state
        results.append(res)
    stack = lambda name: np.array([getattr(r, name) for r in results])  # noqa: E731
    return BlockTheory(
        stack("test_error"),
        stack("m"),
        stack("q"),
        stack("v"),
        stack("converged"),
        {k: np.array([r.state[k] for r in results]) for k in _STATE},
    )

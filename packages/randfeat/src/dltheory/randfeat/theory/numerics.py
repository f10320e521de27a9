"""Vectorised root finding and damped fixed points with convergence checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltheory.randfeat.errors import warn_not_converged


def bisect(fn: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, iterations: int = 200,
           xtol: float = 1e-15) -> np.ndarray:
    """Elementwise bisection for fn(x) = 0 with sign(fn(lo)) != sign(fn(hi)) everywhere.

    Robust (no derivative), vectorised over arrays of independent problems; stops when every
    bracket is narrower than ``xtol`` relative to its midpoint.
    """
    lo, hi = np.broadcast_arrays(np.asarray(lo, float), np.asarray(hi, float))
    lo, hi = lo.copy(), hi.copy()
    f_lo = fn(lo)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        f_mid = fn(mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo = np.where(same, mid, lo)
        f_lo = np.where(same, f_mid, f_lo)
        hi = np.where(same, hi, mid)
        if np.all(np.abs(hi - lo) <= xtol * np.maximum(np.abs(mid), 1e-300)):
            break
    return 0.5 * (lo + hi)


def damped_fixed_point(
    update: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    init: dict[str, np.ndarray],
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 20_000,
    what: str = "fixed point",
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Iterate x <- (1 - damping) update(x) + damping x on a dict of arrays until converged.

    Convergence is per point: max over variables of |x_new - x| / max(1, |x|) < tol. Converged
    points are frozen. The damping is adaptive per point: whenever a point's residual grows by half, its
    step (1 - damping) shrinks by 30% (down to 1e-3), and it recovers by 5% per calm iteration, which breaks the oscillations that a fixed damping
    shows near the interpolation threshold. Returns (state, converged mask, iterations) and warns with
    :class:`ConvergenceWarning` listing how many points did not converge.
    """
    state = {k: np.array(v, dtype=float) for k, v in init.items()}
    shape = np.broadcast_shapes(*(v.shape for v in state.values()))
    state = {k: np.broadcast_to(v, shape).copy() for k, v in state.items()}
    active = np.ones(shape, dtype=bool)
    residual = np.full(shape, np.inf)
    step_size = np.full(shape, 1.0 - damping)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (returned below)
        new = update(state)
        previous = residual
        residual = np.zeros(shape)
        for key, value in new.items():
            value = np.broadcast_to(value, shape)
            step = step_size * value + (1 - step_size) * state[key]
            residual = np.maximum(residual, np.abs(step - state[key]) / np.maximum(1.0, np.abs(state[key])))
            state[key] = np.where(active, step, state[key])
        grew = active & (residual > 1.5 * previous)  # oscillation: shrink; steady decrease: recover
        step_size = np.where(grew, np.maximum(step_size * 0.7, 1e-3),
                             np.minimum(step_size * 1.05, 1.0 - damping))
        residual = residual / np.maximum(step_size, 1e-300) * (1.0 - damping)  # undamped scale
        finite = np.all([np.isfinite(state[k]) for k in state], axis=0)
        active &= (residual >= tol) & finite
        if not active.any():
            break
    converged = (residual < tol) & np.all([np.isfinite(state[k]) for k in state], axis=0)
    converged |= ~active & np.all([np.isfinite(state[k]) for k in state], axis=0)
    if not converged.all():
        bad = ~converged
        worst = float(np.nanmax(np.where(bad, residual, 0.0))) if np.isfinite(residual[bad]).any() else float("inf")
        warn_not_converged(what, int(bad.sum()), int(bad.size), worst, iteration)
    return state, converged, iteration

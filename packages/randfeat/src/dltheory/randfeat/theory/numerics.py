"""Vectorised root finding and damped fixed points with convergence checks."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from dltheory.randfeat.errors import warn_not_converged


def bisect(
    fn: Callable[[np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    iterations: int = 200,
    xtol: float = 1e-15,
) -> np.ndarray:
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
            residual = np.maximum(
                residual, np.abs(step - state[key]) / np.maximum(1.0, np.abs(state[key]))
            )
            state[key] = np.where(active, step, state[key])
        grew = active & (residual > 1.5 * previous)  # oscillation: shrink; steady decrease: recover
        step_size = np.where(
            grew, np.maximum(step_size * 0.7, 1e-3), np.minimum(step_size * 1.05, 1.0 - damping)
        )
        residual = residual / np.maximum(step_size, 1e-300) * (1.0 - damping)  # undamped scale
        finite = np.all([np.isfinite(state[k]) for k in state], axis=0)
        active &= (residual >= tol) & finite
        if not active.any():
            break
    converged = (residual < tol) & np.all([np.isfinite(state[k]) for k in state], axis=0)
    converged |= ~active & np.all([np.isfinite(state[k]) for k in state], axis=0)
    if not converged.all():
        bad = ~converged
        worst = (
            float(np.nanmax(np.where(bad, residual, 0.0)))
            if np.isfinite(residual[bad]).any()
            else float("inf")
        )
        warn_not_converged(what, int(bad.sum()), int(bad.size), worst, iteration)
    return state, converged, iteration


def anderson_fixed_point(
    update: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
    init: dict[str, np.ndarray],
    memory: int = 5,
    damping: float = 0.5,
    tol: float = 1e-10,
    max_iter: int = 5_000,
    what: str = "fixed point",
    valid: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, int]:
    """Fixed point x = g(x) by Anderson acceleration (type II, ``memory`` past steps), per point.

    The variables of a point are stacked into one vector; with residual f = g(x) - x scaled by
    max(1, |x|) (the convergence measure of :func:`damped_fixed_point`), the step is
    x + b f - (dX + b dF) gamma, gamma = argmin |f - dF gamma| over the last ``memory`` differences, and
    b = 1 - damping. Safeguards, per point: the step is halved (up to 6 times) until it keeps the sign of
    every variable (overlaps keep theirs) and passes ``valid`` (a mask over points, e.g. Cauchy-Schwarz
    M^2 < rho Q), else the plain damped step x + b f is taken; if g is not finite at the new point, or the
    residual grew tenfold over the best one, the point goes back to its best iterate, forgets its
    history, halves b (which then recovers by 10% per step) and takes plain damped steps for 10, 20,
    40, ... iterations (the acceleration is unstable far from the fixed point of a strongly nonlinear
    map). Converged when the undamped residual |g(x) - x| / max(1, |x|) < tol; returns
    (state at the best iterate, converged mask, iterations) and warns with :class:`ConvergenceWarning`.
    """
    keys = list(init)
    shape = np.broadcast_shapes(*(np.shape(init[k]) for k in keys))
    x = np.stack(
        [np.broadcast_to(np.asarray(init[k], float), shape) for k in keys], axis=-1
    ).reshape(-1, len(keys))
    n_pts = x.shape[0]

    def as_dict(xx):
        return {k: xx[:, i].reshape(shape) for i, k in enumerate(keys)}

    def g(xx):
        out = update(as_dict(xx))
        return np.stack(
            [np.broadcast_to(np.asarray(out[k], float), shape).reshape(-1) for k in keys], axis=-1
        )

    beta = np.full(n_pts, 1.0 - damping)
    d_x = np.zeros((n_pts, 0, len(keys)))
    d_f = np.zeros_like(d_x)
    best_x, best_res = x.copy(), np.full(n_pts, np.inf)
    prev_x, prev_f = x.copy(), np.zeros_like(x)
    linked = np.zeros(n_pts, bool)  # whether (prev_x, prev_f) is the previous iterate of the point
    active = np.ones(n_pts, bool)
    cooldown, wait = np.zeros(n_pts, int), np.full(n_pts, 10)
    iteration = 0
    for iteration in range(1, max_iter + 1):  # noqa: B007 (returned below)
        scale = np.maximum(1.0, np.abs(x))
        f = (g(x) - x) / scale
        ok = np.all(np.isfinite(f), axis=-1)
        res = np.where(ok, np.max(np.abs(f), axis=-1), np.inf)
        better = res < best_res
        best_x = np.where(better[:, None], x, best_x)
        best_res = np.where(better, res, best_res)
        active &= best_res >= tol
        if not active.any():
            break
        bad = ~ok | (res > 10 * best_res)
        f = np.where(ok[:, None], f, 0.0)
        keep = (linked & ~bad)[:, None]
        d_x = np.concatenate([d_x, np.where(keep, (x - prev_x) / scale, 0.0)[:, None]], axis=1)[
            :, -memory:
        ]
        d_f = np.concatenate([d_f, np.where(keep, f - prev_f, 0.0)[:, None]], axis=1)[:, -memory:]
        d_x[bad], d_f[bad] = 0.0, 0.0  # zero columns drop out of the least squares below
        beta = np.where(bad, np.maximum(0.5 * beta, 1e-3), np.minimum(1.1 * beta, 1.0 - damping))
        cooldown = np.where(bad, wait, np.maximum(cooldown - 1, 0))
        wait = np.where(bad, 2 * wait, wait)
        gram = np.einsum("pin,pjn->pij", d_f, d_f)
        reg = 1e-12 * np.trace(gram, axis1=1, axis2=2)[:, None, None] + 1e-300
        rhs = np.einsum("pin,pn->pi", d_f, f)[..., None]
        gamma = np.linalg.solve(gram + reg * np.eye(gram.shape[1]), rhs)[..., 0]
        cand = (
            x
            + (beta[:, None] * f - np.einsum("pi,pin->pn", gamma, d_x + beta[:, None, None] * d_f))
            * scale
        )
        plain = x + beta[:, None] * f * scale
        cand = _backtrack(x, cand, valid, as_dict, shape)
        flips = ~np.all(np.isfinite(cand), axis=-1) | (cooldown > 0)
        new = np.where(bad[:, None], best_x, np.where(flips[:, None], plain, cand))
        prev_x, prev_f, linked = x, f, ~bad
        x = np.where(active[:, None], new, x)
    converged = best_res < tol
    if not converged.all():
        worst = float(np.max(best_res[~converged]))
        warn_not_converged(what, int((~converged).sum()), int(n_pts), worst, iteration)
    state = {k: best_x[:, i].reshape(shape) for i, k in enumerate(keys)}
    return state, converged.reshape(shape), iteration


def _backtrack(x, cand, valid, as_dict, shape, halvings: int = 6):
    """Shorten each point's step x -> cand by halves until it keeps the sign of every variable and passes
    ``valid``; a point where no step of length 2^-halvings is admissible gets NaN (caller: plain step)."""
    out = np.full_like(cand, np.nan)
    todo = np.ones(x.shape[0], bool)
    for k in range(halvings + 1):
        trial = x + 0.5**k * (cand - x)
        ok = np.all(np.isfinite(trial), axis=-1) & ~np.any(
            (np.sign(trial) != np.sign(x)) & (x != 0), axis=-1
        )
        if valid is not None:
            ok &= np.broadcast_to(valid(as_dict(np.where(ok[:, None], trial, x))), shape).reshape(
                -1
            )
        take = todo & ok
        out[take] = trial[take]
        todo &= ~ok
        if not todo.any():
            break
    return out

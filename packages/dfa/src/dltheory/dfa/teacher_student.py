"""Shallow teacher-student theory of DFA: online SGD simulation and the order-parameter ODEs.

Setting (Goldt et al. 2019 conventions, used by arXiv:2011.12428 Sec. 3):
student y_hat = sum_k v_k g(w_k.x / sqrt(N)), teacher y = sum_m A_m g(B_m.x / sqrt(N)),
g(x) = erf(x / sqrt(2)), x ~ N(0, I_N), one fresh sample per step, time t = steps / N.
Online SGD with e = y - y_hat (DFA replaces v_k by the fixed b_k in the first-layer update):

    w_k += (eta / sqrt(N)) * b_k * g'(lambda_k) * e * x      (BP: b_k -> v_k)
    v   += (eta / N) * g(lambda) * e

Order parameters Q = w w^T / N, R = w B^T / N, T = B B^T / N. Their ODEs (paper eqs. for
dR/dt, dQ/dt, dv/dt; Saad & Solla 1995 integrals I2, I3, I4, J2 for erf) are integrated here
and the generalisation error eps_g = E[e^2] / 2 follows in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erf

from dltheory.core.errors import ConfigError, require_choice

FEEDBACKS = ("random", "matched", "orthogonal", "positive")
METHODS = ("dfa", "bp")


def g(x):
    return erf(x / math.sqrt(2.0))


def g_prime(x):
    return math.sqrt(2.0 / math.pi) * np.exp(-0.5 * x**2)


# -- closed-form Gaussian integrals for g = erf(x/sqrt 2) over the field covariance C ----------
def i2_matrix(c: np.ndarray) -> np.ndarray:
    """I2(a, b) = E[g(u_a) g(u_b)] = (2/pi) asin(C_ab / sqrt((1+C_aa)(1+C_bb)))."""
    d = 1.0 + np.diag(c)
    return (2.0 / math.pi) * np.arcsin(c / np.sqrt(np.outer(d, d)))


def i3_tensor(c: np.ndarray, rows: int) -> np.ndarray:
    """I3(a, b, c) = E[g'(u_a) u_b g(u_c)] for a < rows; shape (rows, D, D)."""
    d = 1.0 + np.diag(c)
    ca = c[:rows]  # (rows, D): C_ab
    lam3 = d[:rows, None] * d[None, :] - ca**2  # (rows, D) over (a, c)
    num = c[None, :, :] * d[:rows, None, None] - ca[:, :, None] * ca[:, None, :]
    return (2.0 / math.pi) * num / (np.sqrt(lam3)[:, None, :] * d[:rows, None, None])


def i4_tensor(c: np.ndarray, rows: int) -> np.ndarray:
    """I4(a, b, c, d) = E[g'(u_a) g'(u_b) g(u_c) g(u_d)] for a, b < rows; (rows, rows, D, D)."""
    dg = 1.0 + np.diag(c)
    da, db = dg[:rows, None, None, None], dg[None, :rows, None, None]
    cab = c[:rows, :rows][:, :, None, None]
    cac = c[:rows, None, :, None]
    cad = c[:rows, None, None, :]
    cbc = c[None, :rows, :, None]
    cbd = c[None, :rows, None, :]
    ccd = c[None, None, :, :]
    dc, dd = dg[None, None, :, None], dg[None, None, None, :]
    lam4 = da * db - cab**2
    lam0 = lam4 * ccd - cbc * cbd * da - cac * cad * db + cab * cac * cbd + cab * cad * cbc
    lam1 = lam4 * dc - cbc**2 * da - cac**2 * db + 2 * cab * cac * cbc
    lam2 = lam4 * dd - cbd**2 * da - cad**2 * db + 2 * cab * cad * cbd
    return (4.0 / math.pi**2) / np.sqrt(lam4) * np.arcsin(lam0 / np.sqrt(lam1 * lam2))


def j2_matrix(c: np.ndarray, rows: int) -> np.ndarray:
    """J2(a, b) = E[g'(u_a) g'(u_b)] = (2/pi) / sqrt(1 + C_aa + C_bb + C_aa C_bb - C_ab^2)."""
    d = np.diag(c)[:rows]
    cab = c[:rows, :rows]
    return (2.0 / math.pi) / np.sqrt(1 + d[:, None] + d[None, :] + np.outer(d, d) - cab**2)


def full_covariance(q, r, t) -> np.ndarray:
    return np.block([[q, r], [r.T, t]])


def generalisation_error(q, r, t, v, a) -> float:
    """eps_g = E[(y - y_hat)^2] / 2 = (1/2) u^T I2 u with u = (-v, A)."""
    u = np.concatenate([-v, a])
    return float(0.5 * u @ i2_matrix(full_covariance(q, r, t)) @ u)


# -- problem definition -------------------------------------------------------------------------
@dataclass
class TeacherStudentConfig:
    n_inputs: int = 1000  # N
    teacher_hidden: int = 2  # M
    student_hidden: int = 4  # K
    lr: float = 1.0  # eta
    method: str = "dfa"  # dfa | bp
    feedback: str = "random"  # random | matched | orthogonal | positive
    time: float = 50.0  # in units of N steps
    init_sd: float = 1.0  # std of the student's first-layer weights
    init_sd_v: float = 0.01  # std of the student's second layer (small: alignment starts at ~0)
    noise: float = 0.0  # std of the teacher's output noise
    seed: int = 0
    feedback_seed: int = 0
    n_logs: int = 100


@dataclass
class InitialState:
    w: np.ndarray  # (K, N)
    v: np.ndarray  # (K,)
    teacher_w: np.ndarray  # (M, N)
    teacher_a: np.ndarray  # (M,)
    b: np.ndarray  # (K,) fixed DFA feedback

    def order_parameters(self):
        n = self.w.shape[1]
        return (
            self.w @ self.w.T / n,
            self.w @ self.teacher_w.T / n,
            self.teacher_w @ self.teacher_w.T / n,
        )


def _validate(cfg: TeacherStudentConfig) -> None:
    require_choice("method", cfg.method, METHODS)
    require_choice("feedback", cfg.feedback, FEEDBACKS)
    if cfg.feedback == "orthogonal" and cfg.student_hidden != 2 * cfg.teacher_hidden:
        raise ConfigError("feedback 'orthogonal' (b = (A, -A)) needs K = 2 M")
    if min(cfg.n_inputs, cfg.teacher_hidden, cfg.student_hidden) < 1 or cfg.time <= 0:
        raise ConfigError("N, M, K must be >= 1 and time > 0")


def initial_state(cfg: TeacherStudentConfig) -> InitialState:
    """Teacher, student and feedback; b comes from its own generator (``feedback_seed``)."""
    _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    n, m, k = cfg.n_inputs, cfg.teacher_hidden, cfg.student_hidden
    teacher_w = rng.standard_normal((m, n))
    teacher_a = np.ones(m)
    w = cfg.init_sd * rng.standard_normal((k, n))
    v = cfg.init_sd_v * rng.standard_normal(k)
    fb_rng = np.random.default_rng(cfg.feedback_seed)
    if cfg.feedback == "random":
        b = fb_rng.standard_normal(k)
    elif cfg.feedback == "matched":
        b = v.copy()
    elif cfg.feedback == "orthogonal":
        b = np.concatenate([teacher_a, -teacher_a])
    else:
        b = fb_rng.uniform(0.0, 1.0, k)
    return InitialState(w, v, teacher_w, teacher_a, b)


def _log_times(total: float, n_logs: int) -> np.ndarray:
    return np.unique(np.concatenate([[0.0], np.geomspace(min(0.01, total), total, n_logs)]))


def _record(hist, t, q, r, tt, v, a, b):
    hist["t"].append(t)
    hist["eg"].append(generalisation_error(q, r, tt, v, a))
    hist["cos_vb"].append(float(v @ b / max(np.linalg.norm(v) * np.linalg.norm(b), 1e-300)))
    hist["q"].append(q.copy())
    hist["r"].append(r.copy())
    hist["v"].append(v.copy())


def _finish(hist) -> dict[str, np.ndarray]:
    return {key: np.asarray(val) for key, val in hist.items()}


def simulate(cfg: TeacherStudentConfig, state: InitialState | None = None) -> dict[str, np.ndarray]:
    """Online SGD; eps_g at log-spaced times from the exact order parameters of the weights."""
    state = state or initial_state(cfg)
    n = cfg.n_inputs
    rng = np.random.default_rng(cfg.seed + 1_000_003)
    w, v = state.w.copy(), state.v.copy()
    tw, a, b = state.teacher_w, state.teacher_a, state.b
    t_mat = tw @ tw.T / n
    total_steps = round(cfg.time * n)
    log_steps = set(np.round(_log_times(cfg.time, cfg.n_logs) * n).astype(int).tolist())
    hist: dict[str, list[Any]] = {key: [] for key in ("t", "eg", "cos_vb", "q", "r", "v")}
    chunk = 512
    step = 0
    eta_w, eta_v, sqrt_n = cfg.lr / math.sqrt(n), cfg.lr / n, math.sqrt(n)
    while step <= total_steps:
        xs = rng.standard_normal((chunk, n))
        noise = cfg.noise * rng.standard_normal(chunk) if cfg.noise else np.zeros(chunk)
        nus = xs @ tw.T / sqrt_n
        ys = g(nus) @ a + noise
        for x, y in zip(xs, ys):
            if step in log_steps:
                _record(hist, step / n, w @ w.T / n, w @ tw.T / n, t_mat, v, a, b)
            if step == total_steps:
                return _finish(hist)
            lam = w @ x / sqrt_n
            gl = g(lam)
            e = y - v @ gl
            back = b if cfg.method == "dfa" else v
            w += (eta_w * e * back * g_prime(lam))[:, None] * x[None, :]
            v += eta_v * e * gl
            step += 1
    return _finish(hist)


def ode_derivatives(q, r, t_mat, v, a, b, lr, noise, method):
    """d/dt of (Q, R, v); ``b`` is the DFA feedback (BP uses b = v)."""
    k = q.shape[0]
    c = full_covariance(q, r, t_mat)
    u = np.concatenate([-v, a])  # e = u . g(fields)
    back = v if method == "bp" else b
    i3 = i3_tensor(c, k)  # (K, D, D)
    i3u = i3 @ u  # sum_c u_c I3(a, b, c): (K, D)
    dr = lr * back[:, None] * i3u[:, k:]
    first = lr * back[:, None] * i3u[:, :k]  # eta b_i sum_c u_c I3(i, k, c)
    i4u = np.einsum("abcd,c,d->ab", i4_tensor(c, k), u, u)
    dq = first + first.T + lr**2 * np.outer(back, back) * (i4u + noise**2 * j2_matrix(c, k))
    dv = lr * (i2_matrix(c)[:k] @ u)
    return dq, dr, dv


def integrate_ode(
    cfg: TeacherStudentConfig, state: InitialState | None = None, dt: float = 0.01
) -> dict[str, np.ndarray]:
    """Euler integration of the ODEs from the simulation's own initial order parameters."""
    state = state or initial_state(cfg)
    q, r, t_mat = state.order_parameters()
    v, a, b = state.v.copy(), state.teacher_a, state.b
    log_times = _log_times(cfg.time, cfg.n_logs)
    hist: dict[str, list[Any]] = {key: [] for key in ("t", "eg", "cos_vb", "q", "r", "v")}
    t, next_log = 0.0, 0
    n_steps = math.ceil(cfg.time / dt - 1e-9)
    for step in range(n_steps + 1):
        t = step * dt
        while next_log < len(log_times) and log_times[next_log] <= t + 1e-12:
            _record(hist, t, q, r, t_mat, v, a, b)
            next_log += 1
        if step == n_steps:
            break
        dq, dr, dv = ode_derivatives(q, r, t_mat, v, a, b, cfg.lr, cfg.noise, cfg.method)
        q, r, v = q + dt * dq, r + dt * dr, v + dt * dv
    return _finish(hist)

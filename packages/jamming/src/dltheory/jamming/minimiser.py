"""An exact second-order minimiser of the quadratic hinge: SAT, or a converged UNSAT minimum.

The loss of arXiv:1809.09349 (eq. 3), L = 1/2 sum_mu max(0, Delta_mu)^2 with
Delta_mu = kappa - y_mu f(x_mu), is a nonlinear least-squares problem in the residuals
r_mu = max(0, Delta_mu). First-order training with a step cap cannot tell "not yet fitted" from
"cannot be fitted"; this module can. It runs Levenberg-Marquardt on the active residuals
(Delta_mu > 0), for every network of a stacked ensemble at once, in float64:

    (J_A^T J_A + lambda D) delta = -J_A^T r_A,    D = diag(J_A^T J_A) (Marquardt scaling),

with the gain ratio rho = (L - L(theta + delta)) / (predicted decrease) deciding acceptance and
Nielsen's damping update (lambda *= max(1/3, 1 - (2 rho - 1)^3) on success, lambda *= nu,
nu *= 2 on failure). Every network ends in one of three stated outcomes:

* ``sat``: N_Delta = 0 reached (every margin y f >= kappa, counted exactly);
* ``unsat``: a converged minimum with L > 0: either the gradient test (MINPACK's ``gtol``: the
  largest cosine between a column of J_A and r_A is <= ``gtol``) together with a model-predicted
  relative decrease of the Gauss-Newton step <= ``ftol`` (smooth minima, e.g. a linear model), or,
  for minima on a ReLU kink where the gradient does not vanish, a relative loss decrease
  <= ``stall_rtol`` over the last ``stall_window`` iterations;
* ``unconverged``: neither within ``max_iter`` iterations and ``escape_rounds`` Adam excursions
  (see :func:`minimise_ensemble`); never silently: the N* search treats such a net as undecided
  and says so, and ``MinimiseResult.reason`` says why (:data:`REASONS`).
  (:func:`levenberg_marquardt` alone also returns ``stalled``/``stuck``.)

The loss is minimised with the margin kappa + ``slack`` (default 1e-3): with slack 0, a
Gauss-Newton step puts the active margins at Delta = 0 +- 1e-16 and a few stay at 0+ for ever
(the "precision effect" that made the authors count N_Delta <= 0.1 N as fitted). With the slack, a
net that can be fitted ends with every Delta <= -slack < 0, so SAT is decided exactly at kappa;
moving the margin by 1e-3 moves N* by a negligible amount. ``slack=0`` minimises the paper's loss
itself (used by the exact-UNSAT test).

Jacobians of the stacked ReLU nets are formed explicitly, layer by layer (df/dW_l = delta_l a_{l-1}^T
with delta the back-propagated output sensitivity), only on the points active for some network of
the batch. Networks of one width are batched together (padding is zero and gets a zero step).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from dltheory.core.errors import ConfigError

from .models import StackedFC

OUTCOMES = ("sat", "unsat", "unconverged")
# why a net ended "unconverged" (the last LM run's state when the escapes ran out):
REASONS = {
    "iteration_cap": "still descending when max_iter LM iterations were spent",
    "stall_unconfirmed": "stalled on a kink, not confirmed (no excursion left, or it went lower)",
    "damping": "damping beyond lambda_escape (LM reduced to tiny gradient steps)",
    "creeping": "loss falling by less than slow_rtol per stall_window iterations",
    # set by the trainers, not here: a first-order run unfitted at its step cap, no minimiser
    "step_cap": "first-order training ended at its step cap with N_Delta > 0",
}
SOLVERS = ("cholesky", "cg", "auto")
# "stopped": not run to a decision because another net of its width reached SAT first
# (MinimiserConfig.stop_on_first_sat, the N* search's any-seed rule); undecided, never UNSAT
STOPPED = "stopped"


@dataclass
class MinimiserConfig:
    """Tolerances of the Levenberg-Marquardt minimiser (see the module docstring)."""

    kappa: float = 1.0
    slack: float = 1e-3
    max_iter: int = 2000
    gtol: float = 1e-7
    ftol: float = 1e-12
    lambda0: float = 1e-3
    max_output_step: float = 0.5  # trust region: largest |J delta| of an accepted step
    lambda_escape: float = 1e4  # damping beyond which LM only takes tiny gradient steps
    stall_window: int = 20
    candidate: float = 1.0  # points with Delta > -candidate enter the step's hinge model
    inner_iter: int = 8  # semismooth Newton iterations of the hinge step
    escape_rounds: int = 4  # Adam bursts offered to a net stalled or stuck on a kink
    escape_steps: int = 1000
    escape_lr: float = 1e-3
    escape_rtol: float = 0.05
    stall_rtol: float = 1e-8
    # a net whose loss falls by less than slow_rtol (relative) over stall_window iterations is
    # handed to the Adam excursions (0: off). Measured (README): with the kink model, LM on a net
    # far from a fit creeps; at P = 2,000, L = 2, N = 1,130 the rule fits both nets in 54 s where
    # 2,000 creeping iterations and the escapes left them undecided after 639 s
    slow_rtol: float = 0.01
    # ReLU kinks within kink_tol are handled one-sidedly (StackedAdaptor.jacobian_and_kinks);
    # 0 turns this off. kink_weight: penalty of the side constraints, relative to max diag(J^T J)
    kink_tol: float = 1e-6
    kink_weight: float = 1e6
    # linear solve of the damped step: cholesky (Gram matrix), cg (CGLS on J v / J^T u products,
    # linsolve.py), or auto: cg from cg_min_params parameters on (see README, benchmark)
    solver: str = "cholesky"
    cg_min_params: int = 2500
    cg_tol: float = 1e-6
    cg_max_iter: int = 150
    stop_on_first_sat: bool = False  # stop a width's other nets once one of them is SAT

    def validate(self) -> None:
        if (
            self.slack < 0
            or self.max_iter < 1
            or self.gtol <= 0
            or self.ftol <= 0
            or self.stall_window < 1
            or self.stall_rtol <= 0
            or self.slow_rtol < 0
            or self.kink_tol < 0
            or self.kink_weight <= 0
            or self.solver not in SOLVERS
            or self.cg_tol <= 0
            or self.cg_max_iter < 1
        ):
            raise ConfigError(
                "minimiser needs slack >= 0, max_iter >= 1, gtol > 0, ftol > 0, kink_tol >= 0, "
                f"kink_weight > 0, cg_tol > 0, cg_max_iter >= 1, solver in {', '.join(SOLVERS)}"
            )


@dataclass
class MinimiseResult:
    """Per network: outcome, N_Delta at kappa, loss at kappa + slack, iterations, final tests."""

    outcome: list[str]
    n_delta: list[int]
    loss: list[float]  # 1/2 sum max(0, kappa + slack - y f)^2 (a sum, not a mean)
    iterations: list[int]
    grad_cosine: list[float]
    predicted_decrease: list[float]  # relative, of the last Gauss-Newton step
    config: dict = field(default_factory=dict)
    escapes: list[int] = field(default_factory=list)
    # unsatisfied points that no weight can move (all last-layer units off there): a minimum
    # whose N_Delta is all dead points is a dead-unit trap, not a jamming (UNSAT) minimum
    n_dead: list[int] = field(default_factory=list)
    # a dead-unit trap that is a certified UNSAT minimum (see :func:`dead_trap_certificate`)
    trap_unsat: list[bool] = field(default_factory=list)
    trap_gap: list[float] = field(default_factory=list)
    # per net: a key of REASONS when the outcome is "unconverged" (or LM's own stalled/stuck),
    # else ""
    reason: list[str] = field(default_factory=list)

    @property
    def sat(self) -> list[bool]:
        return [o == "sat" for o in self.outcome]


# ------------------------------------------------------------------------------- model adaptors


class StackedAdaptor:
    """Flat parameter vectors theta [E, n_p] of a :class:`StackedFC`, outputs and Jacobians."""

    def __init__(self, net: StackedFC, offset: torch.Tensor | None = None):
        self.net = net
        self.shapes = [p.shape[1:] for p in net.parameters()]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.mask = torch.cat([m.flatten(1) for m in net.parameter_masks()], dim=1)
        self.offset = offset

    @property
    def n_nets(self) -> int:
        return self.net.n_nets

    def get(self) -> torch.Tensor:
        return torch.cat([p.flatten(1) for p in self.net.parameters()], dim=1).clone()

    def unflatten(self, theta: torch.Tensor) -> list[torch.Tensor]:
        parts = torch.split(theta, self.sizes, dim=1)
        return [t.reshape(theta.shape[0], *s) for t, s in zip(parts, self.shapes)]

    def set(self, theta: torch.Tensor, rows: torch.Tensor) -> None:
        with torch.no_grad():
            for p, q in zip(self.net.parameters(), self.unflatten(theta)):
                p[rows] = q

    def forward(self, x: torch.Tensor, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        f = self.net.forward(x, self.unflatten(theta), rows)
        return f if self.offset is None else f - self.offset[rows][:, : f.shape[1]]

    def forward_layers(self, x: torch.Tensor, theta: torch.Tensor, rows: torch.Tensor):
        """Activations (input first), pre-activations and effective weights of every layer."""
        net = self.net
        params = self.unflatten(theta)
        ws, bs = params[: net.depth + 1], params[net.depth + 1 :]
        scales = [s[rows] for s in net.scales]
        ntk = net.parametrisation == "ntk"
        a = x.expand(theta.shape[0], *x.shape) if x.dim() == 2 else x
        acts, pre, w_effs = [a], [], []
        for layer, (w, b, s) in enumerate(zip(ws, bs, scales)):
            w_eff = w * s if ntk else w
            w_effs.append(w_eff)
            z = torch.bmm(a, w_eff.transpose(1, 2)) + b.unsqueeze(1)
            pre.append(z)
            a = torch.relu(z) if layer < net.depth else z
            acts.append(a)
        return acts, pre, w_effs, scales

    def _backward(self, acts, masks, w_effs, scales, rows, top: int, delta: torch.Tensor):
        """d z_top / d theta [E, n, n_p] for the sensitivities ``delta`` = d(.)/dz_top [E, n, w_top],
        back-propagated with the ReLU derivative ``masks[l]`` (0/1) of hidden layer l."""
        net = self.net
        ntk = net.parametrisation == "ntk"
        E, n = delta.shape[:2]
        jw: list[torch.Tensor] = []
        jb: list[torch.Tensor] = []
        for layer in range(net.depth, -1, -1):
            out_f, in_f = w_effs[layer].shape[1:]
            if layer > top:
                jw.append(delta.new_zeros(E, n, out_f * in_f))
                jb.append(delta.new_zeros(E, n, out_f))
                continue
            sc: torch.Tensor | float = scales[layer].view(E, 1, 1, 1) if ntk else 1.0
            # df/dW_l[o, i] = delta_l[o] a_{l-1}[i] (times the NTK scale), df/db_l = delta_l
            jw.append((delta.unsqueeze(3) * acts[layer].unsqueeze(2) * sc).flatten(2))
            jb.append(delta)
            if layer > 0:
                delta = torch.bmm(delta, w_effs[layer]) * masks[layer - 1]
        return torch.cat([*jw[::-1], *jb[::-1]], dim=2) * self.mask[rows].unsqueeze(1)

    def jacobian(self, x: torch.Tensor, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """J [E_rows, n, n_p] = df/dtheta, explicit back-propagation through the ReLU layers."""
        acts, pre, w_effs, scales = self.forward_layers(x, theta, rows)
        masks = [(z > 0).to(z.dtype) for z in pre[:-1]]
        ones = torch.ones_like(pre[-1])
        return self._backward(acts, masks, w_effs, scales, rows, self.net.depth, ones)

    def jacobian_and_kinks(
        self,
        x: torch.Tensor,
        theta: torch.Tensor,
        rows: torch.Tensor,
        y: torch.Tensor,
        resid: torch.Tensor,
        kink_tol: float,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """J on one side of every ReLU kink within ``kink_tol``, and the constraints keeping it there.

        A unit whose pre-activation at a point is within ``kink_tol`` of 0 sits on a kink: the
        loss is not differentiable there and a Gauss-Newton step through it is mis-modelled (the
        measured failure: the directional derivative along -grad is positive, every step is
        refused). For each such (point, unit) a side is chosen, "on" when switching the unit on
        lowers that point's loss (y * df/da > 0 at an unsatisfied point) and "off" otherwise; J
        uses the ReLU derivative of that side (1 or 0), and a constraint row keeps the step on it
        to first order: ``c + C delta <= 0`` with C = +-dz/dtheta, c = +-z (rows of unit norm).
        On that side the model is exact to first order, so LM can slide along the kink instead of
        stalling on it. Returns (J [E, n, n_p], C [E, K, n_p], c [E, K]); K = 0 without kinks.
        Padded constraint rows are 0 with c = -1 (never active).
        """
        net = self.net
        acts, pre, w_effs, scales = self.forward_layers(x, theta, rows)
        E, _n = pre[-1].shape[:2]
        masks: list[torch.Tensor] = [None] * net.depth  # type: ignore[list-item]
        kinks: list[torch.Tensor] = [None] * net.depth  # type: ignore[list-item]
        sides: list[torch.Tensor] = [None] * net.depth  # type: ignore[list-item]
        unsat = (resid > 0).unsqueeze(2)
        yv = y.view(1, -1, 1)
        delta = torch.ones_like(pre[-1])
        # top-down: the side of a kink at layer l uses the sensitivity through the layers above,
        # whose sides are already chosen
        for layer in range(net.depth, 0, -1):
            up = torch.bmm(delta, w_effs[layer])  # df/da_{layer-1}
            z = pre[layer - 1]
            real = net.bias_masks[layer - 1][rows].unsqueeze(1) > 0
            kink = (z.abs() <= kink_tol) & real
            on = kink & unsat & (yv * up > 0)
            m = torch.where(kink, on, z > 0).to(z.dtype)
            masks[layer - 1], kinks[layer - 1], sides[layer - 1] = m, kink, on
            delta = up * m
        jac = self._backward(acts, masks, w_effs, scales, rows, net.depth, torch.ones_like(pre[-1]))
        c_rows, c_vals = [], []
        for layer in range(net.depth):
            kink = kinks[layer]
            counts = kink.flatten(1).sum(dim=1)
            k_max = int(counts.max()) if counts.numel() else 0
            if k_max == 0:
                continue
            # the kink pairs of each net, padded to k_max: point index, unit index, valid
            e_idx, p_idx, u_idx = torch.nonzero(kink, as_tuple=True)
            slot = (
                torch.cumsum(torch.nn.functional.one_hot(e_idx, E), dim=0)[
                    torch.arange(len(e_idx)), e_idx
                ]
                - 1
            )
            pts = torch.zeros(E, k_max, dtype=torch.long, device=jac.device)
            units = torch.zeros_like(pts)
            valid = torch.zeros(E, k_max, dtype=torch.bool, device=jac.device)
            pts[e_idx, slot], units[e_idx, slot], valid[e_idx, slot] = p_idx, u_idx, True
            ar = torch.arange(E, device=jac.device).unsqueeze(1)
            acts_g = [a[ar, pts] for a in acts[: layer + 1]]
            masks_g = [m[ar, pts] for m in masks[:layer]]
            onehot = torch.nn.functional.one_hot(units, pre[layer].shape[2]).to(jac.dtype)
            cz = self._backward(acts_g, masks_g, w_effs, scales, rows, layer, onehot)
            z = pre[layer][ar, pts, units]
            sign = torch.where(sides[layer][ar, pts, units], -1.0, 1.0).to(jac.dtype)
            row, val = cz * sign.unsqueeze(2), z * sign
            norm = row.norm(dim=2).clamp_min(1e-300)
            row, val = row / norm.unsqueeze(2), val / norm
            c_rows.append(torch.where(valid.unsqueeze(2), row, torch.zeros_like(row)))
            c_vals.append(torch.where(valid, val, torch.full_like(val, -1.0)))
        if not c_rows:
            return jac, jac.new_zeros(E, 0, jac.shape[2]), jac.new_zeros(E, 0)
        return jac, torch.cat(c_rows, dim=1), torch.cat(c_vals, dim=1)


class LinearEnsemble:
    """E linear models f(x) = x w + b (a perceptron), the hand-checkable case of the minimiser."""

    def __init__(self, d: int, n_nets: int, seed: int = 0, dtype=torch.float64):
        gen = torch.Generator().manual_seed(seed)
        self.theta = torch.randn(n_nets, d + 1, generator=gen, dtype=dtype) / math.sqrt(d)
        self.mask = torch.ones_like(self.theta)
        self.offset = None

    @property
    def n_nets(self) -> int:
        return self.theta.shape[0]

    def get(self) -> torch.Tensor:
        return self.theta.clone()

    def set(self, theta: torch.Tensor, rows: torch.Tensor) -> None:
        self.theta[rows] = theta

    def forward(self, x: torch.Tensor, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return theta[:, :-1] @ x.T + theta[:, -1:]

    def jacobian(self, x: torch.Tensor, theta: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        ones = torch.ones(x.shape[0], 1, dtype=x.dtype, device=x.device)
        return torch.cat([x, ones], dim=1).expand(theta.shape[0], -1, -1)


# ---------------------------------------------------------------------------------- minimiser


def _hinge(f: torch.Tensor, y: torch.Tensor, margin: float) -> torch.Tensor:
    return 0.5 * torch.relu(margin - y * f).pow(2).sum(dim=1)


def _damped_step(
    jr: torch.Tensor,
    r: torch.Tensor,
    g: torch.Tensor,
    A: torch.Tensor | None,
    D: torch.Tensor,
    lam: torch.Tensor,
) -> torch.Tensor:
    """delta = -(J^T J + lambda D)^-1 J^T r, by batched Cholesky in the smaller dimension.

    With more active points than parameters the [n_p, n_p] normal equations are solved; with
    fewer, the equivalent [n_a, n_a] system delta = -D^-1/2 Js^T (Js Js^T + lambda I)^-1 r with
    Js = J D^-1/2 (push-through identity).
    """
    eye_scale = 1e-10
    if A is not None:
        M = A + torch.diag_embed(lam.unsqueeze(1) * D)
        chol, info = torch.linalg.cholesky_ex(M)
        if bool((info != 0).any()):  # numerically indefinite: a little more damping
            M = M + torch.diag_embed(eye_scale * D.amax(dim=1, keepdim=True) * torch.ones_like(D))
            chol, _ = torch.linalg.cholesky_ex(M)
        return torch.cholesky_solve(-g.unsqueeze(2), chol).squeeze(2)
    d_isqrt = D.rsqrt()
    js = jr * d_isqrt.unsqueeze(1)
    K = torch.bmm(js, js.transpose(1, 2))
    K = K + torch.diag_embed(lam.unsqueeze(1).expand(-1, K.shape[1]))
    chol, info = torch.linalg.cholesky_ex(K)
    if bool((info != 0).any()):
        scale = K.diagonal(dim1=1, dim2=2).amax(dim=1, keepdim=True)
        K = K + torch.diag_embed(eye_scale * scale * torch.ones_like(K[:, 0]))
        chol, _ = torch.linalg.cholesky_ex(K)
    u = torch.cholesky_solve(r.unsqueeze(2), chol)
    return -(torch.bmm(js.transpose(1, 2), u).squeeze(2) * d_isqrt)


def _cg_step(
    jS: torch.Tensor, rS: torch.Tensor, D: torch.Tensor, lam: torch.Tensor, x0, tol, max_iter
) -> torch.Tensor:
    """The damped step by preconditioned CGLS on J_S v / J_S^T u products (linsolve.py): no
    [n_p, n_p] Gram product; a truncated solve is still a descent step of the damped model."""
    from .linsolve import cg_damped_step, explicit_operators

    mv, mvt = explicit_operators(jS)
    step, _ = cg_damped_step(
        mv, mvt, rS, D, lam, tol=tol, max_iter=max_iter, x0=x0, diag=jS.pow(2).sum(dim=1)
    )
    return step


def _hinge_step(
    jr: torch.Tensor,
    rc: torch.Tensor,
    D: torch.Tensor,
    lam: torch.Tensor,
    n_inner: int,
    solver: str = "cholesky",
    cg_tol: float = 1e-6,
    cg_max_iter: int = 150,
) -> torch.Tensor:
    """The damped step of the hinge model: argmin_delta 1/2 sum max(0, r + J delta)^2
    + lambda/2 delta^T D delta, a convex piecewise-quadratic problem, by semismooth Newton on
    the active set S = {r + J delta > 0} (starting from S = {r > 0}; stops when S repeats).

    A plain Gauss-Newton step on the active residuals alone ignores the points that the step
    pushes across the margin and stalls with a few of them at Delta = 0+ for ever.
    """
    S = rc > 0
    step = torch.zeros_like(D)
    cg = solver == "cg"
    normal = jr.shape[2] <= jr.shape[1] and not cg  # more candidate points than parameters
    A: torch.Tensor | None = None
    for _ in range(max(n_inner, 1)):
        jS = jr * S.unsqueeze(2)
        rS = rc * S
        if cg:
            step = _cg_step(jS, rS, D, lam, step, cg_tol, cg_max_iter)
        else:
            g = torch.bmm(jS.transpose(1, 2), rS.unsqueeze(2)).squeeze(2)
            if normal and A is None:
                A = torch.bmm(jS.transpose(1, 2), jS)  # the one full Gram product of the step
            step = _damped_step(jS, rS, g, A, D, lam)
        S_new = (rc + torch.bmm(jr, step.unsqueeze(2)).squeeze(2)) > 0
        changed = S_new != S
        if not bool(changed.any()):
            break
        if A is not None:
            # J_S'^T J_S' = J_S^T J_S + sum over the points that enter (+1) or leave (-1) the
            # active set: a low-rank update on the few columns that changed, not a new product
            cols = torch.nonzero(changed.any(dim=0)).flatten()
            jc = jr[:, cols]
            sign = S_new[:, cols].to(jr.dtype) - S[:, cols].to(jr.dtype)
            A = A + torch.bmm((jc * sign.unsqueeze(2)).transpose(1, 2), jc)
        S = S_new
    return step


def levenberg_marquardt(
    model, x: torch.Tensor, y: torch.Tensor, cfg: MinimiserConfig | None = None
) -> MinimiseResult:
    """Minimise the quadratic hinge of every model of the ensemble (parameters updated in place)."""
    cfg = cfg or MinimiserConfig()
    cfg.validate()
    check_labels(y)
    margin = cfg.kappa + cfg.slack
    theta = model.get()
    E, dev, dt = theta.shape[0], theta.device, theta.dtype
    x, y = x.to(device=dev, dtype=dt), y.to(device=dev, dtype=dt)
    all_rows = torch.arange(E, device=dev)
    solver = cfg.solver
    if solver == "auto":
        solver = "cg" if theta.shape[1] >= cfg.cg_min_params else "cholesky"
    with torch.no_grad():
        f = model.forward(x, theta, all_rows)
    lam = torch.full((E,), math.nan, dtype=dt, device=dev)
    nu = torch.full((E,), 2.0, dtype=dt, device=dev)
    outcome = ["unconverged"] * E
    reason = ["iteration_cap"] * E  # kept by the nets that are still running at the cap
    iters = [0] * E
    cosine = [math.nan] * E
    pred_rel = [math.nan] * E
    running = torch.ones(E, dtype=torch.bool, device=dev)
    history: list[list[float]] = [[] for _ in range(E)]
    for _ in range(cfg.max_iter + 1):
        with torch.no_grad():
            nd = ((cfg.kappa - y * f) > 0).sum(dim=1)
        for e in torch.nonzero(running & (nd == 0)).flatten().tolist():
            outcome[e], reason[e] = "sat", ""
            running[e] = False
        if cfg.stop_on_first_sat and "sat" in outcome:
            for e in torch.nonzero(running).flatten().tolist():
                outcome[e], reason[e] = STOPPED, ""
            running[:] = False
        rows = torch.nonzero(running).flatten()
        if len(rows) == 0:
            break
        resid = margin - y * f[rows]  # [R, P]
        active = resid > 0
        loss = 0.5 * torch.relu(resid).pow(2).sum(dim=1)
        # candidate points: active ones and those within ``candidate`` of the margin, which a
        # step may make active; the others are left to the gain ratio
        cols = torch.nonzero((resid > -cfg.candidate).any(dim=0)).flatten()
        rc = resid[:, cols]
        kinked = cfg.kink_tol > 0 and hasattr(model, "jacobian_and_kinks")
        with torch.no_grad():
            if kinked:
                jac, c_rows, c_vals = model.jacobian_and_kinks(
                    x[cols], theta[rows], rows, y[cols], rc, cfg.kink_tol
                )
            else:
                jac = model.jacobian(x[cols], theta[rows], rows)
        jr = -y[cols].view(1, -1, 1) * jac  # residual Jacobian dr/dtheta = -y df/dtheta
        act = active[:, cols].unsqueeze(2)
        r = torch.relu(rc)
        g = torch.bmm((jr * act).transpose(1, 2), r.unsqueeze(2)).squeeze(2)  # J_A^T r_A
        col_norm = (jr * act).pow(2).sum(dim=1).sqrt()
        r_norm = r.pow(2).sum(dim=1).sqrt()
        cos = (g.abs() / (col_norm * r_norm.unsqueeze(1)).clamp_min(1e-300)).amax(dim=1)
        diag = (jr * act).pow(2).sum(dim=1)  # Marquardt scaling diag(J_A^T J_A)
        dmax = diag.amax(dim=1, keepdim=True).clamp_min(1e-300)
        D = torch.maximum(diag, 1e-12 * dmax)
        lam_r = lam[rows]
        lam_r = torch.where(torch.isnan(lam_r), torch.full_like(lam_r, cfg.lambda0), lam_r)
        if kinked and c_rows.shape[1]:
            # the side constraints of the kinks enter the hinge model as stiff hinge terms
            weight = (cfg.kink_weight * dmax).sqrt()  # [R, 1]
            j_model = torch.cat([jr, weight.unsqueeze(2) * c_rows], dim=1)
            r_model = torch.cat([rc, weight * c_vals], dim=1)
        else:
            j_model, r_model = jr, rc
        step = _hinge_step(
            j_model, r_model, D, lam_r, cfg.inner_iter, solver, cfg.cg_tol, cfg.cg_max_iter
        )
        # predicted decrease of the hinge model 1/2 sum max(0, r + J delta)^2
        j_step = torch.bmm(jr, step.unsqueeze(2)).squeeze(2)
        model_new = 0.5 * torch.relu(rc + j_step).pow(2)
        # a trust region in output space: a step that moves some output by more than
        # max_output_step is refused like a failed one (large jumps kill ReLU units)
        small = j_step.abs().amax(dim=1) <= cfg.max_output_step
        pred = 0.5 * r.pow(2).sum(1) - model_new.sum(1)
        trial = theta[rows] + step
        with torch.no_grad():
            f_new = model.forward(x, trial, rows)
        loss_new = _hinge(f_new, y, margin)
        # the same trust region on the actual outputs at every training point: the model above
        # sees only the candidate points, and a direction that moves only well-satisfied points
        # (no loss there, hardly any damping) could otherwise grow the weights without bound
        # (measured: weights of norm 1.7e4 on a net at N = 74, MNIST parity, P = 400)
        small &= (f_new - f[rows]).abs().amax(dim=1) <= cfg.max_output_step
        rho = (loss - loss_new) / pred.clamp_min(1e-300)
        accept = torch.isfinite(loss_new) & (rho > 1e-4) & (pred > 0) & small
        # Nielsen's damping update
        lam_acc = lam_r * torch.clamp(1 - (2 * rho - 1) ** 3, min=1 / 3)
        nu_r = nu[rows]
        lam[rows] = torch.where(accept, lam_acc, lam_r * nu_r)
        nu[rows] = torch.where(accept, torch.full_like(nu_r, 2.0), nu_r * 2)
        pred_rel_r = pred / loss.clamp_min(1e-300)
        converged = (loss > 0) & (cos <= cfg.gtol) & (pred_rel_r <= cfg.ftol)
        # ReLU kinks: minima of a ReLU net's hinge loss often sit on a kink, where the gradient
        # does not vanish; there the test is that the loss stopped decreasing: a relative decrease
        # <= stall_rtol over the last stall_window iterations (at that rate, halving the loss
        # would take ~window / rtol more iterations)
        for i, e in enumerate(rows.tolist()):
            history[e].append(float(loss[i]))
        old = torch.tensor(
            [
                history[e][-cfg.stall_window - 1]
                if len(history[e]) > cfg.stall_window
                else math.inf
                for e in rows.tolist()
            ],
            dtype=dt,
            device=dev,
        )
        stalled = (loss > 0) & (old - loss <= cfg.stall_rtol * loss) & ~converged
        # creeping (optional): a relative decrease below slow_rtol over the window hands the net
        # to the Adam excursions, like a damping run-away; never a converged minimum
        slow = (old - loss <= cfg.slow_rtol * loss) & (loss > 0) & ~converged & ~stalled
        for i, e in enumerate(rows.tolist()):
            cosine[e], pred_rel[e] = float(cos[i]), float(pred_rel_r[i])
            if converged[i]:
                outcome[e], reason[e] = "unsat", ""
                running[e] = False
            elif stalled[i]:
                # on a kink: minimise_ensemble confirms it after escapes
                outcome[e], reason[e] = "stalled", "stall_unconfirmed"
                running[e] = False
            elif lam[e] > cfg.lambda_escape or slow[i]:
                # tiny gradient steps, or creeping: hand over to Adam
                outcome[e] = "stuck"
                reason[e] = "damping" if lam[e] > cfg.lambda_escape else "creeping"
                running[e] = False
            else:
                iters[e] += 1
        take = accept & ~converged & ~stalled
        if take.any():
            acc = rows[take]
            theta[acc] = trial[take]
            f[acc] = f_new[take]
        running &= torch.tensor(
            [iters[e] < cfg.max_iter for e in range(E)], dtype=torch.bool, device=dev
        )
    model.set(theta, all_rows)
    with torch.no_grad():
        f = model.forward(x, theta, all_rows)
        # dead points: unsatisfied, and every weight's derivative is 0 there (all units of the
        # last hidden layer off): only the output bias sees them, so the gradient cannot act
        jac = model.jacobian(x, theta, all_rows)
        dead = ((cfg.kappa - y * f) > 0) & (jac[:, :, :-1].abs().amax(dim=2) == 0)
    return MinimiseResult(
        outcome=outcome,
        n_delta=((cfg.kappa - y * f) > 0).sum(dim=1).tolist(),
        loss=_hinge(f, y, margin).tolist(),
        iterations=iters,
        grad_cosine=cosine,
        predicted_decrease=pred_rel,
        config=asdict(cfg),
        n_dead=dead.sum(dim=1).tolist(),
        reason=reason,
    )


def check_labels(y: torch.Tensor) -> None:
    """The hinge losses need labels y = +-1 exactly."""
    bad = (y != 1) & (y != -1)
    if bool(bad.any()):
        value = float(y[bad].flatten()[0])
        raise ConfigError(f"labels must be +1 or -1; found {value:g}")


def minimise_ensemble(
    net: StackedFC,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: MinimiserConfig | None = None,
    offset: torch.Tensor | None = None,
) -> MinimiseResult:
    """Decide SAT/UNSAT for every net of ``net`` (parameters updated in place).

    Levenberg-Marquardt runs on one batch per width (same shapes, no padding waste). A net that
    stalls on a ReLU kink (no decrease) or gets stuck there (damping > ``lambda_escape``: the
    steps degrade to tiny gradient steps) is given up to ``escape_rounds`` excursions of
    ``escape_steps`` Adam steps (first-order steps slide along a kink where the Gauss-Newton
    model cannot), each followed by LM again. A stall is a converged UNSAT minimum once an excursion
    and LM find no lower stall loss (within ``escape_rtol``); otherwise the net is
    ``unconverged``. ``offset`` [E, P] is subtracted from the outputs (f = f_w - f_w0).
    """
    cfg = cfg or MinimiserConfig()
    cfg.validate()
    check_labels(y)
    groups: dict[float, list[int]] = {}
    for e, spec in enumerate(net.specs):
        groups.setdefault(spec.h, []).append(e)
    x = x.to(device=net.device, dtype=net.dtype)
    y = y.to(device=net.device, dtype=net.dtype)
    E = net.n_nets
    keys = (
        "outcome",
        "n_delta",
        "loss",
        "iterations",
        "grad_cosine",
        "predicted_decrease",
        "n_dead",
        "reason",
    )
    out: dict[str, list] = {k: [None] * E for k in keys}
    escapes = [0] * E
    for index in groups.values():
        sub = net.subset(index)
        off = None if offset is None else offset[index].to(device=net.device, dtype=net.dtype)
        res = levenberg_marquardt(StackedAdaptor(sub, off), x, y, cfg)
        iters = list(res.iterations)
        stall_loss = [
            res.loss[i] if o == "stalled" else math.nan for i, o in enumerate(res.outcome)
        ]
        # the lowest-loss weights seen before an excursion, of any state and of the stalls: an
        # Adam excursion can raise the loss (measured: N_Delta 11 -> 327 at P = 4,000), so an
        # undecided net returns its lowest state, and a stall confirmed as an UNSAT minimum the
        # lowest of its stalls (the confirmation says no lower one was found)
        lowest: dict[int, tuple[float, StackedFC, dict[str, Any]]] = {}
        lowest_stall: dict[int, tuple[float, StackedFC, dict[str, Any]]] = {}
        confirmed: set[int] = set()
        for _ in range(cfg.escape_rounds):
            todo = [i for i, o in enumerate(res.outcome) if o in ("stalled", "stuck")]
            if cfg.stop_on_first_sat and "sat" in res.outcome:
                for i in todo:
                    res.outcome[i], res.reason[i] = STOPPED, ""
                todo = []
            if not todo:
                break
            again = sub.subset(todo)
            for j, i in enumerate(todo):
                kept = [lowest] + ([lowest_stall] if res.outcome[i] == "stalled" else [])
                for store in kept:
                    if i not in store or res.loss[i] < store[i][0]:
                        snapshot = {k: getattr(res, k)[i] for k in keys}
                        store[i] = (res.loss[i], again.subset([j]), snapshot)
            off2 = None if off is None else off[todo]
            _adam_burst(again, x, y, cfg, off2)
            res2 = levenberg_marquardt(StackedAdaptor(again, off2), x, y, cfg)
            copy_rows(sub, again, todo)
            for j, i in enumerate(todo):
                escapes[index[i]] += 1
                iters[i] += res2.iterations[j] + cfg.escape_steps
                for k in keys:
                    getattr(res, k)[i] = getattr(res2, k)[j]
                if res2.outcome[j] == "stalled":
                    # an Adam excursion then LM found no lower minimum: a converged UNSAT one
                    best = stall_loss[i]
                    if math.isfinite(best) and res2.loss[j] >= (1 - cfg.escape_rtol) * best:
                        res.outcome[i], res.reason[i] = "unsat", ""
                        confirmed.add(i)
                    stall_loss[i] = min(res2.loss[j], best) if math.isfinite(best) else res2.loss[j]
        for i, o in enumerate(res.outcome):
            if o == "sat" or (o == "unsat" and i not in confirmed):
                continue  # SAT, and an UNSAT minimum of LM's gradient test, keep their weights
            store = lowest_stall if i in confirmed else lowest
            if i in store and res.loss[i] > store[i][0]:
                copy_rows(sub, store[i][1], [i])
                for k in ("n_delta", "loss", "grad_cosine", "predicted_decrease", "n_dead"):
                    getattr(res, k)[i] = store[i][2][k]
        # stalls never confirmed, and damping run-aways, are not converged minima
        res.outcome = [o if o in (*OUTCOMES, STOPPED) else "unconverged" for o in res.outcome]
        res.iterations = iters
        copy_rows(net, sub, index)
        for k in keys:
            for i, e in enumerate(index):
                out[k][e] = getattr(res, k)[i]
    result = MinimiseResult(**out, config=asdict(cfg))
    result.escapes = escapes
    cert = dead_trap_certificate(net, x, y, cfg.kappa, offset)
    result.trap_unsat = [
        bool(c) and o == "unsat" for c, o in zip(cert["certified"], result.outcome)
    ]
    result.trap_gap = cert["gap"]
    return result


def dead_trap_certificate(
    net: StackedFC,
    x: torch.Tensor,
    y: torch.Tensor,
    kappa: float = 1.0,
    offset: torch.Tensor | None = None,
    gap_tol: float = 1e-9,
) -> dict[str, list]:
    """Is a net provably unable to fit its points near the current weights (a dead-unit trap)?

    A point is dead at hidden layer l when every real unit of that layer is off there with a
    gap (pre-activation z <= -gap_tol): a small move of any weight keeps them off, so the output
    on all points dead at layer l is one and the same function F of the weights above l,
    f_mu = F + c_mu with c_mu fixed (c_mu = 0, or -offset_mu for f = f_w - f_w0). Those points
    constrain the single number F: y_mu (F + c_mu) >= kappa, i.e. F >= kappa - c_mu (y = +1)
    and F <= -kappa - c_mu (y = -1). When, for some layer, this one-dimensional feasibility
    problem has no solution (max_{y=+1} (kappa - c) > min_{y=-1} (-kappa - c); without an offset:
    points of both labels dead at one layer), no weights near the current ones reach N_Delta = 0:
    the net is certified UNSAT there. Returns per net ``n_dead`` (unsatisfied points with every
    last-layer unit off, gap or not, as in the minimiser's diagnostic), ``layer`` (the first
    certifying hidden layer, -1 if none), ``gap`` (the smallest -z over that layer's dead points:
    how far the trap is from a kink) and ``certified``.
    """
    params = net.parameters()
    ws, bs = params[: net.depth + 1], params[net.depth + 1 :]
    x = x.to(device=net.device, dtype=net.dtype)
    y = y.to(device=net.device, dtype=net.dtype)
    E = net.n_nets
    with torch.no_grad():
        a = x.expand(E, *x.shape)
        zs = []
        for layer, (w, b, s) in enumerate(zip(ws, bs, net.scales)):
            w_eff = w * s if net.parametrisation == "ntk" else w
            z = torch.bmm(a, w_eff.transpose(1, 2)) + b.unsqueeze(1)
            if layer < net.depth:
                real = (net.masks[layer].amax(dim=2) > 0).unsqueeze(1)  # [E, 1, out]
                zs.append(torch.where(real, z, torch.full_like(z, -math.inf)).amax(dim=2))
                a = torch.relu(z)
        f = z.squeeze(-1)
        if offset is not None:
            f = f - offset.to(device=net.device, dtype=net.dtype)
        unsat = (kappa - y * f) > 0
        n_dead = (unsat & (zs[-1] <= 0)).sum(dim=1)
        c = f - f.detach()  # zeros, the offset's share below
        if offset is not None:
            c = -offset.to(device=net.device, dtype=net.dtype)
        inf = torch.full_like(c, math.inf)
        layer_of = torch.full((E,), -1, dtype=torch.long, device=net.device)
        gap = torch.full((E,), math.nan, dtype=net.dtype, device=net.device)
        for layer in range(net.depth - 1, -1, -1):  # the first (lowest) certifying layer wins
            group = zs[layer] <= -gap_tol
            lower = torch.where(group & (y > 0), kappa - c, -inf).amax(dim=1)
            upper = torch.where(group & (y < 0), -kappa - c, inf).amin(dim=1)
            ok = lower > upper
            layer_of = torch.where(ok, torch.full_like(layer_of, layer), layer_of)
            gap = torch.where(ok, torch.where(group, -zs[layer], inf).amin(dim=1), gap)
    certified = layer_of >= 0
    return {
        "n_dead": n_dead.tolist(),
        "layer": layer_of.tolist(),
        "gap": gap.tolist(),  # smallest -z over the certifying group (how far from a kink)
        "certified": certified.tolist(),
    }


def copy_rows(dst: StackedFC, src: StackedFC, index: list[int]) -> None:
    """dst's nets ``index`` take src's parameters (src holds exactly those nets, maybe narrower)."""
    idx = torch.as_tensor(index, device=dst.device)
    with torch.no_grad():
        for p, q in zip(dst.parameters(), src.parameters()):
            p[idx] = 0.0
            key: tuple[Any, ...] = (idx, *(slice(0, n) for n in q.shape[1:]))
            p[key] = q


def _adam_burst(net: StackedFC, x, y, cfg: MinimiserConfig, offset) -> None:
    from .train import EnsembleTrainer, OptimConfig

    opt = OptimConfig(lr=cfg.escape_lr, max_steps=cfg.escape_steps, kappa=cfg.kappa)
    EnsembleTrainer(net, x, y, opt, offset).run()

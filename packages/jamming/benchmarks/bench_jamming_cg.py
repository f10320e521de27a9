"""One Levenberg-Marquardt linear solve: Gram + Cholesky against conjugate gradients (CGLS).

The damped Gauss-Newton system of the minimiser, (J_A^T J_A + lambda D) delta = -J_A^T r_A with
D = diag(J_A^T J_A) clamped at 1e-12 of its max, is taken for E stacked StackedFC nets (random
data, d = 10, n_p ~ ``--ratio`` P parameters) on their active set after ``--adam-steps`` Adam
steps, at lambda = 1e-3 and 1. Rows, in one process on the same system:

* ``(a) Gram + Cholesky``: explicit J, A = J^T J (2 n n_p^2 flops), the minimiser's own
  ``_damped_step`` (the anchor, ratio 1);
* ``(b) CG, explicit J``: explicit J, :func:`cg_damped_step` with bmm products;
* ``(c) CG, jvp/vjp``: J never formed, :func:`functional_operators` (linearized jvp, replayed vjp);
* ``(d)``, ``(e) CG, jvp/vjp, tol=..., <= k it``: (c) stopped at ``--inexact-tol`` or after k
  iterations (``--inexact-iters``, default 50 and 150), whichever comes first: an inexact LM step
  on a fixed budget.

Each method's time and peak memory include forming what it needs (the Jacobian for (a) and (b),
the traced operators for (c) and (d)); ``speedup`` is (a)'s time over the row's. Peak memory is
the increase of the bytes held by malloc (glibc's ``mallinfo2``: heap in use plus mmapped
blocks, where torch's CPU tensors live) over the call, sampled every 2 ms by a thread (torch
releases the GIL in its kernels; a tensor living < 2 ms can be missed); the resident set, which
glibc's reuse of freed pages hides, where ``mallinfo2`` is missing; on CUDA torch's peak
allocation. ``step_rel_diff`` is |delta - delta_a| /
|delta_a| (worst net); ``model_frac`` is the fraction of (a)'s decrease of the damped model
1/2 |r + J delta|^2 + lambda/2 delta^T D delta that the step achieves (worst net), the quantity
LM's gain ratio depends on. Threads: ``--threads`` (default 1).

    python packages/jamming/benchmarks/bench_jamming_cg.py [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dltheory.core.bench import environment, write_bench
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.linsolve import cg_damped_step, explicit_operators, functional_operators
from dltheory.jamming.minimiser import StackedAdaptor, _damped_step
from dltheory.jamming.models import NetSpec, StackedFC, width_for_count
from dltheory.jamming.train import EnsembleTrainer, OptimConfig

_MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2_FIELDS.split()]


def _malloc_probe() -> Callable[[], int]:
    """Bytes held by malloc now (glibc mallinfo2), else the resident set (/proc/self/statm)."""
    try:
        fn = ctypes.CDLL("libc.so.6").mallinfo2
        fn.restype = _MallInfo2

        def held() -> int:
            info = fn()
            return int(info.uordblks + info.hblkhd)

        held()
        return held
    except (OSError, AttributeError):

        def rss() -> int:
            with open("/proc/self/statm", encoding="ascii") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

        return rss


class PeakMemory:
    """Peak memory increase (MiB) over a block: CUDA's allocator counter, or malloc's bytes in
    use sampled by a thread (see the module docstring)."""

    probe: Callable[[], int] | None = None

    def __init__(self, device: torch.device):
        self.device = device
        self.peak_mb: float | None = None
        if PeakMemory.probe is None:
            PeakMemory.probe = _malloc_probe()
        self._held = PeakMemory.probe

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = torch.cuda.memory_allocated()
            return self
        self._stop = threading.Event()
        self._base = self._peak = self._held()

        def poll() -> None:
            while not self._stop.is_set():
                self._peak = max(self._peak, self._held())
                time.sleep(0.002)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.peak_mb = (torch.cuda.max_memory_allocated() - self._base) / 2**20
            return
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, self._held())
        self.peak_mb = (self._peak - self._base) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float, float | None]:
    """(result, seconds, peak MiB) of one call."""
    _sync(device)
    with PeakMemory(device) as mem:
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        seconds = time.perf_counter() - t0
    return out, seconds, mem.peak_mb


def system(P: int, depth: int, args, device: torch.device) -> dict[str, Any]:
    """The damped system of E nets after a few hundred Adam steps, on their active sets."""
    d = args.d
    data = random_gaussian(P, d, 10, seed=0)
    h = width_for_count(args.ratio * P, d, depth)
    net = StackedFC(d, [NetSpec(h, s) for s in range(args.nets)], depth, device=device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    t0 = time.perf_counter()
    EnsembleTrainer(net, x, y, OptimConfig(lr=1e-2, max_steps=args.adam_steps)).run()
    adam_s = time.perf_counter() - t0
    adaptor = StackedAdaptor(net)
    theta, rows = adaptor.get(), torch.arange(args.nets, device=device)
    with torch.no_grad():
        resid = 1.0 - y * adaptor.forward(x, theta, rows)  # kappa = 1
    active = resid > 0
    cols = torch.nonzero(active.any(dim=0)).flatten()  # points active for some net
    weights = -y[cols] * active[:, cols]  # residual Jacobian = -y df/dtheta on the active set
    with torch.no_grad():
        jr = weights.unsqueeze(2) * adaptor.jacobian(x[cols], theta, rows)
    diag = jr.pow(2).sum(dim=1)  # Marquardt scaling, as in levenberg_marquardt
    D = torch.maximum(diag, 1e-12 * diag.amax(dim=1, keepdim=True).clamp_min(1e-300))
    del jr
    return {
        "adaptor": adaptor,
        "x": x[cols],
        "theta": theta,
        "rows": rows,
        "weights": weights,
        "r": torch.relu(resid[:, cols]),
        "D": D,
        "n_p": theta.shape[1],
        "n": len(cols),
        "n_active": active.sum(dim=1).tolist(),
        "adam_s": adam_s,
    }


def methods(s: dict[str, Any], lam: torch.Tensor, args) -> dict[str, Callable[[], Any]]:
    ad, x, theta, rows, w, r, D = (
        s[k] for k in ("adaptor", "x", "theta", "rows", "weights", "r", "D")
    )

    def jacobian() -> torch.Tensor:
        with torch.no_grad():
            return w.unsqueeze(2) * ad.jacobian(x, theta, rows)

    def gram():
        jr = jacobian()
        g = torch.bmm(jr.transpose(1, 2), r.unsqueeze(2)).squeeze(2)
        A = torch.bmm(jr.transpose(1, 2), jr)
        return _damped_step(jr, r, g, A, D, lam), None

    def cg_explicit():
        mv, mvt = explicit_operators(jacobian())
        return cg_damped_step(mv, mvt, r, D, lam, tol=args.tol, max_iter=args.max_iter)

    def cg_functional(tol: float, opts=args) -> Callable[[], Any]:
        def run():
            mv, mvt = functional_operators(ad, x, theta, rows, w)
            return cg_damped_step(mv, mvt, r, D, lam, tol=tol, max_iter=opts.max_iter)

        return run

    out = {
        "(a) Gram + Cholesky": gram,
        "(b) CG, explicit J": cg_explicit,
        "(c) CG, jvp/vjp": cg_functional(args.tol),
    }
    for label, cap in zip("defgh", (int(v) for v in args.inexact_iters.split(",") if v)):
        budget = argparse.Namespace(max_iter=cap)
        name = f"({label}) CG, jvp/vjp, tol={args.inexact_tol:g}, <= {cap} it"
        out[name] = cg_functional(args.inexact_tol, budget)
    return out


def damped_model(s: dict[str, Any], delta: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """1/2 |r + J delta|^2 + lambda/2 delta^T D delta per net (J delta by a plain jvp)."""
    mv, _ = functional_operators(
        s["adaptor"], s["x"], s["theta"], s["rows"], s["weights"], linearize=False
    )
    res = s["r"] + mv(delta)
    return 0.5 * res.pow(2).sum(1) + 0.5 * lam * (s["D"] * delta.pow(2)).sum(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--P", default="2000,8000", help="training set sizes")
    parser.add_argument("--depths", default="2,5")
    parser.add_argument("--lams", default="1e-3,1")
    parser.add_argument("--nets", type=int, default=2)
    parser.add_argument("--d", type=int, default=10)
    parser.add_argument("--ratio", type=float, default=0.4, help="weights N / P")
    parser.add_argument("--adam-steps", type=int, default=200)
    parser.add_argument("--tol", type=float, default=1e-10)
    parser.add_argument("--inexact-tol", type=float, default=1e-3, help="tolerance of row (d)")
    parser.add_argument(
        "--inexact-iters", default="50,150", help="iteration caps of rows (d), (e); '' skips"
    )
    parser.add_argument("--max-iter", type=int, default=None, help="default min(n_p, 500)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke run")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "local-bench_jamming_cg.json",
    )
    args = parser.parse_args()
    if args.quick:
        args.P, args.depths, args.adam_steps = "300", "2", 50
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    env = environment()
    print(f"threads={env['threads']} torch={env['torch']} commit={env['commit']}", flush=True)
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    # warm-up: first calls of each code path (torch.func import and tracing, allocator) on a
    # tiny system, so that the timed calls below measure the solves
    warm = argparse.Namespace(**{**vars(args), "adam_steps": 5, "max_iter": 5})
    tiny = system(100, 2, warm, device)
    for fn in methods(
        tiny, torch.ones(args.nets, dtype=torch.float64, device=device), warm
    ).values():
        fn()
    for P in (int(p) for p in args.P.split(",")):
        for depth in (int(v) for v in args.depths.split(",")):
            s = system(P, depth, args, device)
            for lam_value in (float(v) for v in args.lams.split(",")):
                lam = torch.full((args.nets,), lam_value, dtype=torch.float64, device=device)
                ref = None
                phi0 = 0.5 * s["r"].pow(2).sum(1)
                for name, fn in methods(s, lam, args).items():
                    (delta, info), seconds, peak = measure(fn, device)
                    if ref is None:
                        ref, anchor = delta, seconds
                        phi_ref = damped_model(s, ref, lam)
                    diff = (delta - ref).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-300)
                    frac = (phi0 - damped_model(s, delta, lam)) / (phi0 - phi_ref)
                    row = {
                        "P": P,
                        "L": depth,
                        "n_p": s["n_p"],
                        "n": s["n"],
                        "lambda": lam_value,
                        "method": name,
                        "seconds": round(seconds, 3),
                        "speedup": round(anchor / seconds, 2),
                        "peak_mb": None if peak is None else round(peak, 1),
                        "cg_iters": "" if info is None else info.iterations.tolist(),
                        "rel_residual": "" if info is None else f"{float(info.residual.max()):.1e}",
                        "step_rel_diff": f"{float(diff.max()):.1e}",
                        "model_frac": round(float(frac.min()), 6),
                    }
                    rows.append(row)
                    print(row, flush=True)
            rows[-1]["note"] = f"n_active={s['n_active']}, adam {s['adam_s']:.2f} s"
            del s
    print(f"total {time.perf_counter() - t_start:.0f} s")
    for r in rows:
        r["threads"] = args.threads
    title = (
        f"jamming: one LM solve, Gram + Cholesky vs CG (threads={env['threads']}, "
        f"torch {env['torch']}, commit {env['commit']})"
    )
    print(write_bench(rows, args.out, title=title))


if __name__ == "__main__":
    main()

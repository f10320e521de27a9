"""The jamming point N*(P) and the phase diagram (arXiv:1809.09349 fig. 1, ``transition.py``).

At fixed P the nets are trained at widths on a descending geometric grid of N (from
``max_factor * P`` down to ``min_factor * P``), all in one batched ensemble, and a bisection on the
fractional width then narrows the bracket. N* is the bracket's midpoint.

One definition of N* serves ``nstar``, ``phase`` and ``scaling`` (:func:`decide_width`): N* is the
smallest N at which the nets reach SAT (N_Delta = 0) at a converged minimum, with a seed rule
(``any``, as in ``feature_lazy/exp/jamming.py``, or ``majority``). A width is UNSAT only when its
nets reached a converged minimum with loss > 0 (optimizer ``lm``); a first-order run stopped by
its step cap leaves it undecided, which the search treats as not SAT and reports
(``low_decision``, ``n_undecided``). The authors' rule (SAT when N_Delta <= 0.1 N at the cap,
``nips2018.md``) stays available as ``sat_criterion="authors"``.
"""

from __future__ import annotations

import math
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np

from dltheory.core.errors import ConfigError

from .config import NStarConfig, PhaseConfig
from .data import BinaryDataset
from .ensembles import (
    config_from_dict,
    load_data,
    resolve_torch_device,
    train_widths,
)
from .models import count_weights, distinct_widths, width_for_count

SAT_RULES = ("any", "majority")


SAT_CRITERIA = ("exact", "authors")
SEARCHES = ("grid", "descend")


def net_is_sat(record: dict, criterion: str = "exact", unsat_fraction: float = 0.1) -> bool | None:
    """One network: True (SAT), False (UNSAT) or None (undecided).

    ``exact``: SAT when N_Delta = 0 was reached, UNSAT only at a converged minimum with loss > 0
    (outcome ``unsat`` of the minimiser); a run stopped by a step cap is undecided, and so is a
    dead-unit trap (a stationary point whose unsatisfied points all have every last-layer unit
    off, so that only the output bias sees them: not a jamming minimum, whose N_Delta live
    constraints hold the loss up), unless the trap is certified unsatisfiable (``trap_unsat``:
    the points dead at one hidden layer, every unit off with a gap, share one output and their
    labels cannot all be met by it, so no weights near the minimum fit them;
    :func:`minimiser.dead_trap_certificate`).
    ``authors``: SAT when N_Delta <= unsat_fraction * N at the end of training (arXiv:1809.09349's
    "lower h until N_Delta > 0.1 N"), UNSAT otherwise.
    """
    if criterion == "authors":
        return record["n_delta"] <= unsat_fraction * record["n_params"]
    if criterion != "exact":
        raise ConfigError(
            f"unknown sat_criterion {criterion!r}; choose one of {', '.join(SAT_CRITERIA)}"
        )
    outcome = record.get("outcome", "sat" if record.get("fitted") else "unconverged")
    if outcome == "unsat" and record.get("n_dead", 0) >= record["n_delta"] > 0:
        # a dead-unit trap: every unsatisfied point sees only the output bias; UNSAT only when
        # certified (minimiser.dead_trap_certificate: the points dead at one layer, off with a
        # gap, share one output that cannot satisfy all their labels)
        return False if record.get("trap_unsat", False) else None
    return True if outcome == "sat" else (False if outcome == "unsat" else None)


def decide_width(
    records: list[dict], rule: str = "any", criterion: str = "exact", unsat_fraction: float = 0.1
) -> str:
    """The one N* decision for the nets of one width: ``sat``, ``unsat`` or ``undecided``.

    Rule ``any``: SAT when some seed is SAT, UNSAT when every seed is UNSAT. ``majority``: SAT
    when more than half are SAT, UNSAT when at least half are UNSAT. Otherwise undecided (some
    nets neither fitted nor reached a converged minimum).
    """
    if rule not in SAT_RULES:
        raise ConfigError(f"unknown sat_rule {rule!r}; choose one of {', '.join(SAT_RULES)}")
    states = [net_is_sat(r, criterion, unsat_fraction) for r in records]
    n_sat, n_unsat = sum(s is True for s in states), sum(s is False for s in states)
    if rule == "any":
        return "sat" if n_sat else ("unsat" if n_unsat == len(states) else "undecided")
    if 2 * n_sat > len(states):
        return "sat"
    return "unsat" if 2 * n_unsat >= len(states) else "undecided"


def _is_sat(records: list[dict], cfg) -> bool:
    return decide_width(records, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction) == "sat"


def width_grid(cfg: NStarConfig, d: int) -> list[float]:
    """Distinct fractional widths for N on a geometric grid, largest first."""
    P = cfg.n_train
    if not 0 < cfg.min_factor < cfg.max_factor:
        raise ConfigError("need 0 < min_factor < max_factor for the N* grid")
    targets = np.geomspace(cfg.max_factor * P, cfg.min_factor * P, cfg.n_grid)
    return distinct_widths(targets, d, cfg.depth)


def _decide_one_width(cfg, data, h: float, device, stop: bool) -> list[dict]:
    """Train and decide the nets of one width, with a progress line (stderr): a search runs for
    minutes."""
    t0 = time.perf_counter()
    label = f"N* search P={cfg.n_train} L={cfg.depth}: N={count_weights(data.dim, h, cfg.depth)}"
    _, _, records = train_widths(cfg, data, [h], device, stop_on_sat=stop, progress_label=label)
    outcomes = ", ".join(
        f"{r['outcome']}{'/' + r['unconverged_reason'] if r.get('unconverged_reason') else ''} "
        f"N_Delta={r['n_delta']}"
        for r in records
    )
    decision = decide_width(records, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction)
    print(
        f"N* search P={cfg.n_train} L={cfg.depth}: N={records[0]['n_params']} {decision} "
        f"[{outcomes}] {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )
    return records


def _width_job(cfg, data, h: float, stop: bool) -> list[dict]:
    """One width in a worker process (spawned: it sets its own threads and device)."""
    from dltheory.core.threads import configure_threads

    configure_threads(cfg.threads)
    return _decide_one_width(cfg, data, h, resolve_torch_device(cfg.device), stop)


DecidedHook = Callable[[int, list[dict]], None]


class _WidthDecider:
    """Decides widths once each: from ``decided`` (N -> records, a resumed search's widths), else
    by training them, one after another or ``cfg.width_workers`` at a time in processes.
    ``on_decided(N, records)`` sees every newly decided width as soon as it is done."""

    def __init__(self, cfg, data, device, stop: bool, decided, on_decided) -> None:
        self.cfg, self.data, self.device, self.stop = cfg, data, device, stop
        self.decided: dict[int, list[dict]] = decided if decided is not None else {}
        self.on_decided = on_decided

    def count(self, h: float) -> int:
        return count_weights(self.data.dim, h, self.cfg.depth)

    def record(self, h: float, records: list[dict]) -> None:
        """Keep a newly decided width and pass it to ``on_decided``."""
        n_params = self.count(h)
        self.decided[n_params] = records
        if self.on_decided is not None:
            self.on_decided(n_params, records)

    def __call__(self, widths: list[float]) -> list[list[dict]]:
        todo = [h for h in widths if self.count(h) not in self.decided]
        workers = min(self.cfg.width_workers, len(todo))
        if workers <= 1:
            for h in todo:
                self.record(h, _decide_one_width(self.cfg, self.data, h, self.device, self.stop))
        else:
            context = multiprocessing.get_context("spawn")  # fork is unsafe under torch threads
            with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
                jobs = {pool.submit(_width_job, self.cfg, self.data, h, self.stop): h for h in todo}
                for job in as_completed(jobs):
                    self.record(jobs[job], job.result())
        return [self.decided[self.count(h)] for h in widths]


def _split_bracket(d: int, depth: int, h_lo: float, h_hi: float, parts: int) -> list[float]:
    """Widths at ``parts - 1`` equally spaced counts strictly inside (N(h_lo), N(h_hi)),
    largest first (parts = 2: the bisection midpoint)."""
    c_lo, c_hi = count_weights(d, h_lo, depth), count_weights(d, h_hi, depth)
    inside: dict[int, float] = {}
    for k in range(parts - 1, 0, -1):
        h = width_for_count(c_lo + (c_hi - c_lo) * k / parts, d, depth)
        n = count_weights(d, h, depth)
        if c_lo < n < c_hi:
            inside.setdefault(n, h)
    return list(inside.values())


def find_nstar(
    cfg: NStarConfig,
    data: BinaryDataset | None = None,
    decided: dict[int, list[dict]] | None = None,
    on_decided: DecidedHook | None = None,
) -> dict:
    """Search N* at fixed P; returns N*, its bracket, N*/P and one record per trained network.

    ``decided`` (N -> the records of that width) holds widths decided earlier, which are not
    trained again (a resumed search); ``on_decided(N, records)`` is called for each newly
    decided width (to save it)."""
    t_start = time.perf_counter()
    data = load_data(cfg) if data is None else data
    device = resolve_torch_device(cfg.device)
    d, P = data.dim, cfg.n_train
    widths = width_grid(cfg, d)
    if cfg.search not in SEARCHES:
        raise ConfigError(f"unknown search {cfg.search!r}; choose one of {', '.join(SEARCHES)}")
    if cfg.width_workers < 1:
        raise ConfigError("width_workers must be >= 1")
    # rule any: a width is SAT at its first SAT seed, the other seeds need not be decided
    lazy = cfg.search == "descend"
    stop = lazy and cfg.sat_rule == "any" and cfg.stop_early
    decide = _WidthDecider(cfg, data, device, stop, decided, on_decided)
    sat: dict[float, bool] = {}
    records: list[dict] = []
    rounds = cfg.n_bisect
    first_round: list[tuple[float, list[dict]]] = []  # a bisection round decided while descending
    if lazy:
        # the search only needs the widths down to the first one that is not SAT: the ones
        # below it (the costly UNSAT side, where the minimiser runs to its caps) are skipped
        W, i = cfg.width_workers, 0
        while i < len(widths):
            h = widths[i]
            if W > 1 and i > 0 and rounds > 0:
                # W workers below a SAT grid width: the next grid width and W - 1 widths in the gap
                # above it, which are the first bisection round should that width not be SAT
                # (else they are spent on the cheap SAT side, instead of a costly width below)
                inside = _split_bracket(d, cfg.depth, h, widths[i - 1], W)
                batch, grid_part = [h, *inside], [h]
            else:
                inside, batch = [], widths[i : i + W]
                grid_part = batch
            by_width = dict(zip(batch, decide(batch)))
            for g in batch:
                records += by_width[g]
            for g in grid_part:
                sat[g] = _is_sat(by_width[g], cfg)
            if not all(sat[g] for g in grid_part):
                if inside:  # then grid_part is [h] alone, and h is not SAT
                    first_round = [(g, by_width[g]) for g in inside]
                    rounds -= 1
                break
            i += len(grid_part)
    else:
        todo = [h for h in widths if decide.count(h) not in decide.decided]
        if todo:
            _, _, trained = train_widths(cfg, data, todo, device)
            for h in todo:
                decide.record(h, [r for r in trained if r["h"] == h])
        for h, rec in zip(widths, decide(widths)):
            records += rec
            sat[h] = _is_sat(rec, cfg)
    h_hi: float | None = None
    h_lo: float | None = None
    for h in widths:  # descending: the last SAT width before the first UNSAT one
        if h not in sat:
            break
        if sat[h]:
            h_hi = h
        else:
            h_lo = h
            break
    for h, rec in first_round:  # largest first, as in a bisection round below
        if _is_sat(rec, cfg):
            h_hi = h
        else:
            h_lo = h
            break
    for _ in range(rounds if (h_hi is not None and h_lo is not None) else 0):
        assert h_lo is not None
        assert h_hi is not None
        inside = _split_bracket(d, cfg.depth, h_lo, h_hi, cfg.width_workers + 1)
        if not inside:
            break
        round_records = decide(inside)
        for rec in round_records:  # every width decided, also those below a non-SAT one
            records += rec
        for h, rec in zip(inside, round_records):  # largest first, as on the grid
            if _is_sat(rec, cfg):
                h_hi = h
            else:
                h_lo = h
                break
    n_hi = float(count_weights(d, h_hi, cfg.depth)) if h_hi is not None else math.nan
    n_lo = float(count_weights(d, h_lo, cfg.depth)) if h_lo is not None else math.nan
    if h_hi is None:
        status = "above_grid"  # even the largest width failed: N* > max_factor * P
    elif h_lo is None:
        status = "below_grid"  # every width fitted: N* < min_factor * P
    else:
        status = "bracketed"
    n_star = 0.5 * (n_lo + n_hi) if status == "bracketed" else math.nan
    decisions = {}
    for h in sorted({r["h"] for r in records}, reverse=True):
        rec = [r for r in records if r["h"] == h]
        decisions[rec[0]["n_params"]] = decide_width(
            rec, cfg.sat_rule, cfg.sat_criterion, cfg.unsat_fraction
        )
    return {
        "n_train": P,
        "d": d,
        "depth": cfg.depth,
        "status": status,
        "n_star": n_star,
        "n_star_low": n_lo,
        "n_star_high": n_hi,
        "n_star_over_p": n_star / P,
        # the width at N* (fig. 1A takes d = h: compare with "d")
        "h_star": width_for_count(n_star, d, cfg.depth) if math.isfinite(n_star) else math.nan,
        # the bracket's lower end is a certified UNSAT width, or only undecided (a step cap)
        "low_decision": decisions.get(n_lo, "none") if h_lo is not None else "none",
        "n_undecided": sum(v == "undecided" for v in decisions.values()),
        "decisions": decisions,
        "search": cfg.search,
        "seconds": round(time.perf_counter() - t_start, 2),
        "records": records,
    }


def nstar_job(values: dict) -> dict:
    """Sweep entry point: one N* search from a flat config dict (picklable)."""
    import torch

    torch.set_num_threads(1)
    return find_nstar(config_from_dict(NStarConfig, values))


def phase_diagram(cfg: PhaseConfig) -> list[dict]:
    """N*(P) for every P in ``train_sizes``, one sweep job per P (core.sweep executors)."""
    from dataclasses import asdict

    from dltheory.core.sweep import grid, run_sweep

    sizes = cfg.train_sizes or [100, 200, 400]
    base = {
        k: v
        for k, v in asdict(cfg).items()
        if k not in ("train_sizes", "dims", "executor", "max_workers")
    }
    if cfg.dims is None:
        configs = grid(base, n_train=sizes)
    elif len(cfg.dims) != len(sizes):
        raise ConfigError(
            f"--dims needs one input dimension per P: got {len(cfg.dims)} for {len(sizes)} P values"
        )
    else:
        configs = [{**base, "n_train": P, "d": d} for P, d in zip(sizes, cfg.dims)]
    rows = run_sweep(
        nstar_job,
        configs,
        executor=cfg.executor,
        max_workers=cfg.max_workers,
        description="N* search",
    )
    return [
        {
            k: row[k]
            for k in (
                "n_train",
                "d",
                "depth",
                "status",
                "n_star",
                "n_star_low",
                "n_star_high",
                "n_star_over_p",
                "h_star",
                "low_decision",
                "n_undecided",
                "records",
            )
        }
        for row in rows
    ]

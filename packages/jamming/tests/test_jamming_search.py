"""The fast N* search: the hinge step with its low-rank Gram updates against a direct convex
minimisation, the any-seed early stop, and the descending search against the full grid."""

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from dltheory.core.errors import ConfigError
from dltheory.jamming.config import NStarConfig
from dltheory.jamming.data import random_gaussian
from dltheory.jamming.ensembles import train_widths
from dltheory.jamming.minimiser import MinimiserConfig, _hinge_step, minimise_ensemble
from dltheory.jamming.models import NetSpec, StackedFC, count_weights
from dltheory.jamming.nstar import decide_width, find_nstar, net_is_sat, width_grid


def test_hinge_step_equals_the_direct_minimum_of_the_hinge_model():
    """argmin 1/2 sum max(0, r + J d)^2 + lambda/2 d^T D d (convex), by BFGS in float64."""
    gen = torch.Generator().manual_seed(0)
    E, n, n_p = 3, 50, 7  # more points than parameters: the normal equations and their updates
    jr = torch.randn(E, n, n_p, generator=gen, dtype=torch.float64)
    rc = 0.3 * torch.randn(E, n, generator=gen, dtype=torch.float64)  # points on both sides
    D = (jr**2).sum(1)
    lam = torch.tensor([1e-3, 0.1, 1.0], dtype=torch.float64)
    step = _hinge_step(jr, rc, D, lam, n_inner=50)
    changed = 0
    for e in range(E):
        J, r, De, le = jr[e].numpy(), rc[e].numpy(), D[e].numpy(), float(lam[e])

        def fun(d, J=J, r=r, De=De, le=le):
            res = np.maximum(0.0, r + J @ d)
            return 0.5 * res @ res + 0.5 * le * d @ (De * d), J.T @ res + le * De * d

        ref = minimize(fun, np.zeros(n_p), jac=True, method="BFGS", options={"gtol": 1e-12})
        np.testing.assert_allclose(step[e].numpy(), ref.x, atol=1e-6)
        changed += int(((r > 0) != (r + J @ ref.x > 0)).sum())
    assert changed > 0  # the active set moved: the low-rank Gram update was exercised


def test_stop_on_first_sat_leaves_the_other_nets_undecided():
    ds = random_gaussian(30, 4, 2, seed=1)
    specs = [NetSpec(12.0, s) for s in range(3)]
    net = StackedFC(4, specs, depth=2)
    cfg = MinimiserConfig(max_iter=400, stop_on_first_sat=True)
    res = minimise_ensemble(net, ds.x_train, ds.y_train, cfg)
    assert "sat" in res.outcome
    assert set(res.outcome) <= {"sat", "stopped"}
    with torch.no_grad():  # independent count of the returned nets' unsatisfied margins
        f = net.forward(ds.x_train)
    for e, o in enumerate(res.outcome):
        if o == "sat":
            assert int(((1.0 - ds.y_train * f[e]) > 0).sum()) == 0
    records = [
        {"outcome": o, "n_delta": n, "n_params": 100} for o, n in zip(res.outcome, res.n_delta)
    ]
    assert decide_width(records, "any") == "sat"
    assert net_is_sat({"outcome": "stopped", "n_delta": 3, "n_params": 100}) is None


def test_stop_on_sat_decides_one_width_at_a_time():
    cfg = NStarConfig(n_train=20, d=3, optimizer="lm")
    ds = random_gaussian(20, 3, 2)
    with pytest.raises(ConfigError, match="one width"):
        train_widths(cfg, ds, [3.0, 4.0], stop_on_sat=True)


def test_the_any_seed_rule_stops_the_first_order_phase_at_the_first_sat_net():
    """With stop_on_sat, Adam stops within a check interval of the first net that fits; without
    it, the others run on to the step cap. The width's decision is the same."""
    from dltheory.jamming.ensembles import STOP_CHECK_STEPS

    ds = random_gaussian(60, 5, 2, seed=4)
    cfg = NStarConfig(n_train=60, d=5, optimizer="lm", n_seeds=3, max_steps=4000, lr=3e-3)
    h = 9.0  # N = 135 > 2P: every seed fits, at different steps (1,498 to 2,542)
    _, _, both = train_widths(cfg, ds, [h])
    first = min(r["stop_step"] for r in both if r["stop_step"] >= 0)
    assert max(r["stop_step"] for r in both) > first + STOP_CHECK_STEPS  # a slower seed exists
    _, _, early = train_widths(cfg, ds, [h], stop_on_sat=True)
    steps = early[0]["steps_adam"]
    assert first <= steps <= first + STOP_CHECK_STEPS
    assert {r["outcome"] for r in early} == {"sat", "stopped"}
    assert decide_width(early, "any") == decide_width(both, "any") == "sat"


@pytest.mark.parametrize("stop_on_sat", [False, True])
def test_progress_lines_report_the_nets_without_changing_them(monkeypatch, capsys, stop_on_sat):
    """A width of a long search prints its step and N_Delta while it trains; the nets, steps and
    outcomes are those of a silent run."""
    from dltheory.jamming import ensembles

    ds = random_gaussian(60, 5, 2, seed=4)
    cfg = NStarConfig(n_train=60, d=5, optimizer="lm", n_seeds=2, max_steps=1500, lr=3e-3)
    h = 4.0  # N = 60 = P: not fitted within 1,500 steps, so the minimiser starts
    _, _, silent = train_widths(cfg, ds, [h], stop_on_sat=stop_on_sat)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(ensembles, "PROGRESS_SECONDS", 0.0)
    _, _, loud = train_widths(cfg, ds, [h], stop_on_sat=stop_on_sat, progress_label="width 60")
    lines = capsys.readouterr().err.splitlines()
    untimed = {"seconds_adam": 0, "seconds_lm": 0}
    for a, b in zip(silent, loud, strict=True):
        assert {**a, **untimed} == {**b, **untimed}
    steps = [line for line in lines if line.startswith("[width 60] ")]
    assert steps[0].startswith(f"[width 60] {ensembles.STOP_CHECK_STEPS}/1500 ")
    # the last line holds N_Delta at the cap: that of the same nets trained by Adam alone
    _, _, adam = train_widths(NStarConfig(**{**cfg.__dict__, "optimizer": "adam"}), ds, [h])
    assert all(r["outcome"] == "unconverged" for r in adam)
    assert all(r["unconverged_reason"] == "step_cap" for r in adam)
    at_cap = ",".join(str(r["n_delta"]) for r in adam)
    assert steps[-1].startswith("[width 60] 1500/1500 ")
    assert steps[-1].endswith(f"N_Delta={at_cap} fitted=0")
    assert any(line.startswith("width 60: Levenberg-Marquardt on 2 of 2 nets") for line in lines)


def test_descending_search_brackets_nstar_like_the_full_grid(small_search):
    common = {k: v for k, v in small_search.items() if k != "search"}
    full = find_nstar(NStarConfig(**common, search="grid"))
    lazy = find_nstar(NStarConfig(**common, search="descend"))
    assert full["status"] == lazy["status"] == "bracketed"
    assert (lazy["n_star_low"], lazy["n_star_high"]) == (full["n_star_low"], full["n_star_high"])
    # the descending search skips the grid widths below its first non-SAT one
    assert min(r["n_params"] for r in lazy["records"]) > min(r["n_params"] for r in full["records"])
    assert len(lazy["records"]) < len(full["records"])
    with pytest.raises(ConfigError, match="unknown search"):
        find_nstar(NStarConfig(**common, search="bogus"))


def _trap_net(hidden_bias: float, out_bias: float) -> StackedFC:
    """One hidden layer of 2 units with weights I and bias ``hidden_bias``: units off on the
    points with both coordinates below -hidden_bias; output weights 1, output bias ``out_bias``."""
    net = StackedFC(2, [NetSpec(2.0, 0)], depth=1)
    with torch.no_grad():
        net.weights[0][0] = torch.eye(2, dtype=torch.float64)
        net.biases[0][0] = hidden_bias
        net.weights[1][0] = 1.0
        net.biases[1][0] = out_bias
    return net


X_TRAP = torch.tensor([[-1.0, -2.0], [-3.0, -1.5], [-2.0, -2.5], [0.5, -1.0]], dtype=torch.float64)


def test_dead_trap_certificate_against_hand_cases():
    from dltheory.jamming.minimiser import dead_trap_certificate

    # hidden bias -0.5: z = x - 0.5, every unit off with a gap >= 1.5 on the first three points;
    # the 4th point has z = (0, -1.5): unit 0 sits on its kink, not dead with a gap
    net = _trap_net(hidden_bias=-0.5, out_bias=0.0)
    y_both = torch.tensor([1.0, -1.0, 1.0, 1.0], dtype=torch.float64)
    cert = dead_trap_certificate(net, X_TRAP[:3], y_both[:3])
    assert cert["n_dead"] == [3]  # f = 0: every point unsatisfied, every unit off
    assert cert["certified"] == [True]  # both labels share one output: no weights near fit them
    assert cert["layer"] == [0]
    assert cert["gap"][0] == pytest.approx(1.5)  # -max z on x = (-1, -2): z = (-1.5, -2.5)
    # one label only: an output bias b >= 1 satisfies every dead point: not certified
    ones = torch.ones(3, dtype=torch.float64)
    assert dead_trap_certificate(net, X_TRAP[:3], ones)["certified"] == [False]
    # a live point beside them does not lift the certificate (the dead ones still clash)
    assert dead_trap_certificate(net, X_TRAP, y_both)["certified"] == [True]
    # hidden bias 1: z = x + 1 = (0, -1) on the first point (a kink: a small move revives it),
    # the other two are dead with a gap but share the label -1: not certified
    net0 = _trap_net(hidden_bias=1.0, out_bias=0.0)
    y_kink = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)
    assert dead_trap_certificate(net0, X_TRAP[:3], y_kink)["certified"] == [False]
    # ...whereas counting the kink point as dead (no gap required) would have "certified" it
    assert dead_trap_certificate(net0, X_TRAP[:3], y_kink, gap_tol=-1e-12)["certified"] == [True]
    # with an offset (f = f_w - f_w0), c = -offset: dead points of both labels become feasible
    # when their offsets separate them: F >= 1 - 0 and F <= -1 - (-5)
    off = torch.tensor([[0.0, 5.0, 0.0]], dtype=torch.float64)
    assert dead_trap_certificate(net, X_TRAP[:3], y_both[:3], offset=off)["certified"] == [False]


def test_certified_trap_survives_small_perturbations():
    """Independent check: random moves of every weight smaller than the gap never fit the dead
    points (their outputs all equal the output bias, and labels differ)."""
    from dltheory.jamming.minimiser import dead_trap_certificate

    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    net = _trap_net(hidden_bias=-0.5, out_bias=0.3)
    assert dead_trap_certificate(net, X_TRAP[:3], y)["certified"] == [True]
    gen = torch.Generator().manual_seed(0)
    base = [p.clone() for p in net.parameters()]
    for _ in range(200):
        with torch.no_grad():
            for p, b in zip(net.parameters(), base):
                p.copy_(b + 0.05 * torch.randn(b.shape, generator=gen, dtype=b.dtype))
            f = net.forward(X_TRAP[:3])[0]
        assert int(((1.0 - y * f) > 0).sum()) > 0
        assert float(f.max() - f.min()) < 1e-12  # the dead points see the output bias alone


def test_phase_diagram_takes_one_input_dimension_per_p():
    """--dims gives each P its own d (fig. 1A's d = h near N*); a count mismatch is refused."""
    from dltheory.core.errors import ConfigError
    from dltheory.jamming.config import PhaseConfig
    from dltheory.jamming.nstar import phase_diagram

    tiny = dict(
        n_seeds=1, n_grid=3, max_factor=2.0, min_factor=0.3, n_bisect=0, optimizer="adam",
        sat_criterion="authors", max_steps=50, executor="serial", threads=1,
    )  # fmt: skip
    rows = phase_diagram(PhaseConfig(train_sizes=[30, 40], dims=[3, 5], **tiny))
    assert [(r["n_train"], r["d"]) for r in rows] == [(30, 3), (40, 5)]
    with pytest.raises(ConfigError, match="one input dimension per P"):
        phase_diagram(PhaseConfig(train_sizes=[30, 40], dims=[3], **tiny))


def test_a_resumed_search_trains_only_the_missing_widths_and_ends_like_a_fresh_one(
    monkeypatch, small_search
):
    import dltheory.jamming.nstar as nstar_module

    cfg = NStarConfig(**small_search)
    fresh = find_nstar(cfg)
    saved: dict[int, list[dict]] = {}

    class Interrupted(Exception):
        pass

    def save_then_stop(n_params, records):
        saved[n_params] = records
        if len(saved) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        find_nstar(cfg, on_decided=save_then_stop)
    trained = []
    real = nstar_module._decide_one_width

    def counting(cfg, data, h, device, stop):
        trained.append(h)
        return real(cfg, data, h, device, stop)

    monkeypatch.setattr(nstar_module, "_decide_one_width", counting)
    resumed = find_nstar(cfg, decided=dict(saved))
    assert len(trained) == len(fresh["decisions"]) - 2  # the two saved widths were not retrained
    assert resumed["decisions"] == fresh["decisions"]
    assert (resumed["n_star_low"], resumed["n_star_high"]) == (
        fresh["n_star_low"],
        fresh["n_star_high"],
    )


def test_split_bracket_is_the_bisection_midpoint_for_two_parts():
    from dltheory.jamming.models import count_weights, width_for_count
    from dltheory.jamming.nstar import _split_bracket

    d, depth, h_lo, h_hi = 10, 5, 12.0, 20.0
    c_lo, c_hi = count_weights(d, h_lo, depth), count_weights(d, h_hi, depth)
    (mid,) = _split_bracket(d, depth, h_lo, h_hi, 2)
    assert mid == width_for_count(0.5 * (c_lo + c_hi), d, depth)
    thirds = [count_weights(d, h, depth) for h in _split_bracket(d, depth, h_lo, h_hi, 3)]
    targets = [c_lo + (c_hi - c_lo) * k / 3 for k in (2, 1)]
    assert len(thirds) == 2
    # largest first; each the first realisable count at or above its third of the bracket
    for n, target, above in zip(thirds, targets, [c_hi, targets[0]]):
        assert target <= n < above
    # a bracket of adjacent counts has nothing inside it
    h_next = width_for_count(c_lo + 1, d, depth)
    assert _split_bracket(d, depth, h_lo, h_next, 4) == []


@pytest.mark.parametrize("threshold", [150, 410, 1000, 2300])
def test_parallel_descent_bisects_the_gap_above_while_it_descends(monkeypatch, threshold):
    """With a threshold oracle (SAT iff N >= threshold) in place of training: 2 workers bracket
    the threshold, in fewer rounds of decisions than one worker and never wider, and they never
    decide a grid width below the first non-SAT one (the costly side); the result reports every
    width decided."""
    from dltheory.jamming.nstar import _WidthDecider

    rounds: list[list[int]] = []

    def oracle(self, widths):
        rounds.append([self.count(h) for h in widths])
        for h in widths:
            outcome = "sat" if self.count(h) >= threshold else "unsat"
            rec = {"h": h, "seed": 0, "n_params": self.count(h), "outcome": outcome}
            self.decided[self.count(h)] = [{**rec, "n_delta": int(outcome == "unsat")}]
        return [self.decided[self.count(h)] for h in widths]

    monkeypatch.setattr(_WidthDecider, "__call__", oracle)
    ds = random_gaussian(1000, 10, 2)
    grid = {"n_train": 1000, "d": 10, "search": "descend", "n_grid": 6, "max_factor": 3.0}
    found = {}
    for workers in (1, 2):
        rounds.clear()
        cfg = NStarConfig(**grid, min_factor=0.1, n_bisect=3, width_workers=workers)
        res = find_nstar(cfg, ds)
        assert res["status"] == "bracketed"
        assert res["n_star_low"] < threshold <= res["n_star_high"]
        # every width decided is reported, also one below a non-SAT width of its round
        assert set(res["decisions"]) == {n for r in rounds for n in r}
        found[workers] = (res["n_star_high"] - res["n_star_low"], len(rounds))
    (gap1, rounds1), (gap2, rounds2) = found[1], found[2]
    assert gap2 <= gap1
    assert rounds2 < rounds1
    grid_n = [count_weights(10, h, cfg.depth) for h in width_grid(cfg, 10)]
    first_not_sat = max(n for n in grid_n if n < threshold)
    assert min(n for r in rounds for n in r) >= first_not_sat


def test_parallel_widths_decide_each_width_as_the_serial_search_does(small_search):
    """width_workers = 2: the widths run in spawned processes; every width both searches decide
    gets the same nets (same N_Delta) and decision, and the bracket is SAT above, not below."""
    # one thread here and in the workers: another thread count changes float reductions
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        serial = find_nstar(NStarConfig(**small_search, threads=1))
    finally:
        torch.set_num_threads(threads)
    parallel = find_nstar(NStarConfig(**small_search, threads=1, width_workers=2))
    common = set(serial["decisions"]) & set(parallel["decisions"])
    assert len(common) >= 3
    for n in common:
        assert parallel["decisions"][n] == serial["decisions"][n]
        n_delta = sorted(r["n_delta"] for r in serial["records"] if r["n_params"] == n)
        assert sorted(r["n_delta"] for r in parallel["records"] if r["n_params"] == n) == n_delta
    assert parallel["status"] == "bracketed"
    assert parallel["decisions"][int(parallel["n_star_high"])] == "sat"
    assert parallel["decisions"][int(parallel["n_star_low"])] != "sat"
    # three parts per round against two: the parallel bracket is no wider than the serial one
    # (up to the integer width counts)
    assert (
        parallel["n_star_high"] - parallel["n_star_low"]
        <= serial["n_star_high"] - serial["n_star_low"] + 2
    )

"""Claim measurements from hand-made rows (checked by hand), the claims' ids, the scales."""

import math

import pytest

from dltheory.core.errors import DltheoryError
from dltheory.jamming.claims import CLAIMS
from dltheory.jamming.reproduce import (
    measure_cusp,
    measure_ensemble_gain,
    measure_nstar_plateau,
    measure_sharpness,
    reproduce,
)

FIXED = {
    "jamming.nstar_over_p",
    "jamming.sharp_transition",
    "jamming.cusp",
    "jamming.fluctuations",
    "jamming.test_error_scaling",
    "jamming.norm_divergence",
    "jamming.ensemble_optimum",
}


def test_claim_ids():
    assert {c.id for c in CLAIMS} >= FIXED


def _search(P, lo, hi, records=()):
    return {
        "n_train": P,
        "status": "bracketed",
        "n_star": (lo + hi) / 2,
        "n_star_low": lo,
        "n_star_high": hi,
        "records": list(records),
    }


def test_nstar_plateau_mean_and_se():
    rows = [_search(100, 20, 40), _search(200, 50, 70), _search(400, 100, 140)]
    mean, se, used = measure_nstar_plateau(rows, top=2)
    assert [r["n_train"] for r in used] == [200, 400]
    assert mean == pytest.approx((0.3 + 0.3) / 2)
    # brackets: half-widths 10/200 and 20/400 = 0.05 each, /sqrt(3); no spread between the two
    assert se == pytest.approx(math.sqrt(2 * (0.05 / math.sqrt(3)) ** 2) / 2)


def test_sharpness_window():
    def rec(n, sat):
        return {"n_params": n, "outcome": "sat" if sat else "unsat"}

    a = _search(
        100,
        30,
        40,
        [
            rec(20, 0),
            rec(20, 0),
            rec(30, 0),
            rec(30, 0),
            rec(40, 1),
            rec(40, 0),
            rec(50, 1),
            rec(50, 1),
        ],
    )
    b = _search(200, 60, 80, [rec(60, 0), rec(60, 0), rec(80, 1), rec(80, 1)])
    mean, se = measure_sharpness([a, b])
    wa, wb = (50 - 30) / 35, (80 - 60) / 70
    assert mean == pytest.approx((wa + wb) / 2)
    assert se == pytest.approx(abs(wa - wb) / 2)


def _row(n, err, std, ens=0.1):
    return {"n_params": n, "test_error": err, "test_error_std": std, "ensemble_test_error": ens}


def test_cusp_and_ensemble_gain():
    rows = [_row(10, 0.30, 0.02), _row(40, 0.35, 0.04, 0.08), _row(160, 0.20, 0.02, 0.09)]
    diff, se, info = measure_cusp(rows, n_star=35.0, n_seeds=4)
    assert info == {"peak_N": 40, "neighbour_N": 10}
    assert diff == pytest.approx(0.05)
    assert se == pytest.approx(math.hypot(0.02, 0.01))
    gain, se, info = measure_ensemble_gain(rows, n_star=35.0, n_seeds=4, n_test=100)
    assert info == {"ensemble_N": 40, "single_N": 160}
    assert gain == pytest.approx(0.20 - 0.08)
    assert se == pytest.approx(math.hypot(0.01, math.sqrt(0.08 * 0.92 / 100)))


def test_paper_scale_is_refused(tmp_path, capsys):
    with pytest.raises(DltheoryError, match="cannot run here"):
        reproduce(tmp_path, scale="paper")
    assert "needs" in capsys.readouterr().out


@pytest.mark.slow
def test_quick_reproduce_measures_every_claim(tmp_path):
    import json

    reproduce(tmp_path, scale="quick", device="cpu")
    records = json.loads((tmp_path / "claims.json").read_text())
    assert {r["id"] for r in records} == {c.id for c in CLAIMS}
    verdicts = {r["id"]: r["verdict"] for r in records}
    for full_only in ("jamming.depth_independence", "jamming.mnist_nstar_over_p"):
        assert verdicts.pop(full_only) == "not-run"  # full-scale claims
    assert set(verdicts.values()) <= {"reproduced", "differs"}
    assert (tmp_path / "phase_diagram.png").exists()


def test_depth_spread():
    from dltheory.jamming.reproduce import measure_depth_spread

    rows = [_search(320, 90, 110), _search(320, 100, 120), _search(320, 80, 100)]
    value, se = measure_depth_spread(rows)
    assert value == pytest.approx((110 - 90) / 100)
    assert se == pytest.approx(math.hypot(10 / math.sqrt(3), 10 / math.sqrt(3)) / 100)


def test_depth_spread_needs_every_depth_bracketed():
    from dltheory.jamming.reproduce import measure_depth_spread

    rows = [_search(320, 90, 110), {**_search(320, 320, 330), "status": "above_grid"}]
    assert math.isnan(measure_depth_spread(rows)[0])

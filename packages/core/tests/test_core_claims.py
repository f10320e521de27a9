"""Claims: verdicts come from rules and measurements, never from a hand-written string."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from dltheory.core.claims import (
    RECORD_KEYS,
    Claim,
    ClaimBoard,
    ClaimError,
    above,
    below,
    ci_contains,
    interval,
    mean_and_se,
    read_claims,
    within,
)


def claim(rule, **kw):
    base = dict(
        id="x.y", paper="1234.56789", where="Fig. 1", statement="s", paper_value="v", rule=rule
    )
    return Claim(**{**base, **kw})


@pytest.mark.parametrize(
    ("rule", "value", "unc", "verdict"),
    [
        (within(0.3, rel=0.15), 0.33, None, "reproduced"),
        (within(0.3, rel=0.15), 0.44, None, "differs"),
        (within(0.3, rel=0.15, sigmas=2), 0.36, 0.01, "reproduced"),  # 0.06 <= 0.045 + 0.02
        (within(0.3, rel=0.15, sigmas=2), 0.36, 0.005, "differs"),  # 0.06 > 0.045 + 0.01
        (interval(0.06, 0.13), 0.1, None, "reproduced"),
        (interval(0.06, 0.13), 0.2, None, "differs"),
        (above(0.0, sigmas=2), 0.05, 0.02, "reproduced"),
        (above(0.0, sigmas=2), 0.03, 0.02, "differs"),  # a difference within its noise
        (below(0.0, sigmas=2), -0.05, 0.02, "reproduced"),
        (below(0.0, sigmas=2), -0.01, 0.02, "differs"),
        (ci_contains(-0.25), -0.3, (-0.42, -0.27), "differs"),
        (ci_contains(-0.25), -0.3, (-0.42, -0.2), "reproduced"),
        (within(1.0, rel=0.1), math.nan, None, "differs"),
    ],
)
def test_rules_judge_measurements(rule, value, unc, verdict):
    board = ClaimBoard([claim(rule)], "quick")
    record = board.measure("x.y", value, unc)
    assert record["verdict"] == verdict
    assert record["reason"]


def test_records_have_exactly_the_documented_keys_and_no_nan(tmp_path):
    board = ClaimBoard([claim(within(1.0, rel=0.1))], "full")
    board.measure("x.y", float("nan"), float("inf"), seeds=4)
    path = board.write(tmp_path)
    text = path.read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    (record,) = json.loads(text)
    assert tuple(record) == RECORD_KEYS
    assert record["measured"] is None
    assert record["scale"] == "full"
    assert read_claims(path) == [record]


def test_not_run_needs_a_reason():
    board = ClaimBoard([claim(above(0.0))], "quick")
    with pytest.raises(ClaimError, match="reason"):
        board.not_run("x.y", "  ")
    assert board.not_run("x.y", "no GPU")["verdict"] == "not-run"


def test_claims_above_the_scale_are_not_run_with_their_requirement(tmp_path):
    big = claim(above(0.0), id="x.big", min_scale="paper", requires="ImageNet and 8 GPUs")
    board = ClaimBoard([claim(above(0.0)), big], "quick")
    board.measure("x.y", 1.0, 0.1)
    records = {r["id"]: r for r in json.loads(board.write(tmp_path).read_text())}
    assert records["x.big"]["verdict"] == "not-run"
    assert "ImageNet and 8 GPUs" in records["x.big"]["reason"]


def test_a_claim_the_scale_should_measure_cannot_be_left_out(tmp_path):
    board = ClaimBoard([claim(above(0.0))], "quick")
    with pytest.raises(ClaimError, match=r"unmeasured: x\.y"):
        board.write(tmp_path)
    assert not (tmp_path / "claims.json").exists()


def test_declaration_errors():
    with pytest.raises(ClaimError, match="requires"):
        claim(above(0.0), min_scale="full")
    with pytest.raises(ClaimError, match="duplicate"):
        ClaimBoard([claim(above(0.0)), claim(above(0.0))], "quick")
    with pytest.raises(ClaimError, match="unknown claim id"):
        ClaimBoard([claim(above(0.0))], "quick").measure("nope", 1.0)
    with pytest.raises(ClaimError, match="low <= high"):
        interval(1.0, 0.0)


def test_read_claims_rejects_a_hand_edited_verdict(tmp_path):
    path = tmp_path / "claims.json"
    record = dict.fromkeys(RECORD_KEYS, None) | {"id": "a", "verdict": "probably"}
    path.write_text(json.dumps([record]))
    with pytest.raises(ClaimError, match="verdict"):
        read_claims(path)


def test_mean_and_se_matches_numpy():
    np = pytest.importorskip("numpy")
    xs = [0.1, 0.4, 0.35, 0.2]
    mean, se = mean_and_se(xs)
    assert mean == pytest.approx(np.mean(xs))
    assert se == pytest.approx(np.std(xs, ddof=1) / np.sqrt(len(xs)))


def test_claims_module_imports_no_torch():
    code = "import sys, dltheory.core.claims; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_jackknife_se_of_a_mean_is_the_usual_standard_error():
    import statistics

    from dltheory.core.claims import jackknife

    values = [0.3, 1.2, -0.4, 2.2, 0.9]
    mean, se = jackknife(values, lambda v: sum(v) / len(v))
    assert mean == pytest.approx(statistics.mean(values))
    assert se == pytest.approx(statistics.stdev(values) / math.sqrt(len(values)), rel=1e-12)
    assert math.isnan(jackknife(values[:2], lambda v: sum(v) / len(v))[1])


def test_jackknife_se_is_elementwise_over_arrays():
    import numpy as np

    from dltheory.core.claims import jackknife_se

    rng = np.random.default_rng(0)
    loo = [rng.normal(size=3) for _ in range(6)]
    got = jackknife_se(loo)
    for j in range(3):  # float64 hand computation, one column at a time
        xs = [float(v[j]) for v in loo]
        mean = sum(xs) / 6
        assert got[j] == pytest.approx(math.sqrt(5 / 6 * sum((x - mean) ** 2 for x in xs)))
    assert isinstance(jackknife_se([1.0, 2.0, 4.0]), float)


def test_weakest_is_the_condition_closest_to_failing():
    from dltheory.core.claims import weakest

    conditions = [
        {"condition": "a", "value": 9.0, "se": 1.0},  # z = 9
        {"condition": "b", "value": 2.0, "se": 1.0},  # z = 2
        {"condition": "c", "value": 1.0, "se": 0.0},  # z = +inf (exact)
        {"condition": "d", "value": 3.0, "se": math.nan},  # z = +inf
    ]
    assert weakest(conditions)["condition"] == "b"
    conditions.append({"condition": "e", "value": -1.0, "se": 0.0})  # z = -inf
    assert weakest(conditions)["condition"] == "e"
    assert weakest([{"value": 0.0, "se": 0.0}, {"value": 1.0, "se": 1.0}])["value"] == 0.0

import json

import pytest
import torch
from typer.testing import CliRunner

from dltheory.jamming.cli import app
from dltheory.jamming.minimiser import REASONS
from dltheory.jamming.scaling import ensemble_statistics, estimate_nstar

runner = CliRunner()


def _rows(res) -> list:
    """The JSON table a --json command printed after its log lines."""
    return json.loads(res.output[res.output.index("[") :])


def test_nstar_end_to_end_tiny(tmp_path):
    out = tmp_path / "ns"
    res = runner.invoke(
        app,
        [
            "nstar",
            "--n-train",
            "40",
            "--d",
            "4",
            "--max-steps",
            "400",
            "--n-grid",
            "4",
            "--max-factor",
            "4",
            "--min-factor",
            "0.1",
            "--n-bisect",
            "2",
            "--optimizer",
            "lm",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output.strip().splitlines()[-1])
    assert summary["status"] == "bracketed"
    assert summary["n_star_low"] < summary["n_star"] < summary["n_star_high"]
    assert 0.05 < summary["n_star_over_p"] < 4
    records = json.loads((out / "nstar.json").read_text())["records"]
    assert len(records) >= 8
    assert {"n_delta", "fitted", "n_params"} <= set(records[0])
    high = [r for r in records if r["n_params"] == summary["n_star_high"]]
    low = [r for r in records if r["n_params"] == summary["n_star_low"]]
    # the exact criterion: SAT above (N_Delta = 0 reached), a converged UNSAT minimum below
    assert any(r["outcome"] == "sat" and r["n_delta"] == 0 for r in high)
    # below: no net fitted; each either reached a converged minimum or says it did not
    assert summary["low_decision"] in ("unsat", "undecided")
    assert all(r["outcome"] in ("unsat", "unconverged") for r in low)
    assert all(r["n_delta"] > 0 for r in low)
    # an unconverged net says which rule ended it; a decided one names none
    for r in records:
        assert (r["unconverged_reason"] in REASONS) == (r["outcome"] == "unconverged"), r


def _train_args(out, *extra):
    return [
        "train",
        "--n-train",
        "30",
        "--d",
        "4",
        "--widths",
        "3,9",
        "--n-seeds",
        "2",
        "--checkpoint-every",
        "30",
        "--device",
        "cpu",
        "--out",
        str(out),
        *extra,
    ]


def test_train_checkpoints_and_resumes(tmp_path):
    out = tmp_path / "run"
    res = runner.invoke(app, [*_train_args(out, "--max-steps", "60"), "--json"])
    assert res.exit_code == 0, res.output
    rows = _rows(res)
    assert len(rows) == 4
    assert (out / "last.pt").exists()
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [30, 60]
    again = runner.invoke(app, _train_args(out, "--max-steps", "60"))  # no --resume: refused
    assert again.exit_code != 0
    # max_steps is a mutable key: the run continues to 90
    resumed = runner.invoke(app, [*_train_args(out, "--max-steps", "90"), "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps[-1] == 90
    assert len(steps) == len(set(steps))
    # a fresh 90-step run gives the same nets (exact resume)
    fresh = runner.invoke(app, [*_train_args(tmp_path / "fresh", "--max-steps", "90"), "--json"])
    assert _rows(fresh) == _rows(resumed)
    ev = runner.invoke(app, ["eval", "--out", str(out), "--json"])
    assert ev.exit_code == 0, ev.output
    evaluated = _rows(ev)
    assert [r["n_delta"] for r in evaluated] == [r["n_delta"] for r in _rows(resumed)]


def test_mixed_precision_train_checkpoints_in_float32_and_ends_in_float64(tmp_path):
    """--precision mixed: a checkpoint inside the float32 phase does not promote the nets (the
    run equals one without it); the final state and rows are float64 (promoted at the cap)."""
    args = ("--precision", "mixed", "--fp64-below", "0.0", "--lr", "0.01")
    out = tmp_path / "run"
    res = runner.invoke(app, [*_train_args(out, "--max-steps", "60", *args), "--json"])
    assert res.exit_code == 0, res.output
    state = torch.load(out / "last.pt", weights_only=True)
    assert all(shard["float64"] for shard in state["trainers"])
    fresh = runner.invoke(
        app,
        [
            *_train_args(tmp_path / "fresh", "--max-steps", "60", *args),
            "--checkpoint-every",
            "60",
            "--json",
        ],
    )
    assert fresh.exit_code == 0, fresh.output
    assert _rows(fresh) == _rows(res)
    ev = runner.invoke(app, ["eval", "--out", str(out), "--json"])
    assert ev.exit_code == 0, ev.output
    evaluated = _rows(ev)
    assert [r["n_delta"] for r in evaluated] == [r["n_delta"] for r in _rows(res)]


def test_search_in_fp32_is_refused(tmp_path):
    res = runner.invoke(app, ["nstar", "--precision", "fp32", "--out", str(tmp_path / "n")])
    assert res.exit_code != 0
    assert "precision 'fp32'" in str(res.exception) or "precision 'fp32'" in res.output


def test_resume_on_other_data_is_refused(tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, _train_args(out, "--max-steps", "30")).exit_code == 0
    for change in (["--n-train", "40"], ["--seed", "3"]):
        res = runner.invoke(app, [*_train_args(out, "--max-steps", "30"), *change, "--resume"])
        assert res.exit_code != 0
        assert "differs" in str(res.exception)


def test_half_precision_is_refused(tmp_path):
    res = runner.invoke(app, [*_train_args(tmp_path / "r", "--precision", "bf16")])
    assert res.exit_code != 0
    assert "fp64" in str(res.exception)


def test_bad_dataset_is_a_one_line_error(tmp_path):
    res = runner.invoke(app, ["nstar", "--dataset", "imagenet", "--out", str(tmp_path)])
    assert res.exit_code != 0
    assert "unknown dataset" in str(res.exception)


def test_ensemble_statistics_and_nstar_estimate():
    import torch

    f = torch.tensor([[1.0, -1.0, 2.0], [3.0, -1.0, -2.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    stats = ensemble_statistics(f, y)
    assert stats["test_error"] == pytest.approx(1 / 6)
    assert stats["ensemble_test_error"] == pytest.approx(
        1 / 3
    )  # f_bar = [2, -1, 0]: y f_bar = 0 is an error
    # RMS deviation from the mean, with the n/(n-1) = 2 correction: per net sqrt((1 + 0 + 4)/3 * 2)
    assert stats["fluctuation"] == pytest.approx((10 / 3) ** 0.5)
    rows = [
        {"n_params": n, "decision": dec}
        for n, dec in [(10, "unsat"), (20, "undecided"), (40, "sat"), (80, "sat")]
    ]
    assert estimate_nstar(rows) == 30


def test_train_with_the_minimiser_states_every_outcome(tmp_path):
    args = _train_args(tmp_path / "lm", "--max-steps", "60", "--optimizer", "lm", "--json")
    res = runner.invoke(app, [*args, "--lm-escape-rounds", "1"])
    assert res.exit_code == 0, res.output
    rows = _rows(res)
    assert {r["outcome"] for r in rows} <= {"sat", "unsat", "unconverged"}
    assert all(r["n_delta"] == 0 for r in rows if r["outcome"] == "sat")
    assert all(r["n_delta"] > 0 for r in rows if r["outcome"] != "sat")
    for r in rows:
        assert (r["unconverged_reason"] in REASONS) == (r["outcome"] == "unconverged"), r


def _nstar_args(search, out, *extra):
    """The CLI flags of ``search`` (the small_search fixture) without --n-bisect, then ``extra``."""
    items = [(k, v) for k, v in search.items() if k != "n_bisect"]
    flags = [x for k, v in items for x in (f"--{k.replace('_', '-')}", str(v))]
    return ["nstar", *flags, "--out", str(out), *extra]


def test_nstar_saves_each_width_and_resumes_to_refine_its_bracket(tmp_path, small_search):
    """A finished coarse search (no bisection) refused without --resume; resumed with more
    bisection it trains only the new widths and ends where a fresh full search ends."""
    from dltheory.jamming.config import NStarConfig
    from dltheory.jamming.nstar import find_nstar

    out = tmp_path / "ns"
    res = runner.invoke(app, _nstar_args(small_search, out, "--n-bisect", "0"))
    assert res.exit_code == 0, res.output
    coarse = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    again = runner.invoke(app, _nstar_args(small_search, out, "--n-bisect", "0"))
    assert again.exit_code != 0
    assert "already holds a run" in str(again.exception)
    res = runner.invoke(app, _nstar_args(small_search, out, "--n-bisect", "2", "--resume"))
    assert res.exit_code == 0, res.output
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logged[: len(coarse)] == coarse
    new = [row["n_params"] for row in logged[len(coarse) :]]
    assert 1 <= len(new) <= 2  # only the bisection widths were trained
    assert not set(new) & {row["n_params"] for row in coarse}
    resumed = json.loads((out / "nstar.json").read_text())
    fresh = find_nstar(NStarConfig(**small_search))  # n_bisect = 2
    assert (resumed["n_star_low"], resumed["n_star_high"]) == (
        fresh["n_star_low"],
        fresh["n_star_high"],
    )
    changed = runner.invoke(
        app, _nstar_args(small_search, out, "--n-bisect", "2", "--resume", "--d", "5")
    )
    assert changed.exit_code != 0
    assert "config differs" in str(changed.exception)

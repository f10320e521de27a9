"""The reproduction: claim statistics against hand computations, parameter counts against timm's
published numbers, MNIST-t10k data, and a miniature reproduce end to end (claims.json)."""

import dataclasses
import json
import math
import statistics
import subprocess
import sys

import pytest

from dltheory.convit import reproduce as rep
from dltheory.convit.claims import CLAIMS


def _records():
    # two seeds, two fractions; top-1 values chosen by hand
    top1 = {
        ("deit", 0.1, 0): 50.0,
        ("convit", 0.1, 0): 60.0,  # gap +20 %
        ("deit", 0.1, 1): 40.0,
        ("convit", 0.1, 1): 50.0,  # gap +25 %
        ("deit", 1.0, 0): 80.0,
        ("convit", 1.0, 0): 84.0,  # gap +5 %
        ("deit", 1.0, 1): 90.0,
        ("convit", 1.0, 1): 90.0,  # gap 0 %
    }
    records = []
    for (model, fraction, seed), value in top1.items():
        records.append(
            {
                "model": model,
                "fraction": fraction,
                "seed": seed,
                "top1": value,
                "gates": [[0.8, 0.6], [0.2, 0.4]] if seed == 0 else [[0.7, 0.7], [0.5, 0.3]],
                "history": [
                    {"step": 0, "nonlocality": [2.0, 2.0]},
                    {"step": 5, "nonlocality": [1.5, 2.1] if seed == 0 else [1.9, 1.9]},
                ],
            }
        )
    return records


def test_sample_efficiency_statistics_match_hand_computation():
    rows = rep.sample_efficiency_table(_records())
    assert [r["fraction"] for r in rows] == [0.1, 1.0]
    assert rows[0]["gap_pct"] == pytest.approx(22.5)
    # SE of (20, 25): sd / sqrt(2) = 3.5355 / 1.4142
    assert rows[0]["gap_pct_se"] == pytest.approx(statistics.stdev([20, 25]) / math.sqrt(2), 1e-3)
    assert rows[1]["deit_top1"] == pytest.approx(85.0)
    assert rows[0]["paper_gap_pct"] == pytest.approx(24.2, abs=0.05)  # (59.6 - 48) / 48
    conditions = rep.sample_efficiency_conditions(_records())
    by_name = {c["condition"]: c for c in conditions}
    growth = by_name["gap(f=0.1) - gap(f=1.0)"]
    assert growth["value"] == pytest.approx(20.0)  # (20 - 5 + 25 - 0) / 2
    assert growth["se"] == pytest.approx(statistics.stdev([15, 25]) / math.sqrt(2))
    # z-scores: f=0.1: 22.5/2.5 = 9; f=1.0: 2.5/2.5 = 1; growth: 20/5 = 4 -> f=1.0 is weakest
    assert rep.weakest(conditions)["condition"] == "gap at f=1.0"


def test_locality_statistics_match_hand_computation():
    changes = rep.localisation_changes(_records())
    # seed 0: mean(1.5, 2.1) - 2 = -0.2 for both DeiT runs; seed 1: 1.9 - 2 = -0.1
    assert rep.per_seed_mean(changes) == pytest.approx([-0.2, -0.1])
    drops = rep.gate_drops(_records(), 1.0)
    # first GPSA layer mean minus last: seed 0: 0.7 - 0.3; seed 1: 0.7 - 0.4
    assert rep.per_seed_mean(drops) == pytest.approx([0.4, 0.3])


def test_parameter_counts_match_timm_published_counts():
    # timm results/*.csv: convit_tiny 5.71M, convit_small 27.78M, convit_base 86.54M
    counts = rep.parameter_counts()
    assert counts["convit_tiny"] == 5_710_512  # the reference's hand count
    assert counts["convit_small"] / 1e6 == pytest.approx(27.78, abs=0.005)
    assert counts["convit_base"] / 1e6 == pytest.approx(86.54, abs=0.005)


def test_claims_config_and_cli_import_no_torch():
    code = (
        "import sys, dltheory.convit, dltheory.convit.claims, dltheory.convit.config, "
        "dltheory.convit.cli; assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = [c.id for c in CLAIMS]
    for fixed in (
        "convit.imagenet_top1",
        "convit.param_counts",
        "convit.sample_efficiency",
        "convit.vanilla_sa_localises",
        "convit.gpsa_escapes_locality",
    ):
        assert fixed in ids


def test_mnist_t10k_split_at_28px(mnist_t10k_dir):
    from dltheory.convit.data import build_datasets

    train, val, classes, chans = build_datasets("mnist-t10k", str(mnist_t10k_dir))
    assert (len(train), len(val), classes, chans) == (8000, 2000, 10, 1)
    x, _ = train[0]
    assert tuple(x.shape) == (1, 28, 28)
    sub, _, _, _ = build_datasets("mnist-t10k", str(mnist_t10k_dir), sampling_ratio=0.05)
    per_class = [sum(1 for t in train.targets if t == c) for c in range(10)]
    assert len(sub) == sum(int(0.05 * n) for n in per_class)  # floor(f n_c) per class


def test_miniature_reproduce_writes_judged_claims(tmp_path, monkeypatch):
    tiny = dataclasses.replace(
        rep.SETTINGS["quick"],
        depth=3,
        num_gpsa_layers=2,
        embed_dim_per_head=4,
        steps=8,
        fractions=(0.3, 1.0),
        seeds=(0, 1),
        evaluations=2,
    )
    monkeypatch.setitem(rep.SETTINGS, "quick", tiny)
    monkeypatch.setattr(rep, "parameter_counts", lambda: {n: 10**6 for n in rep.PAPER_PARAMS_M})
    result = rep.reproduce(tmp_path, scale="quick", device="cpu")
    records = {r["id"]: r for r in json.loads((tmp_path / "claims.json").read_text())}
    assert set(records) == {c.id for c in CLAIMS}
    assert records["convit.imagenet_top1"]["verdict"] == "not-run"
    assert "ImageNet" in records["convit.imagenet_top1"]["reason"]
    # counts of 1M against 6M/27M/86M: deviation 1 - 1/86
    assert records["convit.param_counts"]["measured"] == pytest.approx(1 - 1 / 86)
    assert records["convit.param_counts"]["verdict"] == "differs"
    # the measured value is the weakest condition of the table written beside it
    worst = rep.weakest(result["conditions"])
    assert records["convit.sample_efficiency"]["measured"] == pytest.approx(worst["value"])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "sample_efficiency.png" in [f["path"] for f in manifest["figures"]]
    assert (tmp_path / "gates.csv").exists()

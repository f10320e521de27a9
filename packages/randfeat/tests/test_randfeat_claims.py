"""The claims are declared as data and measured by reproduce (the quick run is opt-in: slow)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from dltheory.core.claims import ClaimBoard, read_claims
from dltheory.randfeat.claims import CLAIMS
from dltheory.randfeat.figures import _prominence

FIXED = {
    "randfeat.dt.bias_flat",
    "randfeat.dt.kinf_flat",
    "randfeat.dt.peak_from_variance",
    "randfeat.dt.simulation",
    "randfeat.td.two_peaks",
    "randfeat.td.linear_peak_weakly_regularised",
    "randfeat.td.networks",
    "randfeat.ds.asymmetry",
    "randfeat.ds.alignment",
    "randfeat.ds.simulation",
}


def test_claims_are_the_fixed_ids_and_import_no_torch():
    assert {c.id for c in CLAIMS} == FIXED
    code = "import sys, dltheory.randfeat.claims; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_prominence_by_hand():
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    y = np.array([1.0, 3.0, 2.0, 5.0, 0.5])
    height, peak, low = _prominence(x, y, 2.0, 2.0, 8.0)  # 3 over the minimum 2 in (2, 8]
    assert (height, peak, low) == (1.0, 1, 2)
    height, _, low = _prominence(x, y, 8.0, 8.0, 16.0)
    assert (height, low) == (4.5, 4)
    assert np.isnan(_prominence(x, y, 16.0, 16.0, 16.0)[0])


def test_the_rules_judge_the_measurements():
    board = ClaimBoard(CLAIMS, "quick")
    assert board.measure("randfeat.dt.simulation", 2.0)["verdict"] == "reproduced"
    assert board.measure("randfeat.dt.simulation", 3.5)["verdict"] == "differs"
    # a bump measured as 0.5 +- 0.3 is not two standard errors above zero
    assert board.measure("randfeat.td.networks", 0.5, 0.3)["verdict"] == "differs"
    assert board.measure("randfeat.td.networks", 0.5, 0.2)["verdict"] == "reproduced"
    assert not board.wants("randfeat.ds.simulation")  # needs D = 1000: full scale


@pytest.mark.slow
def test_quick_reproduce_measures_every_quick_claim(tmp_path):
    from dltheory.randfeat.reproduce import reproduce

    reproduce(tmp_path, scale="quick", device="cpu")
    records = {r["id"]: r for r in read_claims(tmp_path / "claims.json")}
    assert set(records) == FIXED
    assert records["randfeat.ds.simulation"]["verdict"] == "not-run"
    for claim_id in FIXED - {"randfeat.ds.simulation"}:
        assert records[claim_id]["verdict"] in ("reproduced", "differs")
        assert records[claim_id]["measured"] is not None
    assert "NaN" not in (tmp_path / "claims.json").read_text()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest


def test_paper_scale_refuses_without_its_data_in_one_line(tmp_path, monkeypatch):
    from dltheory.randfeat import RandfeatInputError
    from dltheory.randfeat.reproduce import reproduce

    monkeypatch.setenv("DLTHEORY_SHARED_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(RandfeatInputError, match=r"MNIST-t10k.*CIFAR-10") as info:
        reproduce(tmp_path / "out", scale="paper", device="cpu")
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()  # refused before writing anything
    proc = subprocess.run(
        [sys.executable, "-m", "dltheory.randfeat", "reproduce", "--scale", "huge"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:")

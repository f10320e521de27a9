"""Longer checks (opt-in with --run-slow): BP ODE vs simulation, the quick reproduction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from dltheory.dfa.teacher_student import (
    TeacherStudentConfig,
    initial_state,
    integrate_ode,
    simulate,
)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_bp_simulation_tracks_the_ode(seed):
    cfg = TeacherStudentConfig(n_inputs=1000, time=12.0, n_logs=15, method="bp", seed=seed)
    state = initial_state(cfg)
    sim, ode = simulate(cfg, state), integrate_ode(cfg, state)
    rel = np.abs(sim["eg"] - np.interp(sim["t"], ode["t"], ode["eg"])) / sim["eg"]
    assert rel.mean() < 0.03
    assert rel.max() < 0.12  # the plateau escape time fluctuates at finite N


@pytest.mark.slow
def test_reproduce_quick_writes_figures_manifest_and_every_claim(tmp_path):
    from dltheory.core.claims import read_claims
    from dltheory.dfa.claims import CLAIMS
    from dltheory.dfa.reproduce import reproduce

    manifest = json.loads(reproduce(tmp_path, scale="quick").read_text())
    for name in (
        "align_then_memorise",
        "layerwise_alignment",
        "bottom_to_top",
        "alignment_vs_width",
        "degeneracy_breaking",
        "alignment_vs_conditioning",
        "cnn_alignment",
    ):
        assert (tmp_path / f"{name}.png").exists()
        assert (tmp_path / f"{name}.csv").exists()
    assert "degeneracy_dfa_cos_total" in manifest["metrics"]
    records = {r["id"]: r for r in read_claims(tmp_path / "claims.json")}
    assert set(records) == {c.id for c in CLAIMS}
    assert records["dfa.mnist_close_to_bp"]["verdict"] == "not-run"  # full scale only
    measured = [r for r in records.values() if r["verdict"] != "not-run"]
    assert len(measured) == len(CLAIMS) - 1
    assert all(r["uncertainty"] is not None for r in measured)
